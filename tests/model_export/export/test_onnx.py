"""Export keeps the recurrence a real Loop and B, T dynamic; verify catches every way a file can lie."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from nets import export_for_tests, trained_like

from model_export.config import TrainConfig
from model_export.engine.checkpoint import build_model
from model_export.export.measure import cuhk03_pool, torch_reference
from model_export.export.onnx import (
    UInt8Frames,
    read_metadata_props,
    set_metadata,
    weights_fingerprint,
    write_metadata,
)
from model_export.export.verify import SHAPES, verify
from model_export.modeling.network import ReIDNet
from reid_contract import INPUT_NAME, OUTPUT_NAME, ModelMetadata


def export(net: ReIDNet, out: Path, slim: bool = True) -> ModelMetadata:
    return export_for_tests(net, out, slim=slim)


@pytest.fixture(scope="module")
def recurrent_net() -> ReIDNet:
    torch.manual_seed(0)
    return trained_like(build_model(TrainConfig(head="recurrent"), num_classes=10, pretrained=False))


@pytest.fixture(scope="module")
def exported(recurrent_net: ReIDNet, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ModelMetadata]:
    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    return path, export(recurrent_net, path)


def test_export_keeps_the_recurrence_a_loop_with_dynamic_batch_and_time(
    exported: tuple[Path, ModelMetadata],
) -> None:
    path, meta = exported
    model = onnx.load(str(path))
    assert sum(node.op_type == "Loop" for node in model.graph.node) == 3  # one GRU-RCN per level
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", "frames", 160, 64, 3]
    assert ModelMetadata.from_props(read_metadata_props(model)) == meta
    assert meta.version.startswith("0.1.0+") and meta.weights_sha256.startswith(meta.weights_short_hash)


def test_verify_passes_with_parity_on_random_and_real_frames(
    exported: tuple[Path, ModelMetadata], recurrent_net: ReIDNet, cuhk03_root: Path
) -> None:
    path, _ = exported
    report = verify(path, torch_reference(recurrent_net), cuhk03_pool(cuhk03_root, recurrent_net.input_size))
    assert report.ok, report.table()
    parity = [c for c in report.checks if c.name.startswith("parity")]
    assert len(parity) == 2 * len(SHAPES)
    assert {c.name.split()[-1] for c in parity} == {"random", "CUHK03"}


def test_verify_catches_weights_that_differ_from_the_checkpoint(
    exported: tuple[Path, ModelMetadata], recurrent_net: ReIDNet
) -> None:
    path, _ = exported
    other = trained_like(build_model(TrainConfig(head="recurrent"), num_classes=10, pretrained=False))
    report = verify(path, torch_reference(other), shapes=((1, 4),))
    assert not report.ok
    assert [c.ok for c in report.checks if c.name.startswith("parity")] == [False]


def test_verify_catches_tampered_weights_and_lying_metadata(
    exported: tuple[Path, ModelMetadata], tmp_path: Path
) -> None:
    path, meta = exported
    model = onnx.load(str(path))
    weight = max(model.graph.initializer, key=lambda t: len(t.raw_data))
    array = onnx.numpy_helper.to_array(weight).copy()
    array.flat[0] += 1.0
    weight.CopyFrom(onnx.numpy_helper.from_array(array, weight.name))
    onnx.save(model, tmp_path / "tampered.onnx")
    checks = {c.name: c.ok for c in verify(tmp_path / "tampered.onnx", shapes=((1, 2),)).checks}
    assert checks["weights fingerprint"] is False

    model = onnx.load(str(path))
    set_metadata(model, meta.model_copy(update={"height": 128}))
    onnx.save(model, tmp_path / "lying.onnx")
    checks = {c.name: c.ok for c in verify(tmp_path / "lying.onnx", shapes=()).checks}
    assert checks["weights fingerprint"] is True and checks["graph io"] is False

    with pytest.raises(ValueError, match="other weights"):
        write_metadata(tmp_path / "tampered.onnx", meta)


def test_verify_catches_the_unrolled_export(recurrent_net: ReIDNet, tmp_path: Path) -> None:
    """The plain traced export freezes T (shared/notes/onnx-export.md): verify must not pass it."""
    example = torch.zeros((2, 3, 160, 64, 3), dtype=torch.uint8)
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the legacy exporter is used on purpose
        torch.onnx.export(
            UInt8Frames(recurrent_net),
            (example,),
            buffer,
            dynamo=False,
            opset_version=17,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch", 1: "frames"}, OUTPUT_NAME: {0: "batch"}},
        )
    model = onnx.load_from_string(buffer.getvalue())
    meta = export(recurrent_net, tmp_path / "scripted.onnx").model_copy(
        update={"weights_sha256": weights_fingerprint(model)}
    )
    meta = meta.model_copy(update={"version": f"0.1.0+{meta.weights_sha256[:8]}"})
    set_metadata(model, meta)
    onnx.save(model, tmp_path / "traced.onnx")
    report = verify(tmp_path / "traced.onnx", torch_reference(recurrent_net))
    assert not report.ok
    failed = [c.name for c in report.checks if not c.ok]
    assert any(shape in name for name in failed for shape in ("(1, 1)", "(3, 16)", "(2, 40)")), failed


def test_pooling_network_exports_without_slimming(tmp_path: Path) -> None:
    net = trained_like(build_model(TrainConfig(head="pooling"), num_classes=5, pretrained=False))
    export(net, tmp_path / "pooling.onnx", slim=False)
    report = verify(tmp_path / "pooling.onnx", torch_reference(net), shapes=((1, 1), (2, 5)))
    assert report.ok, report.table()
    frames = np.zeros((1, 2, 160, 64, 3), np.uint8)
    assert torch_reference(net)(frames).shape == (1, 512)


def test_ibn_osnet_exports_and_verifies(tmp_path: Path) -> None:
    """Instance norm is an ONNX operator of its own: the file must match PyTorch at every shape."""
    cfg = TrainConfig(backbone="osnet_ibn_x0_25", head="pooling")
    net = trained_like(build_model(cfg, num_classes=5, pretrained=False))
    export(net, tmp_path / "ibn.onnx")
    report = verify(tmp_path / "ibn.onnx", torch_reference(net), shapes=((1, 1), (2, 3)))
    assert report.ok, report.table()
    graph = onnx.load(str(tmp_path / "ibn.onnx")).graph
    assert any(node.op_type == "InstanceNormalization" for node in graph.node)


def test_fp16_variant_is_half_the_size_and_within_its_own_bound(
    recurrent_net: ReIDNet, exported: tuple[Path, ModelMetadata], tmp_path: Path
) -> None:
    path = tmp_path / "half.onnx"
    meta = export_for_tests(recurrent_net, path, "test-model-fp16", precision="fp16")
    assert meta.precision == "fp16" and meta.version != exported[1].version
    assert path.stat().st_size < 0.6 * exported[0].stat().st_size
    report = verify(path, torch_reference(recurrent_net), shapes=((1, 1), (2, 8)))
    assert report.ok, report.table()
    assert "(>= 0.995)" in next(c for c in report.checks if c.name.startswith("parity")).detail
    # the fp32 network it was made from is untouched (the export converts a copy)
    assert next(recurrent_net.parameters()).dtype == torch.float32
