"""Activations: a registry of every activation of the papers, and a swap into any model.

``create_activation("cpaf_relu(k=3, granularity=element)")`` builds one;
``swap_activations(model, "prelu")`` puts one into every activation site of a model. A user's
own activation is a spec too: an import path (``"myacts:Snake"``), a class or a factory, or a
plugin's name (:mod:`actlab.activations.plugins`).

Docstrings cite the papers by number ("004 eq. 7-9"): docs/references.md says which paper each is.
"""

from actlab.activations import fixed, trainable  # noqa: F401  (register the activations)
from actlab.activations.external import DeferredActivation, ExternalActivation
from actlab.activations.fixed import Activation
from actlab.activations.parameters import (
    activation_parameters,
    is_ab_activation,
    is_trainable_activation,
    trainable_activations,
)
from actlab.activations.registry import (
    ACTIVATIONS,
    ActLayer,
    BuiltinActivation,
    activation_arguments,
    activation_layer,
    canonical_spec,
    create_activation,
    list_activations,
    parse_spec,
    register_activation,
    resolve_activation,
)
from actlab.activations.sites import is_activation_module, is_sigmoid_like
from actlab.activations.swap import (
    SwapReport,
    infer_input_shape,
    materialize_activations,
    swap_activations,
)
from actlab.activations.trainable import ABActivation, PReLU

__all__ = [
    "ABActivation",
    "ACTIVATIONS",
    "ActLayer",
    "BuiltinActivation",
    "Activation",
    "DeferredActivation",
    "ExternalActivation",
    "PReLU",
    "SwapReport",
    "activation_arguments",
    "activation_layer",
    "activation_parameters",
    "canonical_spec",
    "create_activation",
    "infer_input_shape",
    "is_ab_activation",
    "is_activation_module",
    "is_sigmoid_like",
    "is_trainable_activation",
    "list_activations",
    "materialize_activations",
    "parse_spec",
    "register_activation",
    "resolve_activation",
    "swap_activations",
    "trainable_activations",
]
