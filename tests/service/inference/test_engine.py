"""The engine choice (a pure function of settings, file and host), the two engines on a real file, and
the parity gate that holds every engine and precision to the file's fp32 references."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from nets import export_for_tests, trained_like

from model_export.config import TrainConfig
from model_export.engine.checkpoint import build_model
from model_export.export.onnx import set_metadata
from model_export.export.probe import write_probe
from reid_contract import ContractError, ModelMetadata, Probe, read_metadata_props
from service.inference.engine import CPU, CUDA, TENSORRT, EngineUnavailable, plan
from service.inference.hardware import Hardware, detect, read_cpuinfo
from service.inference.session import ModelSession, ParityFailed

AMX = Hardware(
    cpu_model="Xeon with AMX",
    cpu_flags=frozenset({"avx512f", "avx512_bf16", "amx_bf16", "avx512_vnni"}),
    openvino_devices=("CPU",),
    openvino_cpu_capabilities=frozenset({"FP32", "BF16", "INT8"}),
)
AVX2 = Hardware(
    cpu_model="EPYC without bf16",
    cpu_flags=frozenset({"avx2"}),
    openvino_devices=("CPU",),
    openvino_cpu_capabilities=frozenset({"FP32", "INT8"}),
)
NO_OPENVINO = Hardware(cpu_model="any", cpu_flags=frozenset({"avx2"}))
GPU = Hardware(
    cpu_model="any",
    onnxruntime_providers=(TENSORRT, CUDA, CPU),
    openvino_devices=("CPU",),
)


def steps(plans: list) -> list[tuple[str, str, str]]:  # type: ignore[type-arg]
    return [(p.engine, p.device, p.precision) for p in plans]


def test_auto_on_a_cpu_with_native_bf16_tries_openvino_bf16_first() -> None:
    assert steps(plan("auto", "auto", AMX, "fp32")) == [
        ("openvino", "CPU", "bf16"),
        ("openvino", "CPU", "fp32"),
        ("onnxruntime", "cpu", "fp32"),
    ]


def test_auto_on_a_cpu_without_bf16_runs_openvino_at_fp32() -> None:
    assert steps(plan("auto", "auto", AVX2, "fp32"))[0] == ("openvino", "CPU", "fp32")
    assert ("openvino", "CPU", "bf16") not in steps(plan("auto", "auto", AVX2, "fp32"))


def test_auto_without_openvino_is_onnxruntime_on_the_cpu() -> None:
    (only,) = plan("auto", "auto", NO_OPENVINO, "fp32")
    assert (only.engine, only.precision) == ("onnxruntime", "fp32") and "not installed" in only.reason


def test_auto_on_a_gpu_is_onnxruntime_fp16_through_tensorrt_then_cuda_fp32() -> None:
    plans = plan("auto", "auto", GPU, "fp32")
    assert steps(plans)[:2] == [("onnxruntime", "cuda", "fp16"), ("onnxruntime", "cuda", "fp32")]
    assert plans[0].providers[0] == TENSORRT and plans[1].providers == (CUDA, CPU)


@pytest.mark.parametrize(
    ("engine", "precision", "host", "file", "problem"),
    [
        ("auto", "bf16", AVX2, "fp32", r"REID_PRECISION=bf16: no engine"),
        ("openvino", "bf16", AVX2, "fp32", r"REID_PRECISION=bf16: this CPU has neither AVX512_BF16 nor AMX"),
        ("openvino", "auto", NO_OPENVINO, "fp32", r"REID_ENGINE=openvino: the openvino package"),
        ("onnxruntime", "bf16", AMX, "fp32", r"REID_PRECISION=bf16: ONNX Runtime does not"),
        ("onnxruntime", "fp16", AMX, "fp32", r"REID_PRECISION=fp16 with ONNX Runtime needs TensorRT"),
        ("auto", "int8", AMX, "fp32", r"REID_PRECISION=int8 needs a quantised model file"),
        ("auto", "fp32", AMX, "int8", r"REID_PRECISION=fp32: the model file is stored in int8"),
    ],
)
def test_a_setting_that_cannot_run_here_is_refused_naming_it(
    engine: str, precision: str, host: Hardware, file: str, problem: str
) -> None:
    with pytest.raises(EngineUnavailable, match=problem):
        plan(engine, precision, host, file)  # type: ignore[arg-type]


def test_an_openvino_device_it_does_not_see_is_refused() -> None:
    with pytest.raises(EngineUnavailable, match=r"REID_OPENVINO_DEVICE=GPU: OpenVINO sees CPU"):
        plan("openvino", "auto", AMX, "fp32", openvino_device="GPU")


def test_providers_imply_onnxruntime_and_must_exist() -> None:
    (only,) = plan("auto", "auto", GPU, "fp32", providers=(CUDA, CPU))
    assert only.engine == "onnxruntime" and only.providers == (CUDA, CPU) and only.device == "cuda"
    with pytest.raises(EngineUnavailable, match=r"REID_PROVIDERS: .*Nope.*available: "):
        plan("auto", "auto", AMX, "fp32", providers=("Nope",))


def test_cpuinfo_is_read_for_the_model_and_its_vector_units() -> None:
    model, flags = read_cpuinfo("processor\t: 0\nmodel name\t: Test CPU\nflags\t\t: fpu avx2 amx_bf16\n")
    assert model == "Test CPU" and {"avx2", "amx_bf16"} <= flags
    assert Hardware(cpu_flags=flags).native_bf16 and not Hardware(cpu_flags=frozenset({"avx2"})).native_bf16


# -- the engines on a real file ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def pooled_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny network without a recurrence (one every engine reads), with the parity probe."""
    torch_net = trained_like(
        build_model(TrainConfig(backbone="paper", head="pooling", embedding_dim=64), 5, pretrained=False)
    )
    path = tmp_path_factory.mktemp("pooled") / "pooled.onnx"
    export_for_tests(torch_net, path, "pooled-test")
    write_probe(path, threads=1)
    return path


openvino = pytest.importorskip("openvino")


def test_export_writes_references_the_reference_engine_reproduces(pooled_model: Path) -> None:
    meta = ModelMetadata.from_props(read_metadata_props(pooled_model))
    assert meta.probe is not None and meta.probe.lengths == (1, 5, 16)
    session = ModelSession(pooled_model, engine="onnxruntime", precision="fp32", intra_op_threads=1)
    assert session.parity.checked and session.parity.worst > 0.99999


def test_openvino_fp32_serves_the_same_embeddings_as_onnxruntime(pooled_model: Path) -> None:
    ort_session = ModelSession(pooled_model, engine="onnxruntime", intra_op_threads=1)
    ov_session = ModelSession(pooled_model, engine="openvino", precision="fp32", intra_op_threads=1)
    assert (ov_session.engine.name, ov_session.engine.precision) == ("openvino", "fp32")
    frames = np.random.default_rng(5).integers(0, 256, (3, 7, 64, 48, 3), dtype=np.uint8)
    np.testing.assert_allclose(ov_session.run(frames), ort_session.run(frames), atol=1e-4)
    assert ov_session.parity.worst > 0.9999


def test_auto_serves_with_the_first_plan_that_passes_on_this_host(pooled_model: Path) -> None:
    session = ModelSession(pooled_model, intra_op_threads=1)
    expected = plan("auto", "auto", detect(), "fp32")[0]
    assert (session.engine.name, session.engine.precision) == (expected.engine, expected.precision)
    assert session.parity.passed


def _with_probe(path: Path, out: Path, embeddings: np.ndarray) -> Path:
    meta = ModelMetadata.from_props(read_metadata_props(path))
    assert meta.probe is not None
    model = onnx.load(str(path))
    rows = tuple(tuple(float(v) for v in row) for row in embeddings)
    set_metadata(
        model, meta.model_copy(update={"probe": Probe(**{**meta.probe.model_dump(), "embeddings": rows})})
    )
    onnx.save(model, out)
    return out


def test_a_failed_probe_stops_an_explicit_setting_naming_the_probe_and_the_cosine(
    pooled_model: Path, tmp_path: Path
) -> None:
    meta = ModelMetadata.from_props(read_metadata_props(pooled_model))
    assert meta.probe is not None
    wrong = np.asarray(meta.probe.embeddings)
    wrong[1] = np.roll(wrong[1], 7)  # the 5-frame tracklet's reference no longer matches
    tampered = _with_probe(pooled_model, tmp_path / "tampered.onnx", wrong)
    with pytest.raises(ParityFailed, match=r"worst cosine -?0\.\d+ on the 5-frame tracklet"):
        ModelSession(tampered, engine="openvino", precision="fp32", intra_op_threads=1)
    with pytest.raises(EngineUnavailable, match="no engine could serve the model"):
        ModelSession(tampered, intra_op_threads=1)  # auto: every plan tried, none passes


@pytest.mark.parametrize("engine", ["onnxruntime", "openvino"])
@pytest.mark.parametrize(
    ("update", "problem"),
    [({"height": 128}, r"input 'frames' .* \(B, T, 128, 48, 3\)"), ({"embedding_dim": 32}, r"\(B, 32\)")],
)
def test_both_engines_hold_the_graph_to_the_metadata(
    pooled_model: Path, tmp_path: Path, engine: str, update: dict[str, int], problem: str
) -> None:
    """One check for both engines (reid_contract.check_graph): OpenVINO too refuses a file whose
    metadata lie about the input size or the embedding's."""
    meta = ModelMetadata.from_props(read_metadata_props(pooled_model))
    model = onnx.load(str(pooled_model))
    set_metadata(model, meta.model_copy(update=update))
    onnx.save(model, tmp_path / "lying.onnx")
    with pytest.raises(ContractError, match=problem):
        ModelSession(tmp_path / "lying.onnx", engine=engine, precision="fp32", intra_op_threads=1)  # type: ignore[arg-type]


def test_a_file_openvino_cannot_read_is_refused_when_openvino_is_asked_for(tiny_model_path: Path) -> None:
    """The recurrent tiny network's Loop is beyond OpenVINO's ONNX front end today; if a later
    OpenVINO reads it, the engine must then serve it like ONNX Runtime does."""
    try:
        session = ModelSession(tiny_model_path, engine="openvino", precision="fp32", intra_op_threads=1)
    except EngineUnavailable as exc:
        assert "OpenVINO" in str(exc) and "cannot read" in str(exc)
    else:
        reference = ModelSession(tiny_model_path, engine="onnxruntime", intra_op_threads=1)
        frames = np.random.default_rng(1).integers(0, 256, (1, 4, 64, 48, 3), dtype=np.uint8)
        np.testing.assert_allclose(session.run(frames), reference.run(frames), atol=1e-4)
