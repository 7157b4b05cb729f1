"""A pack must give back the split it was made from: same people, cameras, frames and teachers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model_export.cli import main
from model_export.data.pack import read_pack, write_pack
from model_export.data.readers import open_split
from model_export.data.readers.unlabeled import read_unlabeled
from model_export.data.tracklet import ReIDSplit, Tracklet
from model_export.distillation.teacher_table import TeacherTable
from model_export.teaching.teacher_cache import build_teacher_cache


def _colour_teacher(crops: np.ndarray) -> np.ndarray:
    x = crops.reshape(len(crops), 3, -1).mean(axis=2) + 1.0
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _layout(split: ReIDSplit) -> list[list[tuple[int, int, int]]]:
    return [[(t.pid, t.camid, len(t)) for t in part] for part in (split.train, split.query, split.gallery)]


def test_pack_round_trips_the_split_and_its_teachers(synthetic_split: ReIDSplit, tmp_path: Path) -> None:
    frames = [f for t in synthetic_split.train for f in t.frames]
    cache = build_teacher_cache(frames, {"colour": _colour_teacher}, tmp_path / "teach.npz", (64, 48))
    pack = write_pack(synthetic_split, tmp_path / "pack", cache)

    back = read_pack(pack)
    assert back.name == synthetic_split.name
    assert _layout(back) == _layout(synthetic_split)
    assert back.extra == synthetic_split.extra
    # the same pixels, near enough (PNG -> JPEG at quality 95), in the same frame order
    src, dst = synthetic_split.train[3].frames[2], back.train[3].frames[2]
    a = np.asarray(Image.open(src).convert("RGB"), dtype=np.float32)
    b = np.asarray(Image.open(dst).convert("RGB"), dtype=np.float32)
    other = np.asarray(Image.open(synthetic_split.train[40].frames[0]).convert("RGB"), dtype=np.float32)
    assert a.shape == b.shape and np.abs(a - b).mean() < 6.0 < 2 * 6.0 < np.abs(other - b).mean()
    # a frame seen twice in the split is stored once
    assert len(list((pack / "frames").iterdir())) == len(
        {f for t in back.train + back.query + back.gallery for f in t.frames}
    )

    # the teachers' vectors follow their frames, whatever folder the pack is moved to
    moved = pack.rename(tmp_path / "elsewhere")
    original = TeacherTable(cache)
    packed = TeacherTable(moved / "teachers.npz")
    moved_split = read_pack(moved)
    for before, after in zip(synthetic_split.train[:10], moved_split.train[:10], strict=True):
        np.testing.assert_array_equal(
            packed.lookup(after.frames).numpy(), original.lookup(before.frames).numpy()
        )


def test_jpeg_frames_are_copied_byte_for_byte(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    paths = []
    for i in range(3):
        path = src / f"{i}.jpg"
        Image.fromarray(np.full((32, 16, 3), 40 * i, np.uint8)).save(path, quality=60)
        paths.append(path)
    split = ReIDSplit(
        "tiny", [Tracklet(0, 0, tuple(paths))], [Tracklet(1, 0, (paths[0],))], [Tracklet(1, 1, (paths[1],))]
    )
    back = read_pack(write_pack(split, tmp_path / "pack"))
    assert [f.read_bytes() for f in back.train[0].frames] == [p.read_bytes() for p in paths]
    assert not (tmp_path / "pack" / "teachers.npz").exists()


def test_a_pack_is_written_into_a_new_folder_only(synthetic_split: ReIDSplit, tmp_path: Path) -> None:
    out = tmp_path / "pack"
    out.mkdir()
    (out / "keep.txt").write_text("someone's file")
    with pytest.raises(FileExistsError):
        write_pack(synthetic_split, out)
    assert (out / "keep.txt").read_text() == "someone's file"


def test_reading_something_that_is_not_a_pack_says_so(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a pack"):
        read_pack(tmp_path)
    (tmp_path / "split.json").write_text(json.dumps({"format": "other/9"}))
    with pytest.raises(ValueError, match="reid-pack/1"):
        read_pack(tmp_path)


def test_a_teacher_cache_missing_a_frame_is_refused(synthetic_split: ReIDSplit, tmp_path: Path) -> None:
    frames = [f for t in synthetic_split.train[:5] for f in t.frames]
    cache = build_teacher_cache(frames, {"colour": _colour_teacher}, tmp_path / "teach.npz", (64, 48))
    with pytest.raises(KeyError, match="rebuild"):
        write_pack(synthetic_split, tmp_path / "pack", cache)


def test_the_pack_command_writes_what_the_pack_reader_opens(
    synthetic_split: ReIDSplit, tmp_path: Path
) -> None:
    first = write_pack(synthetic_split, tmp_path / "first")
    assert (
        main(["pack", "--dataset", "pack", "--data-root", str(first), "--out", str(tmp_path / "again")]) == 0
    )
    assert _layout(open_split("pack", tmp_path / "again")) == _layout(synthetic_split)


def test_unlabeled_crops_travel_with_their_teachers(synthetic_split: ReIDSplit, tmp_path: Path) -> None:
    # a tracker's output: the first people's tracklets as per-camera track folders, no ids
    tracker = tmp_path / "tracker"
    for n, t in enumerate(t for t in synthetic_split.train if t.pid < 3):
        (tracker / f"cam{t.camid}" / f"t{n}").mkdir(parents=True)
        for i, frame in enumerate(t.frames):
            (tracker / f"cam{t.camid}" / f"t{n}" / f"{i}{frame.suffix}").symlink_to(frame.resolve())
    unlabeled = read_unlabeled(tracker)
    frames = [f for t in synthetic_split.train + unlabeled for f in t.frames]
    cache = build_teacher_cache(frames, {"colour": _colour_teacher}, tmp_path / "teach.npz", (64, 48))
    with pytest.raises(ValueError, match="with a teacher cache"):
        write_pack(synthetic_split, tmp_path / "bare", unlabeled=unlabeled)
    assert not (tmp_path / "bare").exists()  # refused before anything was written

    moved = write_pack(synthetic_split, tmp_path / "pack", cache, unlabeled=unlabeled).rename(
        tmp_path / "there"
    )
    back = read_unlabeled(moved / "unlabeled")
    assert [len(t) for t in back] == [len(t) for t in unlabeled]
    assert len({t.camid for t in back}) == len({t.camid for t in unlabeled})
    packed, original = TeacherTable(moved / "teachers.npz"), TeacherTable(cache)
    for before, after in zip(unlabeled, back, strict=True):
        np.testing.assert_array_equal(
            packed.lookup(after.frames).numpy(), original.lookup(before.frames).numpy()
        )
    # the training frames' vectors are still there beside them
    train = read_pack(moved).train[0]
    np.testing.assert_array_equal(
        packed.lookup(train.frames).numpy(), original.lookup(synthetic_split.train[0].frames).numpy()
    )
