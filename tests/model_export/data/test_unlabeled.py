"""Unlabeled crops: one tracklet per folder of images, cameras from the first folder level, no ids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model_export.data.readers.unlabeled import UNLABELED, read_unlabeled


def _crop(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((8, 4, 3), np.uint8)).save(path)


def test_tracks_per_camera_become_tracklets_in_frame_order(tmp_path: Path) -> None:
    for name in ("f2.jpg", "f10.jpg", "f1.jpg"):
        _crop(tmp_path / "cam-b" / "track-7" / name)
    _crop(tmp_path / "cam-a" / "track-2" / "0.png")
    _crop(tmp_path / "cam-a" / "track-10" / "0.png")
    (tmp_path / "cam-a" / "track-10" / "notes.txt").write_text("not a frame")

    tracklets = read_unlabeled(tmp_path)

    assert [t.frames[0].parent.name for t in tracklets] == ["track-2", "track-10", "track-7"]
    assert [t.camid for t in tracklets] == [0, 0, 1]  # cam-a, cam-a, cam-b
    assert [f.name for f in tracklets[2].frames] == ["f1.jpg", "f2.jpg", "f10.jpg"]
    assert all(t.pid == UNLABELED for t in tracklets)
    assert len(tracklets[1]) == 1  # the text file is not a frame


def test_a_flat_tree_gives_each_track_its_own_camera(tmp_path: Path) -> None:
    _crop(tmp_path / "a" / "1.jpg")
    _crop(tmp_path / "b" / "1.jpg")
    assert [t.camid for t in read_unlabeled(tmp_path)] == [0, 1]


def test_a_folder_without_crops_is_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no image files under"):
        read_unlabeled(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="missing"):
        read_unlabeled(tmp_path / "missing")
