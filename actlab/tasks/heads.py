"""Classification heads: softmax + cross-entropy, and Agarap's DL-ReLU (003)."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

Head = Literal["softmax", "relu"]

#: Keras' ``epsilon()``: ``categorical_crossentropy`` clips probabilities to [eps, 1 - eps].
KERAS_EPSILON = 1e-7


def head_outputs(logits: torch.Tensor, head: Head) -> torch.Tensor:
    """Scores the prediction is the argmax of: the logits (softmax) or ReLU(logits) (003 eq. 5)."""
    return F.relu(logits) if head == "relu" else logits


def head_loss(logits: torch.Tensor, target: torch.Tensor, head: Head) -> torch.Tensor:
    """Training loss of a head.

    ``softmax``: cross-entropy on the logits. ``relu``: Agarap's DL-ReLU (003, §2.4) as his Keras
    code computed it: ``o = relu(logits)``; Keras' ``categorical_crossentropy`` (from
    probabilities) divides ``o`` by its sum over classes, clips to [1e-7, 1 - 1e-7] and takes
    ``-sum(y * log p)``.
    """
    if head == "softmax":
        return F.cross_entropy(logits, target)
    outputs = F.relu(logits)
    probs = outputs / outputs.sum(dim=1, keepdim=True).clamp_min(KERAS_EPSILON)
    probs = probs.clamp(KERAS_EPSILON, 1.0 - KERAS_EPSILON)
    return -probs.log().gather(1, target.unsqueeze(1)).mean()
