"""Services measured in rotating windows: the ratio of their throughput without the drift between
sequential runs on a shared machine (a burst of load from elsewhere falls on all of them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchmarks._data import jpeg_tracklets
from benchmarks._http import multipart, request_bytes
from devtools.harness import ServiceProcess

# one window: (service, frames a request, the requests' bytes, seconds) -> frames/s
Window = Callable[[ServiceProcess, int, list[bytes], float], float]


def embed_workloads(distinct: int) -> dict[str, tuple[int, list[bytes]]]:
    """Name -> (frames per request, the requests' bytes): one-crop requests and 16-frame tracklets of
    real CUHK03 `val` crops."""
    out: dict[str, tuple[int, list[bytes]]] = {}
    for frames in (1, 16):
        requests = [request_bytes("POST", "/embed", *multipart(t)) for t in jpeg_tracklets(distinct, frames)]
        out[f"{frames} frame{'s' if frames > 1 else ''} a request"] = (frames, requests)
    return out


def rotate(
    services: dict[str, ServiceProcess], window: Window, rounds: int, window_s: float, distinct: int = 24
) -> dict[str, Any]:
    """Per workload: each service's frames/s per round, and each round's ratio to the first service.
    Round r starts at service r (A B C, B C A, ...), after one warm-up window each."""
    names = list(services)
    results: dict[str, Any] = {}
    for load, (frames, requests) in embed_workloads(distinct).items():
        for service in services.values():  # warm-up: first calls allocate
            window(service, frames, requests, 1.0)
        fps: dict[str, list[float]] = {n: [] for n in names}
        for r in range(rounds):
            for i in range(len(names)):
                name = names[(r + i) % len(names)]
                fps[name].append(window(services[name], frames, requests, window_s))
        ratios = {n: [a / b for a, b in zip(fps[n], fps[names[0]], strict=True)] for n in names}
        results[load] = {"frames_per_s": fps, "ratio_to_first": ratios}
    return results
