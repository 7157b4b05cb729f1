"""ONNX Runtime as an engine: the reference runtime (the exporter checks every file with it), on the
CPU, CUDA or TensorRT.

Provider choice has one well-known trap: onnxruntime-gpu lists CUDAExecutionProvider as *available*
even when the CUDA/cuDNN libraries cannot be loaded, and the session then quietly runs on CPU. What
counts is `session.get_providers()` after creation; a session that lost its GPU is refused here, and
`auto` goes on to the next plan while an explicit setting stops the start.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from reid_contract import ContractError, GraphTensor, ModelMetadata, check_graph
from service.inference.engine import CUDA, TENSORRT, EngineInfo, EngineUnavailable, Plan

# HEURISTIC: the default EXHAUSTIVE benchmarks every conv algorithm for each new input shape, and T is
# dynamic here, so the first request of every new length would stall for seconds.
CUDA_OPTIONS: dict[str, str] = {"cudnn_conv_algo_search": "HEURISTIC"}

# ONNX Runtime's intra-op threads spin-wait for the next op by default. Alone on a machine that
# saves a few microseconds per op; in this service the same cores also parse uploads, decode JPEGs
# and run the event loop between and during model calls, and spinning threads take CPU from them.
INTRA_OP_SPINNING = False

ProviderSpec = str | tuple[str, dict[str, Any]]

# Frames per model call on a CPU: at fp32 a few dozen frames a call run as fast per frame as hundreds,
# and large calls hold far more activations (measured in docs/benchmarks.md, section 5).
CPU_FRAMES_PER_CALL = 32


def session_options(intra_op_threads: int = 0) -> ort.SessionOptions:
    """All graph optimisations, `intra_op_threads` threads (0: one per physical core) for one graph at
    a time (the micro-batcher serialises the calls, so inter-op parallelism would only add threads)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if INTRA_OP_SPINNING else "0")
    # Give the arena's chunks back between calls of different shapes: a burst of large batches must
    # not pin its peak for the life of the process.
    options.enable_cpu_mem_arena = False
    return options


def with_options(providers: tuple[str, ...], precision: str) -> list[ProviderSpec]:
    """Attach the per-provider options the service always wants."""
    specs: list[ProviderSpec] = []
    for name in providers:
        if name == CUDA:
            specs.append((name, dict(CUDA_OPTIONS)))
        elif name == TENSORRT:
            specs.append((name, {"trt_fp16_enable": precision == "fp16"}))
        else:
            specs.append(name)
    return specs


# ONNX Runtime's tensor types in numpy's names, as the contract's graph check reads them
_DTYPES = {"tensor(uint8)": "uint8", "tensor(float)": "float32", "tensor(float16)": "float16"}


def graph_tensor(arg: ort.NodeArg) -> GraphTensor:
    """One of a session's inputs or outputs, described for the contract's check; a symbolic
    dimension ("batch", "frames") is a dynamic one."""
    shape = None if arg.shape is None else tuple(d if isinstance(d, int) else None for d in arg.shape)
    return GraphTensor((arg.name,), _DTYPES.get(arg.type, arg.type), shape)


class OnnxRuntimeEngine:
    def __init__(self, path: Path, meta: ModelMetadata, plan: Plan, intra_op_threads: int = 0) -> None:
        self._meta = meta
        try:
            self._session = ort.InferenceSession(
                str(path),
                sess_options=session_options(intra_op_threads),
                providers=with_options(plan.providers, plan.precision),
            )
        except ort.capi.onnxruntime_pybind11_state.Fail as exc:  # type: ignore[attr-defined]
            raise ContractError(f"{path}: ONNX Runtime cannot read it: {exc}") from None
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        check_graph([graph_tensor(i) for i in inputs], [graph_tensor(o) for o in outputs], meta, path)
        in_use = tuple(self._session.get_providers())
        lost = [p for p in plan.providers if p in (CUDA, TENSORRT) and p not in in_use]
        if lost:
            raise EngineUnavailable(
                f"{', '.join(lost)} listed but not loadable: the session runs on {', '.join(in_use)} "
                "(check onnxruntime-gpu against the installed CUDA, cuDNN and TensorRT)"
            )
        gpu = in_use[0] in (CUDA, TENSORRT)
        self._info = EngineInfo(
            "onnxruntime",
            ort.__version__,
            "cuda" if gpu else "cpu",
            plan.precision,
            in_use,
            0 if gpu else CPU_FRAMES_PER_CALL,
        )

    @property
    def info(self) -> EngineInfo:
        return self._info

    def run(self, frames: np.ndarray) -> np.ndarray:
        meta = self._meta
        (out,) = self._session.run([meta.output_name], {meta.input_name: np.ascontiguousarray(frames)})
        return np.asarray(out, dtype=np.float32)
