"""The paper's Siamese objective on pairs of sequences (after McLaughlin et al. 2016).

For a pair with embeddings a, b at distance d: same person, d^2 / 2; different people,
max(0, m - d)^2 / 2. Pairs are balanced: every positive pair of the batch, and as many negative pairs
drawn at random (a batch of P identities holds far more negatives than positives, and an unbalanced
sum is dominated by easy negatives). Distances are taken on L2-normalised features, so the margin is
on the scale of the cosine embedding the service compares (d = sqrt(2 - 2 cos)).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from model_export.modeling.losses.triplet import pairwise_distances


def siamese_contrastive_loss(
    features: Tensor, pids: Tensor, margin: float = 1.0, generator: torch.Generator | None = None
) -> Tensor:
    dist = pairwise_distances(F.normalize(features, dim=1))
    n = len(pids)
    upper = torch.triu(torch.ones(n, n, dtype=torch.bool, device=pids.device), diagonal=1)
    same = pids[:, None] == pids[None, :]
    pos = dist[same & upper]
    neg_all = dist[~same & upper]
    if len(pos) == 0 or len(neg_all) == 0:
        return features.sum() * 0.0
    pick = torch.randperm(len(neg_all), generator=generator, device=neg_all.device)[: len(pos)]
    neg = neg_all[pick]
    return 0.5 * (pos.pow(2).mean() + torch.relu(margin - neg).pow(2).mean())
