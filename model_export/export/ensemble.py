"""Several exported files as one: each member's embedding, weighted, side by side in one contract file.

Networks that learned from different data make different mistakes on cameras none of them saw: the
eight-site student (from Market-1501 weights) and OSNet as MSMT17 left it disagree enough that their
combination beats both on VIPeR and PRID. Concatenating unit vectors scaled by the square roots of
their weight shares keeps the result a unit vector whose cosine is the weighted mean of the members'
cosines, so the service, the gallery and the thresholds need nothing new: it is one more model.

The composition works on the ONNX graphs, so any files that share the input contract combine,
whatever made them, and the result is measured, calibrated and verified like any export. Members may
take frames of different sizes: the first member's size is the file's input, and a member of another
size gets the frames resized in the graph (bilinear, half-pixel centres, rounded back to uint8), so a
cheaper member can run smaller frames than the one whose accuracy sets the pair's.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from model_export.export.onnx import read_metadata_props, set_metadata, weights_fingerprint
from model_export.export.runtime import read_metadata
from model_export.export.verify import Reference, open_session
from reid_contract import INPUT_NAME, OUTPUT_NAME, ModelMetadata

# What a client of the file relies on: every member must agree on all of it.
SHARED_FIELDS = (
    "input_name",
    "input_layout",
    "input_dtype",
    "color_order",
    "resize",
    "normalization_in_graph",
    "pixel_scale",
    "mean",
    "std",
    "output_name",
    "embedding_dtype",
    "embedding_normalized",
    "similarity",
    "chunk_combine",
    "precision",
)


def check_members(metas: Sequence[ModelMetadata], weights: Sequence[float]) -> None:
    if len(metas) < 2:
        raise ValueError("an ensemble needs at least two members")
    if len(weights) != len(metas) or any(not math.isfinite(w) or w <= 0 for w in weights):
        raise ValueError(
            f"give one positive weight per member: {len(metas)} members, weights {list(weights)}"
        )
    first = metas[0]
    for meta in metas[1:]:
        for name in SHARED_FIELDS:
            if getattr(meta, name) != getattr(first, name):
                raise ValueError(
                    f"{meta.model_id} and {first.model_id} differ in {name} "
                    f"({getattr(meta, name)!r} vs {getattr(first, name)!r}): one input cannot feed both"
                )
    if not (first.normalization_in_graph and first.embedding_normalized and first.similarity == "cosine"):
        raise ValueError("members must normalise in the graph and return unit vectors compared by cosine")


def scales(weights: Sequence[float]) -> list[float]:
    """sqrt of each weight's share: the concatenated unit vectors then have unit norm themselves."""
    total = float(sum(weights))
    return [math.sqrt(w / total) for w in weights]


def resize_nodes(
    src: str, dst: str, frm: tuple[int, int], to: tuple[int, int], prefix: str
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """uint8 (B, T, *frm, 3) frames at `src` -> the same frames at `to` in `dst`: bilinear, half-pixel
    centres, no antialiasing (ONNX's Resize has none before opset 18). The service's own downscale is
    antialiased (OpenCV's INTER_AREA), so a member fed this way sees slightly sharper frames than it
    would from the service directly: little at the mild ratios this is for (256x128 -> 224x112)."""
    n = prefix + "resize/"
    consts = {
        "flat": np.array([-1, frm[0], frm[1], 3], np.int64),
        "hw": np.array(to, np.int64),
        "hw3": np.array([to[0], to[1], 3], np.int64),
        "zero": np.array([0], np.int64),
        "two": np.array([2], np.int64),
        "lo": np.array(0.0, np.float32),
        "hi": np.array(255.0, np.float32),
    }
    inits = [numpy_helper.from_array(v, n + k) for k, v in consts.items()]

    def node(op: str, ins: list[str], out: str, **attrs: object) -> onnx.NodeProto:
        return helper.make_node(op, ins, [out], name=out, **attrs)

    nodes = [
        node("Cast", [src], n + "float", to=TensorProto.FLOAT),
        node("Reshape", [n + "float", n + "flat"], n + "nhwc"),
        node("Transpose", [n + "nhwc"], n + "nchw", perm=[0, 3, 1, 2]),
        node("Shape", [n + "nchw"], n + "shape"),
        node("Slice", [n + "shape", n + "zero", n + "two"], n + "nc"),
        node("Concat", [n + "nc", n + "hw"], n + "sizes", axis=0),
        node(
            "Resize",
            [n + "nchw", "", "", n + "sizes"],
            n + "resized",
            mode="linear",
            coordinate_transformation_mode="half_pixel",
        ),
        node("Transpose", [n + "resized"], n + "back", perm=[0, 2, 3, 1]),
        node("Round", [n + "back"], n + "round"),
        node("Clip", [n + "round", n + "lo", n + "hi"], n + "clip"),
        node("Cast", [n + "clip"], n + "uint8", to=TensorProto.UINT8),
        node("Shape", [src], n + "in_shape"),
        node("Slice", [n + "in_shape", n + "zero", n + "two"], n + "bt"),
        node("Concat", [n + "bt", n + "hw3"], n + "out_shape", axis=0),
        node("Reshape", [n + "uint8", n + "out_shape"], dst),
    ]
    return nodes, inits


def prefix_names(graph: onnx.GraphProto, prefix: str) -> None:
    """Prefix every name in place, the bodies of Loops included. One rule for all names (rather than
    onnx.compose.add_prefix, which leaves a Loop body's references to outer initializers behind)
    keeps every reference, local or to an outer scope, pointing where it did."""

    def named(name: str) -> str:
        return prefix + name if name else name  # "" is an omitted optional input

    for node in graph.node:
        node.name = named(node.name)
        node.input[:] = [named(n) for n in node.input]
        node.output[:] = [named(n) for n in node.output]
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                prefix_names(attr.g, prefix)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for sub in attr.graphs:
                    prefix_names(sub, prefix)
    for value in [*graph.input, *graph.output, *graph.value_info]:
        value.name = named(value.name)
    for value in graph.value_info:  # a symbolic size is one size across the whole graph: keep them apart
        for dim in value.type.tensor_type.shape.dim:
            if dim.dim_param:
                dim.dim_param = prefix + dim.dim_param
    for tensor in graph.initializer:
        tensor.name = named(tensor.name)


def combine_graphs(
    models: Sequence[onnx.ModelProto], metas: Sequence[ModelMetadata], weights: Sequence[float]
) -> onnx.ModelProto:
    """One graph: the shared input fed to every member (names prefixed m0/, m1/, ...), each output
    scaled, then concatenated."""
    opsets = {(o.domain, o.version) for m in models for o in m.opset_import}
    if len({domain for domain, _ in opsets}) != len(opsets):
        raise ValueError(f"members were exported at different opsets: {sorted(opsets)}")
    nodes: list[onnx.NodeProto] = []
    initializers: list[onnx.TensorProto] = []
    value_info: list[onnx.ValueInfoProto] = []
    weighted = []
    size = (metas[0].height, metas[0].width)
    for i, (model, meta, scale) in enumerate(zip(models, metas, scales(weights), strict=True)):
        prefix = f"m{i}/"
        graph = onnx.GraphProto()
        graph.CopyFrom(model.graph)
        prefix_names(graph, prefix)
        if (meta.height, meta.width) != size:
            resize, consts = resize_nodes(
                INPUT_NAME, prefix + INPUT_NAME, size, (meta.height, meta.width), prefix
            )
            nodes.extend(resize)
            initializers.extend(consts)
        else:
            nodes.append(
                helper.make_node("Identity", [INPUT_NAME], [prefix + INPUT_NAME], name=prefix + "input")
            )
        nodes.extend(graph.node)
        initializers.extend(graph.initializer)
        value_info.extend(graph.value_info)
        initializers.append(numpy_helper.from_array(np.array(scale, np.float32), prefix + "ensemble_scale"))
        nodes.append(
            helper.make_node(
                "Mul",
                [prefix + OUTPUT_NAME, prefix + "ensemble_scale"],
                [prefix + "weighted"],
                name=prefix + "scale",
            )
        )
        weighted.append(prefix + "weighted")
    nodes.append(helper.make_node("Concat", weighted, [OUTPUT_NAME], axis=1, name="ensemble_concat"))
    dim = sum(m.embedding_dim for m in metas)
    graph = helper.make_graph(
        nodes,
        "ensemble",
        [models[0].graph.input[0]],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", dim])],
        initializer=initializers,
        value_info=value_info,
    )
    combined = helper.make_model(graph, opset_imports=list(models[0].opset_import))
    combined.ir_version = max(m.ir_version for m in models)
    combined.producer_name = "model_export combine"
    return combined


def combined_metadata(
    metas: Sequence[ModelMetadata], weights: Sequence[float], model: onnx.ModelProto, name: str, semver: str
) -> ModelMetadata:
    """The card of the whole: what each member is, learned from and is licensed under; figures are
    left for the file itself to be measured on."""
    sha = weights_fingerprint(model)
    shares = [w / sum(weights) for w in weights]
    size = (metas[0].height, metas[0].width)

    def resized(m: ModelMetadata) -> str:
        return (
            ""
            if (m.height, m.width) == size
            else f", on the frames resized to {m.height}x{m.width} in the graph"
        )

    members = "; ".join(
        f"{share:.2f} x {m.name} {m.version} ({m.architecture}{resized(m)})"
        for share, m in zip(shares, metas, strict=True)
    )
    ids = [m.model_id for m in metas]
    return metas[0].model_copy(
        update={
            "name": name,
            "version": f"{semver}+{sha[:8]}",
            "weights_sha256": sha,
            "architecture": (
                f"ensemble of {len(metas)} networks, their unit embeddings scaled by the square roots of "
                f"their weight shares and concatenated (cosine = weighted mean of the members' cosines): "
                f"{members}"
            ),
            "embedding_dim": sum(m.embedding_dim for m in metas),
            "frames_per_chunk": min(m.frames_per_chunk for m in metas),
            "training_data": " | ".join(f"{m.name}: {m.training_data}" for m in metas),
            "license": " | ".join(dict.fromkeys(m.license for m in metas)),  # each distinct text once
            "evaluation": None,
            "calibration": None,
            "created": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "exporter": f"model_export combine of {', '.join(ids)} ({metas[0].exporter})",
        }
    )


def combine(
    paths: Sequence[Path], weights: Sequence[float], name: str, semver: str
) -> tuple[onnx.ModelProto, ModelMetadata]:
    """The combined model with its metadata set, and that metadata; not yet saved."""
    models = [onnx.load(str(p)) for p in paths]
    metas = [ModelMetadata.from_props(read_metadata_props(m)) for m in models]
    check_members(metas, weights)
    model = combine_graphs(models, metas, weights)
    # through the contract's own parser: a name or version it would refuse to read stops here, not
    # in the service that loads the file
    meta = ModelMetadata.from_props(combined_metadata(metas, weights, model, name, semver).to_props())
    set_metadata(model, meta)
    return model, meta


def members_reference(paths: Sequence[Path], weights: Sequence[float], threads: int = 0) -> Reference:
    """The members run one by one and combined in numpy: what `verify` holds the combined file to. A
    member of another size gets its frames from the same resize as in the graph, run alone: how the
    float arithmetic breaks ties differs between resize implementations by one grey level, which
    moves an embedding by about 1e-4, and it is the composition that is checked here (the resize
    itself is checked against OpenCV's bilinear resize in the tests)."""
    sessions = [open_session(p, threads) for p in paths]
    metas = [read_metadata(p) for p in paths]
    size = (metas[0].height, metas[0].width)
    resizers = [
        None if (m.height, m.width) == size else resize_session(size, (m.height, m.width)) for m in metas
    ]
    factors = scales(weights)

    def run(frames: np.ndarray) -> np.ndarray:
        outs = []
        for session, resizer, k in zip(sessions, resizers, factors, strict=True):
            own = frames if resizer is None else resizer.run(None, {"frames": frames})[0]
            outs.append(session.run([OUTPUT_NAME], {INPUT_NAME: own})[0] * k)
        return np.concatenate(outs, axis=1)

    return run


def resize_session(frm: tuple[int, int], to: tuple[int, int]) -> ort.InferenceSession:
    """The graph's resize on its own."""
    nodes, consts = resize_nodes("frames", "resized", frm, to, "")
    graph = helper.make_graph(
        nodes,
        "resize",
        [helper.make_tensor_value_info("frames", TensorProto.UINT8, ["b", "t", *frm, 3])],
        [helper.make_tensor_value_info("resized", TensorProto.UINT8, ["b", "t", *to, 3])],
        initializer=consts,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
