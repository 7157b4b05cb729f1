"""Exported files combined into one: the same numbers as the members run apart, and a card that says so."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from nets import export_for_tests, trained_like

from model_export.cli import main
from model_export.config import TrainConfig
from model_export.engine.checkpoint import build_model
from model_export.export.ensemble import check_members, combine, members_reference
from model_export.export.onnx import read_metadata_props, save_onnx
from model_export.export.verify import open_session, sample_frames, verify
from reid_contract import INPUT_NAME, OUTPUT_NAME, ModelMetadata


@pytest.fixture(scope="module")
def members(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """A recurrent member (its Loop bodies must be renamed with the rest) and a pooling one."""
    folder = tmp_path_factory.mktemp("members")
    paths = []
    for i, head in enumerate(("recurrent", "pooling")):
        torch.manual_seed(i)
        net = trained_like(build_model(TrainConfig(head=head), num_classes=5, pretrained=False))
        export_for_tests(net, folder / f"{head}.onnx", name=f"member-{head}", frames_per_chunk=16 - 4 * i)
        paths.append(folder / f"{head}.onnx")
    return paths


def _run(path: Path, frames: np.ndarray) -> np.ndarray:
    return open_session(path).run([OUTPUT_NAME], {INPUT_NAME: frames})[0]


def test_the_combined_file_is_its_members_side_by_side(members: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "duo.onnx"
    model, returned = combine(members, [1.0, 3.0], "duo", "2.0.0")
    save_onnx(model, out)
    meta = ModelMetadata.from_props(read_metadata_props(onnx.load(str(out))))
    assert meta == returned
    frames = sample_frames(meta, (3, 5), seed=1)
    got = _run(out, frames)
    a, b = (_run(p, frames) for p in members)
    assert got.shape == (3, 1024)
    np.testing.assert_allclose(got, np.concatenate([a * 0.5, b * np.sqrt(0.75)], axis=1), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    # a cosine between two combined embeddings is the weighted mean of the members' cosines
    cos = got[0] @ got[1]
    assert cos == pytest.approx(0.25 * (a[0] @ a[1]) + 0.75 * (b[0] @ b[1]), abs=1e-5)

    assert meta.name == "duo" and meta.version.startswith("2.0.0+") and meta.embedding_dim == 1024
    assert meta.frames_per_chunk == 12  # the smaller of the members' chunks
    assert "0.25 x member-recurrent" in meta.architecture and "0.75 x member-pooling" in meta.architecture
    assert meta.license == "MIT" and meta.evaluation is None and meta.calibration is None

    report = verify(out, members_reference(members, [1.0, 3.0]), shapes=((1, 1), (2, 4), (1, 20)))
    assert report.ok, report.table()
    wrong = verify(out, members_reference(members, [3.0, 1.0]), shapes=((2, 4),))
    assert not wrong.ok  # the parity check tells the weights apart


def test_members_must_share_the_input_contract(members: list[Path], tmp_path: Path) -> None:
    metas = [ModelMetadata.from_props(read_metadata_props(onnx.load(str(p)))) for p in members]
    with pytest.raises(ValueError, match="at least two"):
        check_members(metas[:1], [1.0])
    with pytest.raises(ValueError, match="one positive weight per member"):
        check_members(metas, [1.0, 0.0])
    with pytest.raises(ValueError, match="one positive weight per member"):
        check_members(metas, [1.0])
    other = metas[1].model_copy(update={"height": 256})
    with pytest.raises(ValueError, match="differ in height"):
        check_members([metas[0], other], [1.0, 1.0])


def test_cli_combines_and_verifies(members: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "cli.onnx"
    argv = ["combine", *map(str, members), "--out", str(out), "--name", "duo", "--semver", "1.0.0"]
    assert main([*argv, "--no-evaluate", "--data-root", str(tmp_path)]) == 0
    meta = ModelMetadata.from_props(read_metadata_props(onnx.load(str(out))))
    frames = sample_frames(meta, (1, 2), seed=0)
    equal = np.concatenate([_run(p, frames) for p in members], axis=1) / np.sqrt(2)
    np.testing.assert_allclose(_run(out, frames), equal, atol=1e-6)
