"""The ONNX Runtime session of the served model, configured from the model file's own metadata.

The service trusts nothing but the file: the metadata says the input size, the embedding size and
the chunk length, and the graph is checked against it at start, so a mismatched or foreign file is
refused before the first request rather than answering with wrong vectors.

Provider choice has one well-known trap: onnxruntime-gpu lists CUDAExecutionProvider as *available*
even when the CUDA/cuDNN libraries cannot be loaded, and the session then quietly runs on CPU. What
counts is `session.get_providers()` after creation, and a fall-back is logged as a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import onnxruntime as ort

from reid_contract import ContractError, ModelMetadata

if TYPE_CHECKING:
    from service.core.config import Settings

log = logging.getLogger(__name__)

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
# HEURISTIC: the default EXHAUSTIVE benchmarks every conv algorithm for each new input shape, and T is
# dynamic here, so the first request of every new length would stall for seconds.
CUDA_OPTIONS: dict[str, str] = {"cudnn_conv_algo_search": "HEURISTIC"}

ProviderSpec = str | tuple[str, dict[str, Any]]

# ONNX Runtime's intra-op threads spin-wait for the next op by default. Alone on a machine that
# saves a few microseconds per op; in this service the same cores also parse uploads, decode JPEGs
# and run the event loop between and during model calls, and spinning threads take CPU from them.
# docs/benchmarks.md compares both in the service (section 2) and for the model alone (section 1).
INTRA_OP_SPINNING = False


def session_options(intra_op_threads: int = 0) -> ort.SessionOptions:
    """The options every model session gets: all graph optimisations, `intra_op_threads` threads
    (0: one per physical core) for one graph at a time (the micro-batcher serialises the calls,
    so inter-op parallelism would only add threads), intra-op spinning as INTRA_OP_SPINNING says."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if INTRA_OP_SPINNING else "0")
    return options


class ProviderUnavailable(RuntimeError):
    """A configured execution provider that this ONNX Runtime build does not offer."""


def resolve_providers(requested: Sequence[str], available: Sequence[str]) -> list[str]:
    """The providers to ask ONNX Runtime for, in order of preference.

    Empty request: CUDA when the runtime offers it, then CPU. An explicit request is taken as is
    (duplicates dropped), but every name must be available: a typo or a CPU-only wheel must stop the
    start, not silently serve from another device.
    """
    if not requested:
        return [CUDA, CPU] if CUDA in available else [CPU]
    missing = [name for name in requested if name not in available]
    if missing:
        raise ProviderUnavailable(
            f"execution provider(s) {', '.join(missing)} not available in this ONNX Runtime "
            f"build; available: {', '.join(available) or 'none'}"
        )
    return list(dict.fromkeys(requested))


def with_options(providers: Sequence[str]) -> list[ProviderSpec]:
    """Attach the per-provider options the service always wants (CUDA's conv algorithm search)."""
    return [(name, dict(CUDA_OPTIONS)) if name == CUDA else name for name in providers]


def _check_graph(session: ort.InferenceSession, meta: ModelMetadata, path: Path) -> None:
    """Refuse a graph whose inputs and outputs are not what its metadata promises."""
    inputs = {i.name: i for i in session.get_inputs()}
    outputs = {o.name: o for o in session.get_outputs()}
    x, y = inputs.get(meta.input_name), outputs.get(meta.output_name)
    if x is None or len(inputs) != 1:
        raise ContractError(
            f"{path}: graph inputs {list(inputs)}; the metadata says one, {meta.input_name!r}"
        )
    if y is None:
        raise ContractError(f"{path}: graph outputs {list(outputs)} lack {meta.output_name!r}")
    if x.type != "tensor(uint8)" or len(x.shape) != 5 or list(x.shape[2:]) != [meta.height, meta.width, 3]:
        raise ContractError(
            f"{path}: input {x.name!r} is {x.type} {x.shape}; the metadata says uint8 "
            f"(B, T, {meta.height}, {meta.width}, 3)"
        )
    if y.type != "tensor(float)" or len(y.shape) != 2 or y.shape[1] != meta.embedding_dim:
        raise ContractError(
            f"{path}: output {y.name!r} is {y.type} {y.shape}; the metadata says float32 "
            f"(B, {meta.embedding_dim})"
        )


class ModelSession:
    """One loaded model: checked against its contract, run synchronously from one worker thread."""

    def __init__(
        self,
        path: Path | str,
        *,
        providers: Sequence[str] = (),
        intra_op_threads: int = 0,
    ) -> None:
        self.path = Path(path)
        chosen = resolve_providers(providers, ort.get_available_providers())
        self._session = ort.InferenceSession(
            str(self.path), sess_options=session_options(intra_op_threads), providers=with_options(chosen)
        )
        try:
            self._metadata = ModelMetadata.from_props(dict(self._session.get_modelmeta().custom_metadata_map))
        except ContractError as exc:
            raise ContractError(f"{self.path}: {exc}") from None
        _check_graph(self._session, self._metadata, self.path)
        self._providers = list(self._session.get_providers())
        if CUDA in chosen and CUDA not in self._providers:
            log.warning(
                "CUDA was %s but the session runs on %s: ONNX Runtime could not load CUDA/cuDNN "
                "(check onnxruntime-gpu against the installed CUDA and cuDNN versions); inference "
                "is on CPU and much slower",
                "requested" if providers else "available",
                ", ".join(self._providers),
            )
        log.info(
            "model %s loaded from %s on %s", self._metadata.model_id, self.path, ", ".join(self._providers)
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> ModelSession:
        return cls(
            settings.model_path, providers=settings.providers, intra_op_threads=settings.intra_op_threads
        )

    @property
    def metadata(self) -> ModelMetadata:
        return self._metadata

    @property
    def providers_in_use(self) -> list[str]:
        """What the session really runs on (not what the runtime merely lists as available)."""
        return list(self._providers)

    @property
    def device(self) -> Literal["cuda", "cpu"]:
        return "cuda" if CUDA in self._providers else "cpu"

    def run(self, frames: np.ndarray) -> np.ndarray:
        """uint8 (B, T, H, W, 3) RGB -> float32 (B, D) unit vectors. Blocking: call it off the event loop."""
        meta = self._metadata
        if frames.dtype != np.uint8 or frames.ndim != 5 or frames.shape[2:] != (meta.height, meta.width, 3):
            expected = f"uint8 (B, T, {meta.height}, {meta.width}, 3)"
            raise ValueError(f"frames must be {expected}; got {frames.dtype} {frames.shape}")
        if frames.shape[0] == 0 or frames.shape[1] == 0:
            raise ValueError(f"frames must hold at least one tracklet of one frame; got {frames.shape}")
        (out,) = self._session.run([meta.output_name], {meta.input_name: np.ascontiguousarray(frames)})
        return np.asarray(out, dtype=np.float32)

    def warmup(self) -> None:
        """Run T=1 and T=frames_per_chunk once, so the first requests do not pay for allocation/tuning."""
        meta = self._metadata
        for length in sorted({1, meta.frames_per_chunk}):
            self.run(np.zeros((1, length, meta.height, meta.width, 3), np.uint8))
