"""Decoded frames to the model's input, and chunk embeddings back to one tracklet embedding.

This must reproduce the training side's evaluation, or vectors drift from those the model was
measured with: frames stretched to (height, width) with an antialiased bilinear resize, all frames
embedded in consecutive chunks (a short tail merged into the previous chunk), chunk embeddings
averaged weighted by their length and L2-normalised. The sizes come from the model's metadata and
arrive here as plain ints.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

from service.core.errors import BadInput

SamplingMode = Literal["all", "uniform", "chunks"]


def resize_frames(frames: list[np.ndarray], height: int, width: int) -> np.ndarray:
    """Stretch every (h, w, 3) uint8 frame to (height, width) and stack them: (T, H, W, 3) uint8.

    No aspect-preserving padding: the model was trained on stretched crops. Training resized with
    PIL's antialiased bilinear; OpenCV's INTER_LINEAR does not antialias, so a frame that does not
    grow in either dimension uses INTER_AREA (OpenCV's antialiased downscale) and INTER_LINEAR is
    kept for frames that grow in at least one dimension, where it matches bilinear.
    """
    if height < 1 or width < 1:
        raise ValueError(f"target size must be positive, got {height}x{width}")
    out = np.empty((len(frames), height, width, 3), dtype=np.uint8)
    for i, frame in enumerate(frames):
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"frame {i}: expected (H, W, 3) uint8, got {frame.shape} {frame.dtype}")
        h, w = frame.shape[:2]
        if (h, w) == (height, width):
            out[i] = frame
            continue
        interpolation = cv2.INTER_AREA if h >= height and w >= width else cv2.INTER_LINEAR
        out[i] = cv2.resize(frame, (width, height), interpolation=interpolation)
    return out


def select_frames(num_frames: int, mode: SamplingMode, count: int | None = None) -> list[int]:
    """Indices of the frames to embed, sorted and unique.

    "uniform" spreads `count` indices evenly from the first frame to the last (a cheaper embedding of
    a long clip); "all" and "chunks" take every frame, the chunking itself being chunk_indices'.
    """
    if num_frames < 1:
        raise BadInput("no frames to select from")
    if mode in ("all", "chunks"):
        return list(range(num_frames))
    if mode != "uniform":
        raise BadInput(f"unknown sampling mode {mode!r} (expected 'all', 'uniform' or 'chunks')")
    if count is None or count < 1:
        raise BadInput(f"uniform sampling needs a frame count >= 1, got {count!r}")
    if count >= num_frames:
        return list(range(num_frames))
    if count == 1:
        return [0]
    # round(i * (n - 1) / (count - 1)) in integers; the step exceeds 1 here, so no index repeats.
    span, steps = num_frames - 1, count - 1
    return [(i * span + steps // 2) // steps for i in range(count)]


def chunk_indices(num_frames: int, chunk: int) -> list[list[int]]:
    """Consecutive chunks of at most `chunk` frames; a tail shorter than chunk // 2 joins the previous
    chunk. Identical to model_export.data.sampling.chunk_indices, the evaluation the model was scored
    with (re-implemented: the service cannot import the training package)."""
    if chunk < 1:
        raise ValueError("chunk must be >= 1")
    if num_frames < 1:
        return []  # the training side never sees an empty tracklet (its version raises here)
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
    # The same epsilon as torch.nn.functional.normalize on the training side: a zero sum stays zero.
    total /= max(float(np.linalg.norm(total)), 1e-12)
    return total.astype(np.float32)
