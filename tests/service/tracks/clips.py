"""Real footage for /tracks without a tracker file: the twelve PETS09-S2L1 frames the detection tests
use (tests/service/detection/data), a longer clip made of them played back and forth, and a clip in
which nobody walks."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

VTEST = Path(__file__).resolve().parents[1] / "detection" / "data" / "vtest-100-111.mp4"


def vtest_frames() -> list[np.ndarray]:
    """The clip's frames as OpenCV reads them (BGR)."""
    capture = cv2.VideoCapture(str(VTEST))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


def write_clip(path: Path, frames: list[np.ndarray], fps: float = 10.0) -> bytes:
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    assert writer.isOpened(), "OpenCV cannot write mp4v here"
    try:
        for frame in frames:
            writer.write(frame)
    finally:
        writer.release()
    return path.read_bytes()


def back_and_forth(path: Path, length: int) -> bytes:
    """`length` frames of the real clip played forwards, backwards, forwards...: people keep walking
    (to and fro), so the detector and the tracker have work on every frame."""
    frames = vtest_frames()
    cycle = frames + frames[-2:0:-1]
    return write_clip(path, [cycle[i % len(cycle)] for i in range(length)])


def nobody(path: Path, length: int = 12) -> bytes:
    """An empty scene: grey noise, no person in it."""
    rng = np.random.default_rng(0)
    frames = [np.clip(rng.normal(120, 12, (288, 384, 3)), 0, 255).astype(np.uint8) for _ in range(length)]
    return write_clip(path, frames)
