"""The synthetic set must be deterministic, cached, protocol-correct and learnable but not trivial."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model_export.data.synthetic import MANIFEST_NAME, make_synthetic
from model_export.data.tracklet import ReIDSplit, Tracklet

SMALL = {"num_ids": 4, "frames": 2, "height": 64, "width": 32}


@pytest.fixture(scope="module")
def default_set(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ReIDSplit, float]:
    root = tmp_path_factory.mktemp("synthetic")
    start = time.perf_counter()
    split = make_synthetic(root)
    return root, split, time.perf_counter() - start


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"), dtype=np.float64)


def _tracklet_pixels(t: Tracklet) -> np.ndarray:
    return np.stack([_pixels(p) for p in t.frames])


def _original_pid(t: Tracklet) -> int:
    return int(t.frames[0].parent.name.removeprefix("person"))


def test_file_tree_and_counts(default_set: tuple[Path, ReIDSplit, float]) -> None:
    root, split, seconds = default_set
    pngs = sorted(root.glob("cam*/person*/*.png"))
    assert len(pngs) == 40 * 2 * 8
    assert (root / "cam1" / "person0039" / "007.png").is_file()
    assert (root / MANIFEST_NAME).is_file()
    with Image.open(pngs[0]) as img:
        assert img.size == (64, 128)
        assert img.mode == "RGB"
    assert split.num_train_pids == 20
    assert len(split.train) == 40
    assert len(split.query) == 20
    assert len(split.gallery) == 20
    assert all(len(t) == 8 for t in split.train + split.query + split.gallery)
    assert all(p.is_file() for t in split.train + split.query + split.gallery for p in t.frames)
    assert split.extra == {"two_camera": True}
    assert seconds < 15.0


def test_train_labels_are_dense_and_cover_all_cameras(default_set: tuple[Path, ReIDSplit, float]) -> None:
    _, split, _ = default_set
    assert sorted({t.pid for t in split.train}) == list(range(20))
    for label in range(20):
        assert sorted(t.camid for t in split.train if t.pid == label) == [0, 1]


def test_query_gallery_camera_semantics(default_set: tuple[Path, ReIDSplit, float]) -> None:
    _, split, _ = default_set
    assert {t.camid for t in split.query} == {0}
    assert {t.camid for t in split.gallery} == {1}
    query_ids = {t.pid for t in split.query}
    assert query_ids == {t.pid for t in split.gallery}
    assert all(_original_pid(t) == t.pid for t in split.query + split.gallery)
    train_ids = {_original_pid(t) for t in split.train}
    assert not train_ids & query_ids
    assert train_ids | query_ids == set(range(40))


def test_more_cameras_go_to_the_gallery(tmp_path: Path) -> None:
    split = make_synthetic(tmp_path, num_cams=3, train_fraction=0.5, **SMALL)
    assert {t.camid for t in split.query} == {0}
    assert {t.camid for t in split.gallery} == {1, 2}
    assert len(split.gallery) == 2 * len(split.query) == 4
    assert split.extra["two_camera"] is False


def test_same_seed_same_pixels_other_seed_differs(tmp_path: Path) -> None:
    a = make_synthetic(tmp_path / "a", seed=3, **SMALL)
    b = make_synthetic(tmp_path / "b", seed=3, **SMALL)
    c = make_synthetic(tmp_path / "c", seed=4, **SMALL)
    for ta, tb in zip(a.train + a.query + a.gallery, b.train + b.query + b.gallery, strict=True):
        assert np.array_equal(_tracklet_pixels(ta), _tracklet_pixels(tb))
    assert not np.array_equal(_tracklet_pixels(a.query[0]), _tracklet_pixels(c.query[0]))


def test_identities_differ(default_set: tuple[Path, ReIDSplit, float]) -> None:
    root, _, _ = default_set
    firsts = [_pixels(root / "cam0" / f"person{pid:04d}" / "000.png") for pid in range(10)]
    for i in range(len(firsts)):
        for j in range(i + 1, len(firsts)):
            assert np.abs(firsts[i] - firsts[j]).mean() > 2.0


def test_frames_move_within_a_tracklet(default_set: tuple[Path, ReIDSplit, float]) -> None:
    _, split, _ = default_set
    pixels = _tracklet_pixels(split.query[0])
    assert np.abs(pixels[0] - pixels[3]).mean() > 1.0


def test_manifest_reuse_and_rerender(tmp_path: Path) -> None:
    make_synthetic(tmp_path, **SMALL)
    frame = tmp_path / "cam1" / "person0002" / "001.png"
    stamp = frame.stat().st_mtime_ns
    make_synthetic(tmp_path, **SMALL)
    assert frame.stat().st_mtime_ns == stamp
    assert json.loads((tmp_path / MANIFEST_NAME).read_text())["num_ids"] == 4

    # Changed parameters re-render and leave no stale frames behind.
    split = make_synthetic(tmp_path, **{**SMALL, "num_ids": 3, "frames": 1})
    assert len(list(tmp_path.glob("cam*/person*/*.png"))) == 3 * 2 * 1
    assert json.loads((tmp_path / MANIFEST_NAME).read_text())["frames"] == 1
    assert all(len(t) == 1 for t in split.query)

    # A missing frame triggers a re-render even when the manifest matches.
    missing = tmp_path / "cam0" / "person0001" / "000.png"
    missing.unlink()
    make_synthetic(tmp_path, **{**SMALL, "num_ids": 3, "frames": 1})
    assert missing.is_file()


def test_learnable_across_cameras_but_not_trivial(default_set: tuple[Path, ReIDSplit, float]) -> None:
    _, split, _ = default_set

    def features(tracklets: list[Tracklet]) -> np.ndarray:
        # Mean colour of the central region, standardised per camera to undo its gain and cast.
        feats = np.stack([_tracklet_pixels(t)[:, 16:112, 16:48].mean(axis=(0, 1, 2)) for t in tracklets])
        return (feats - feats.mean(0)) / feats.std(0)

    q, g = features(split.query), features(split.gallery)
    qp = np.array([t.pid for t in split.query])
    gp = np.array([t.pid for t in split.gallery])
    dist = np.abs(q[:, None] - g[None]).sum(-1)
    same = qp[:, None] == gp[None]
    assert dist[same].mean() < 0.5 * dist[~same].mean()
    rank1 = np.mean(gp[dist.argmin(1)] == qp)
    assert rank1 >= 0.5  # chance is 1 / 20

    # Same person, other camera: clearly different raw pixels (background, light, framing, blur).
    for tq in split.query[:5]:
        tg = next(t for t in split.gallery if t.pid == tq.pid)
        assert np.abs(_tracklet_pixels(tq) - _tracklet_pixels(tg)).mean() > 10.0


@pytest.mark.parametrize(
    "kwargs",
    [{"num_cams": 1}, {"num_ids": 0}, {"frames": 0}, {"train_fraction": 1.5}, {"height": 8}],
)
def test_rejects_bad_arguments(tmp_path: Path, kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        make_synthetic(tmp_path, **kwargs)  # type: ignore[arg-type]
