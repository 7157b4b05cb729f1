"""PETA's subsets and the multi-site mix, on tiny trees in their real layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model_export.data.readers import open_split
from model_export.data.readers.peta import (
    FRAMES_PER_TRACKLET,
    read_held_out_site,
    read_prid_single_shot,
    read_site,
    read_viper,
)
from model_export.data.tracklet import ReIDSplit


def _image(path: Path, value: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((16, 8, 3), value, np.uint8)).save(path)


def test_viper_pairs_camera_one_with_camera_two(tmp_path: Path) -> None:
    for pid in range(3):
        _image(tmp_path / "VIPeR" / f"{pid:03d}_45_1.bmp")
        _image(tmp_path / "VIPeR" / f"{pid:03d}_90_2.bmp")
    (tmp_path / "VIPeR" / "Label.txt").write_text("not an image")
    split = read_viper(tmp_path)
    assert [t.pid for t in split.query] == [0, 1, 2] and {t.camid for t in split.query} == {0}
    assert [t.pid for t in split.gallery] == [0, 1, 2] and {t.camid for t in split.gallery} == {1}
    assert split.extra["two_camera"] and split.train == []


def test_prid_queries_only_people_of_both_cameras(tmp_path: Path) -> None:
    for pid in (1, 2, 3):
        _image(tmp_path / "PRID" / f"{pid:04d}_a.png")
    for pid in (1, 2, 4, 5):
        _image(tmp_path / "PRID" / f"{pid:04d}_b.png")
    split = read_prid_single_shot(tmp_path, shared=2)
    assert [t.pid for t in split.query] == [1, 2]  # person 3 is never in camera b
    assert [t.pid for t in split.gallery] == [1, 2, 4, 5]  # 4 and 5 are distractors


def test_sites_group_images_by_person_and_camera(tmp_path: Path) -> None:
    peta = tmp_path
    for n in range(1, 21):  # CAVIAR4REID: 001-010 one camera, 011-020 the other
        _image(peta / "CAVIAR4REID" / f"0007_{n:03d}.jpg")
    for view in ("front", "back", "Right"):
        _image(peta / "SARC3D" / f"003_{view}.bmp")
    for frame in range(FRAMES_PER_TRACKLET + 3):  # one camera, more images than one tracklet holds
        _image(peta / "TownCentre" / f"5_{frame}.jpg")
    caviar = read_site(peta, "CAVIAR4REID")
    assert [(t.pid, t.camid, len(t)) for t in caviar] == [(7, 0, 8), (7, 0, 2), (7, 1, 8), (7, 1, 2)]
    assert caviar[0].frames[1].name == "0007_002.jpg"  # file order
    sarc = read_site(peta, "SARC3D")
    assert sorted(t.camid for t in sarc) == [0, 1, 3]  # front, back, right in any case
    town = read_site(peta, "TownCentre")
    assert [len(t) for t in town] == [FRAMES_PER_TRACKLET, 3]
    assert town[0].frames[2].name == "5_2.jpg"  # natural order: 2 before 10
    with pytest.raises(ValueError, match="unknown PETA site"):
        read_site(peta, "VIPeR")


def test_multisite_keeps_one_identity_per_person_across_cuts_and_sites(tmp_path: Path) -> None:
    cuhk = tmp_path / "cuhk03"
    for pid in (1000, 1001):
        for i in (0, 5):
            _image(cuhk / "labeled" / "train_resized" / f"{pid:04d}_{i:02d}.jpg")
    for i in (0, 5):
        _image(cuhk / "detected" / "train_resized" / f"0000_{i:02d}.jpg")  # detected 0000 = labeled 1000
        _image(cuhk / "labeled" / "val" / f"0003_{i:02d}.jpg")
    peta = tmp_path / "peta"
    for site, name in (("i-LID", "1000_001.jpg"), ("3DPeS", "001_1_FRAME_1_RGB.bmp")):
        _image(peta / site / name)
    _image(peta / "CAVIAR4REID" / "0001_001.jpg")
    _image(peta / "TownCentre" / "1_1.jpg")
    _image(peta / "SARC3D" / "001_front.bmp")
    _image(peta / "VIPeR" / "000_45_1.bmp")  # a test set: must never be read for training

    split = open_split("multisite", tmp_path)
    by_file = {t.frames[0].parent.parent.name + "/" + t.frames[0].name: t.pid for t in split.train}
    assert by_file["labeled/1000_00.jpg"] == by_file["detected/0000_00.jpg"]
    assert by_file["labeled/1000_00.jpg"] != by_file["labeled/1001_00.jpg"]
    # i-LID's person 1000 is not CUHK03's 1000: every site has its own identities
    assert split.num_train_pids == 2 + 5
    assert not any("VIPeR" in str(f) for t in split.train for f in t.frames)
    assert [t.pid for t in split.query] == [3] and [t.pid for t in split.gallery] == [3]


def test_a_held_out_site_is_evaluated_on_and_never_trained_on(tmp_path: Path) -> None:
    cuhk = tmp_path / "cuhk03"
    for i in (0, 5):
        _image(cuhk / "labeled" / "train_resized" / f"1000_{i:02d}.jpg")
        _image(cuhk / "detected" / "train_resized" / f"0000_{i:02d}.jpg")
        _image(cuhk / "labeled" / "val" / f"0003_{i:02d}.jpg")
    peta = tmp_path / "peta"
    for person, camera in ((1, 1), (1, 2), (2, 1)):  # 3DPeS: person 2 is seen by one camera only
        _image(peta / "3DPeS" / f"{person:03d}_{camera}_FRAME_1_RGB.bmp")
    for name in (
        "i-LID/0001_001.jpg",
        "CAVIAR4REID/0001_001.jpg",
        "TownCentre/1_1.jpg",
        "SARC3D/001_front.bmp",
    ):
        _image(peta / name)

    split = open_split("multisite", tmp_path, held_out_site="3DPeS")
    assert not any("3DPeS" in str(f) for t in split.train for f in t.frames)
    assert split.num_train_pids == 1 + 4  # CUHK03's 1000 (both cuts) and one person of each other site
    assert split.query == split.gallery
    assert sorted((t.pid, t.camid) for t in split.query) == [(1, 1), (1, 2), (2, 1)]
    assert "3DPeS" in split.name
    with pytest.raises(ValueError, match="cannot hold out 'VIPeR'"):
        open_split("multisite", tmp_path, held_out_site="VIPeR")
    with pytest.raises(ValueError, match="no sites to hold out"):
        open_split("viper", peta, held_out_site="3DPeS")


def test_a_held_out_site_without_cameras_is_matched_across_time(tmp_path: Path) -> None:
    """i-LID and TownCentre name no camera: read as training reads them, every match would be a
    same-camera one that the protocol drops, and no query could be scored."""
    for frame in range(5):
        _image(tmp_path / "TownCentre" / f"5_{frame}.jpg")
    _image(tmp_path / "TownCentre" / "6_0.jpg")  # one image: no later self to match
    for frame in range(2 * FRAMES_PER_TRACKLET + 2):
        _image(tmp_path / "TownCentre" / f"7_{frame}.jpg")
    town = read_held_out_site(tmp_path, "TownCentre")
    halves = [(t.pid, t.camid, [f.name for f in t.frames]) for t in town if t.pid == 5]
    assert halves == [(5, 0, ["5_0.jpg", "5_1.jpg", "5_2.jpg"]), (5, 1, ["5_3.jpg", "5_4.jpg"])]
    assert [(t.camid, len(t)) for t in town if t.pid == 7] == [(0, 8), (0, 1), (1, 8), (1, 1)]
    assert [(t.pid, t.camid) for t in town if t.pid == 6] == [(6, 0)]
    # a site that names its cameras is read as for training
    for n in (1, 11):
        _image(tmp_path / "CAVIAR4REID" / f"0007_{n:03d}.jpg")
    assert read_held_out_site(tmp_path, "CAVIAR4REID") == read_site(tmp_path, "CAVIAR4REID")


def test_every_held_out_site_can_be_scored(tmp_path: Path) -> None:
    """Each of the five folds ranks some query against another camera (or time) of its own person."""
    from model_export.evaluation.evaluator import score

    images = {
        "i-LID": ["0001_001.jpg", "0001_002.jpg", "0002_001.jpg", "0002_002.jpg"],
        "3DPeS": ["001_1_FRAME_1_RGB.bmp", "001_2_FRAME_1_RGB.bmp", "002_3_FRAME_1_RGB.bmp"],
        "CAVIAR4REID": ["0001_001.jpg", "0001_011.jpg", "0002_001.jpg"],
        "TownCentre": ["1_1.jpg", "1_2.jpg", "2_1.jpg", "2_2.jpg"],
        "SARC3D": ["001_front.bmp", "001_back.bmp", "002_left.bmp"],
    }
    for site, names in images.items():
        for name in names:
            _image(tmp_path / site / name)
        tracklets = read_held_out_site(tmp_path, site)
        split = ReIDSplit(name=site, train=[], query=tracklets, gallery=tracklets)
        pids = np.array([t.pid for t in tracklets])
        dist = (pids[:, None] != pids[None, :]).astype(float)  # a perfect model
        result = score(split, dist)["query->gallery"]
        assert result.num_valid_queries >= 2 and result.rank(1) == 1.0, site
