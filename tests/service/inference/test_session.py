"""The session refuses files that break the contract, picks providers honestly, and equals torch."""
# The provider and engine choice itself is tested as a pure function in test_engine.py.

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from model_export.export.onnx import set_metadata
from reid_contract import ContractError, ModelMetadata
from service.inference.engine import CPU, CUDA, EngineUnavailable
from service.inference.session import ModelSession


def test_metadata_is_parsed_and_exposed(
    tiny_session: ModelSession, tiny_export: tuple[Path, ModelMetadata]
) -> None:
    _, meta = tiny_export
    assert tiny_session.metadata == meta
    assert (meta.height, meta.width, meta.embedding_dim, meta.frames_per_chunk) == (64, 48, 64, 16)
    assert tiny_session.providers_in_use == [CPU]
    assert tiny_session.device == "cpu"
    assert tiny_session.metadata.model_id.startswith("tiny-test@0.1.0+")


def test_a_file_without_metadata_is_refused(tiny_model_path: Path, tmp_path: Path) -> None:
    model = onnx.load(str(tiny_model_path))
    del model.metadata_props[:]
    onnx.save(model, tmp_path / "bare.onnx")
    with pytest.raises(ContractError, match=r"bare\.onnx: .*no reid\.\* metadata"):
        ModelSession(tmp_path / "bare.onnx", providers=[CPU])


def test_a_file_with_a_broken_key_is_refused_naming_the_key(tiny_model_path: Path, tmp_path: Path) -> None:
    model = onnx.load(str(tiny_model_path))
    for prop in model.metadata_props:
        if prop.key == "reid.embedding_dim":
            prop.value = '"sixty-four"'
    onnx.save(model, tmp_path / "broken.onnx")
    with pytest.raises(ContractError, match=r"reid\.embedding_dim"):
        ModelSession(tmp_path / "broken.onnx", providers=[CPU])


@pytest.mark.parametrize(
    ("update", "problem"),
    [({"height": 128}, r"input 'frames' .* \(B, T, 128, 48, 3\)"), ({"embedding_dim": 32}, r"\(B, 32\)")],
)
def test_metadata_that_lies_about_the_graph_is_refused(
    tiny_export: tuple[Path, ModelMetadata], tmp_path: Path, update: dict[str, int], problem: str
) -> None:
    path, meta = tiny_export
    model = onnx.load(str(path))
    set_metadata(model, meta.model_copy(update=update))
    onnx.save(model, tmp_path / "lying.onnx")
    with pytest.raises(ContractError, match=problem):
        ModelSession(tmp_path / "lying.onnx", providers=[CPU])


def test_an_unavailable_provider_fails_at_start(tiny_model_path: Path) -> None:
    with pytest.raises(EngineUnavailable, match=r"REID_PROVIDERS: .*NoSuchExecutionProvider"):
        ModelSession(tiny_model_path, providers=["NoSuchExecutionProvider"])


class _Recorder:
    """Stands in for `onnxruntime.InferenceSession`: records what it was asked, runs a real CPU session."""

    calls: list[dict[str, Any]]

    def __init__(self, real: type[ort.InferenceSession], in_use: list[str]) -> None:
        self.real, self.in_use, self.calls = real, in_use, []

    def __call__(self, path: str, sess_options: ort.SessionOptions, providers: list[Any]) -> Any:
        self.calls.append({"path": path, "options": sess_options, "providers": providers})
        session = self.real(path, sess_options=sess_options, providers=[CPU])
        in_use = self.in_use

        class Fake:
            def __getattr__(self, name: str) -> Any:
                return getattr(session, name)

            def get_providers(self) -> list[str]:
                return list(in_use)

        return Fake()


@pytest.fixture
def cuda_runtime(monkeypatch: pytest.MonkeyPatch) -> Callable[[list[str]], _Recorder]:
    """An ONNX Runtime that lists CUDA as available; the session then reports `in_use`."""

    def install(in_use: list[str]) -> _Recorder:
        recorder = _Recorder(ort.InferenceSession, in_use)
        monkeypatch.setattr(ort, "get_available_providers", lambda: [CUDA, CPU])
        monkeypatch.setattr(ort, "InferenceSession", recorder)
        return recorder

    return install


def test_cuda_listed_but_not_loadable_is_refused_when_asked_for(
    cuda_runtime: Callable[[list[str]], _Recorder], tiny_model_path: Path
) -> None:
    """The onnxruntime-gpu trap: CUDA listed, the libraries did not load, the session runs on CPU.
    Asked for by name, that is no start: never a silent fall-back to the CPU."""
    recorder = cuda_runtime([CPU])
    with pytest.raises(EngineUnavailable, match="CUDAExecutionProvider listed but not loadable"):
        ModelSession(tiny_model_path, providers=[CUDA, CPU], intra_op_threads=3)
    (call,) = recorder.calls
    assert call["providers"] == [(CUDA, {"cudnn_conv_algo_search": "HEURISTIC"}), CPU]
    assert call["options"].intra_op_num_threads == 3
    assert call["options"].graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL


def test_under_auto_a_gpu_that_does_not_load_is_logged_and_the_cpu_serves(
    cuda_runtime: Callable[[list[str]], _Recorder], tiny_model_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cuda_runtime([CPU])
    with caplog.at_level(logging.WARNING, logger="service.inference.session"):
        session = ModelSession(tiny_model_path, intra_op_threads=1)
    assert session.device == "cpu"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("onnxruntime on cuda" in w and "not loadable" in w for w in warnings), warnings


def test_cuda_in_use_is_reported_without_warning(
    cuda_runtime: Callable[[list[str]], _Recorder], tiny_model_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cuda_runtime([CUDA, CPU])
    with caplog.at_level(logging.WARNING, logger="service.inference.session"):
        session = ModelSession(tiny_model_path, providers=[CUDA, CPU])
    assert session.device == "cuda" and session.providers_in_use == [CUDA, CPU]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("shape", [(1, 1), (2, 5), (3, 16)])
def test_run_equals_the_torch_network(
    tiny_session: ModelSession,
    tiny_reference: Callable[[np.ndarray], np.ndarray],
    shape: tuple[int, int],
) -> None:
    frames = np.random.default_rng(sum(shape)).integers(0, 256, (*shape, 64, 48, 3), dtype=np.uint8)
    out = tiny_session.run(frames)
    assert out.dtype == np.float32 and out.shape == (shape[0], 64)
    np.testing.assert_allclose(out, tiny_reference(frames), rtol=0, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize(
    "frames",
    [
        np.zeros((1, 2, 64, 48, 3), np.float32),
        np.zeros((1, 2, 48, 64, 3), np.uint8),
        np.zeros((2, 64, 48, 3), np.uint8),
        np.zeros((1, 0, 64, 48, 3), np.uint8),
    ],
    ids=["float", "transposed", "no-batch-axis", "no-frames"],
)
def test_run_rejects_frames_the_graph_cannot_take(tiny_session: ModelSession, frames: np.ndarray) -> None:
    with pytest.raises(ValueError, match="frames must"):
        tiny_session.run(frames)


def test_warmup_runs_one_frame_and_one_chunk(tiny_model_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    session = ModelSession(tiny_model_path, providers=[CPU], intra_op_threads=1)
    shapes: list[tuple[int, ...]] = []
    real_run = session.run
    monkeypatch.setattr(session, "run", lambda frames: shapes.append(frames.shape) or real_run(frames))
    session.warmup()
    assert shapes == [(1, 1, 64, 48, 3), (1, 16, 64, 48, 3)]
