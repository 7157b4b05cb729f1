"""The teachers' cache: every crop embedded once, found again by its file, ensembles of unit norm."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from model_export.distillation.teacher_table import TeacherTable
from model_export.teaching.teacher_cache import build_teacher_cache


def _mean_colour(crops: np.ndarray) -> np.ndarray:
    """A stand-in teacher that sees only colour: (N, 3) unit vectors."""
    x = crops.reshape(len(crops), 3, -1).mean(axis=2) + 1.0
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _red_only(crops: np.ndarray) -> np.ndarray:
    x = np.stack([crops[:, 0].mean(axis=(1, 2)) + 1.0, np.ones(len(crops))], axis=1)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture
def crops(tmp_path: Path) -> list[Path]:
    paths = []
    for i, colour in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255), (200, 200, 0)]):
        path = tmp_path / "site" / f"{i}.png"
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(np.full((20, 10, 3), colour, np.uint8)).save(path)
        paths.append(path)
    return paths


def test_cache_finds_each_crop_by_file(crops: list[Path], tmp_path: Path) -> None:
    out = build_teacher_cache(
        [*crops, crops[0]], {"colour": _mean_colour, "red": _red_only}, tmp_path / "t.npz", (16, 8), batch=3
    )
    colour = TeacherTable(out, ["colour"])
    assert colour.dim == 3 and len(colour.index) == 4  # duplicates embedded once
    red, green = colour.lookup([crops[0], crops[1]])
    assert red.argmax() == 0 and green.argmax() == 1
    # relative and absolute names of one file are the same crop
    relative = Path(*crops[2].parts[-2:])
    import os

    cwd = Path.cwd()
    try:
        os.chdir(crops[2].parents[1])
        assert torch.equal(colour.lookup([relative]), colour.lookup([crops[2]]))
    finally:
        os.chdir(cwd)

    both = TeacherTable(out)
    assert both.teachers == ["colour", "red"] and both.dim == 5
    norms = both.lookup(crops).norm(dim=1)
    assert torch.allclose(norms, torch.ones(4), atol=1e-2)  # float16 storage
    with pytest.raises(KeyError, match="not in the teacher cache"):
        both.lookup([tmp_path / "elsewhere.png"])
    with pytest.raises(ValueError, match="no teacher"):
        TeacherTable(out, ["osnet"])


def test_a_cache_grows_by_the_new_crops_only(crops: list[Path], tmp_path: Path) -> None:
    seen: list[int] = []

    def counting(batch: np.ndarray) -> np.ndarray:
        seen.append(len(batch))
        return _mean_colour(batch)

    out = tmp_path / "grow.npz"
    build_teacher_cache(crops[:2], {"colour": counting}, out, (16, 8))
    first = TeacherTable(out).lookup(crops[:2])
    build_teacher_cache(crops, {"colour": counting}, out, (16, 8))
    assert seen == [2, 2]  # the second pass embedded the two new crops, not all four
    grown = TeacherTable(out)
    assert len(grown.index) == 4
    assert torch.equal(grown.lookup(crops[:2]), first)
    assert grown.lookup(crops[2:]).argmax(dim=1).tolist() == [2, 0]  # blue; (200, 200, 0) leans red

    # other teachers: nothing of the old cache can be reused
    build_teacher_cache(crops, {"red": _red_only}, out, (16, 8))
    assert TeacherTable(out).teachers == ["red"] and len(TeacherTable(out).index) == 4
