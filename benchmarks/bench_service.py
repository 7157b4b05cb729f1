"""The service end to end: POST /embed over HTTP (uvicorn on 127.0.0.1) with real uploads of 16 JPEG
frames, at 1, 8 and 32 concurrent clients, micro-batching on and off, against the offline throughput
of the model on the same tracklets.

    .venv/bin/python -m benchmarks.bench_service [--quick] [--out DIR]

Each configuration is a fresh service process (`benchmarks._bench_server --profile`: the service
itself, with its functions timed per request). The offline figure is the model session alone, as
the service configures it, on the same tracklets decoded and resized beforehand, measured before and
after the HTTP runs in the same run.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchmarks._data import decoded_tracklets, jpeg_tracklets
from benchmarks._http import closed_loop, get_json, multipart, request_bytes, service_process
from benchmarks._report import (
    DEFAULT_MODEL,
    Section,
    base_parser,
    cpu_seconds,
    fmt,
    interleaved,
    median,
)
from devtools.harness import ServiceProcess
from devtools.stats import percentile
from service.build import model_session
from service.core.config import Settings
from service.inference.onnxruntime_engine import INTRA_OP_SPINNING
from service.inference.session import ModelSession

TARGET = 0.80  # of the offline throughput, at 8 clients
DISTINCT_TRACKLETS = 24


class Offline:
    """The model alone (the engine the service's settings choose) on the same tracklets, decoded and resized
    beforehand; called between the HTTP windows so that it sees the same machine they do."""

    def __init__(self, batches: dict[int, np.ndarray]) -> None:
        self.session = model_session(Settings(model_path=DEFAULT_MODEL))
        self.batches = batches
        self.times: dict[int, list[float]] = {b: [] for b in batches}
        for x in batches.values():
            self.session.run(x)  # warm-up: first-call allocation

    def measure(self, calls: int) -> None:
        for b, ts in interleaved(
            {str(b): (lambda x=x: self.session.run(x)) for b, x in self.batches.items()}, calls, 0
        ).items():
            self.times[int(b)] += ts

    def throughput(self) -> dict[int, float]:
        """Tracklets/s at each batch size: batch / median seconds of a call."""
        return {b: b / median(ts) for b, ts in self.times.items()}


def shares(profile: dict[str, Any]) -> dict[str, float]:
    """Mean per-request server milliseconds: parsing, decoding, preprocessing, model, framework."""
    records = profile["records"]
    if not records:
        return {}

    def mean(key: str) -> float:
        return 1000 * float(np.mean([r.get(key, 0.0) for r in records]))

    total, parse, decode, pre, embed = (mean(k) for k in ("total", "parse", "decode", "preprocess", "embed"))
    return {
        "total": total,
        "decode": decode,
        "preprocess": pre,
        "model": embed - pre,  # waiting for the batch and the call itself
        "framework": total - decode - pre - (embed - pre),  # multipart parsing, routing, JSON, threads
        "parse": parse,
    }


@dataclass
class Window:
    """What one configuration accumulated over its measuring windows at one concurrency."""

    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    errors: dict[int, int] = field(default_factory=dict)
    records: list[dict[str, float]] = field(default_factory=list)
    model_seconds: float = 0.0
    model_calls: int = 0
    model_chunks: int = 0
    window_seconds: float = 0.0
    cpu_seconds: float = 0.0

    def add(self, service: ServiceProcess, requests: list[bytes], clients: int, seconds: float) -> None:
        get_json(service.port, "/_bench/profile?reset=1")
        cpu0 = cpu_seconds(service.pid)
        load = asyncio.run(closed_loop(service.port, requests, clients, 0.0, seconds))
        self.cpu_seconds += cpu_seconds(service.pid) - cpu0
        profile = get_json(service.port, "/_bench/profile?reset=1")
        self.latencies += load.latencies
        self.seconds += load.seconds
        for status, n in load.errors.items():
            self.errors[status] = self.errors.get(status, 0) + n
        self.records += profile["records"]
        self.model_seconds += profile["model_seconds"]
        self.model_calls += profile["model_calls"]
        self.model_chunks += profile["model_chunks"]
        self.window_seconds += profile["window_seconds"]

    def summary(self, config: str, clients: int) -> dict[str, Any]:
        return {
            "config": config,
            "clients": clients,
            "tracklets_per_s": len(self.latencies) / self.seconds,
            "p50_ms": 1000 * percentile(self.latencies, 50),
            "p99_ms": 1000 * percentile(self.latencies, 99),
            "requests": len(self.latencies),
            "errors": self.errors,
            "mean_batch": self.model_chunks / max(1, self.model_calls),
            "model_busy": self.model_seconds / max(self.window_seconds, 1e-9),
            "server_cores": self.cpu_seconds / self.seconds,
            "shares_ms": shares({"records": self.records}),
        }


def configurations() -> dict[str, tuple[dict[str, str], tuple[str, ...]]]:
    """The service as configured, without micro-batching, batching with the batcher's filling
    to recent demand turned on (off by default), and with the other ONNX Runtime spinning setting than the one
    `onnxruntime_engine.INTRA_OP_SPINNING` chose."""
    other = "off" if INTRA_OP_SPINNING else "on"
    return {
        "batching on": ({"REID_BATCHING": "true"}, ()),
        "batching off": ({"REID_BATCHING": "false"}, ()),
        "batching on, filling to demand (0.3)": (
            {"REID_BATCHING": "true", "REID_BATCH_FILL_FRACTION": "0.3"},
            (),
        ),
        f"batching on, ORT spinning {other}": ({"REID_BATCHING": "true"}, ("--ort-spinning", other)),
    }


def run_all(
    requests: list[bytes],
    offline: Offline,
    concurrency: tuple[int, ...],
    rounds: int,
    warmup_s: float,
    window_s: float,
) -> list[dict[str, Any]]:
    """Every configuration's service up at once; at each concurrency the configurations take turns
    (rotating order) for `rounds` windows each, and the offline model runs between rounds."""
    configs = configurations()
    services: dict[str, ServiceProcess] = {}
    results = []
    try:
        for name, (env, extra) in configs.items():
            services[name] = service_process(env, profile=True, extra_args=extra).start()
        for clients in concurrency:
            names = list(configs) if clients == 8 else ["batching on", "batching off"]
            for name in names:
                asyncio.run(closed_loop(services[name].port, requests, clients, 0.0, warmup_s))
            windows = {name: Window() for name in names}
            for r in range(rounds):
                for i in range(len(names)):
                    name = names[(r + i) % len(names)]
                    windows[name].add(services[name], requests, clients, window_s)
                offline.measure(2)
            for name in names:
                results.append(windows[name].summary(name, clients))
                print(results[-1], flush=True)
    finally:
        for service in services.values():
            service.stop()
    return results


def main(argv: list[str] | None = None) -> None:
    args = base_parser(__doc__.splitlines()[0]).parse_args(argv)
    concurrency = (1, 8) if args.quick else (1, 8, 32)
    warmup_s, window_s, rounds = (1.0, 2.0, 2) if args.quick else (3.0, 5.0, 4)
    repeats = 2 if args.quick else 4

    tracklets = jpeg_tracklets(DISTINCT_TRACKLETS)
    bodies = [multipart(frames) for frames in tracklets]
    requests = [request_bytes("POST", "/embed", body, content_type) for body, content_type in bodies]
    probe = ModelSession(DEFAULT_MODEL, providers=["CPUExecutionProvider"])
    meta = probe.metadata
    del probe
    decoded = decoded_tracklets(16, meta.height, meta.width)
    batches = {b: np.ascontiguousarray(decoded[:b]) for b in (1, 8, 16)}

    offline = Offline(batches)
    offline.measure(repeats)
    started = time.perf_counter()
    results = run_all(requests, offline, concurrency, rounds, warmup_s, window_s)
    http = Http(results, time.perf_counter() - started, rounds, warmup_s, window_s, bodies)
    section = report(offline, http)
    section.emit(args.out)


@dataclass
class Http:
    """The closed-loop HTTP runs and how they were made."""

    results: list[dict[str, Any]]
    seconds: float
    rounds: int
    warmup_s: float
    window_s: float
    bodies: list[tuple[bytes, str]]


def report(offline: Offline, http: Http) -> Section:
    """Section 2: the offline model throughput, then each HTTP configuration against its best."""
    results, bodies, http_seconds = http.results, http.bodies, http.seconds
    rounds, warmup_s, window_s = http.rounds, http.warmup_s, http.window_s
    batches = offline.batches
    decoded = batches[max(batches)]
    throughput = offline.throughput()
    best_batch, best = max(throughput.items(), key=lambda kv: kv[1])
    section = Section("service", "2. The service: POST /embed over HTTP")
    section.data.update(
        offline=throughput, offline_calls={b: len(t) for b, t in offline.times.items()}, runs=results
    )
    upload_kib = np.mean([len(body) for body, _ in bodies]) / 1024
    section.table(
        ["batch", "tracklets/s", "ms per call (median)", "calls"],
        [
            [b, fmt(throughput[b], 2), fmt(1000 * median(offline.times[b]), 0), len(offline.times[b])]
            for b in batches
        ],
        caption=(
            f"Offline: the model session alone (`ModelSession`, the service's options) on the same "
            f"{len(decoded)} CUHK03 tracklets of 16 frames decoded and resized beforehand, called between "
            "the HTTP windows below."
        ),
    )
    rows = []
    for r in results:
        s = r["shares_ms"]
        total = s.get("total", float("nan"))

        def part(key: str, s: dict[str, float] = s, total: float = total) -> str:
            return f"{s[key]:.1f} ({s[key] / total:.0%})" if s else "-"

        rows.append(
            [
                r["config"],
                r["clients"],
                fmt(r["tracklets_per_s"], 2),
                f"{r['tracklets_per_s'] / best:.0%}",
                fmt(r["p50_ms"], 0),
                fmt(r["p99_ms"], 0),
                fmt(r["mean_batch"], 2),
                f"{r['model_busy']:.0%}",
                fmt(r["server_cores"], 2),
                part("decode"),
                part("preprocess"),
                part("model"),
                part("framework"),
                f"{s.get('parse', float('nan')):.1f}",
                sum(r["errors"].values()) or "",
            ]
        )
    section.table(
        [
            "service",
            "clients",
            "tracklets/s",
            "of offline best",
            "p50 ms",
            "p99 ms",
            "mean batch",
            "model busy",
            "server CPU cores",
            "decode ms (share)",
            "preprocess ms",
            "model ms (queue + call)",
            "framework ms",
            "of which multipart parsing ms",
            "errors",
        ],
        rows,
        caption=(
            f"Closed loop: each client sends its next request when the previous one answered; "
            f"{warmup_s:.0f} s warm-up, then {rounds} windows of {window_s:.0f} s per row, the rows of one "
            f"concurrency taking turns (each configuration is its own service process, all started at "
            f"once); uploads of 16 real JPEG frames "
            f"({upload_kib:.0f} KiB a request, {DISTINCT_TRACKLETS} different tracklets in turn). "
            "Per-request "
            "server time split by timing the service's own functions: decode = `decode_upload`, "
            "preprocess = "
            "`resize_frames`, model = waiting for the micro-batch and its call, framework = the "
            "rest (multipart "
            f"parsing, routing, validation, JSON, thread hand-offs). Offline best = batch {best_batch}: "
            f"{best:.2f} tracklets/s. HTTP runs took {http_seconds:.0f} s."
        ),
    )
    at8 = next((r for r in results if r["config"] == "batching on" and r["clients"] == 8), None)
    if at8 is not None:
        ratio = at8["tracklets_per_s"] / best
        section.data["ratio_8_clients"] = ratio
        section.data["ratio_8_clients_vs_batch8"] = at8["tracklets_per_s"] / throughput[8]
        verdict = "met" if ratio >= TARGET else "missed"
        section.text(
            f"**Target ({TARGET:.0%} of offline at 8 clients): {verdict}** — {at8['tracklets_per_s']:.2f} "
            f"tracklets/s at 8 clients with micro-batching = {ratio:.0%} of the model's best offline "
            f"throughput (batch {best_batch}), {at8['tracklets_per_s'] / throughput[8]:.0%} of "
            "offline at batch 8."
        )
    return section


if __name__ == "__main__":
    main()
