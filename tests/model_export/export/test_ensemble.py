"""Exported files combined into one: the same numbers as the members run apart, and a card that says so."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
import torch
from nets import export_for_tests, trained_like

from model_export.cli import main
from model_export.config import TrainConfig
from model_export.engine.checkpoint import build_model
from model_export.export.ensemble import (
    check_members,
    combine,
    members_reference,
    resize_session,
)
from model_export.export.onnx import read_metadata_props, save_onnx
from model_export.export.verify import open_session, sample_frames, verify
from model_export.modeling.backbones.mobilenetv2 import MobileNetV2
from model_export.modeling.network import ReIDNet
from reid_contract import INPUT_NAME, OUTPUT_NAME, ContractError, ModelMetadata


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
    with pytest.raises(ContractError, match=r"reid\.name"):
        combine(members, [1.0, 1.0], "Duo", "2.0.0")  # the contract's names are lower case
    other = metas[1].model_copy(update={"color_order": "BGR"})
    with pytest.raises(ValueError, match="differ in color_order"):
        check_members([metas[0], other], [1.0, 1.0])


def resize_frames(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """OpenCV's bilinear resize in float (half-pixel centres, no antialiasing), rounded to uint8: what
    the graph's resize is held to."""
    if frames.shape[2:4] == size:
        return frames
    flat = frames.reshape(-1, *frames.shape[2:]).astype(np.float32)
    out = np.stack([cv2.resize(f, (size[1], size[0]), interpolation=cv2.INTER_LINEAR) for f in flat])
    return np.clip(np.round(out), 0, 255).astype(np.uint8).reshape(*frames.shape[:2], *size, 3)


class SmallerMobileNetV2(MobileNetV2):
    """Its mean pooling takes any size; the same normalisation as the members above."""

    input_size = (96, 48)


def test_a_member_of_another_input_size_sees_the_frames_resized_in_the_graph(
    members: list[Path], tmp_path: Path
) -> None:
    """The first member's size is the file's input; the smaller member gets the same frames, resized
    bilinearly in the graph."""
    torch.manual_seed(2)
    small = trained_like(ReIDNet(SmallerMobileNetV2(pretrained=False), 5, head="pooling"))
    export_for_tests(small, tmp_path / "small.onnx", name="member-small")
    paths = [members[1], tmp_path / "small.onnx"]
    model, meta = combine(paths, [1.0, 1.0], "mixed", "2.1.0")
    save_onnx(model, tmp_path / "mixed.onnx")
    big = ModelMetadata.from_props(read_metadata_props(onnx.load(str(members[1]))))
    assert (meta.height, meta.width) == (big.height, big.width) != small.input_size
    assert f"resized to {small.input_size[0]}x{small.input_size[1]} in the graph" in meta.architecture
    frames = sample_frames(meta, (2, 3), seed=4)
    resized = resize_frames(frames, small.input_size)
    assert resized.shape == (2, 3, *small.input_size, 3) and resized.dtype == np.uint8
    expected = np.concatenate([_run(paths[0], frames), _run(paths[1], resized)], axis=1) / np.sqrt(2)
    np.testing.assert_allclose(_run(tmp_path / "mixed.onnx", frames), expected, atol=1e-5)
    report = verify(tmp_path / "mixed.onnx", members_reference(paths, [1.0, 1.0]), shapes=((1, 1), (2, 4)))
    assert report.ok, report.table()


def test_cli_combines_and_verifies(members: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "cli.onnx"
    argv = ["combine", *map(str, members), "--out", str(out), "--name", "duo", "--semver", "1.0.0"]
    assert main([*argv, "--no-evaluate", "--data-root", str(tmp_path)]) == 0
    meta = ModelMetadata.from_props(read_metadata_props(onnx.load(str(out))))
    frames = sample_frames(meta, (1, 2), seed=0)
    equal = np.concatenate([_run(p, frames) for p in members], axis=1) / np.sqrt(2)
    np.testing.assert_allclose(_run(out, frames), equal, atol=1e-6)


@pytest.mark.parametrize("to", [(224, 112), (96, 40), (300, 150)])
def test_the_graphs_resize_gives_opencvs_bilinear_pixels(to: tuple[int, int]) -> None:
    frm = (256, 128)
    session = resize_session(frm, to)  # resize_nodes, alone in a graph
    # smooth content, as crops are, with sharp edges in it
    y, x = np.mgrid[0 : frm[0], 0 : frm[1]]
    image = np.stack([(y * 255 // frm[0]), (x * 255 // frm[1]), ((x // 16 + y // 16) % 2) * 255], axis=-1)
    frames = np.broadcast_to(image.astype(np.uint8), (2, 3, *frm, 3)).copy()
    frames[1] = 255 - frames[1]
    got = session.run(None, {"frames": frames})[0]
    expected = resize_frames(frames, to)
    assert got.shape == (2, 3, *to, 3) and got.dtype == np.uint8
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1  # float rounding at ties, no more
    assert (got == expected).mean() > 0.99
    assert not np.array_equal(got[0], got[1])  # each frame its own
