"""Resident memory of one service process under concurrent `POST /tracks` (action embed), and after.

    .venv/bin/python -m benchmarks.bench_tracks_memory [--clients 4 8 12] [--quick] [--out DIR]

A surveillance-like clip (768x576, 795 frames at 25 fps, 19 people crossing, OpenCV's mp4v, the
synthetic scene of bench_tracks) and its exact MOTChallenge boxes, sent by N clients at once, each
sending it again as soon as it is answered, for a window; the service's resident set is sampled every
100 ms from /proc. Reported per N: idle RSS before, the peak under load, RSS 20 s after the last
answer, and the answers by status (a 503 must carry Retry-After). The service runs with the CPU pod's
settings (2 engine threads, the default engine) and, unless told otherwise, no memory budget of its own
beyond its defaults.
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from benchmarks._report import DEFAULT_MODEL, Section, base_parser, fmt, machine_info
from benchmarks.bench_tracks import make_clip
from devtools.harness import ServiceProcess

GIB = 1024**3


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class Sampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.running = pid, 0, True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, rss_bytes(self.pid))
            time.sleep(0.1)


async def load(url: str, video: bytes, mot: str, clients: int, seconds: float) -> Counter[str]:
    answers: Counter[str] = Counter()
    stop = time.monotonic() + seconds
    files = {"video": ("clip.mp4", video, "video/mp4"), "tracks": ("clip.txt", mot.encode(), "text/plain")}

    async def client() -> None:
        async with httpx.AsyncClient(timeout=600) as http:
            while time.monotonic() < stop:
                response = await http.post(
                    f"{url}/tracks", files=files, data={"camera": "c", "action": "embed"}
                )
                retry = (
                    ""
                    if response.status_code != 503 or "retry-after" in response.headers
                    else " NO Retry-After"
                )
                answers[f"{response.status_code}{retry}"] += 1

    await asyncio.gather(*(client() for _ in range(clients)))
    return answers


def measure(clients: int, video: bytes, mot: str, seconds: float, env: dict[str, str]) -> dict[str, Any]:
    service = ServiceProcess(
        inherit_settings=True,
        env={
            "REID_MODEL_PATH": str(DEFAULT_MODEL),
            "REID_INTRA_OP_THREADS": "2",
            "REID_REDIS_URL": "",
            "REID_RATE_LIMIT_PER_MINUTE": "0",
            **env,
        },
    ).start()
    try:
        idle = rss_bytes(service.pid)
        sampler = Sampler(service.pid)
        sampler.start()
        answers = asyncio.run(load(service.url, video, mot, clients, seconds))
        sampler.running = False
        sampler.join()
        time.sleep(20)
        after = rss_bytes(service.pid)
        return {
            "clients": clients,
            "idle": idle,
            "peak": sampler.peak,
            "after_20s": after,
            "answers": dict(answers),
        }
    finally:
        service.stop()


def main(argv: list[str] | None = None) -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[4, 8, 12])
    parser.add_argument("--seconds", type=float, default=None, help="the load window (default 60, quick 20)")
    parser.add_argument("--env", nargs="*", default=[], help="REID_X=value settings for the service")
    parser.add_argument(
        "--pod-limit-gib",
        type=float,
        default=4.0,
        help="the memory limit the service derives its budget from",
    )
    args = parser.parse_args(argv)
    seconds = args.seconds or (20.0 if args.quick else 60.0)
    env = {
        "REID_MEMORY_LIMIT_BYTES": str(int(args.pod_limit_gib * GIB)),
        **dict(i.split("=", 1) for i in args.env),
    }
    with tempfile.TemporaryDirectory() as folder:
        video, mot = make_clip(Path(folder), 795, 19, 768, 576)
    rows = [measure(n, video, mot, seconds, env) for n in args.clients]
    machine = machine_info()
    section = Section("tracks_memory", "7. Memory under concurrent POST /tracks")
    section.text(
        f"Machine: {machine['cpu']}, {machine['cores']} cores. A 768x576, 795-frame clip with 19 tracks "
        f"({len(video) / 1e6:.1f} MB), action embed, N clients for {seconds:g} s; service settings "
        f"{env or 'as shipped'}, 2 engine threads."
    )
    section.table(
        ["clients", "idle GiB", "peak GiB", "20 s after GiB", "answers"],
        [
            [
                str(r["clients"]),
                fmt(r["idle"] / GIB, 2),
                fmt(r["peak"] / GIB, 2),
                fmt(r["after_20s"] / GIB, 2),
                ", ".join(f"{k}: {v}" for k, v in sorted(r["answers"].items())),
            ]
            for r in rows
        ],
    )
    section.data = {"rows": rows, "env": env, "seconds": seconds, "machine": machine}
    section.emit(args.out)


if __name__ == "__main__":
    main()
