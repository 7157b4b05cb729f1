"""Distillation from peer models: the student learns where a teacher puts each crop, and how similar
the teacher finds each pair of crops in the batch (Hinton et al. 2015; relational form after Park et
al. 2019). The pairwise form needs no projection and shapes exactly what the service compares (cosine
of embeddings); the per-crop form passes the teacher's identity knowledge of people we hold no label
for across sites. Both are beside the identity and triplet losses, never instead of them."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def embedding_distillation_loss(student: Tensor, teacher: Tensor) -> Tensor:
    """Mean (1 - cos) between projected student vectors (N, D) and teacher vectors (N, D)."""
    return (1.0 - F.cosine_similarity(student, teacher, dim=1)).mean()


def similarity_distillation_loss(student: Tensor, teacher: Tensor) -> Tensor:
    """Mean squared difference of the two (N, N) cosine-similarity matrices, diagonal left out.

    The dimensions of the two spaces need not match: only similarities are compared."""
    s = F.normalize(student, dim=1)
    t = F.normalize(teacher, dim=1)
    off = ~torch.eye(len(s), dtype=torch.bool, device=s.device)
    return (s @ s.t() - t @ t.t())[off].pow(2).mean()
