"""`POST /embed` frames/s of several models, each in its own service, measured in alternating windows:
the ratio of two models' throughput without the drift between sequential runs.

    .venv/bin/python -m benchmarks.bench_embed_ratio [MODEL.onnx ...] [--quick] [--out DIR]

Issue 13 asks for the default at no less than half 1.0.0's `/embed` throughput on the same machine.
`compare --service` measures each model over one pass of the test sets, one after the other, and on
a shared 2-core machine the ratio moved from one run to the next by more than the differences
between candidate models. Here every model is served at once (idle but for the one being measured),
and the windows rotate (A B C, B C A, ...), so a burst of load from elsewhere falls on all of them.
The figure is the median over rounds of each round's ratio to the first model. The workloads are
real CUHK03 `val` crops, one client at a time: one-crop requests (VIPeR's and PRID's tracklets, what
`compare` sends most) and 16-frame tracklets.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from benchmarks._http import closed_loop, service_process
from benchmarks._interleave import rotate
from benchmarks._report import DEFAULT_MODEL, REPO, Section, base_parser, fmt, machine_info, median
from devtools.harness import ServiceProcess

BASELINE = REPO / "models" / "grurcn-mobilenetv2-cuhk03.onnx"  # 1.0.0: the yardstick
THREADS = 2  # the engine's threads per service, as `compare --service` runs them


def window_fps(service: ServiceProcess, frames: int, requests: list[bytes], seconds: float) -> float:
    load = asyncio.run(closed_loop(service.port, requests, 1, 0.0, seconds))
    if load.errors:
        raise RuntimeError(f"{service.url}: errors {load.errors}")
    return frames * len(load.latencies) / seconds


def measure(models: list[Path], rounds: int, window_s: float, distinct: int) -> dict[str, Any]:
    names = [str(m) for m in models]  # as given: two versions of one model share a file name
    services = [
        # each model on the engine its service chooses (REID_ENGINE auto): 1.0.0's recurrent graph is
        # read by ONNX Runtime only, the default by OpenVINO
        service_process(
            {"REID_MODEL_PATH": str(m.resolve()), "REID_INTRA_OP_THREADS": str(THREADS), "REID_PROVIDERS": ""}
        ).start()
        for m in models
    ]
    try:
        return rotate(dict(zip(names, services, strict=True)), window_fps, rounds, window_s, distinct)
    finally:
        for service in services:
            service.stop()


def main(argv: list[str] | None = None) -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "models",
        type=Path,
        nargs="*",
        help="ONNX files, the yardstick first (default: 1.0.0 and the default)",
    )
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--window-s", type=float, default=None)
    args = parser.parse_args(argv)
    models = args.models or [BASELINE, DEFAULT_MODEL]
    if len(models) < 2:
        parser.error("give at least two models: the yardstick first")
    rounds = args.rounds or (3 if args.quick else 12)
    window_s = args.window_s or (2.0 if args.quick else 5.0)
    results = measure(models, rounds, window_s, distinct=24)

    machine = machine_info()
    section = Section("embed_ratio", "6. Models against a yardstick through POST /embed, interleaved")
    section.text(
        f"Every model in its own service ({THREADS} engine threads, REID_ENGINE auto), one client, {rounds} "
        f"rounds of "
        f"{window_s:g} s windows rotating over the models; median frames/s over rounds, and the median "
        f"(lowest - highest) of each round's ratio to {models[0]}. Machine: {machine['cpu']} "
        f"({machine['simd']}), {machine['cores']} cores. The ratio is the machine's as much as the "
        "models': a large convolutional network gains more from wide vector units (AVX-512) than a "
        "small one bound by its many small operations, so read it with the CPU it was measured on."
    )
    for load, figures in results.items():
        rows = []
        for name in figures["frames_per_s"]:
            ratios = figures["ratio_to_first"][name]
            spread = f"{median(ratios):.3f} ({min(ratios):.3f} - {max(ratios):.3f})"
            rows.append([name, fmt(median(figures["frames_per_s"][name])), spread])
        section.table(["model", "frames/s", f"ratio to {models[0].name}"], rows, caption=f"**{load}**")
    section.data = {
        "models": [str(m) for m in models],
        "rounds": rounds,
        "window_s": window_s,
        "machine": {k: machine[k] for k in ("cpu", "simd", "cores")},
        **results,
    }
    section.emit(args.out)


if __name__ == "__main__":
    main()
