"""Identity classification: softmax cross-entropy, with label smoothing (Szegedy et al. 2016), which
keeps the classifier from memorising the ~750 training identities of a small set."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def identity_loss(logits: Tensor, pids: Tensor, smoothing: float = 0.1) -> Tensor:
    return F.cross_entropy(logits, pids, label_smoothing=smoothing)
