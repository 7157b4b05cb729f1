"""The int8 variant: its own model (version, weights hash, precision, probe from itself), close to its
fp32 source, and served only at int8, by an engine that reproduces its references."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from nets import export_for_tests, trained_like

from model_export.config import TrainConfig
from model_export.engine.checkpoint import build_model
from model_export.export.probe import write_probe
from model_export.export.quantize import kept_in_float, quantize_file
from model_export.export.runtime import read_metadata
from reid_contract.probe import cosines
from service.inference.engine import EngineUnavailable
from service.inference.session import ModelSession


@pytest.fixture(scope="module")
def fp32_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    net = trained_like(
        build_model(
            TrainConfig(backbone="mobilenetv2", head="pooling", embedding_dim=64), 5, pretrained=False
        )
    )
    path = tmp_path_factory.mktemp("quantize") / "fp32.onnx"
    export_for_tests(net, path, "quant-test")
    write_probe(path, threads=1)
    return path


def test_the_int8_file_is_its_own_model_close_to_its_source(fp32_file: Path, tmp_path: Path) -> None:
    import onnx

    meta = read_metadata(fp32_file)
    floats = kept_in_float(onnx.load(str(fp32_file)))
    assert floats, "the first and last convolutions stay in float"
    rng = np.random.default_rng(0)
    size = (meta.height, meta.width, 3)
    batches = iter([rng.integers(0, 256, (1, 3, *size), dtype=np.uint8) for _ in range(8)])
    out = tmp_path / "int8.onnx"
    int8 = quantize_file(fp32_file, out, batches, meta)
    assert int8.precision == "int8" and int8.name == meta.name
    assert int8.version.startswith("0.1.0-int8+") and int8.model_id != meta.model_id  # its own gallery
    assert int8.weights_sha256 != meta.weights_sha256 and int8.probe is None  # the probe comes from itself
    graph = onnx.load(str(out)).graph
    assert any(n.op_type == "QuantizeLinear" for n in graph.node)
    producer = {out: n.op_type for n in graph.node for out in n.output}
    quantized = {
        n.name for n in graph.node if n.op_type == "Conv" and producer.get(n.input[1]) == "DequantizeLinear"
    }
    convs = {n.name for n in graph.node if n.op_type == "Conv"}
    assert quantized and convs & set(floats) and not quantized & set(floats)  # int8 between float ends

    write_probe(out, threads=1)
    frames = rng.integers(0, 256, (2, 4, *size), dtype=np.uint8)
    runs = [ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]) for p in (fp32_file, out)]
    a, b = (s.run(None, {"frames": frames})[0] for s in runs)
    assert cosines(b, a).min() > 0.95

    served = ModelSession(out, engine="onnxruntime", precision="int8", intra_op_threads=1)
    assert served.engine.precision == "int8" and served.parity.passed
    with pytest.raises(EngineUnavailable, match="stored in int8"):
        ModelSession(out, engine="onnxruntime", precision="fp32", intra_op_threads=1)
