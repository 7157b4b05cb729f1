"""The graph's promise: the inputs and outputs the metadata says a model file has.

Every engine that loads a file holds its graph to the metadata before serving it: one uint8 input
(B, T, height, width, 3) named `input_name`, and an output named `output_name` of float32 (B,
embedding_dim). Each engine describes its graph in its own API (ONNX Runtime's `NodeArg`, OpenVINO's
ports); its adapter fills `GraphTensor`s, and this one check judges them, so no engine is held to less.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from reid_contract.metadata import ContractError, ModelMetadata


@dataclass(frozen=True)
class GraphTensor:
    """One graph input or output, as an engine reports it, in engine-neutral terms."""

    names: tuple[str, ...]  # ONNX Runtime gives one; an OpenVINO port may carry several
    dtype: str  # numpy's name ("uint8", "float32"), or the engine's own for a type numpy lacks
    shape: tuple[int | None, ...] | None  # None for a dynamic dimension; None for an unknown rank

    def describe(self) -> str:
        dims = "?" if self.shape is None else ", ".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.dtype} ({dims})"


def _labels(tensors: Sequence[GraphTensor]) -> list[str]:
    return ["/".join(sorted(t.names)) for t in tensors]


def check_graph(
    inputs: Sequence[GraphTensor], outputs: Sequence[GraphTensor], meta: ModelMetadata, path: Path | str
) -> None:
    """Refuse a graph whose inputs and outputs are not what its metadata promises (ContractError)."""
    if len(inputs) != 1 or meta.input_name not in inputs[0].names:
        raise ContractError(
            f"{path}: graph inputs {_labels(inputs)}; the metadata says one, {meta.input_name!r}"
        )
    named = [o for o in outputs if meta.output_name in o.names]
    if not named:
        raise ContractError(f"{path}: graph outputs {_labels(outputs)} lack {meta.output_name!r}")
    x, y = inputs[0], named[0]
    if (
        x.dtype != "uint8"
        or x.shape is None
        or len(x.shape) != 5
        or x.shape[2:] != (meta.height, meta.width, 3)
    ):
        raise ContractError(
            f"{path}: input {meta.input_name!r} is {x.describe()}; the metadata says uint8 "
            f"(B, T, {meta.height}, {meta.width}, 3)"
        )
    if y.dtype != "float32" or y.shape is None or len(y.shape) != 2 or y.shape[1] != meta.embedding_dim:
        raise ContractError(
            f"{path}: output {meta.output_name!r} is {y.describe()}; the metadata says float32 "
            f"(B, {meta.embedding_dim})"
        )
