"""PRID 2011 reader: multi-shot sequences, persons seen in both cameras, 10 random 50/50 splits."""

from __future__ import annotations

import re
from pathlib import Path

from model_export.data.readers.splits import resolve_root, shared_person_tracklets, two_camera_split
from model_export.data.tracklet import ReIDSplit

_CAMERAS: tuple[str, ...] = ("cam_a", "cam_b")
_PERSON = re.compile(r"person_(\d+)")


def read_prid2011(root: Path, split_id: int = 0, min_frames: int = 21) -> ReIDSplit:
    """List `prid_2011/multi_shot/cam_a|cam_b/person_NNNN/*.png` into split `split_id` (0..9).

    Keeps persons with at least `min_frames` frames in each camera: the usual protocol (178 persons
    with >= 21 frames) drops very short sequences on which temporal models are meaningless.
    """
    multi_shot = resolve_root(root, "prid_2011", "multi_shot") / "multi_shot"
    tracklets = shared_person_tracklets(multi_shot, _CAMERAS, _PERSON, min_frames=max(1, min_frames))
    return two_camera_split("prid2011", tracklets, split_id)
