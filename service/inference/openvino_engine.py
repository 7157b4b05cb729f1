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

import numpy as np

from reid_contract import ContractError, ModelMetadata
from service.inference.engine import EngineInfo, EngineUnavailable, Plan

# Frames per model call on a CPU: at bf16 on a 2-core Xeon with AMX, 16-frame calls ran at 166-200
# frames/s and 256-frame calls at 116, holding 1.4 GB more (docs/benchmarks.md, section 6).
CPU_FRAMES_PER_CALL = 16


class OpenVINOEngine:
    def __init__(self, path: Path, meta: ModelMetadata, plan: Plan, threads: int = 0) -> None:
        import openvino as ov

        self._meta = meta
        core = ov.Core()
        try:
            model = core.read_model(str(path))
        except RuntimeError as exc:  # e.g. an op its ONNX front end cannot convert (a Loop's ReduceMean)
            failed = [line.strip("- ").strip() for line in str(exc).splitlines() if line.startswith("-- ")]
            why = "; ".join(failed) or str(exc).splitlines()[-1]
            raise EngineUnavailable(f"OpenVINO {ov.__version__} cannot read {path.name}: {why}") from None
        _check_model(model, meta, path)
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


def _check_model(model: object, meta: ModelMetadata, path: Path) -> None:
    """The same promise ONNX Runtime's session is held to: one uint8 BTHWC input, one (B, D) output."""
    import openvino as ov

    inputs, outputs = model.inputs, model.outputs  # type: ignore[attr-defined]
    if len(inputs) != 1 or meta.input_name not in inputs[0].get_names():
        raise ContractError(
            f"{path}: graph inputs {[sorted(i.get_names()) for i in inputs]}; "
            f"the metadata says one, {meta.input_name!r}"
        )
    x = inputs[0]
    shape = x.get_partial_shape()
    if x.get_element_type() != ov.Type.u8 or shape.rank.get_length() != 5:
        raise ContractError(
            f"{path}: input is {x.get_element_type()} {shape}; the metadata says uint8 (B, T, H, W, 3)"
        )
    dims = [shape[i].get_length() if shape[i].is_static else None for i in (2, 3, 4)]
    if dims != [meta.height, meta.width, 3]:
        raise ContractError(
            f"{path}: input is {shape}; the metadata says (B, T, {meta.height}, {meta.width}, 3)"
        )
    named = [o for o in outputs if meta.output_name in o.get_names()]
    if not named:
        raise ContractError(
            f"{path}: graph outputs {[o.get_names() for o in outputs]} lack {meta.output_name!r}"
        )
