from __future__ import annotations

import torch

from model_export.modeling.losses import batch_hard_triplet_loss, identity_loss, siamese_contrastive_loss


def test_batch_hard_triplet_by_hand() -> None:
    # 1-D features: ids 0 at 0 and 1, id 1 at 3 and 3.5.
    feats = torch.tensor([[0.0], [1.0], [3.0], [3.5]])
    pids = torch.tensor([0, 0, 1, 1])
    # anchor 0: pos 1, neg 3 -> 1-3+m; anchor 1: 1, 2 -> 1-2+m; anchor 2: .5, 2; anchor 3: .5, 2.5
    margin = 1.5
    expected = torch.relu(torch.tensor([1 - 3, 1 - 2, 0.5 - 2, 0.5 - 2.5]) + margin).mean()
    torch.testing.assert_close(batch_hard_triplet_loss(feats, pids, margin), expected, atol=1e-5, rtol=1e-5)


def test_triplet_is_zero_without_positives() -> None:
    feats = torch.randn(3, 4, requires_grad=True)
    loss = batch_hard_triplet_loss(feats, torch.tensor([0, 1, 2]))
    assert loss.item() == 0.0
    loss.backward()  # still part of the graph


def test_siamese_loss_balances_pairs_and_respects_margin() -> None:
    pids = torch.tensor([0, 0, 1, 1, 2, 2])
    # perfectly separated unit vectors: positives coincide, negatives orthogonal (d = sqrt 2)
    feats = torch.eye(3).repeat_interleave(2, dim=0)
    assert siamese_contrastive_loss(feats, pids, margin=1.0).item() < 1e-9
    # with a margin above sqrt 2 only negatives contribute: 0.5 * (2 - sqrt 2)^2
    loss = siamese_contrastive_loss(feats, pids, margin=2.0)
    torch.testing.assert_close(loss, torch.tensor(0.5 * (2 - 2**0.5) ** 2))
    # collapsed embedding: positives cost nothing, negatives the whole margin
    same = torch.ones(6, 3)
    torch.testing.assert_close(
        siamese_contrastive_loss(same, pids, margin=1.0), torch.tensor(0.5), atol=1e-4, rtol=1e-4
    )


def test_identity_loss_smoothing() -> None:
    logits = torch.tensor([[10.0, 0.0], [0.0, 10.0]])
    pids = torch.tensor([0, 1])
    assert identity_loss(logits, pids, smoothing=0.0) < identity_loss(logits, pids, smoothing=0.2)
