"""The model alone: ONNX Runtime against PyTorch eager on the same weights, the arithmetic limit, and
ONNX Runtime variants (graph optimisations, threads, spinning, int8 and fp16) with their accuracy.

    .venv/bin/python -m benchmarks.bench_model [--quick] [--out DIR]

Inputs are real CUHK03 val tracklets (16 frames, decoded and resized as the service does). Every
comparison is interleaved in one run and reported as medians and ratios of medians.
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

from benchmarks._data import cuhk03_root, decoded_tracklets
from benchmarks._report import (
    CHECKPOINT,
    DEFAULT_MODEL,
    FP16_MODEL,
    WORK_DIR,
    Section,
    base_parser,
    fmt,
    interleaved,
    median,
    usable_cores,
)
from service.inference.session import ModelSession

T = 16
BATCHES = (1, 8)
ACCURACY_BUDGET = 0.01  # rank-1, mean of both directions: a variant is kept only within 1 point


# ------------------------------------------------------------------------------------------ sessions


def ort_session(path: Path, **config: Any) -> ort.InferenceSession:
    """An ONNX Runtime CPU session with the given options (names as in the variants table)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = config.get("level", ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
    options.intra_op_num_threads = config.get("intra", 0)
    options.inter_op_num_threads = config.get("inter", 0)
    if config.get("parallel"):
        options.execution_mode = ort.ExecutionMode.ORT_PARALLEL
    if "spinning" in config:
        options.add_session_config_entry(
            "session.intra_op.allow_spinning", "1" if config["spinning"] else "0"
        )
    if config.get("no_mem_pattern"):
        options.enable_mem_pattern = False
    if config.get("no_arena"):
        options.enable_cpu_mem_arena = False
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def runner(session: ort.InferenceSession, x: np.ndarray) -> Any:
    name = session.get_inputs()[0].name
    return lambda: session.run(None, {name: x})[0]


# ------------------------------------------------------------------------------------------ variants


def quantize_dynamic_int8(src: Path, dst: Path) -> Path:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with quiet():
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)
    return dst


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """The quantiser logs every graph input it cannot infer a shape for; keep the tables readable."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)


def quantize_static_int8(src: Path, dst: Path, method: str, calibration: np.ndarray) -> Path:
    """QDQ int8, per-channel weights, activations calibrated on CUHK03 *train* crops (not val)."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(calibration)

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self.batches, None)
            return None if batch is None else {"frames": np.ascontiguousarray(batch[None])}

    with quiet():
        quantize_static(
            str(src),
            str(dst),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=getattr(CalibrationMethod, method),
            extra_options={"CalibPercentile": 99.99} if method == "Percentile" else {},
        )
    return dst


def copy_metadata(src: Path, dst: Path) -> None:
    """The quantiser keeps the graph but not always the `reid.*` metadata the evaluator reads."""
    model = onnx.load(str(dst))
    if not any(p.key.startswith("reid.") for p in model.metadata_props):
        source = onnx.load(str(src), load_external_data=False)
        model.metadata_props.extend(source.metadata_props)
        onnx.save(model, str(dst))


def calibration_tracklets(count: int, height: int, width: int) -> np.ndarray:
    """(count, 4, H, W, 3) uint8 tracklets of CUHK03 train_resized crops (4 crops of one person)."""
    import cv2

    files = sorted((cuhk03_root() / "labeled" / "train_resized").glob("*.jpg"))
    by_person: dict[str, list[Path]] = {}
    for path in files:
        by_person.setdefault(path.stem.split("_")[0], []).append(path)
    out = []
    for person in sorted(by_person)[:count]:
        crops = []
        for path in by_person[person][:4]:
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            crops.append(cv2.resize(bgr[:, :, ::-1], (width, height), interpolation=cv2.INTER_AREA))
        while len(crops) < 4:
            crops.append(crops[-1])
        out.append(np.stack(crops))
    return np.stack(out)


def rank1(path: Path) -> float:
    from model_export.export.runtime import evaluate_onnx

    summary = evaluate_onnx(path, "cuhk03", cuhk03_root(), threads=usable_cores())
    return float(summary["mean"]["rank1"])  # type: ignore[index]


# ------------------------------------------------------------------------------------------ arithmetic


def flops_per_frame() -> tuple[float, dict[str, float]]:
    """FLOPs (2 per multiply-add) of one frame of a T=16 tracklet, total and by top-level module."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from model_export.engine.checkpoint import load_model
    from model_export.export.onnx import as_float_frames

    net, _ = load_model(CHECKPOINT)
    x = torch.randint(0, 256, (1, T, *net.input_size, 3), dtype=torch.uint8)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(as_float_frames(x))
    by_module = {
        name.split(".", 1)[1]: sum(counts.values()) / T
        for name, counts in counter.get_flop_counts().items()
        if name.count(".") == 1
    }
    return counter.get_total_flops() / T, by_module


def matmul_onnx(n: int) -> ort.InferenceSession:
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [n, n])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [n, n])
    b = helper.make_tensor(
        "b", TensorProto.FLOAT, [n, n], np.random.default_rng(1).random((n, n), np.float32)
    )
    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["y"])], "mm", [a], [y], [b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def matmul_gflops(n: int, repeats: int) -> dict[str, float]:
    """Measured float32 matrix-multiply GFLOP/s (n x n x n) of numpy, torch and ONNX Runtime."""
    import torch

    rng = np.random.default_rng(0)
    a, b = rng.random((n, n), np.float32), rng.random((n, n), np.float32)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    mm = matmul_onnx(n)
    times = interleaved(
        {
            "numpy (OpenBLAS sgemm)": lambda: a @ b,
            "torch (mm)": lambda: ta @ tb,
            "ONNX Runtime (MatMul)": lambda: mm.run(None, {"a": a}),
        },
        repeats,
    )
    return {name: 2 * n**3 / min(ts) / 1e9 for name, ts in times.items()}


# ------------------------------------------------------------------------------------------ main


@dataclass
class Run:
    """What every step of the model benchmark shares."""

    quick: bool
    repeats: int
    cores: int
    served: ModelSession
    inputs: dict[int, np.ndarray]
    section: Section

    @property
    def meta(self) -> Any:
        return self.served.metadata


def main(argv: list[str] | None = None) -> None:
    args = base_parser(__doc__.splitlines()[0]).parse_args(argv)
    cores = usable_cores()
    served = ModelSession(DEFAULT_MODEL, providers=["CPUExecutionProvider"])
    frames = decoded_tracklets(max(BATCHES), served.metadata.height, served.metadata.width)
    section = Section("model", "1. The model: ONNX Runtime, PyTorch eager, the arithmetic limit, variants")
    section.data["cores"] = cores
    run = Run(
        quick=args.quick,
        repeats=2 if args.quick else 9,
        cores=cores,
        served=served,
        inputs={b: np.ascontiguousarray(frames[:b]) for b in BATCHES},
        section=section,
    )
    engine_fps = engines(run)
    arithmetic(run, engine_fps)
    variants(run)
    section.data["batch_speedup"] = engine_fps[8]["ort"] / engine_fps[1]["ort"]
    section.emit(args.out)


def engines(run: Run) -> dict[int, dict[str, float]]:
    """Frames per second of ONNX Runtime (as the service runs it) and PyTorch eager, by batch."""
    import torch

    from model_export.engine.checkpoint import load_model
    from model_export.export.onnx import as_float_frames

    torch.set_num_threads(run.cores)
    section, served, meta, inputs, repeats, cores = (
        run.section,
        run.served,
        run.meta,
        run.inputs,
        run.repeats,
        run.cores,
    )
    net, _ = load_model(CHECKPOINT)

    def eager(x: np.ndarray) -> Any:
        def call() -> Any:
            with torch.inference_mode():
                return net(as_float_frames(torch.from_numpy(x))).numpy()

        return call

    rows = []
    engine_fps: dict[int, dict[str, float]] = {}
    for b in BATCHES:
        eager_repeats = 1 if run.quick and b > 1 else max(3, repeats // 2) if b > 1 else repeats
        times = interleaved(
            {"ort": lambda x=inputs[b]: served.run(x), "eager": eager(inputs[b])}, eager_repeats
        )
        fps = {name: b * T / median(ts) for name, ts in times.items()}
        engine_fps[b] = fps
        diff = float(np.abs(served.run(inputs[b]) - eager(inputs[b])()).max())
        rows.append(
            [
                f"{b} x {T}",
                fmt(fps["eager"]),
                fmt(fps["ort"]),
                f"**{fps['ort'] / fps['eager']:.2f}x**",
                fmt(1000 * median(times["ort"]), 1),
                f"{diff:.1e}",
            ]
        )
    section.data["engines_fps"] = engine_fps
    section.table(
        [
            "batch x T",
            "PyTorch eager frames/s",
            "ONNX Runtime frames/s",
            "ORT / eager",
            "ORT ms per call",
            "max abs diff",
        ],
        rows,
        caption=(
            f"The shipped weights (`{DEFAULT_MODEL.name}` and "
            f"`{CHECKPOINT.relative_to(CHECKPOINT.parents[2])}`), "
            f"real CUHK03 val tracklets of {T} frames at {meta.height}x{meta.width}, {cores} threads each "
            "(ONNX Runtime as the service configures it in `service/inference/session.py`; PyTorch "
            "`inference_mode`). Medians of interleaved calls."
        ),
    )
    return engine_fps


def arithmetic(run: Run, engine_fps: dict[int, dict[str, float]]) -> None:
    """How close inference is to the machine's arithmetic limit (FLOPs per frame, matmul GFLOP/s)."""
    section, repeats = run.section, run.repeats
    total_flops, by_module = flops_per_frame()
    gflops = matmul_gflops(2048, repeats)
    best_name, best = max(gflops.items(), key=lambda kv: kv[1])
    achieved = {b: engine_fps[b]["ort"] * total_flops / 1e9 for b in BATCHES}
    section.data.update(flops_per_frame=total_flops, flops_by_module=by_module, matmul_gflops=gflops)
    section.table(
        ["", "value"],
        [
            ["model FLOPs per frame (2 per multiply-add, T = 16)", f"{total_flops / 1e6:.0f} M"],
            *[[f"  of which `{name}`", f"{value / 1e6:.0f} M"] for name, value in by_module.items() if value],
            *[
                [f"measured float32 matmul 2048^3, {name}", f"{value:.0f} GFLOP/s"]
                for name, value in gflops.items()
            ],
            *[
                [
                    f"ONNX Runtime at batch {b}: achieved",
                    f"{achieved[b]:.0f} GFLOP/s = **{achieved[b] / best:.0%}** of the best matmul "
                    f"({best_name})",
                ]
                for b in BATCHES
            ],
        ],
        caption="How close inference is to the arithmetic limit of this machine.",
    )


def variants(run: Run) -> None:
    """ONNX Runtime options and quantised or fp16 files: speed, agreement and rank-1."""
    section, served, meta, inputs, repeats = run.section, run.served, run.meta, run.inputs, run.repeats
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    level = ort.GraphOptimizationLevel
    variants: dict[str, tuple[str, Path, dict[str, Any]]] = {
        "service": ("the service's session (`session.py`)", DEFAULT_MODEL, {}),
        "defaults": ("ONNX Runtime defaults", DEFAULT_MODEL, {"_defaults": True}),
        "no-opt": ("graph optimisations off", DEFAULT_MODEL, {"level": level.ORT_DISABLE_ALL}),
        "basic": ("graph optimisations: basic", DEFAULT_MODEL, {"level": level.ORT_ENABLE_BASIC}),
        "extended": ("graph optimisations: extended", DEFAULT_MODEL, {"level": level.ORT_ENABLE_EXTENDED}),
        "1-thread": ("intra-op threads = 1", DEFAULT_MODEL, {"intra": 1}),
        "parallel": ("parallel execution, inter-op = 2", DEFAULT_MODEL, {"parallel": True, "inter": 2}),
        "spin-on": ("intra-op spinning on", DEFAULT_MODEL, {"spinning": True}),
        "spin-off": ("intra-op spinning off", DEFAULT_MODEL, {"spinning": False}),
        "no-arena": (
            "memory pattern and CPU arena off",
            DEFAULT_MODEL,
            {"no_mem_pattern": True, "no_arena": True},
        ),
    }
    if run.quick:  # the options that matter most, no quantised files
        variants = {k: v for k, v in variants.items() if k in ("service", "defaults", "1-thread", "spin-off")}
    built: dict[str, str] = {}
    if not run.quick:
        started = time.perf_counter()
        variants["int8-dynamic"] = (
            "int8, dynamic quantisation (`quantize_dynamic`, ConvInteger/MatMulInteger)",
            quantize_dynamic_int8(DEFAULT_MODEL, WORK_DIR / "int8-dynamic.onnx"),
            {},
        )
        built["int8-dynamic"] = f"{time.perf_counter() - started:.0f} s"
        calibration = calibration_tracklets(64, meta.height, meta.width)
        for method in ("MinMax", "Percentile"):
            started = time.perf_counter()
            path = quantize_static_int8(
                DEFAULT_MODEL, WORK_DIR / f"int8-static-{method.lower()}.onnx", method, calibration
            )
            built[f"int8-static-{method.lower()}"] = f"{time.perf_counter() - started:.0f} s"
            variants[f"int8-static-{method.lower()}"] = (
                f"int8, static QDQ, per-channel, {method} calibration on 64 train tracklets",
                path,
                {},
            )
    if FP16_MODEL.exists() and not run.quick:
        variants["fp16"] = ("fp16 export (`model_export export --precision fp16`)", FP16_MODEL, {})
    for _what, path, _config in variants.values():
        if path != DEFAULT_MODEL:
            copy_metadata(DEFAULT_MODEL, path)

    sessions: dict[str, Any] = {}
    for name, (_, path, config) in variants.items():
        if name == "service":
            sessions[name] = served
        elif config.get("_defaults"):
            sessions[name] = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        else:
            sessions[name] = ort_session(path, **config)

    def call(name: str, x: np.ndarray) -> Any:
        session = sessions[name]
        return (lambda: session.run(x)) if name == "service" else runner(session, x)

    slow = {"int8-dynamic"}  # ConvInteger is far slower on CPU: fewer repeats
    fps: dict[str, dict[int, float]] = {name: {} for name in variants}
    for b in BATCHES:
        fast_times = interleaved({n: call(n, inputs[b]) for n in variants if n not in slow}, repeats)
        slow_times = interleaved({n: call(n, inputs[b]) for n in variants if n in slow}, 2, warmup=0)
        for name, ts in {**fast_times, **slow_times}.items():
            fps[name][b] = b * T / median(ts)
    reference = served.run(inputs[8])
    accuracy: dict[str, float | None] = {}
    base_rank1 = None if run.quick else rank1(DEFAULT_MODEL)
    for name, (_, path, _) in variants.items():
        if path == DEFAULT_MODEL:
            accuracy[name] = base_rank1
        elif not run.quick:
            accuracy[name] = rank1(path)
    rows = []
    for name, (what, path, _) in variants.items():
        diff = float(np.abs(call(name, inputs[8])() - reference).max())
        speed = fps[name][8] / fps["service"][8]
        r1 = accuracy.get(name)
        if r1 is None or base_rank1 is None:
            verdict = "not measured (--quick)" if run.quick and path != DEFAULT_MODEL else "same weights"
        else:
            within = base_rank1 - r1 <= ACCURACY_BUDGET + 1e-9
            verdict = (
                ("within 1 point" if within else "**drops > 1 point: not kept**")
                if path != DEFAULT_MODEL
                else "-"
            )
        rows.append(
            [
                f"`{name}`",
                what,
                fmt(fps[name][1]),
                fmt(fps[name][8]),
                f"{speed:.2f}x",
                f"{diff:.1e}",
                "-" if r1 is None else f"{r1:.3f}",
                verdict,
            ]
        )
    section.data.update(variants_fps=fps, variants_rank1=accuracy, quantisation_seconds=built)
    section.table(
        [
            "variant",
            "what",
            "frames/s, batch 1",
            "frames/s, batch 8",
            "vs service (batch 8)",
            "max abs diff vs service",
            "rank-1 (CUHK03 val)",
            "accuracy",
        ],
        rows,
        caption=(
            "ONNX Runtime variants on the CPU execution provider, T = 16, interleaved. Rank-1 is the mean "
            "of both directions on CUHK03 val, measured with `model_export.export.runtime.evaluate_onnx` "
            "on each file; the budget is 1 point below the fp32 file."
        ),
    )


if __name__ == "__main__":
    main()
