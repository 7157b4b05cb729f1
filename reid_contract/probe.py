"""The parity probe: a few fixed tracklets whose fp32 embeddings an exported file carries.

An engine other than the one a file was exported and checked with (OpenVINO beside ONNX Runtime), or
a precision it applies at run time (bf16, fp16), can change what the network computes. The file holds
its own answer to a fixed question: the probe's tracklets are made here, deterministically, from the
input size alone, so the exporter and every server build the same frames; the exporter stores their
fp32 embeddings (`reid.probe`), and a server runs them on the engine and precision it chose and
refuses to serve if any falls under `MIN_COSINE` to its reference.

The frames are smooth colour fields with a few hard edges (a person-sized blob of colour on a
background, moving between frames), not white noise: noise excites the high frequencies that real
crops lack, and a probe that no camera could produce tests the wrong thing.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

# Tracklets of different lengths: one crop, a short clip, a whole chunk.
PROBE_LENGTHS: tuple[int, ...] = (1, 5, 16)
PROBE_SEED = 20161104  # the paper's arXiv date; any fixed number would do
# An engine or precision passes when every probe embedding is at least this close to the reference.
MIN_COSINE = 0.999


class Probe(BaseModel):
    """The references: the fp32 embedding of each probe tracklet, as the exporter's engine made it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = PROBE_SEED
    lengths: tuple[int, ...] = Field(min_length=1)
    embeddings: tuple[tuple[float, ...], ...] = Field(min_length=1)
    computed_with: str  # engine and precision of the references, e.g. "onnxruntime 1.32.0 CPU fp32"


def _smooth(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A (height, width, 3) float field: a coarse random grid bilinearly upsampled (numpy only)."""
    coarse = rng.uniform(30, 225, size=(6, 4, 3))
    ys = np.linspace(0, coarse.shape[0] - 1, height)
    xs = np.linspace(0, coarse.shape[1] - 1, width)
    y0 = np.minimum(ys.astype(int), coarse.shape[0] - 2)
    x0 = np.minimum(xs.astype(int), coarse.shape[1] - 2)
    fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    top = coarse[y0][:, x0] * (1 - fx) + coarse[y0][:, x0 + 1] * fx
    bottom = coarse[y0 + 1][:, x0] * (1 - fx) + coarse[y0 + 1][:, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def probe_tracklets(height: int, width: int, seed: int = PROBE_SEED) -> list[np.ndarray]:
    """One uint8 (1, T, height, width, 3) RGB array per length in PROBE_LENGTHS, always the same."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    out = []
    for length in PROBE_LENGTHS:
        background = _smooth(rng, height, width)
        body = _smooth(rng, height, width)
        cx, cy = rng.uniform(0.35, 0.65) * width, rng.uniform(0.4, 0.6) * height
        rx, ry = rng.uniform(0.15, 0.3) * width, rng.uniform(0.3, 0.45) * height
        step = rng.uniform(-0.02, 0.02) * width
        frames = np.empty((length, height, width, 3), np.uint8)
        for t in range(length):
            inside = ((xx - cx - t * step) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0
            frame = np.where(inside[..., None], body, background)
            frames[t] = np.clip(frame + rng.normal(0, 2.0, frame.shape), 0, 255).astype(np.uint8)
        out.append(frames[None])
    return out


def cosines(got: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two (N, D) arrays."""
    num = (got * reference).sum(axis=1)
    den = np.linalg.norm(got, axis=1) * np.linalg.norm(reference, axis=1)
    return num / np.maximum(den, 1e-12)
