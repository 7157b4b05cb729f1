"""What this host can compute on: the CPU's vector units and whether a GPU is usable.

Read once at start and passed to the engine choice as plain data, so that the choice itself is a
pure function that tests can feed any machine (a CPU with AMX, one without bf16, a GPU host).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# CPU flags (Linux /proc/cpuinfo names) under which bf16 arithmetic runs natively, and int8 dot
# products (VNNI) do: the first choose the precision, both are named in the log's description
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})


@dataclass(frozen=True)
class Hardware:
    cpu_model: str = "unknown CPU"
    cpu_flags: frozenset[str] = field(default_factory=frozenset)
    # ONNX Runtime's execution providers in this build (onnxruntime-gpu lists CUDA even without a GPU)
    onnxruntime_providers: tuple[str, ...] = ("CPUExecutionProvider",)
    # OpenVINO's devices ("CPU", "GPU", ...); None: the openvino package is not installed
    openvino_devices: tuple[str, ...] | None = None
    # capabilities OpenVINO's CPU plugin reports ("BF16", "FP16", "INT8", ...)
    openvino_cpu_capabilities: frozenset[str] = field(default_factory=frozenset)

    @property
    def native_bf16(self) -> bool:
        """bf16 at the speed of the hardware: AVX512_BF16 or AMX (emulated bf16 is slower than fp32)."""
        return bool(self.cpu_flags & BF16_FLAGS) or "BF16" in self.openvino_cpu_capabilities

    @property
    def cuda_listed(self) -> bool:
        """ONNX Runtime offers CUDA (whether it loads is known only once a session is made)."""
        return "CUDAExecutionProvider" in self.onnxruntime_providers

    def describe(self) -> str:
        units = sorted(self.cpu_flags & (BF16_FLAGS | VNNI_FLAGS | {"avx512f", "avx2"}))
        return f"{self.cpu_model} ({', '.join(units) or 'no AVX2'})"


def read_cpuinfo(text: str) -> tuple[str, frozenset[str]]:
    """The model name and flags of the first processor in /proc/cpuinfo's text."""
    model, flags = "unknown CPU", frozenset[str]()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model == "unknown CPU":
            model = value.strip()
        elif key == "flags" and not flags:
            flags = frozenset(value.split())
    return model, flags


def detect(cpuinfo: Path = Path("/proc/cpuinfo")) -> Hardware:
    """This host, as the engines will see it."""
    import onnxruntime as ort

    try:
        model, flags = read_cpuinfo(cpuinfo.read_text())
    except OSError:  # not Linux: the engines' own reports still count
        model, flags = "unknown CPU", frozenset()
    devices: tuple[str, ...] | None
    capabilities: frozenset[str] = frozenset()
    try:
        import openvino as ov
    except ImportError:
        devices = None
    else:
        core = ov.Core()
        devices = tuple(core.available_devices)
        if "CPU" in devices:
            capabilities = frozenset(core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    return Hardware(
        cpu_model=model,
        cpu_flags=flags,
        onnxruntime_providers=tuple(ort.get_available_providers()),
        openvino_devices=devices,
        openvino_cpu_capabilities=capabilities,
    )
