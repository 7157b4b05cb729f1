"""Checkpoint -> ONNX: one graph, dynamic batch and dynamic number of frames, the contract in its metadata.

The network is scripted with TorchScript and exported by the TorchScript-based exporter, because that
is the path that keeps the GRU-RCN's time loop a real ONNX `Loop` whose trip count is read from the
input. Tracing (and the dynamo exporter at torch 2.13) unrolls the loop for the example's T: the
file then silently returns wrong embeddings for any other length (shared/notes/onnx-export.md).
`verify` proves the result over several (B, T), T=1 and T beyond the example included.

The graph takes what a decoder produces, RGB uint8 frames (B, T, H, W, 3), and does scaling and
normalisation itself, so a client cannot apply them twice or forget them.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import io
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import onnx
import torch
from torch import Tensor, nn

from model_export.modeling.network import ReIDNet
from reid_contract import INPUT_NAME, OUTPUT_NAME, Evaluation, ModelMetadata

OPSET = 17
PIXEL_SCALE = 1.0 / 255.0


class UInt8Frames(nn.Module):
    """The exported graph: decoded frames in, the network's L2-normalised sequence embedding out."""

    def __init__(self, net: ReIDNet) -> None:
        super().__init__()
        self.net = net
        self.scale = PIXEL_SCALE

    def forward(self, frames: Tensor) -> Tensor:
        x = frames.permute(0, 1, 4, 2, 3).to(torch.float32) * self.scale
        return self.net(x)


class UInt8FramesHalf(UInt8Frames):
    """The fp16 variant for GPUs: weights and activations in half precision, the embedding in float32."""

    def __init__(self, net: ReIDNet) -> None:
        super().__init__(copy.deepcopy(net).half())

    def forward(self, frames: Tensor) -> Tensor:
        x = frames.permute(0, 1, 4, 2, 3).to(torch.float16) * self.scale
        return self.net(x).to(torch.float32)


def as_float_frames(frames: Tensor) -> Tensor:
    """The network's own input for the same uint8 frames: what parity is checked against."""
    return frames.permute(0, 1, 4, 2, 3).to(torch.float32) * PIXEL_SCALE


def _tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    """Every weight of a graph, its subgraphs (the Loop body) included."""
    yield from graph.initializer
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR:
                yield attr.t
            elif attr.type == onnx.AttributeProto.GRAPH:
                yield from _tensors(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for g in attr.graphs:
                    yield from _tensors(g)


def weights_fingerprint(model: onnx.ModelProto) -> str:
    """SHA-256 over the file's tensors, independent of their names and order and of the metadata.

    It can be recomputed from the file alone, so `verify` detects weights that were changed after
    export without a new version.
    """
    digests = sorted(
        hashlib.sha256(
            onnx.numpy_helper.to_array(t).tobytes() + str(t.data_type).encode() + str(list(t.dims)).encode()
        ).hexdigest()
        for t in _tensors(model.graph)
    )
    return hashlib.sha256("".join(digests).encode()).hexdigest()


def set_metadata(model: onnx.ModelProto, meta: ModelMetadata) -> None:
    del model.metadata_props[:]
    for key, value in sorted(meta.to_props().items()):
        model.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))


def read_metadata_props(model: onnx.ModelProto) -> dict[str, str]:
    return {p.key: p.value for p in model.metadata_props}


def script_to_onnx(
    net: ReIDNet, example_shape: tuple[int, int] = (2, 3), precision: Literal["fp32", "fp16"] = "fp32"
) -> onnx.ModelProto:
    """Script and export the network; no metadata yet. `example_shape` is (B, T) of the example input."""
    net = net.eval()
    exportable = net.backbone.scriptable()
    if exportable is not net.backbone:  # swap in the backbone's own TorchScript form, on a copy:
        net = copy.deepcopy(net)  # a shallow copy shares its submodules, and the caller's would change
        net.backbone = exportable  # type: ignore[assignment]
    wrapper = UInt8Frames(net) if precision == "fp32" else UInt8FramesHalf(net)
    graph = torch.jit.script(wrapper)
    height, width = net.input_size
    example = torch.randint(0, 256, (*example_shape, height, width, 3), dtype=torch.uint8)
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's own deprecation notices
        torch.onnx.export(
            graph,
            (example,),
            buffer,
            dynamo=False,
            opset_version=OPSET,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch", 1: "frames"}, OUTPUT_NAME: {0: "batch"}},
            do_constant_folding=True,
        )
    model = onnx.load_from_string(buffer.getvalue())
    # The exporter cannot infer D through the L2 normalisation's broadcast; the contract states it.
    embedding_dim = model.graph.output[0].type.tensor_type.shape.dim[1]
    embedding_dim.Clear()
    embedding_dim.dim_value = net.embedding_dim
    return model


def save_onnx(model: onnx.ModelProto, out: Path) -> None:
    """Check, then write atomically: a half-written model file must never be picked up by a service."""
    onnx.checker.check_model(model, full_check=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    onnx.save(model, tmp)
    tmp.replace(out)


def write_metadata(path: Path, meta: ModelMetadata) -> None:
    """Replace the metadata of a saved file (the figures are measured on the file, then written in)."""
    model = onnx.load(str(path))
    if weights_fingerprint(model) != meta.weights_sha256:
        raise ValueError(f"{path} holds other weights than the metadata describes")
    set_metadata(model, meta)
    save_onnx(model, path)


def export_onnx(
    net: ReIDNet,
    out: Path,
    *,
    name: str,
    semver: str,
    architecture: str,
    training_data: str,
    license: str,
    intended_use: str,
    frames_per_chunk: int,
    evaluation: Evaluation | None = None,
    slim: bool = True,
    precision: Literal["fp32", "fp16"] = "fp32",
) -> ModelMetadata:
    """Write `out` and return the metadata it carries; the version gets the weights' short hash.

    `slim` runs onnxslim (constant folding, dead-node and shape-op elimination: about half the nodes
    go); `verify` then proves parity on the slimmed file like on any other.
    """
    model = script_to_onnx(net, precision=precision)
    if slim:
        import onnxslim

        model = onnxslim.slim(model)
    sha = weights_fingerprint(model)
    height, width = net.input_size
    meta = ModelMetadata(
        name=name,
        version=f"{semver}+{sha[:8]}",
        weights_sha256=sha,
        architecture=architecture,
        height=height,
        width=width,
        pixel_scale=PIXEL_SCALE,
        mean=tuple(float(v) for v in net.pixel_mean.flatten()),
        std=tuple(float(v) for v in net.pixel_std.flatten()),
        embedding_dim=net.embedding_dim,
        frames_per_chunk=frames_per_chunk,
        training_data=training_data,
        evaluation=evaluation,
        license=license,
        intended_use=intended_use,
        created=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        exporter=f"torch {torch.__version__} (TorchScript exporter), onnx opset {OPSET}"
        + (", onnxslim" if slim else ""),
        precision=precision,
    )
    set_metadata(model, meta)
    model.producer_name = "model_export"
    save_onnx(model, out)
    return meta
