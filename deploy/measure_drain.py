"""SIGTERM while /embed requests are queued: is every one answered before the process exits?

    .venv/bin/python deploy/measure_drain.py [--requests 12] [--frames 64] [--port 8765]

What the Kubernetes Deployment's shutdown relies on (deploy/k8s/base/reid-deployment.yaml): starts
`python -m service` (CPU, in-process gallery, rate limits off) on 127.0.0.1, sends `--requests`
concurrent uploads of `--frames` random JPEG frames (frames / 16 model chunks each), sends SIGTERM
one second later, and prints each request's status, when the last answer came and when the process
exited after the signal, and whether a new connection was still accepted. docs/scaling.md (section 6)
quotes one run. Nothing here is asserted by a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]


def jpegs(count: int, seed: int) -> list[bytes]:
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 255, (count, 128, 64, 3), dtype=np.uint8)
    return [cv2.imencode(".jpg", frame)[1].tobytes() for frame in frames]


async def run(requests: int, frames: int, port: int) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REID_")}
    env |= {"REID_PORT": str(port), "REID_RATE_LIMIT_PER_MINUTE": "0"}
    process = subprocess.Popen(
        [sys.executable, "-m", "service"],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(timeout=120) as client:
            for _ in range(600):
                try:
                    if (await client.get(base + "/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
            else:
                raise SystemExit("the service did not get ready")
            uploads = [
                [("frames", (f"{i}.jpg", data, "image/jpeg")) for i, data in enumerate(jpegs(frames, seed))]
                for seed in range(requests)
            ]

            async def embed(files: list) -> int | str:
                try:
                    return (await client.post(base + "/embed", files=files)).status_code
                except httpx.HTTPError as exc:
                    return type(exc).__name__

            tasks = [asyncio.create_task(embed(files)) for files in uploads]
            await asyncio.sleep(1.0)
            signalled = time.perf_counter()
            process.send_signal(signal.SIGTERM)
            statuses = await asyncio.gather(*tasks)
            last_answer = time.perf_counter() - signalled
            try:
                late: int | str = (await client.get(base + "/healthz")).status_code
            except httpx.HTTPError as exc:
                late = type(exc).__name__
        code = await asyncio.to_thread(process.wait, 120)
        exited = time.perf_counter() - signalled
    finally:
        if process.poll() is None:
            process.kill()
    return {
        "requests": requests,
        "chunks_per_request": -(-frames // 16),
        "statuses": statuses,
        "last_answer_after_sigterm_s": round(last_answer, 2),
        "exit_after_sigterm_s": round(exited, 2),
        "exit_code": code,
        "new_connection_after_sigterm": late,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=12)
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.requests, args.frames, args.port)), indent=2))


if __name__ == "__main__":
    main()
