"""Synthetic inputs: JPEG crops of made-up persons, distinct by seed, with no data set needed."""

from __future__ import annotations

import cv2
import numpy as np

FileField = tuple[str, tuple[str, bytes, str]]


def person_frames(seed: int, count: int = 6, size: tuple[int, int] = (128, 64)) -> list[bytes]:
    """JPEG crops of one synthetic 'person': fixed clothing colours, a little motion and noise."""
    rng = np.random.default_rng(seed)
    top, bottom = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    h, w = size
    frames = []
    for t in range(count):
        img = np.full((h, w, 3), 90, np.uint8)
        x0 = 12 + (t % 3)
        img[h // 8 : h // 2, x0 : w - 12] = top
        img[h // 2 : h - 8, x0 + 4 : w - 16] = bottom
        img = np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)
        ok, buf = cv2.imencode(".jpg", img)
        assert ok
        frames.append(buf.tobytes())
    return frames


def frames_files(frames: list[bytes], field: str = "frames") -> list[FileField]:
    """The `files=` of an httpx multipart upload: one part per frame, named in order."""
    return [(field, (f"f{i:03d}.jpg", data, "image/jpeg")) for i, data in enumerate(frames)]
