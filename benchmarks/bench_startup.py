"""Start-up: time until `python -m service` is alive and ready, and its memory, at rest and under load.

    .venv/bin/python -m benchmarks.bench_startup [--quick] [--out DIR]

The real entry point (`python -m service`, settings from REID_* variables) on 127.0.0.1, started
afresh each repeat: seconds from the process's launch until /readyz answers 200 (the app imported,
the model loaded, checked against its metadata and warmed at T = 1 and T = 16, the gallery
reachable; uvicorn only listens once the lifespan start-up is done), and, in a separate fresh
interpreter, how much of it is importing the application. Memory from /proc: RSS when ready,
and the peak RSS (VmHWM) after 8 clients sent /embed for a few seconds.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from typing import Any

from benchmarks._data import jpeg_tracklets
from benchmarks._http import closed_loop, multipart, request_bytes, service_process
from benchmarks._report import REPO, Section, base_parser, fmt, median, proc_status

REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_up() -> bool:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        return bool(client.ping())
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
        return False
    finally:
        client.close()


def import_seconds() -> float:
    """Seconds to import the application (FastAPI, ONNX Runtime, OpenCV, ...) in a fresh interpreter."""
    code = "import time; t = time.perf_counter(); import service.main; print(time.perf_counter() - t)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def one_start(env: dict[str, str], requests: list[bytes], load_s: float) -> dict[str, Any]:
    with service_process(env, module="service") as service:
        at_ready = proc_status(service.pid)
        asyncio.run(closed_loop(service.port, requests, 8, 0.0, load_s))
        after_load = proc_status(service.pid)
        return {
            "import_s": import_seconds(),
            "ready_s": service.ready_seconds,
            "rss_ready": at_ready.get("VmRSS", 0),
            "peak_ready": at_ready.get("VmHWM", 0),
            "peak_after_load": after_load.get("VmHWM", 0),
            "rss_after_load": after_load.get("VmRSS", 0),
        }


def main(argv: list[str] | None = None) -> None:
    args = base_parser(__doc__.splitlines()[0]).parse_args(argv)
    repeats = 1 if args.quick else 3
    load_s = 3.0 if args.quick else 8.0
    requests = [request_bytes("POST", "/embed", *multipart(frames)) for frames in jpeg_tracklets(8)]
    configs = {"in-process gallery": {"REID_LOG_LEVEL": "warning"}}
    if redis_up():
        configs["Redis gallery (empty namespace)"] = {
            "REID_LOG_LEVEL": "warning",
            "REID_REDIS_URL": REDIS_URL,
            "REID_REDIS_NAMESPACE": "bench-startup",
        }
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in configs}
    for _ in range(repeats):  # configurations alternate, so that a busy moment hits both
        for name, env in configs.items():
            runs[name].append(one_start(env, requests, load_s))
            print(name, runs[name][-1], flush=True)
    section = Section("startup", "4. Start-up: time to ready and memory")
    section.data["runs"] = runs
    mib = 1024**2
    rows = []
    for name, results in runs.items():

        def med(key: str, results: list[dict[str, Any]] = results) -> float:
            return median([r[key] for r in results])

        rows.append(
            [
                name,
                f"**{fmt(med('ready_s'), 2)}**",
                fmt(med("import_s"), 2),
                fmt(med("rss_ready") / mib, 0),
                fmt(med("peak_ready") / mib, 0),
                f"**{fmt(med('peak_after_load') / mib, 0)}**",
            ]
        )
    section.table(
        [
            "gallery",
            "ready s (/readyz 200)",
            "of which importing the app s",
            "RSS at ready MiB",
            "peak RSS at ready MiB",
            "peak RSS after 8 clients of /embed MiB",
        ],
        rows,
        caption=(
            f"`python -m service` with the shipped model on CPU, medians of {repeats} fresh start(s); "
            f"the load is {load_s:.0f} s of 8 closed-loop clients uploading 16 CUHK03 frames each."
        ),
    )
    section.emit(args.out)


if __name__ == "__main__":
    main()
