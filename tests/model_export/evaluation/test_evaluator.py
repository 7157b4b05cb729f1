from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from model_export.config import TrainConfig
from model_export.data.readers import read_cuhk03
from model_export.data.tracklet import ReIDSplit, Tracklet
from model_export.engine.checkpoint import build_model
from model_export.evaluation.evaluator import cosine_distance, embed_tracklets, evaluate, score


def _mean_colour_embed(x: torch.Tensor) -> torch.Tensor:
    """A toy embedder whose answer we can predict: the mean colour over frames (linear in the frames,
    so the length-weighted mean of chunk embeddings must equal the embedding of the whole)."""
    return x.mean(dim=(1, 3, 4))


def test_chunked_embedding_is_the_length_weighted_mean_of_chunks(synthetic_split: ReIDSplit) -> None:
    t = synthetic_split.query[0]
    whole = embed_tracklets(_mean_colour_embed, [t], (32, 24), chunk=100)
    chunked = embed_tracklets(_mean_colour_embed, [t], (32, 24), chunk=2)
    assert len(t) == 6  # three chunks of two
    np.testing.assert_allclose(whole, chunked, atol=1e-6)
    assert whole.shape == (1, 3)
    np.testing.assert_allclose(np.linalg.norm(whole, axis=1), 1.0, atol=1e-6)


def test_score_runs_both_directions_for_two_camera_sets() -> None:
    q = [Tracklet(1, 0, (Path("a"),)), Tracklet(2, 0, (Path("b"),))]
    g = [Tracklet(2, 1, (Path("c"),)), Tracklet(1, 1, (Path("d"),))]
    split = ReIDSplit("toy", [], q, g, {"two_camera": True})
    q_emb = np.array([[1.0, 0.0], [0.0, 1.0]])
    g_emb = np.array([[0.0, 1.0], [0.6, 0.8]])
    results = score(split, cosine_distance(q_emb, g_emb))
    assert results["query->gallery"].rank(1) == 1.0
    # reverse: gallery pid 1 ([.6,.8]) is nearer query pid 2 ([0,1]) -> a miss
    assert results["gallery->query"].rank(1) == 0.5
    assert set(score(ReIDSplit("toy", [], q, g), cosine_distance(q_emb, g_emb))) == {"query->gallery"}


@pytest.mark.cuhk03
def test_imagenet_baseline_on_real_cuhk03_val(cuhk03_root: Path, tmp_path: Path) -> None:
    """ImageNet MobileNetV2 averaged over tracklets, untrained for re-id: rank-1 near 0.10 (the data's
    README), well above random weights (0.05) and far below a trained model."""
    split = read_cuhk03(cuhk03_root)
    net = build_model(TrainConfig(head="pooling"), num_classes=1).eval()

    def embed(x: torch.Tensor) -> torch.Tensor:
        return F.normalize(net.features(x)[0], dim=1)

    summary = evaluate(embed, split, net.input_size, out_dir=tmp_path, plots=True)
    assert 0.05 <= summary["mean"]["rank1"] <= 0.25
    assert summary["query->gallery"]["queries"] == 100
    assert (tmp_path / "cmc.png").is_file() and (tmp_path / "ranked.png").is_file()
