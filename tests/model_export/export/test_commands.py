"""`export` and `verify` from the command line, on a network trained on synthetic people."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

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


def test_export_writes_the_figures_measured_on_the_file_and_verifies(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "synthetic.onnx"
    assert main(["export", str(checkpoint), "--out", str(out), "--name", "paper-synthetic"]) == 0
    printed = capsys.readouterr().out
    assert "verdict: PASS" in printed and "parity (2, 40) random | ok" in printed
    meta = read_metadata(out)
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
