"""Decoded frames to the model's input: resized as the training side's evaluation resized them, or
vectors drift from those the model was measured with (frames stretched to (height, width) with an
antialiased bilinear resize), and selected by the contract's arithmetic (`reid_contract.tracklet`,
whose chunking the evaluation calls too). The sizes come from the model's metadata and arrive here
as plain ints.
"""

from __future__ import annotations

import cv2
import numpy as np

from reid_contract import tracklet
from reid_contract.tracklet import SamplingMode
from service.core.errors import BadInput

__all__ = ["resize_frames", "select_frames"]


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
    """The contract's frame selection (`reid_contract.tracklet`), a request it cannot meet being the
    client's error (422)."""
    try:
        return tracklet.select_frames(num_frames, mode, count)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
