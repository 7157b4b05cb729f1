"""The small picture kept with a gallery entry: a strip of a few frames of its tracklet, as a JPEG.

A few KB, so a page of gallery entries loads at once; never the uploaded frames themselves.
"""

from __future__ import annotations

import cv2
import numpy as np

STRIP_FRAMES = 4
FRAME_SIZE = (96, 48)  # (height, width) of each frame in the strip
QUALITY = 70


def make_strip(frames: list[np.ndarray]) -> bytes:
    """RGB uint8 frames (any sizes) -> a JPEG of up to STRIP_FRAMES of them, evenly spread, side by side."""
    if not frames:
        raise ValueError("no frames to make a thumbnail of")
    count = min(STRIP_FRAMES, len(frames))
    picks = np.linspace(0, len(frames) - 1, count).round().astype(int)
    height, width = FRAME_SIZE
    tiles = [cv2.resize(frames[i], (width, height), interpolation=cv2.INTER_AREA) for i in picks]
    strip = cv2.cvtColor(np.concatenate(tiles, axis=1), cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".jpg", strip, [cv2.IMWRITE_JPEG_QUALITY, QUALITY])
    if not ok:
        raise RuntimeError("JPEG encoding of a thumbnail failed")
    return encoded.tobytes()
