"""iLIDS-VID reader: 300 identities, one sequence per camera, 10 random 50/50 identity splits."""

from __future__ import annotations

import re
from pathlib import Path

from model_export.data.readers.splits import resolve_root, shared_person_tracklets, two_camera_split
from model_export.data.tracklet import ReIDSplit

_CAMERAS: tuple[str, ...] = ("cam1", "cam2")
_PERSON = re.compile(r"person(\d+)")


def read_ilidsvid(root: Path, split_id: int = 0) -> ReIDSplit:
    """List `i-LIDS-VID/sequences/cam1|cam2/personNNN/*.png` into split `split_id` (0..9).

    Only identities with a non-empty sequence in both cameras are kept, since the protocol matches
    cam1 queries against cam2 galleries.
    """
    sequences = resolve_root(root, "i-LIDS-VID", "sequences") / "sequences"
    tracklets = shared_person_tracklets(sequences, _CAMERAS, _PERSON)
    return two_camera_split("ilidsvid", tracklets, split_id)
