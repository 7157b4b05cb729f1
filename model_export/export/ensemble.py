"""Several exported files as one: each member's embedding, weighted, side by side in one contract file.

Networks that learned from different data make different mistakes on cameras none of them saw: the
eight-site student (from Market-1501 weights) and OSNet as MSMT17 left it disagree enough that their
combination beats both on VIPeR and PRID. Concatenating unit vectors scaled by the square roots of
their weight shares keeps the result a unit vector whose cosine is the weighted mean of the members'
cosines, so the service, the gallery and the thresholds need nothing new: it is one more model.

The composition works on the ONNX graphs, so any files that share the input contract combine,
whatever made them, and the result is measured, calibrated and verified like any export.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from model_export.export.onnx import read_metadata_props, set_metadata, weights_fingerprint
from model_export.export.verify import Reference, open_session
from reid_contract import INPUT_NAME, OUTPUT_NAME, ModelMetadata

# What a client of the file relies on: every member must agree on all of it.
SHARED_FIELDS = (
    "input_name",
    "input_layout",
    "input_dtype",
    "height",
    "width",
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
    for i, (model, scale) in enumerate(zip(models, scales(weights), strict=True)):
        prefix = f"m{i}/"
        graph = onnx.GraphProto()
        graph.CopyFrom(model.graph)
        prefix_names(graph, prefix)
        nodes.append(helper.make_node("Identity", [INPUT_NAME], [prefix + INPUT_NAME], name=prefix + "input"))
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
    members = "; ".join(
        f"{share:.2f} x {m.name} {m.version} ({m.architecture})"
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
    meta = combined_metadata(metas, weights, model, name, semver)
    set_metadata(model, meta)
    return model, meta


def members_reference(paths: Sequence[Path], weights: Sequence[float], threads: int = 0) -> Reference:
    """The members run one by one and combined in numpy: what `verify` holds the combined file to."""
    sessions = [open_session(p, threads) for p in paths]
    factors = scales(weights)

    def run(frames: np.ndarray) -> np.ndarray:
        outs = [
            s.run([OUTPUT_NAME], {INPUT_NAME: frames})[0] * k for s, k in zip(sessions, factors, strict=True)
        ]
        return np.concatenate(outs, axis=1)

    return run
