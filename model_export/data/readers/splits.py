"""Helpers shared by the readers: layout lookup, image listing, and the random 50/50 identity splits.

The iLIDS-VID and PRID 2011 protocols both report the mean over 10 random halvings of the identities;
the halvings are regenerated from a fixed seed (never written into the dataset folder) so every run and
every machine sees the same ten splits.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from model_export.data.tracklet import ReIDSplit, Tracklet, relabel

IMAGE_EXTENSIONS: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".bmp"})
NUM_SPLITS: int = 10
SPLIT_SEED: int = 2016

_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Order `frame_2` before `frame_10`, so unpadded frame numbers still play in time order."""
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in _DIGITS.split(name) if part)


def is_image(path: Path) -> bool:
    """Accept the usual still-image extensions in any case; datasets mix `.PNG` and `.png`."""
    return path.suffix.lower() in IMAGE_EXTENSIONS and path.is_file()


def list_images(folder: Path) -> tuple[Path, ...]:
    """Frames of one sequence folder in play order, without decoding them."""
    return tuple(sorted((p for p in folder.iterdir() if is_image(p)), key=lambda p: natural_key(p.name)))


def resolve_root(root: Path, top: str, inner: str) -> Path:
    """Accept both the folder holding the dataset's top folder and that top folder itself.

    Returns the dataset folder (the one that contains `inner`); raises FileNotFoundError naming the
    folder that was expected, so a wrong `--data-root` is obvious.
    """
    root = Path(root)
    for candidate in (root / top, root):
        if (candidate / inner).is_dir():
            return candidate
    raise FileNotFoundError(f"expected the folder {root / top / inner} (or {root / inner}); not found")


def require_dir(folder: Path) -> Path:
    """Fail early with the folder's name rather than later with an obscure listing error."""
    if not folder.is_dir():
        raise FileNotFoundError(f"expected the folder {folder}; not found")
    return folder


def person_folders(camera_dir: Path, pattern: re.Pattern[str]) -> dict[int, Path]:
    """Map person number -> folder for the sub-folders of a camera whose name matches `pattern`."""
    found: dict[int, Path] = {}
    for entry in sorted(camera_dir.iterdir()):
        match = pattern.fullmatch(entry.name)
        if match is not None and entry.is_dir():
            found[int(match.group(1))] = entry
    return found


def identity_split(pids: Iterable[int], split_id: int, seed: int = SPLIT_SEED) -> tuple[list[int], list[int]]:
    """One of the protocol's random 50/50 identity halvings: (train ids, test ids), both sorted.

    The permutation depends only on the sorted identity list, the seed and split_id, so it is stable
    across runs and independent of directory listing order.
    """
    if not 0 <= split_id < NUM_SPLITS:
        raise ValueError(f"split_id must be in 0..{NUM_SPLITS - 1}, got {split_id}")
    ordered = sorted(set(pids))
    if len(ordered) < 2:
        raise ValueError(f"need at least 2 identities to split, got {len(ordered)}")
    rng = np.random.default_rng(seed)
    perms = [rng.permutation(len(ordered)) for _ in range(NUM_SPLITS)]
    perm = perms[split_id]
    half = len(ordered) // 2
    train = sorted(ordered[i] for i in perm[:half])
    test = sorted(ordered[i] for i in perm[half:])
    return train, test


def two_camera_split(name: str, tracklets: Sequence[Tracklet], split_id: int) -> ReIDSplit:
    """Build the train / query (camera 0) / gallery (camera 1) split used by iLIDS-VID and PRID 2011."""
    train_ids, test_ids = identity_split((t.pid for t in tracklets), split_id)
    train_set, test_set = set(train_ids), set(test_ids)
    train = relabel([t for t in tracklets if t.pid in train_set])
    query = [t for t in tracklets if t.pid in test_set and t.camid == 0]
    gallery = [t for t in tracklets if t.pid in test_set and t.camid == 1]
    return ReIDSplit(
        name=name,
        train=train,
        query=query,
        gallery=gallery,
        extra={"two_camera": True, "split_id": split_id},
    )


def shared_person_tracklets(
    parent: Path, cameras: Sequence[str], pattern: re.Pattern[str], min_frames: int = 1
) -> list[Tracklet]:
    """One tracklet per camera for every person with >= `min_frames` frames in each of `cameras`.

    camid is the camera's position in `cameras`; persons are ordered by number, cameras within a
    person by camid. A person missing from any camera is dropped: it could not be matched.
    """
    per_camera: list[dict[int, tuple[Path, ...]]] = []
    for camera in cameras:
        camera_dir = require_dir(parent / camera)
        listed = {pid: list_images(folder) for pid, folder in person_folders(camera_dir, pattern).items()}
        per_camera.append(
            {pid: frames for pid, frames in listed.items() if frames and len(frames) >= min_frames}
        )
    shared = sorted(set.intersection(*(set(frames) for frames in per_camera)))
    return [
        Tracklet(pid=pid, camid=camid, frames=per_camera[camid][pid])
        for pid in shared
        for camid in range(len(cameras))
    ]
