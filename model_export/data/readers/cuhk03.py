"""CUHK03 reader: up to 5 images per identity and camera used as a short tracklet (labeled or detected)."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from model_export.data.readers.splits import is_image, resolve_root
from model_export.data.tracklet import ReIDSplit, Tracklet, relabel

_NAME = re.compile(r"(\d+)_(\d+)")
_IMAGES_PER_CAMERA = 5
DETECTED_PID_OFFSET = 1000


def _read_split(folder: Path) -> list[Tracklet]:
    """One tracklet per (identity, camera), frames ordered by image index; ordered by (pid, camid).

    Image indices 00-04 are camera A (camid 0), 05-09 camera B (camid 1).
    """
    if not folder.is_dir():
        raise FileNotFoundError(f"expected the folder {folder}; not found")
    groups: dict[tuple[int, int], list[tuple[int, Path]]] = defaultdict(list)
    for path in folder.iterdir():
        match = _NAME.fullmatch(path.stem)
        if match is None or not is_image(path):
            continue
        pid, index = int(match.group(1)), int(match.group(2))
        if index >= 2 * _IMAGES_PER_CAMERA:
            continue
        groups[(pid, index // _IMAGES_PER_CAMERA)].append((index, path))
    return [
        Tracklet(pid=pid, camid=camid, frames=tuple(p for _, p in sorted(groups[(pid, camid)])))
        for pid, camid in sorted(groups)
    ]


def read_cuhk03_train(root: Path, cut: str = "labeled", split: str = "train_resized") -> list[Tracklet]:
    """Training tracklets under the dataset's own ids, cut by hand (`labeled`) or by a detector.

    `detected/PPPP` is `labeled/1PPP` (the dataset's README), so the same person keeps one identity
    whether a tracklet was cut by hand or by a detector: the pair the model must learn to match.
    """
    if cut not in ("labeled", "detected"):
        raise ValueError(f"unknown CUHK03 cut {cut!r}; choose labeled or detected")
    tracklets = _read_split(resolve_root(root, cut, split) / split)
    if cut == "labeled":
        return tracklets
    return [Tracklet(pid=t.pid + DETECTED_PID_OFFSET, camid=t.camid, frames=t.frames) for t in tracklets]


def read_cuhk03(root: Path, train_split: str = "train_resized", eval_split: str = "val") -> ReIDSplit:
    """Train on every tracklet of `train_split`; evaluate camera A queries against camera B.

    Identities seen by only one camera in `eval_split` are kept: a lone camera-B tracklet is a
    gallery distractor and a lone camera-A one a query without a match.
    """
    labeled = resolve_root(root, "labeled", train_split)
    train = relabel(_read_split(labeled / train_split))
    evaluation = _read_split(labeled / eval_split)
    query = [t for t in evaluation if t.camid == 0]
    gallery = [t for t in evaluation if t.camid == 1]
    return ReIDSplit(name="cuhk03", train=train, query=query, gallery=gallery, extra={"two_camera": True})
