"""Embed query and gallery tracklets with a network and score them with the re-id protocol.

A tracklet is embedded from all of its frames: in chunks of at most `chunk` frames whose embeddings
are averaged (weighted by their length) and re-normalised, as at test time in the paper; CUHK03's
five-image tracklets are one chunk. Chunks of equal length are batched together.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from model_export.data.dataset import FrameStore, load_eval_frames
from model_export.data.sampling import chunk_indices
from model_export.data.tracklet import ReIDSplit, Tracklet
from model_export.evaluation.rank import RankResult, evaluate_rank

EmbedFn = Callable[[Tensor], Tensor]  # (B, T, 3, H, W) in [0, 1] -> (B, D) L2-normalised


@torch.no_grad()
def embed_tracklets(
    embed: EmbedFn,
    tracklets: Sequence[Tracklet],
    input_size: tuple[int, int],
    chunk: int = 16,
    frames_per_batch: int = 256,
    store: FrameStore | None = None,
) -> np.ndarray:
    store = store or FrameStore(input_size, cache_limit=0)
    groups: dict[int, list[tuple[int, list[int]]]] = defaultdict(list)
    for index, t in enumerate(tracklets):
        for part in chunk_indices(len(t), chunk):
            groups[len(part)].append((index, part))
    sums: dict[int, Tensor] = {}
    for steps, items in groups.items():
        per_batch = max(1, frames_per_batch // steps)
        for start in range(0, len(items), per_batch):
            batch = items[start : start + per_batch]
            frames = torch.stack(
                [load_eval_frames(store, tracklets[i], input_size, part) for i, part in batch]
            )
            for (i, part), e in zip(batch, embed(frames), strict=True):
                sums[i] = sums.get(i, 0) + e * len(part)
    out = torch.stack([sums[i] for i in range(len(tracklets))])
    return torch.nn.functional.normalize(out, dim=1).numpy()


def cosine_distance(q: np.ndarray, g: np.ndarray) -> np.ndarray:
    return 1.0 - q @ g.T


def score(split: ReIDSplit, dist: np.ndarray) -> dict[str, RankResult]:
    """Query->gallery, and the reverse for two-camera sets (whose protocol is symmetric)."""
    q_pids = np.array([t.pid for t in split.query])
    g_pids = np.array([t.pid for t in split.gallery])
    q_cams = np.array([t.camid for t in split.query])
    g_cams = np.array([t.camid for t in split.gallery])
    results = {"query->gallery": evaluate_rank(dist, q_pids, g_pids, q_cams, g_cams)}
    if split.extra.get("two_camera"):
        results["gallery->query"] = evaluate_rank(dist.T, g_pids, q_pids, g_cams, q_cams)
    return results


def summarise(results: dict[str, RankResult]) -> dict[str, object]:
    """Per direction figures plus their mean, the headline number."""
    per = {name: r.as_dict() for name, r in results.items()}
    keys = ("rank1", "rank5", "rank10", "rank20", "mAP")
    mean = {k: float(np.mean([float(per[n][k]) for n in per])) for k in keys}
    return {"mean": mean, **per}


def evaluate(
    embed: EmbedFn,
    split: ReIDSplit,
    input_size: tuple[int, int],
    chunk: int = 16,
    out_dir: Path | None = None,
    plots: bool = False,
    store: FrameStore | None = None,
) -> dict[str, object]:
    q_emb = embed_tracklets(embed, split.query, input_size, chunk, store=store)
    g_emb = embed_tracklets(embed, split.gallery, input_size, chunk, store=store)
    dist = cosine_distance(q_emb, g_emb)
    results = score(split, dist)
    summary = summarise(results)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "metrics.json").write_text(json.dumps(summary, indent=2))
        if plots:
            from model_export.evaluation.plots import plot_cmc, plot_ranked_lists

            plot_cmc({n: r.cmc for n, r in results.items()}, out_dir / "cmc.png", title=split.name)
            plot_ranked_lists(split.query[:8], split.gallery, dist[:8], out_dir / "ranked.png")
    return summary
