"""A tracklet's frames to one embedding: which frames, in which chunks, combined how.

The model's figures were measured with this arithmetic (`model_export`'s evaluation) and the service
serves with it: every frame, in consecutive chunks of the file's `frames_per_chunk` (a short tail
merged into the chunk before it), each chunk a fresh sequence for the network, the chunk embeddings
averaged weighted by their length and L2-normalised (`chunk_combine` in the metadata). The
evaluation chunks with `chunk_indices` and the service selects, chunks and combines with these, so
the vectors a gallery holds are made the way the model was scored (a test holds the two together).
Plain ints and numpy only: no torch, no image library.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

SamplingMode = Literal["all", "uniform", "chunks"]


def select_frames(num_frames: int, mode: SamplingMode, count: int | None = None) -> list[int]:
    """Indices of the frames to embed, sorted and unique; ValueError for a request that cannot be met.

    "all" and "chunks" take every frame, as the evaluation does (the chunking itself is
    chunk_indices'); "uniform" spreads `count` indices evenly from the first frame to the last (a
    cheaper embedding of a long clip, which the evaluation never uses).
    """
    if num_frames < 1:
        raise ValueError("no frames to select from")
    if mode in ("all", "chunks"):
        return list(range(num_frames))
    if mode != "uniform":
        raise ValueError(f"unknown sampling mode {mode!r} (expected 'all', 'uniform' or 'chunks')")
    if count is None or count < 1:
        raise ValueError(f"uniform sampling needs a frame count >= 1, got {count!r}")
    if count >= num_frames:
        return list(range(num_frames))
    if count == 1:
        return [0]
    # round(i * (n - 1) / (count - 1)) in integers; the step exceeds 1 here, so no index repeats.
    span, steps = num_frames - 1, count - 1
    return [(i * span + steps // 2) // steps for i in range(count)]


def chunk_indices(num_frames: int, chunk: int) -> list[list[int]]:
    """All frames in consecutive chunks of at most `chunk`; a tail shorter than chunk // 2 joins the
    previous chunk, so that no chunk holds only a frame or two of a long tracklet. No frames, no chunks."""
    if chunk < 1:
        raise ValueError("chunk must be >= 1")
    if num_frames < 1:
        return []
    starts = list(range(0, num_frames, chunk))
    if len(starts) > 1 and num_frames - starts[-1] < chunk // 2:
        starts.pop()
    ends = [*starts[1:], num_frames]
    return [list(range(s, e)) for s, e in zip(starts, ends, strict=True)]


def combine(embeddings: np.ndarray, lengths: list[int]) -> np.ndarray:
    """One (D,) float32 embedding from K chunk embeddings (K, D): mean weighted by chunk length, then
    L2-normalised, so a long chunk counts for its frames and a merged tail is not over-weighted."""
    if embeddings.ndim != 2 or embeddings.shape[0] != len(lengths) or not lengths:
        raise ValueError(
            f"expected (K, D) embeddings for {len(lengths)} chunk lengths, got {embeddings.shape}"
        )
    weights = np.asarray(lengths, dtype=np.float64)
    if np.any(weights <= 0):
        raise ValueError(f"chunk lengths must be positive, got {lengths}")
    total = (embeddings.astype(np.float64) * weights[:, None]).sum(axis=0)
    # The same epsilon as torch.nn.functional.normalize: a zero sum stays zero.
    total /= max(float(np.linalg.norm(total)), 1e-12)
    return total.astype(np.float32)
