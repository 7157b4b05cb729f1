"""OpenVINO as an engine: Intel's runtime reading the same ONNX file, on its CPU plugin (or its GPU
plugin where one is present), at fp32 or at the precision the hardware computes fastest (bf16 on
CPUs with AVX512_BF16 or AMX).

The precision is OpenVINO's `INFERENCE_PRECISION_HINT`, applied when the model is compiled: weights
stay as the file has them and the arithmetic runs at the hint's precision; the parity gate then holds
the result to the file's fp32 references. One infer request is reused: the micro-batcher calls `run`
from one thread at a time, and a request keeps its buffers between calls of one shape.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from reid_contract import GraphTensor, ModelMetadata, check_graph
from service.inference.engine import EngineInfo, EngineUnavailable, Plan

# Frames per model call on a CPU: at bf16, small calls ran faster per frame than calls of hundreds of
# frames, which also hold far more activations (measured in docs/benchmarks.md, section 5).
CPU_FRAMES_PER_CALL = 16

# OpenVINO's element types in numpy's names, as the contract's graph check reads them
_DTYPES = {"u8": "uint8", "f32": "float32", "f16": "float16"}


class OpenVINOEngine:
    def __init__(self, path: Path, meta: ModelMetadata, plan: Plan, threads: int = 0) -> None:
        import openvino as ov

        core = ov.Core()
        try:
            model = core.read_model(str(path))
        except RuntimeError as exc:  # e.g. an op its ONNX front end cannot convert (a Loop's ReduceMean)
            failed = [line.strip("- ").strip() for line in str(exc).splitlines() if line.startswith("-- ")]
            why = "; ".join(failed) or str(exc).splitlines()[-1]
            raise EngineUnavailable(f"OpenVINO {ov.__version__} cannot read {path.name}: {why}") from None
        inputs, outputs = model.inputs, model.outputs
        check_graph([graph_tensor(i) for i in inputs], [graph_tensor(o) for o in outputs], meta, path)
        hints = {"fp32": ov.Type.f32, "bf16": ov.Type.bf16, "fp16": ov.Type.f16}
        config: dict[str, object] = {"PERFORMANCE_HINT": "LATENCY"}
        wanted = hints.get(plan.precision)  # None: an int8 file runs its own quantised arithmetic
        if wanted is not None:
            config["INFERENCE_PRECISION_HINT"] = wanted
        if threads > 0 and plan.device == "CPU":
            config["INFERENCE_NUM_THREADS"] = threads
        compiled = core.compile_model(model, plan.device, config)
        if wanted is not None and plan.device == "CPU":
            got = compiled.get_property("INFERENCE_PRECISION_HINT")
            if got != wanted:  # the plugin chose otherwise: say so rather than serve something else
                raise EngineUnavailable(
                    f"OpenVINO's {plan.device} plugin compiled at {got}, not {plan.precision}"
                )
        self._request = compiled.create_infer_request()
        self._info = EngineInfo(
            "openvino", ov.__version__, plan.device, plan.precision, (plan.device,), CPU_FRAMES_PER_CALL
        )

    @property
    def info(self) -> EngineInfo:
        return self._info

    def run(self, frames: np.ndarray) -> np.ndarray:
        self._request.infer({0: np.ascontiguousarray(frames)})
        # copy: the request's output buffer is overwritten by the next call
        return np.array(self._request.get_output_tensor(0).data, dtype=np.float32, copy=True)


def graph_tensor(port: Any) -> GraphTensor:
    """One of a model's inputs or outputs (an OpenVINO port), described for the contract's check."""
    shape = port.get_partial_shape()
    dims: tuple[int | None, ...] | None = None
    if shape.rank.is_static:
        dims = tuple(d.get_length() if d.is_static else None for d in shape)
    kind = port.get_element_type().get_type_name()  # OpenVINO's short name: u8, f32, bf16
    return GraphTensor(tuple(sorted(port.get_names())), _DTYPES.get(kind, kind), dims)
