"""The engine layer: one small interface over the runtimes that can run the model file, and the choice
of which runtime, device and precision serve it.

Every engine reads the same ONNX file (the contract) and answers the same call: uint8 frames
(B, T, H, W, 3) in, float32 unit vectors (B, D) out. What differs is speed, and, at a reduced
precision, the numbers; the parity gate (`parity.py`) holds every choice to the file's own fp32
references before it serves.

The choice (`plan`) is a pure function of the settings, the file and the host (`Hardware`), so it is
tested on any machine. `auto` lists plans in order of expected speed, and the first one that loads
and passes the gate serves; an explicit engine or precision is one plan, and if it cannot run the
service does not start (never a silent fall-back to something slower or less exact).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from reid_contract import Precision, PrecisionSetting
from service.inference.hardware import Hardware

EngineName = Literal["onnxruntime", "openvino"]
EngineSetting = Literal["auto", EngineName]

CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"
CPU = "CPUExecutionProvider"


class EngineUnavailable(RuntimeError):
    """A requested engine, device or precision that cannot run here; the message says which setting
    and why. Raised before serving: the service does not start."""


@dataclass(frozen=True)
class Plan:
    """One way to run the file: which runtime, on which device, at which precision, and why."""

    engine: EngineName
    device: str  # "cpu", "cuda", or an OpenVINO device name such as "GPU"
    precision: Precision
    reason: str
    providers: tuple[str, ...] = ()  # ONNX Runtime only: the execution providers, in order

    def describe(self) -> str:
        return f"{self.engine} on {self.device} at {self.precision}"


@dataclass(frozen=True)
class EngineInfo:
    """What a loaded engine really runs on (not what was asked): for the log, /model and /metrics."""

    name: EngineName
    version: str
    device: str
    precision: Precision
    providers: tuple[str, ...]  # ONNX Runtime's providers in use, or OpenVINO's device
    # frames per call this engine runs best at (0: as many as the batcher gives): on a CPU a call of a
    # few frames is as fast per frame as a large one, and a large one holds its activations for good
    frames_per_call: int = 0


class Engine(Protocol):
    """A loaded model file on one runtime. `run` is blocking and called from one thread at a time."""

    @property
    def info(self) -> EngineInfo: ...

    def run(self, frames: np.ndarray) -> np.ndarray: ...


def plan(
    engine: EngineSetting,
    precision: PrecisionSetting,
    hardware: Hardware,
    file_precision: Precision,
    *,
    providers: tuple[str, ...] = (),
    openvino_device: str = "CPU",
) -> list[Plan]:
    """The plans to try in order. An explicit setting that cannot be met raises EngineUnavailable
    naming it; `auto` skips what this host lacks and says why in each plan's reason."""
    if file_precision != "fp32":  # a file stored at reduced precision is run as it is
        if precision not in ("auto", file_precision):
            raise EngineUnavailable(
                f"REID_PRECISION={precision}: the model file is stored in {file_precision}; "
                f"an engine runs a {file_precision} file at {file_precision} (set REID_PRECISION=auto)"
            )
    elif precision == "int8":
        raise EngineUnavailable(
            "REID_PRECISION=int8 needs a quantised model file (reid.precision int8); this file is fp32"
        )
    if providers and engine == "openvino":
        raise EngineUnavailable("REID_PROVIDERS names ONNX Runtime providers; REID_ENGINE=openvino uses none")
    if engine == "onnxruntime" or providers:
        return [_onnxruntime_plan(precision, hardware, file_precision, providers)]
    if engine == "openvino":
        return [_openvino_plan(precision, hardware, file_precision, openvino_device)]
    return _auto(precision, hardware, file_precision, openvino_device)


def _auto(
    precision: PrecisionSetting, hw: Hardware, file_precision: Precision, openvino_device: str
) -> list[Plan]:
    plans: list[Plan] = []
    if hw.cuda_listed and precision in ("auto", "fp16", "fp32") and file_precision != "int8":
        if (
            file_precision == "fp32"
            and precision in ("auto", "fp16")
            and TENSORRT in hw.onnxruntime_providers
        ):
            plans.append(
                Plan("onnxruntime", "cuda", "fp16", "a GPU, fp16 through TensorRT", (TENSORRT, CUDA, CPU))
            )
        if precision != "fp16" or file_precision == "fp16":
            plans.append(Plan("onnxruntime", "cuda", file_precision, "a GPU through CUDA", (CUDA, CPU)))
    if hw.openvino_devices is not None and "CPU" in hw.openvino_devices:
        if file_precision != "fp32":
            plans.append(Plan("openvino", "CPU", file_precision, f"the CPU, the file's own {file_precision}"))
        else:
            if precision in ("auto", "bf16") and hw.native_bf16:
                plans.append(
                    Plan("openvino", "CPU", "bf16", f"the CPU computes bf16 natively ({hw.describe()})")
                )
            if precision == "fp16" and "FP16" in hw.openvino_cpu_capabilities:
                plans.append(Plan("openvino", "CPU", "fp16", "the CPU computes fp16 natively"))
            if precision in ("auto", "fp32"):
                reason = "the CPU" + ("" if hw.native_bf16 else f" without native bf16 ({hw.describe()})")
                plans.append(Plan("openvino", "CPU", "fp32", reason))
    if precision in ("auto", "fp32") or precision == file_precision:
        why = "OpenVINO is not installed" if hw.openvino_devices is None else "the reference engine"
        plans.append(Plan("onnxruntime", "cpu", file_precision, f"the CPU: {why}", (CPU,)))
    if not plans:
        raise EngineUnavailable(
            f"REID_PRECISION={precision}: no engine on this host computes it ({hw.describe()}; "
            f"OpenVINO devices: {', '.join(hw.openvino_devices or ()) or 'OpenVINO not installed'})"
        )
    return plans


def _onnxruntime_plan(
    precision: PrecisionSetting, hw: Hardware, file_precision: Precision, providers: tuple[str, ...]
) -> Plan:
    missing = [p for p in providers if p not in hw.onnxruntime_providers]
    if missing:
        raise EngineUnavailable(
            f"REID_PROVIDERS: execution provider(s) {', '.join(missing)} not available in this ONNX "
            f"Runtime build; available: {', '.join(hw.onnxruntime_providers) or 'none'}"
        )
    chosen = tuple(dict.fromkeys(providers)) or ((CUDA, CPU) if hw.cuda_listed else (CPU,))
    device = "cuda" if chosen[0] in (CUDA, TENSORRT) else "cpu"
    if precision == "bf16":
        raise EngineUnavailable(
            "REID_PRECISION=bf16: ONNX Runtime does not run an fp32 file at bf16; use REID_ENGINE=openvino "
            "on a CPU with AVX512_BF16 or AMX"
        )
    if precision == "fp16" and file_precision == "fp32":
        if TENSORRT not in chosen:
            raise EngineUnavailable(
                "REID_PRECISION=fp16 with ONNX Runtime needs TensorRT "
                "(REID_PROVIDERS=TensorrtExecutionProvider,CUDAExecutionProvider) or an fp16 file "
                "(model_export export --precision fp16)"
            )
        return Plan("onnxruntime", device, "fp16", "fp16 through TensorRT", chosen)
    return Plan("onnxruntime", device, file_precision, "ONNX Runtime as set", chosen)


def _openvino_plan(precision: PrecisionSetting, hw: Hardware, file_precision: Precision, device: str) -> Plan:
    if hw.openvino_devices is None:
        raise EngineUnavailable(
            "REID_ENGINE=openvino: the openvino package is not installed (pip install openvino)"
        )
    if device not in hw.openvino_devices:
        raise EngineUnavailable(
            f"REID_OPENVINO_DEVICE={device}: OpenVINO sees {', '.join(hw.openvino_devices) or 'no device'}"
        )
    if file_precision != "fp32":
        return Plan("openvino", device, file_precision, f"the file's own {file_precision}")
    if precision == "auto":
        chosen: Precision = "bf16" if device == "CPU" and hw.native_bf16 else "fp32"
        return Plan("openvino", device, chosen, f"OpenVINO as set; {chosen} on {hw.describe()}")
    if precision == "bf16" and device == "CPU" and not hw.native_bf16:
        raise EngineUnavailable(
            f"REID_PRECISION=bf16: this CPU has neither AVX512_BF16 nor AMX ({hw.describe()}); "
            "emulated bf16 is slower than fp32"
        )
    if precision == "fp16" and device == "CPU" and "FP16" not in hw.openvino_cpu_capabilities:
        raise EngineUnavailable(
            f"REID_PRECISION=fp16: this CPU does not compute fp16 natively ({hw.describe()})"
        )
    return Plan("openvino", device, precision, "OpenVINO as set")  # type: ignore[arg-type]
