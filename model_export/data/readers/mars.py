"""MARS reader: the official track lists (`info/*.mat`) over `bbox_train` / `bbox_test`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.io import loadmat

from model_export.data.readers.splits import require_dir
from model_export.data.tracklet import ReIDSplit, Tracklet, relabel


def _read_names(path: Path) -> list[str]:
    """Image names in file order: the track table indexes into this list."""
    if not path.is_file():
        raise FileNotFoundError(f"expected the file {path}; not found")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def _load_mat(path: Path, key: str) -> np.ndarray:
    if not path.is_file():
        raise FileNotFoundError(f"expected the file {path}; not found")
    content = loadmat(str(path))
    if key not in content:
        raise KeyError(f"{path} has no variable {key!r}")
    return np.asarray(content[key])


def _tracks(image_dir: Path, names: list[str], table: np.ndarray) -> list[Tracklet]:
    """Turn the N x 4 (start, end, pid, camid) table, 1-based and inclusive, into tracklets.

    Paths are built from names (the folder is the name's 4-character pid) instead of listing the
    ~1M files, which keeps reading MARS fast.
    """
    rows = np.asarray(table, dtype=np.int64).reshape(-1, 4)
    tracklets: list[Tracklet] = []
    for start, end, pid, camid in rows.tolist():
        if start < 1 or end > len(names) or end < start:
            raise ValueError(f"track ({start}, {end}) out of range for {len(names)} names in {image_dir}")
        frames = tuple(image_dir / name[:4] / name for name in names[start - 1 : end])
        tracklets.append(Tracklet(pid=int(pid), camid=int(camid) - 1, frames=frames))
    return tracklets


def read_mars(root: Path) -> ReIDSplit:
    """Read MARS with the official query / gallery protocol.

    Query = test tracks at `query_IDX`; gallery = every other test track, distractor pids 0 and -1
    included as the official evaluation does. Train tracks are all kept and relabelled.
    """
    root = Path(root)
    train_dir = require_dir(root / "bbox_train")
    test_dir = require_dir(root / "bbox_test")
    info = require_dir(root / "info")

    train_names = _read_names(info / "train_name.txt")
    test_names = _read_names(info / "test_name.txt")
    train_table = _load_mat(info / "tracks_train_info.mat", "track_train_info")
    test_table = _load_mat(info / "tracks_test_info.mat", "track_test_info")
    query_idx = _load_mat(info / "query_IDX.mat", "query_IDX").astype(np.int64).ravel() - 1

    train = relabel(_tracks(train_dir, train_names, train_table))
    test = _tracks(test_dir, test_names, test_table)
    if query_idx.size and (query_idx.min() < 0 or query_idx.max() >= len(test)):
        raise ValueError(f"query_IDX points outside the {len(test)} test tracks")
    query_set = set(query_idx.tolist())
    query = [test[i] for i in query_idx.tolist()]
    gallery = [t for i, t in enumerate(test) if i not in query_set]
    return ReIDSplit(name="mars", train=train, query=query, gallery=gallery, extra={"two_camera": False})
