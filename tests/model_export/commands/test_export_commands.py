"""`export` and `verify` from the command line, on a network trained on synthetic people."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from model_export.cli import main
from model_export.data.readers import open_split
from model_export.engine.checkpoint import load_model
from model_export.evaluation.evaluator import evaluate
from model_export.export.runtime import evaluate_onnx, read_metadata


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    args = ["train", "--dataset", "synthetic", "--data-root", str(root / "data"), "--backbone", "paper"]
    args += ["--epochs", "1", "--ids-per-batch", "4", "--seq-lens", "2", "--eval-every", "0"]
    assert main([*args, "--out-dir", str(root / "run")]) == 0
    return root / "run" / "last.pt"


@pytest.fixture(scope="module")
def unseen_cameras(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root with tiny VIPeR and PRID trees in their real layouts: 12 + 6 people of two cameras."""
    root = tmp_path_factory.mktemp("calibration")
    rng = np.random.default_rng(0)

    def image(path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (32, 16, 3), dtype=np.uint8)).save(path)

    for pid in range(12):
        image(root / "peta" / "VIPeR" / f"{pid:03d}_45_1.bmp")
        image(root / "peta" / "VIPeR" / f"{pid:03d}_90_2.bmp")
    for pid in range(1, 7):
        image(root / "peta" / "PRID" / f"{pid:04d}_a.png")
    for pid in range(1, 11):
        image(root / "peta" / "PRID" / f"{pid:04d}_b.png")
    return root


def test_export_writes_the_figures_measured_on_the_file_and_verifies(
    checkpoint: Path, unseen_cameras: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "synthetic.onnx"
    args = ["export", str(checkpoint), "--out", str(out), "--name", "paper-synthetic"]
    assert main([*args, "--calibration-root", str(unseen_cameras)]) == 0
    printed = capsys.readouterr().out
    assert "verdict: PASS" in printed and "parity (2, 40) random | ok" in printed
    meta = read_metadata(out)
    # thresholds measured on the file: 12 + 6 genuine pairs, 12 x 11 + 6 x 9 impostor pairs, and
    # only the rate those can measure (one impostor in a hundred)
    assert meta.calibration is not None
    assert (meta.calibration.genuine_pairs, meta.calibration.impostor_pairs) == (18, 186)
    assert [p.false_match_rate for p in meta.calibration.points] == [0.01]
    assert "| 0.01 |" in printed
    assert meta.name == "paper-synthetic" and (meta.height, meta.width) == (64, 48)
    assert meta.evaluation is not None and meta.evaluation.dataset == "synthetic"

    net, cfg = load_model(checkpoint)
    split = open_split("synthetic", cfg.data_root)
    with torch.no_grad():
        eager = evaluate(net, split, net.input_size, meta.frames_per_chunk)["mean"]
    assert meta.evaluation.rank1 == pytest.approx(eager["rank1"], abs=1e-9)
    assert meta.evaluation.mAP == pytest.approx(eager["mAP"], abs=1e-4)
    assert evaluate_onnx(out, "synthetic", cfg.data_root)["mean"] == pytest.approx(eager, abs=1e-4)

    assert main(["verify", str(out), "--checkpoint", str(checkpoint)]) == 0
    assert "verdict: PASS" in capsys.readouterr().out
    assert json.loads(meta.to_props()["reid.evaluation"])["rank1"] == meta.evaluation.rank1


def test_verify_fails_on_a_file_that_is_not_a_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bogus = tmp_path / "bogus.onnx"
    bogus.write_bytes(b"not a protobuf at all")
    assert main(["verify", str(bogus)]) == 1
    printed = capsys.readouterr().out
    assert "| onnx.checker | FAIL |" in printed and "verdict: FAIL" in printed


def test_calibrate_stamps_an_existing_file_without_touching_its_weights(
    checkpoint: Path, unseen_cameras: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "plain.onnx"
    args = ["export", str(checkpoint), "--out", str(out), "--name", "paper-synthetic"]
    assert main([*args, "--calibration-root", str(tmp_path / "nowhere")]) == 0
    assert "not calibrated: viper, prid not under" in capsys.readouterr().out
    before = read_metadata(out)
    assert before.calibration is None
    assert main(["calibrate", str(out), "--data-root", str(unseen_cameras)]) == 0
    after = read_metadata(out)
    assert after.calibration is not None and after.calibration.points[0].false_match_rate == 0.01
    assert after.model_copy(update={"calibration": None}) == before  # only the calibration changed
    assert main(["verify", str(out), "--checkpoint", str(checkpoint)]) == 0  # weights as they were
    assert main(["calibrate", str(out), "--data-root", str(tmp_path / "nowhere")]) == 1
