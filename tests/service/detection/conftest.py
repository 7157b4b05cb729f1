"""Fixtures of the detection tests: the shipped detector, and the real clip of vtest_clip.py."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from vtest_clip import CLIP

from service.detection.detector import PersonDetector
from service.media.decode import Upload


@pytest.fixture(scope="session")
def detector() -> PersonDetector:
    """The shipped detector, held to its references as the service loads it, on two threads."""
    return PersonDetector(threads=2)


@pytest.fixture(scope="session")
def clip() -> Upload:
    return Upload(CLIP.name, CLIP.read_bytes())


@pytest.fixture(scope="session")
def clip_frames() -> list[np.ndarray]:
    """The clip's frames as the service decodes them: RGB uint8."""
    capture = cv2.VideoCapture(str(CLIP))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    capture.release()
    assert len(frames) == 12
    return frames
