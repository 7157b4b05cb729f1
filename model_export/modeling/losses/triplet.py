"""Batch-hard triplet loss (Hermans et al. 2017): for each anchor, its farthest positive and nearest
negative in the batch, on Euclidean distances of the features."""

from __future__ import annotations

import torch
from torch import Tensor


def pairwise_distances(x: Tensor) -> Tensor:
    squared = x.pow(2).sum(dim=1)
    d2 = squared[:, None] + squared[None, :] - 2.0 * x @ x.t()
    return d2.clamp_min(1e-12).sqrt()


def batch_hard_triplet_loss(features: Tensor, pids: Tensor, margin: float = 0.3) -> Tensor:
    dist = pairwise_distances(features)
    same = pids[:, None] == pids[None, :]
    eye = torch.eye(len(pids), dtype=torch.bool, device=pids.device)
    positive = same & ~eye
    has_pair = positive.any(dim=1) & (~same).any(dim=1)
    if not has_pair.any():
        return features.sum() * 0.0
    hardest_pos = dist.masked_fill(~positive, float("-inf")).amax(dim=1)
    hardest_neg = dist.masked_fill(same, float("inf")).amin(dim=1)
    losses = torch.relu(hardest_pos - hardest_neg + margin)
    return losses[has_pair].mean()
