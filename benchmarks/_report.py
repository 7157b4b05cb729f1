"""What every benchmark shares: the machine's description, timing helpers, markdown sections.

Timings on a shared machine are noisy (other jobs take cores for seconds at a time), so the helpers
interleave the things compared (A, B, A, B, ...) and report medians; a comparison is a ratio of two
medians taken in the same run, never of figures from two runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from service.core.config import DEFAULT_MODEL as SERVICE_DEFAULT_MODEL

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = SERVICE_DEFAULT_MODEL  # the model the service serves unless told otherwise
CHECKPOINT = REPO / "runs" / "cuhk03-recurrent60" / "last.pt"
FP16_MODEL = REPO / "runs" / "export" / "grurcn-mobilenetv2-cuhk03-fp16.onnx"
WORK_DIR = REPO / "runs" / "benchmarks"  # ignored by git: quantised variants, raw results


# ------------------------------------------------------------------------------------------- machine


def _cpuinfo_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _cpu_flags() -> set[str]:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


def _mem_total_gib() -> float:
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024**2
    return float("nan")


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def machine_info() -> dict[str, Any]:
    flags = _cpu_flags()
    simd = [name for name in ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16") if name in flags]
    return {
        "cpu": _cpuinfo_model(),
        "simd": ", ".join(simd) or "unknown",
        "cores": usable_cores(),
        "ram_gib": round(_mem_total_gib(), 1),
        "gpu": "none",
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "onnxruntime": _version("onnxruntime"),
        "numpy": _version("numpy"),
        "torch": _version("torch"),
        "opencv": _version("opencv-python-headless"),
        "fastapi": _version("fastapi"),
        "uvicorn": _version("uvicorn"),
        "redis-py": _version("redis"),
        "hiredis": _version("hiredis"),
        "faiss-cpu": _version("faiss-cpu"),
        "load_average": " / ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def machine_markdown(info: dict[str, Any] | None = None) -> str:
    info = info or machine_info()
    rows = [
        ("CPU", f"{info['cpu']} ({info['simd']})"),
        ("cores usable", str(info["cores"])),
        ("RAM", f"{info['ram_gib']} GiB"),
        ("GPU", info["gpu"]),
        ("OS / Python", f"{info['os']} / {info['python']}"),
        (
            "versions",
            ", ".join(
                f"{name} {info[name]}"
                for name in (
                    "onnxruntime",
                    "numpy",
                    "torch",
                    "opencv",
                    "fastapi",
                    "uvicorn",
                    "redis-py",
                    "hiredis",
                    "faiss-cpu",
                )
            ),
        ),
        ("load average at start (1/5/15 min)", info["load_average"]),
    ]
    return md_table(["", ""], rows)


# ------------------------------------------------------------------------------------------- timing


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def interleaved(
    fns: dict[str, Callable[[], object]], repeats: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Seconds of each call, the candidates alternating (A B C, B C A, ...) so that a burst of load
    from another job hits all of them alike."""
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for i in range(len(names)):
            name = names[(r + i) % len(names)]
            start = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - start)
    return times


def timed(fn: Callable[[], object], repeats: int, warmup: int = 1) -> list[float]:
    return interleaved({"x": fn}, repeats, warmup)["x"]


# ------------------------------------------------------------------------------------------- processes


def proc_status(pid: int | str = "self") -> dict[str, int]:
    """VmRSS / VmHWM (peak RSS) in bytes of a process, from /proc."""
    out: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) * 1024
    return out


def cpu_seconds(pid: int | str = "self") -> float:
    """User + system CPU seconds of a process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


# ------------------------------------------------------------------------------------------- markdown


def fmt(value: float | int | str | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return f"{value:,}"
    if value != value:  # NaN
        return "-"
    return f"{value:,.{digits}f}"


def md_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    def cell(x: object) -> str:
        return str(x).replace("|", "\\|").replace("\n", " ")

    lines = [
        "| " + " | ".join(cell(h) for h in headers) + " |",
        "| " + " | ".join("---" for _ in headers) + " |",
    ]
    lines += ["| " + " | ".join(cell(x) for x in row) + " |" for row in rows]
    return "\n".join(lines)


@dataclass
class Section:
    """One benchmark's part of docs/benchmarks.md, and its raw figures (written beside it as JSON)."""

    name: str
    title: str
    parts: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def text(self, text: str) -> None:
        self.parts.append(text.strip())

    def table(self, headers: Sequence[str], rows: Iterable[Sequence[object]], caption: str = "") -> None:
        rows = list(rows)
        self.parts.append((f"{caption.strip()}\n\n" if caption else "") + md_table(headers, rows))

    def markdown(self) -> str:
        return f"## {self.title}\n\n" + "\n\n".join(self.parts) + "\n"

    def emit(self, out: Path | None) -> None:
        print(self.markdown(), flush=True)
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            (out / f"{self.name}.md").write_text(self.markdown())
            (out / f"{self.name}.json").write_text(json.dumps(self.data, indent=2, default=str))


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="fewer sizes and repeats: under a minute")
    parser.add_argument("--out", type=Path, default=None, help="write <name>.md and <name>.json here")
    return parser
