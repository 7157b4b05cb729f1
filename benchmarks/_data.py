"""Real inputs for the benchmarks: CUHK03 val crops read at run time (never copied into the repo).

A benchmark tracklet is 16 JPEG frames of one person: the person's up to ten crops (both cameras),
repeated in order until there are 16, so every request is one full chunk of the shipped model.
Synthetic gallery vectors are seeded unit vectors.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from benchmarks._report import REPO

FRAMES_PER_TRACKLET = 16


def cuhk03_root() -> Path:
    return Path(os.environ.get("CUHK03_ROOT", REPO.parent / "shared" / "data" / "cuhk03"))


def val_dir() -> Path:
    path = cuhk03_root() / "labeled" / "val"
    if not path.is_dir():
        raise SystemExit(f"CUHK03 val crops not found at {path}; set CUHK03_ROOT")
    return path


def jpeg_tracklets(count: int, frames: int = FRAMES_PER_TRACKLET) -> list[list[bytes]]:
    """`count` tracklets of `frames` JPEG files each, one person per tracklet (persons cycle)."""
    by_person: dict[str, list[Path]] = {}
    for path in sorted(val_dir().glob("*.jpg")):
        by_person.setdefault(path.stem.split("_")[0], []).append(path)
    persons = sorted(by_person)
    out = []
    for i in range(count):
        files = by_person[persons[i % len(persons)]]
        data = [f.read_bytes() for f in files]
        out.append([data[j % len(data)] for j in range(frames)])
    return out


def decoded_tracklets(count: int, height: int, width: int) -> np.ndarray:
    """(count, 16, height, width, 3) uint8: the same tracklets decoded and resized as the service does."""
    from service.inference.preprocess import resize_frames
    from service.media.decode import MediaLimits, decode_image

    limits = MediaLimits(
        max_bytes=1 << 30, max_frames=4096, max_frame_pixels=1 << 26, max_archive_members=4096
    )
    batches = []
    for t, frames in enumerate(jpeg_tracklets(count)):
        images = [decode_image(data, f"tracklet {t} frame {i}", limits) for i, data in enumerate(frames)]
        batches.append(resize_frames(images, height, width))
    return np.stack(batches)


def unit_vectors(n: int, dim: int, seed: int = 0, chunk: int = 65536) -> np.ndarray:
    """(n, dim) float32 rows of unit length, generated in chunks to keep temporaries small."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, chunk):
        block = rng.standard_normal((min(chunk, n - start), dim), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start : start + len(block)] = block
    return out
