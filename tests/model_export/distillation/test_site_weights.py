"""Teachers weighed per site by their own figures there: the better teacher of a site leads on its
crops, a site without figures weighs them equally, and every ensemble vector keeps unit length."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from model_export.distillation.site_weights import SiteWeights
from model_export.distillation.teacher_table import TeacherTable
from model_export.teaching.teacher_cache import build_teacher_cache

ROWS = [  # as `compare --peers a b --sets 3dpes sarc3d` writes them
    {"name": "a", "3dpes": {"rank1": 0.80, "mAP": 0.7}, "sarc3d": {"rank1": 0.50, "mAP": 0.4}, "tmr": None},
    {"name": "b", "3dpes": {"rank1": 0.70, "mAP": 0.6}, "sarc3d": {"rank1": 0.50, "mAP": 0.5}, "tmr": None},
]


def test_the_better_teacher_of_a_site_weighs_more_and_weights_sum_to_one() -> None:
    sites = SiteWeights.from_rows(ROWS, temperature=0.05)
    w = sites.weights("3DPeS", ["a", "b"])
    assert w.sum() == pytest.approx(1.0) and w[0] / w[1] == pytest.approx(np.exp(0.1 / 0.05))
    assert sites.weights("SARC3D", ["a", "b"]) == pytest.approx([0.5, 0.5])  # a tie
    # a sharper temperature hands more of the site to its better teacher
    assert SiteWeights.from_rows(ROWS, temperature=0.01).weights("3dpes", ["a", "b"])[0] > w[0]
    # no figures for the site (CUHK03) or for one of the teachers: equal weights
    assert sites.weights("train_resized", ["a", "b"]) == pytest.approx([0.5, 0.5])
    assert sites.weights("3dpes", ["a", "c"]) == pytest.approx([0.5, 0.5])
    with pytest.raises(ValueError, match="temperature"):
        SiteWeights.from_rows(ROWS, temperature=0.0)


def _teacher(channel: int):  # a stand-in teacher that sees one colour channel against the others
    def embed(crops: np.ndarray) -> np.ndarray:
        x = np.stack([crops[:, channel].mean(axis=(1, 2)) + 1.0, crops.mean(axis=(1, 2, 3)) + 1.0], axis=1)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    return embed


def test_the_teacher_table_scales_each_crop_by_its_sites_weights(tmp_path: Path) -> None:
    paths = []
    for site in ("3DPeS", "train_resized"):
        for i, colour in enumerate([(255, 0, 0), (0, 0, 255), (90, 200, 30)]):
            path = tmp_path / site / f"{i}.png"
            path.parent.mkdir(exist_ok=True)
            Image.fromarray(np.full((20, 10, 3), colour, np.uint8)).save(path)
            paths.append(path)
    cache = build_teacher_cache(paths, {"a": _teacher(0), "b": _teacher(2)}, tmp_path / "t.npz", (16, 8))
    scores = tmp_path / "rows.json"
    scores.write_text(json.dumps(ROWS))
    plain = TeacherTable(cache)
    weighted = TeacherTable(cache, weights=SiteWeights.from_file(scores, temperature=0.05))
    for table in (plain, weighted):
        torch.testing.assert_close(
            table.vectors.norm(dim=1), torch.ones(len(paths)), atol=1e-3, rtol=0
        )  # float16
    a_part = slice(0, 2)  # teacher a's block of the ensemble vector
    on_site = weighted.lookup(paths[:3])
    assert (on_site[:, a_part].norm(dim=1) ** 2).numpy() == pytest.approx(
        [SiteWeights.from_rows(ROWS).weights("3dpes", ["a", "b"])[0]] * 3, abs=1e-3
    )
    # the crops of a site without figures keep the plain ensemble
    torch.testing.assert_close(weighted.lookup(paths[3:]), plain.lookup(paths[3:]))
    # the ensemble's cosine similarity is the weighted mean of the teachers'
    va, vb = (
        torch.from_numpy(
            t(np.stack([np.asarray(Image.open(p).resize((8, 16))).transpose(2, 0, 1) for p in paths[:2]]))
        )
        for t in (_teacher(0), _teacher(2))
    )
    wa, wb = SiteWeights.from_rows(ROWS).weights("3dpes", ["a", "b"])
    expected = wa * (va[0] @ va[1]) + wb * (vb[0] @ vb[1])
    assert float(on_site[0] @ on_site[1]) == pytest.approx(float(expected), abs=2e-3)
