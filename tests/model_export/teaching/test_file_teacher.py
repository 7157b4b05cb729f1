"""Our own exported file as a teacher: the vectors the service would give each crop, cached by file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from nets import export_for_tests, trained_like

from model_export.cli import main
from model_export.config import TrainConfig
from model_export.data.dataset import FrameStore
from model_export.data.readers import open_split
from model_export.distillation.teacher_table import TeacherTable
from model_export.engine.checkpoint import build_model
from model_export.export.verify import open_session
from model_export.teaching.file_teacher import ContractFileTeacher
from reid_contract import INPUT_NAME, OUTPUT_NAME


def _export(folder: Path, backbone: str, name: str) -> Path:
    torch.manual_seed(0)
    cfg = TrainConfig(backbone=backbone, head="pooling")  # type: ignore[arg-type]
    net = trained_like(build_model(cfg, num_classes=4, pretrained=False))
    export_for_tests(net, folder / f"{name}.onnx", name=name)
    return folder / f"{name}.onnx"


@pytest.fixture(scope="module")
def teacher_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _export(tmp_path_factory.mktemp("teacher"), "mobilenetv2", "duo")


def test_a_crop_gets_the_files_own_vector_of_a_one_frame_tracklet(teacher_file: Path) -> None:
    teacher = ContractFileTeacher(teacher_file, batch=2)
    assert teacher.name == f"duo-{teacher.meta.version}" and teacher.meta.version.startswith("0.1.0+")
    h, w = teacher.input_size
    crops = np.random.default_rng(0).integers(0, 256, (5, 3, h, w), dtype=np.uint8)
    got = teacher(crops)
    frames = np.ascontiguousarray(crops.transpose(0, 2, 3, 1)[:, None])
    want = open_session(teacher_file).run([OUTPUT_NAME], {INPUT_NAME: frames})[0]
    np.testing.assert_allclose(got, want / np.linalg.norm(want, axis=1, keepdims=True), atol=1e-5)
    with pytest.raises(ValueError, match=f"{h}x{w}"):
        teacher(crops[:, :, : h // 2])


def test_teach_caches_a_files_vectors_under_its_name_and_version(teacher_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "taught.npz"
    code = main(
        ["teach", "--dataset", "synthetic", "--data-root", str(tmp_path / "synthetic"),
         "--teachers", str(teacher_file), "--out", str(out), "--threads", "1"]
    )  # fmt: skip
    assert code == 0
    table = TeacherTable(out)
    teacher = ContractFileTeacher(teacher_file)
    assert table.teachers == [teacher.name] and table.dim == teacher.meta.embedding_dim
    frames = [f for t in open_split("synthetic", tmp_path / "synthetic").train[:3] for f in t.frames[:2]]
    want = teacher(FrameStore(teacher.input_size).load_many(frames).numpy())
    np.testing.assert_allclose(table.lookup(frames).numpy(), want, atol=2e-3)  # stored as float16


def test_teachers_of_two_input_sizes_are_refused(teacher_file: Path, tmp_path: Path) -> None:
    other = _export(tmp_path, "osnet_x0_25", "wide")
    assert ContractFileTeacher(other).input_size != ContractFileTeacher(teacher_file).input_size
    with pytest.raises(SystemExit, match="input sizes"):
        main(
            ["teach", "--dataset", "synthetic", "--data-root", str(tmp_path / "synthetic"),
             "--teachers", str(teacher_file), str(other), "--out", str(tmp_path / "t.npz")]
        )  # fmt: skip
    assert not (tmp_path / "t.npz").exists()
