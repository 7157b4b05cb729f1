"""An int8 variant of an exported file, for CPUs that compute int8 (VNNI) faster than float and have
no bf16: static quantisation (QDQ, per channel) of the convolutions, calibrated on training
tracklets, with the layers that measured sensitive kept in float.

Which layers: the first convolution (it reads the raw pixels) and the last three with the embedding
head (the layers the embedding is made of). With every convolution quantised, VIPeR and PRID lost
points; with these in float the CUHK03 / VIPeR / PRID figures held (CHANGELOG.md, 2.1.0). The int8
file is its own model: its weights differ, so it gets its own version hash (and its own gallery),
its own parity references (computed from itself) and its own figures, measured on the file.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import onnx

from model_export.data.dataset import FrameStore
from model_export.data.tracklet import Tracklet
from model_export.export.onnx import save_onnx, set_metadata, weights_fingerprint
from reid_contract import ModelMetadata

# convolutions kept in float at each end of the network
FLOAT_FIRST, FLOAT_LAST = 1, 3


def calibration_batches(
    tracklets: Sequence[Tracklet], size: tuple[int, int], count: int, frames: int = 4, seed: int = 0
) -> Iterator[np.ndarray]:
    """`count` training tracklets as uint8 (1, T, H, W, 3), the way the service feeds the graph."""
    rng = np.random.default_rng(seed)
    store = FrameStore(size, cache_limit=0)
    for index in rng.choice(len(tracklets), size=min(count, len(tracklets)), replace=False):
        paths = list(tracklets[int(index)].frames)[:frames]
        yield store.load_many(paths).permute(0, 2, 3, 1).contiguous().numpy()[None]


def kept_in_float(model: onnx.ModelProto) -> list[str]:
    """The names of the nodes left in float: the first and last convolutions, and everything after
    the last convolution (pooling, the embedding head, the normalisation)."""
    nodes = list(model.graph.node)
    convs = [i for i, n in enumerate(nodes) if n.op_type == "Conv"]
    if len(convs) < FLOAT_FIRST + FLOAT_LAST + 1:
        raise ValueError(f"only {len(convs)} convolutions: nothing left to quantise")
    keep = {nodes[i].name for i in convs[:FLOAT_FIRST] + convs[-FLOAT_LAST:]}
    keep |= {n.name for n in nodes[convs[-1] + 1 :]}
    unnamed = [n for n in nodes if not n.name]
    if unnamed:
        raise ValueError(f"{len(unnamed)} nodes have no name: cannot tell the quantiser which to skip")
    return sorted(keep)


def quantize_file(src: Path, out: Path, batches: Iterator[np.ndarray], meta: ModelMetadata) -> ModelMetadata:
    """Write the int8 variant of `src` to `out` with its own metadata (figures and probe still to add)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._batches = batches

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self._batches, None)
            return None if batch is None else {meta.input_name: batch}

    model = onnx.load(str(src))
    with tempfile.TemporaryDirectory() as tmp:
        quantize_static(
            str(src),
            str(Path(tmp) / "q.onnx"),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["Conv"],
            nodes_to_exclude=kept_in_float(model),
        )
        quantized = onnx.load(str(Path(tmp) / "q.onnx"))
    digest = weights_fingerprint(quantized)
    core, _ = meta.version.split("+", 1)
    release = core.split("-", 1)
    version = f"{release[0]}-int8{'.' + release[1] if len(release) > 1 else ''}+{digest[:8]}"
    int8 = meta.model_copy(
        update={
            "version": version,
            "weights_sha256": digest,
            "precision": "int8",
            "architecture": f"{meta.architecture}; int8 (static QDQ, per channel; first {FLOAT_FIRST} and "
            f"last {FLOAT_LAST} convolutions and the head in float) of {meta.model_id}",
            "evaluation": None,
            "calibration": None,
            "probe": None,
        }
    )
    set_metadata(quantized, int8)
    save_onnx(quantized, out)
    return int8
