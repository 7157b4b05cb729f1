"""Readers against tiny synthetic trees in each dataset's layout, plus the real CUHK03 when present."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from model_export.data.readers import (
    READERS,
    get_reader,
    read_cuhk03,
    read_ilidsvid,
    read_mars,
    read_prid2011,
)
from model_export.data.tracklet import ReIDSplit, Tracklet

REAL_CUHK03 = Path(__file__).resolve().parents[3].parent / "shared/data/cuhk03"


def _touch(path: Path) -> None:
    """Readers never decode, so an empty file is a valid frame for them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")


def _pids(tracklets: list[Tracklet]) -> set[int]:
    return {t.pid for t in tracklets}


def _check_two_camera_split(split: ReIDSplit, num_ids: int) -> None:
    """Shared protocol checks for the 50/50 splits of iLIDS-VID and PRID 2011."""
    half = num_ids // 2
    assert split.num_train_pids == half
    assert sorted(_pids(split.train)) == list(range(half))
    assert len(split.train) == 2 * half
    assert len(split.query) == len(split.gallery) == num_ids - half
    assert {t.camid for t in split.query} == {0}
    assert {t.camid for t in split.gallery} == {1}
    assert _pids(split.query) == _pids(split.gallery)
    assert split.extra["two_camera"] is True


# ---------------------------------------------------------------- iLIDS-VID


def _make_ilids(root: Path, persons: dict[str, dict[int, int]]) -> Path:
    """persons: camera -> {person number: frame count}."""
    for camera, counts in persons.items():
        for pid, count in counts.items():
            folder = root / "i-LIDS-VID" / "sequences" / camera / f"person{pid:03d}"
            folder.mkdir(parents=True, exist_ok=True)
            for frame in range(count):
                _touch(folder / f"{camera}_person{pid:03d}_{frame * 7 + 3:05d}.png")
    return root


@pytest.fixture
def ilids_root(tmp_path: Path) -> Path:
    cam1 = {pid: 5 + pid % 3 for pid in range(1, 21)}
    cam2 = {pid: 4 + pid % 2 for pid in range(1, 21)}
    cam1[99] = 6  # seen only by cam1: must be dropped
    cam2[77] = 3  # seen only by cam2: must be dropped
    root = _make_ilids(tmp_path, {"cam1": cam1, "cam2": cam2})
    (root / "i-LIDS-VID" / "sequences" / "cam1" / "person001" / "notes.txt").write_text("x")
    return root


def test_ilidsvid_counts_and_semantics(ilids_root: Path) -> None:
    split = read_ilidsvid(ilids_root, split_id=0)
    assert split.name == "ilidsvid"
    _check_two_camera_split(split, 20)
    assert split.extra == {"two_camera": True, "split_id": 0}
    assert not _pids(split.query) & {77, 99}
    assert _pids(split.query) <= set(range(1, 21))
    by_key = {(t.pid, t.camid): t for t in split.query + split.gallery}
    for (pid, camid), tracklet in by_key.items():
        assert len(tracklet) == (5 + pid % 3 if camid == 0 else 4 + pid % 2)
        assert all(f.suffix == ".png" for f in tracklet.frames)
        assert list(tracklet.frames) == sorted(tracklet.frames)
        assert tracklet.frames[0].parent.parent.name == ("cam1" if camid == 0 else "cam2")
    total = sum(len(t) for t in split.train + split.query + split.gallery)
    assert total == sum(5 + p % 3 + 4 + p % 2 for p in range(1, 21))


def test_ilidsvid_accepts_dataset_folder_itself(ilids_root: Path) -> None:
    outer = read_ilidsvid(ilids_root, split_id=3)
    inner = read_ilidsvid(ilids_root / "i-LIDS-VID", split_id=3)
    assert outer == inner


def test_ilidsvid_splits_deterministic_and_distinct(ilids_root: Path) -> None:
    splits = [read_ilidsvid(ilids_root, split_id=i) for i in range(10)]
    assert read_ilidsvid(ilids_root, split_id=4) == splits[4]
    test_sets = {frozenset(_pids(s.query)) for s in splits}
    assert len(test_sets) > 1
    for split in splits:
        # train ids are relabelled: recover the original ids through the frame paths
        train_original = {int(t.frames[0].parent.name[len("person") :]) for t in split.train}
        assert not train_original & _pids(split.query)
        assert train_original | _pids(split.query) == set(range(1, 21))


@pytest.mark.parametrize("split_id", [-1, 10])
def test_ilidsvid_bad_split_id(ilids_root: Path, split_id: int) -> None:
    with pytest.raises(ValueError, match="split_id"):
        read_ilidsvid(ilids_root, split_id=split_id)


def test_ilidsvid_missing_layout(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="sequences"):
        read_ilidsvid(tmp_path)


def test_ilidsvid_frame_order_is_numeric(tmp_path: Path) -> None:
    """Unpadded frame numbers still come out in time order."""
    for camera in ("cam1", "cam2"):
        for pid in (1, 2):
            folder = tmp_path / "i-LIDS-VID" / "sequences" / camera / f"person{pid:03d}"
            for frame in (10, 2, 1):
                _touch(folder / f"f{frame}.PNG")
    split = read_ilidsvid(tmp_path)
    for tracklet in split.query + split.gallery + split.train:
        assert [f.name for f in tracklet.frames] == ["f1.PNG", "f2.PNG", "f10.PNG"]


# ---------------------------------------------------------------- PRID 2011


def _make_prid(root: Path, counts: dict[str, dict[int, int]]) -> Path:
    for camera, persons in counts.items():
        for pid, count in persons.items():
            folder = root / "prid_2011" / "multi_shot" / camera / f"person_{pid:04d}"
            folder.mkdir(parents=True, exist_ok=True)
            for frame in range(1, count + 1):
                _touch(folder / f"{frame:04d}.png")
    return root


@pytest.fixture
def prid_root(tmp_path: Path) -> Path:
    cam_a = {pid: 25 for pid in range(1, 13)}
    cam_b = {pid: 30 for pid in range(1, 13)}
    cam_a[3] = 20  # too short in cam_a
    cam_b[5] = 10  # too short in cam_b
    cam_a[40] = 50  # only in cam_a
    cam_b[41] = 50  # only in cam_b
    return _make_prid(tmp_path, {"cam_a": cam_a, "cam_b": cam_b})


def test_prid_min_frames_filter(prid_root: Path) -> None:
    split = read_prid2011(prid_root)
    _check_two_camera_split(split, 10)
    assert split.name == "prid2011"
    assert all(len(t) >= 21 for t in split.train + split.query + split.gallery)
    originals = {int(t.frames[0].parent.name[len("person_") :]) for t in split.train + split.query}
    assert originals == set(range(1, 13)) - {3, 5}

    loose = read_prid2011(prid_root, min_frames=1)
    _check_two_camera_split(loose, 12)
    with pytest.raises(ValueError, match="identities"):
        read_prid2011(prid_root, min_frames=26)


def test_prid_frames_and_cameras(prid_root: Path) -> None:
    split = read_prid2011(prid_root, split_id=7, min_frames=21)
    assert split.extra == {"two_camera": True, "split_id": 7}
    for tracklet in split.query:
        assert tracklet.frames[0].parent.parent.name == "cam_a"
        assert len(tracklet) == 25
        assert [f.name for f in tracklet.frames] == [f"{i:04d}.png" for i in range(1, 26)]
    for tracklet in split.gallery:
        assert tracklet.frames[0].parent.parent.name == "cam_b"
        assert len(tracklet) == 30


def test_prid_splits_deterministic_disjoint(prid_root: Path) -> None:
    a = read_prid2011(prid_root / "prid_2011", split_id=2)
    b = read_prid2011(prid_root, split_id=2)
    assert a == b
    queries = [frozenset(_pids(read_prid2011(prid_root, split_id=i).query)) for i in range(10)]
    assert len(set(queries)) > 1
    train_original = {int(t.frames[0].parent.name[len("person_") :]) for t in a.train}
    assert not train_original & _pids(a.query)


def test_prid_missing_layout(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="multi_shot"):
        read_prid2011(tmp_path)
    (tmp_path / "prid_2011" / "multi_shot" / "cam_a").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="cam_b"):
        read_prid2011(tmp_path)


# ---------------------------------------------------------------- MARS


def _mars_name(pid: int, cam: int, track: int, frame: int) -> str:
    prefix = f"{pid:04d}" if pid >= 0 else "00-1"
    return f"{prefix}C{cam}T{track:04d}F{frame:03d}.jpg"


def _write_mars_part(
    root: Path, part: str, tracks: list[tuple[int, int, int]]
) -> tuple[list[str], np.ndarray]:
    """tracks: (pid, cam 1-based, frame count). Returns the name list and the N x 4 table."""
    names: list[str] = []
    rows: list[list[int]] = []
    for track, (pid, cam, count) in enumerate(tracks, start=1):
        start = len(names) + 1
        for frame in range(1, count + 1):
            name = _mars_name(pid, cam, track, frame)
            names.append(name)
            _touch(root / f"bbox_{part}" / name[:4] / name)
        rows.append([start, len(names), pid, cam])
    (root / "info" / f"{part}_name.txt").write_text("\n".join(names) + "\n")
    return names, np.asarray(rows, dtype=np.float64)


@pytest.fixture
def mars_root(tmp_path: Path) -> Path:
    root = tmp_path / "MARS"
    (root / "info").mkdir(parents=True)
    _, train_table = _write_mars_part(root, "train", [(2, 1, 3), (2, 4, 2), (7, 2, 4), (11, 6, 1)])
    _, test_table = _write_mars_part(
        root, "test", [(5, 1, 2), (5, 3, 3), (0, 2, 2), (9, 1, 4), (9, 2, 1), (-1, 5, 2), (13, 4, 3)]
    )
    savemat(str(root / "info" / "tracks_train_info.mat"), {"track_train_info": train_table})
    savemat(str(root / "info" / "tracks_test_info.mat"), {"track_test_info": test_table})
    savemat(str(root / "info" / "query_IDX.mat"), {"query_IDX": np.array([[1, 4]], dtype=np.float64)})
    return root


def test_mars_train_relabelled(mars_root: Path) -> None:
    split = read_mars(mars_root)
    assert split.name == "mars"
    assert split.extra == {"two_camera": False}
    assert len(split.train) == 4
    assert [t.pid for t in split.train] == [0, 0, 1, 2]
    assert [t.camid for t in split.train] == [0, 3, 1, 5]
    assert [len(t) for t in split.train] == [3, 2, 4, 1]
    first = split.train[0]
    assert [f.name for f in first.frames] == [_mars_name(2, 1, 1, f) for f in (1, 2, 3)]
    assert all(f.parent == mars_root / "bbox_train" / "0002" for f in first.frames)
    assert all(f.is_file() for t in split.train for f in t.frames)


def test_mars_query_gallery_from_query_idx(mars_root: Path) -> None:
    split = read_mars(mars_root)
    assert [(t.pid, t.camid, len(t)) for t in split.query] == [(5, 0, 2), (9, 0, 4)]
    assert [(t.pid, t.camid, len(t)) for t in split.gallery] == [
        (5, 2, 3),
        (0, 1, 2),
        (9, 1, 1),
        (-1, 4, 2),
        (13, 3, 3),
    ]
    assert split.query[1].frames[0].parent == mars_root / "bbox_test" / "0009"
    assert split.gallery[3].frames[0].parent == mars_root / "bbox_test" / "00-1"
    assert all(f.is_file() for t in split.query + split.gallery for f in t.frames)


def test_mars_missing_layout(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="bbox_train"):
        read_mars(tmp_path)


# ---------------------------------------------------------------- CUHK03


def _make_cuhk(root: Path, split: str, images: dict[int, list[int]]) -> None:
    folder = root / "labeled" / split
    folder.mkdir(parents=True, exist_ok=True)
    for pid, indices in images.items():
        for index in indices:
            Image.new("RGB", (6, 16), color=(pid % 255, index * 20, 0)).save(
                folder / f"{pid:04d}_{index:02d}.jpg"
            )


@pytest.fixture
def cuhk_root(tmp_path: Path) -> Path:
    _make_cuhk(
        tmp_path,
        "train_resized",
        {1000: list(range(10)), 1003: [0, 1, 5, 6, 7], 1010: [2, 3, 4, 8]},
    )
    _make_cuhk(
        tmp_path,
        "val",
        {0: list(range(10)), 4: [4, 1, 9], 8: [0, 2], 12: [6, 5]},
    )
    (tmp_path / "labeled" / "val" / "readme.txt").write_text("not an image")
    return tmp_path


def test_cuhk03_train(cuhk_root: Path) -> None:
    split = read_cuhk03(cuhk_root)
    assert split.name == "cuhk03"
    assert split.extra == {"two_camera": True}
    assert split.num_train_pids == 3
    assert [(t.pid, t.camid, len(t)) for t in split.train] == [
        (0, 0, 5),
        (0, 1, 5),
        (1, 0, 2),
        (1, 1, 3),
        (2, 0, 3),
        (2, 1, 1),
    ]
    assert sum(len(t) for t in split.train) == 19


def test_cuhk03_eval_cameras_and_order(cuhk_root: Path) -> None:
    split = read_cuhk03(cuhk_root / "labeled")
    assert [(t.pid, len(t)) for t in split.query] == [(0, 5), (4, 2), (8, 2)]
    assert [(t.pid, len(t)) for t in split.gallery] == [(0, 5), (4, 1), (12, 2)]
    assert {t.camid for t in split.query} == {0}
    assert {t.camid for t in split.gallery} == {1}
    assert [f.name for f in split.query[0].frames] == [f"0000_{i:02d}.jpg" for i in range(5)]
    assert [f.name for f in split.gallery[0].frames] == [f"0000_{i:02d}.jpg" for i in range(5, 10)]
    assert [f.name for f in split.gallery[2].frames] == ["0012_05.jpg", "0012_06.jpg"]
    assert [f.name for f in split.query[1].frames] == ["0004_01.jpg", "0004_04.jpg"]


def test_cuhk03_other_splits_and_missing(cuhk_root: Path, tmp_path: Path) -> None:
    split = read_cuhk03(cuhk_root, train_split="val", eval_split="train_resized")
    assert split.num_train_pids == 4
    assert _pids(split.query) == {1000, 1003, 1010}
    with pytest.raises(FileNotFoundError, match="train_resized"):
        read_cuhk03(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="test"):
        read_cuhk03(cuhk_root, eval_split="test")


@pytest.mark.cuhk03
def test_cuhk03_real_data() -> None:
    if not (REAL_CUHK03 / "labeled").is_dir():
        pytest.skip(f"real CUHK03 not found at {REAL_CUHK03}")
    split = read_cuhk03(REAL_CUHK03)
    assert split.num_train_pids == 743
    assert sum(len(t) for t in split.train) == 7239
    evaluation = split.query + split.gallery
    assert sum(len(t) for t in evaluation) == 938
    assert len(_pids(evaluation)) == 100
    assert all(len(t) <= 5 for t in split.train + evaluation)


# ---------------------------------------------------------------- registry


def test_registry() -> None:
    assert set(READERS) == {
        "ilidsvid",
        "prid2011",
        "mars",
        "cuhk03",
        "synthetic",
        "multisite",
        "viper",
        "prid",
        "pack",
    }
    assert get_reader("mars") is read_mars
    assert get_reader("cuhk03") is read_cuhk03
    with pytest.raises(
        ValueError, match="cuhk03, ilidsvid, mars, multisite, pack, prid, prid2011, synthetic, viper"
    ):
        get_reader("market1501")
