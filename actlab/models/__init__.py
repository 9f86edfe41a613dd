"""actlab's networks, registered with timm so ``timm.create_model(name)`` builds them.

Importing this package registers every model; :data:`ACTLAB_MODELS` lists their names.
"""

from actlab.models import agarap, bn_inception, cifar, cpaf_cnns, nin, wrn  # noqa: F401
from actlab.models.layers import PaperNet
from actlab.models.mlp import MLP
from actlab.models.registry import ACTLAB_MODELS, register_actlab_model
from actlab.models.small_cnn import SmallCNN

__all__ = ["ACTLAB_MODELS", "MLP", "PaperNet", "SmallCNN", "register_actlab_model"]
