"""The default model on each engine and precision: `POST /embed` at 8 clients, interleaved, against
ONNX Runtime fp32, and each engine's model-alone throughput beside the peer yardstick.

    .venv/bin/python -m benchmarks.bench_engines [--quick] [--out DIR]

Every configuration is its own service on the same file (idle but for the one being measured); the
windows rotate over them, so a burst of load from elsewhere falls on all. The figure is the median over
rounds of each round's ratio to the first configuration (`REID_ENGINE=onnxruntime REID_PRECISION=fp32`,
what the service ran before it had engines). Model alone: B=8 x T=16 decoded tracklets through the
engine as the service configures it; the yardstick is Intel's 0277 as published, its IR in OpenVINO
at fp32 and at the host's best precision (the network the default was fine-tuned from, run the way its
authors ship it). `/embed` at 8 clients over the model alone says how much of the engine the service
delivers (decoding, resizing, queueing and HTTP take the rest).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._data import decoded_tracklets
from benchmarks._http import read_response, service_process
from benchmarks._interleave import rotate
from benchmarks._report import DEFAULT_MODEL, Section, base_parser, fmt, machine_info, median
from devtools.harness import ServiceProcess
from service.inference.hardware import detect
from service.inference.session import ModelSession

THREADS = 2
CLIENTS = 8
CONFIGS: dict[str, dict[str, str]] = {
    "onnxruntime fp32": {"REID_ENGINE": "onnxruntime", "REID_PRECISION": "fp32"},
    "openvino fp32": {"REID_ENGINE": "openvino", "REID_PRECISION": "fp32"},
    "default (auto)": {},
}
PEER_IR = Path(
    "../shared/peers/intel/person-reidentification-retail-0277/FP16/person-reidentification-retail-0277.xml"
)


async def completions(port: int, requests: list[bytes], warmup_s: float, measure_s: float) -> int:
    """CLIENTS connections, each sending its next request as soon as the previous one answered;
    the answers that arrive inside the window (throughput, whenever their request started: at 8
    clients a slow engine's requests outlast a short window)."""
    loop = asyncio.get_running_loop()
    start = loop.time() + warmup_s
    stop = start + measure_s
    done = 0

    async def client(index: int) -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = index
        try:
            while loop.time() < stop:
                writer.write(requests[i % len(requests)])
                i += CLIENTS
                status, _ = await read_response(reader)
                if status != 200:
                    raise RuntimeError(f"status {status}")
                if start <= loop.time() <= stop:
                    done += 1
        finally:
            writer.close()

    await asyncio.gather(*(client(i) for i in range(CLIENTS)))
    return done


def window_fps(service: ServiceProcess, frames: int, requests: list[bytes], seconds: float) -> float:
    return frames * asyncio.run(completions(service.port, requests, 2.0, seconds)) / seconds


def through_embed(configs: dict[str, dict[str, str]], rounds: int, window_s: float) -> dict[str, Any]:
    names = list(configs)
    base = {
        "REID_MODEL_PATH": str(DEFAULT_MODEL),
        "REID_INTRA_OP_THREADS": str(THREADS),
        "REID_PROVIDERS": "",
    }
    services = [service_process({**base, **configs[n]}).start() for n in names]
    try:
        return rotate(dict(zip(names, services, strict=True)), window_fps, rounds, window_s)
    finally:
        for service in services:
            service.stop()


def _rate(run: Any, x: np.ndarray, repeats: int) -> float:
    run(x)
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        run(x)
        times.append(time.perf_counter() - tic)
    return x.shape[0] * x.shape[1] / median(times)


def model_alone(repeats: int) -> dict[str, float]:
    """Frames/s at B=8, T=16 for each engine configuration and the peer yardstick."""
    out: dict[str, float] = {}
    probe = ModelSession(DEFAULT_MODEL, engine="onnxruntime", intra_op_threads=THREADS)
    x = decoded_tracklets(8, probe.metadata.height, probe.metadata.width)
    out["onnxruntime fp32"] = _rate(probe.run, x, repeats)
    del probe
    for name, engine, precision in (
        ("openvino fp32", "openvino", "fp32"),
        ("default (auto)", "auto", "auto"),
    ):
        session = ModelSession(DEFAULT_MODEL, engine=engine, precision=precision, intra_op_threads=THREADS)  # type: ignore[arg-type]
        out[name] = _rate(session.run, x, repeats)
    if PEER_IR.is_file():
        import openvino as ov

        core = ov.Core()
        peer = core.read_model(PEER_IR)
        peer.reshape([8, 3, 256, 128])
        crops = x[:, :, :, :, ::-1].transpose(1, 0, 4, 2, 3).astype(np.float32)  # 16 calls of 8 BGR crops
        hw = detect()
        precisions = ["f32"] + (["bf16"] if hw.native_bf16 else [])
        for precision in precisions:
            compiled = core.compile_model(
                peer, "CPU", {"INFERENCE_NUM_THREADS": THREADS, "INFERENCE_PRECISION_HINT": precision}
            )

            def run(_: np.ndarray, compiled: Any = compiled) -> None:
                for step in crops:
                    compiled(step)

            out[f"peer: Intel 0277 IR, OpenVINO {precision}"] = _rate(run, x, repeats)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--window-s", type=float, default=None)
    args = parser.parse_args(argv)
    rounds = args.rounds or (2 if args.quick else 4)
    window_s = args.window_s or (4.0 if args.quick else 10.0)
    alone = model_alone(3 if args.quick else 7)
    results = through_embed(CONFIGS, rounds, window_s)
    machine = machine_info()
    section = Section("engines", "5. Engines and precisions: the default model through POST /embed and alone")
    section.text(
        f"Machine: {machine['cpu']} ({machine['simd']}), {machine['cores']} cores; {THREADS} engine threads. "
        f"`/embed`: {CLIENTS} clients, {rounds} rounds of {window_s:g} s windows rotating over the "
        "configurations; median frames/s, and the median (lowest - highest) of each round's ratio to "
        f"{next(iter(CONFIGS))}. Model alone: B=8 x T=16 decoded tracklets, median of calls."
    )
    rows = [[name, fmt(fps)] for name, fps in alone.items()]
    section.table(["engine, model alone", "frames/s"], rows, caption="**model alone, B=8 x T=16**")
    for load, figures in results.items():
        table = []
        for name in figures["frames_per_s"]:
            ratios = figures["ratio_to_first"][name]
            fps = median(figures["frames_per_s"][name])
            share = f"{fps / alone[name]:.2f}" if name in alone and load.startswith("16") else "-"
            spread = f"{median(ratios):.2f} ({min(ratios):.2f} - {max(ratios):.2f})"
            table.append([name, fmt(fps), spread, share])
        section.table(
            ["configuration", "frames/s", "ratio to onnxruntime fp32", "of the model alone"],
            table,
            caption=f"**/embed, {CLIENTS} clients, {load}**",
        )
    section.data = {"rounds": rounds, "window_s": window_s, "machine": machine, "alone": alone, **results}
    section.emit(args.out)


if __name__ == "__main__":
    main()
