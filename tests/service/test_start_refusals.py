"""A setting that cannot run here stops the start, and says which setting and why: no silent fall-back."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.harness import free_port

REPO = Path(__file__).resolve().parents[2]


def start(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("REID_")}
    return subprocess.run(
        [sys.executable, "-m", "service"],
        env={**clean, "REID_PORT": str(free_port()), "REID_LOG_LEVEL": "warning", **env},
        cwd=tmp_path,  # no .env file
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"REID_ENGINE": "tensorrt"}, "engine\n  Input should be 'auto', 'onnxruntime' or 'openvino'"),
        ({"REID_PRECISION": "fp8"}, "precision\n  Input should be"),
        (
            {"REID_ENGINE": "onnxruntime", "REID_PRECISION": "bf16"},
            "REID_PRECISION=bf16: ONNX Runtime does not",
        ),
        ({"REID_PRECISION": "int8"}, "REID_PRECISION=int8 needs a quantised model file"),
    ],
    ids=["unknown-engine", "unknown-precision", "bf16-on-onnxruntime", "int8-with-an-fp32-file"],
)
def test_a_setting_that_cannot_run_stops_the_start_naming_it(
    env: dict[str, str], says: str, tmp_path: Path
) -> None:
    done = start({"PYTHONPATH": str(REPO), **env}, tmp_path)
    assert done.returncode != 0
    assert says in done.stderr, done.stderr[-2000:]


def test_a_file_that_is_not_a_model_stops_the_start(tmp_path: Path) -> None:
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model at all")
    done = start({"PYTHONPATH": str(REPO), "REID_MODEL_PATH": str(junk)}, tmp_path)
    assert done.returncode != 0 and "junk.onnx" in done.stderr and "ContractError" in done.stderr
