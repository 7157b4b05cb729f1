"""Redis's share of the capacity model in docs/scaling.md: write rate, memory per entry, replica load.

    .venv/bin/python deploy/measure_redis.py [--url redis://127.0.0.1:6379/0] [--entries 20000]

Against one Redis on this machine (127.0.0.1 only), in a throwaway namespace deleted afterwards,
bounded in time (each timed phase stops after `--seconds`) and size (`--entries`):

1. the enrolment path of `POST /gallery` one request at a time and with 8 at once: `RedisStore.add`
   (the Lua script, reply included), `put_thumbnail` (a 5 KB strip) and `count` (the replica's
   catch-up from the change stream), as the route does them;
2. bulk enrolment, `RedisStore.enroll_many` (1000 scripts per pipelined round trip);
3. Redis's memory per entry (`used_memory` growth / entries), vectors alone and with thumbnails;
4. a fresh replica's full load (`count` on a new `RedisStore`);
5. deletions one at a time (the script, plus WAITAOF where the server has it and AOF is on).

Prints one JSON object. Nothing here is asserted by a test; docs/scaling.md quotes one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import time
import uuid
from typing import Any
from urllib.parse import urlparse

import numpy as np
import redis.asyncio as aioredis

from service.gallery.base import Entry
from service.gallery.redis_store import RedisStore

MODEL = "capacity@0.0.0+00000000"
DIM = 512
THUMBNAIL = os.urandom(5 * 1024)  # the ~5 KB JPEG strip of service/media/thumbnail.py


def unit_vectors(n: int, seed: int) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((n, DIM), dtype=np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def used_memory(client: aioredis.Redis) -> int:
    return int((await client.info("memory"))["used_memory"])


async def enrol_route(url: str, namespace: str, clients: int, seconds: float, start_id: int) -> dict:
    """Each of `clients` tasks enrols one entry after another, as POST /gallery does."""
    store = RedisStore(url, namespace)
    vectors = unit_vectors(4096, clients)
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    counter = iter(range(start_id, start_id + 10**9))

    async def client() -> None:
        while time.perf_counter() < deadline:
            i = next(counter)
            entry = Entry(f"r{i:08d}", MODEL, vectors[i % len(vectors)], camera="AB"[i % 2], label="x")
            begin = time.perf_counter()
            stored = await store.add(entry)
            await store.put_thumbnail(MODEL, stored.id, THUMBNAIL, stored.expires_at)
            await store.count(MODEL)
            latencies.append(time.perf_counter() - begin)

    begin = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - begin
    await store.close()
    return {
        "clients": clients,
        "enrolments": len(latencies),
        "per_s": len(latencies) / elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * percentile(latencies, 99),
    }


async def run(url: str, entries: int, seconds: float) -> dict[str, Any]:
    host = urlparse(url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"this script only measures a Redis on this machine, not {host}")
    client = aioredis.Redis.from_url(url)
    info = await client.info("server")
    persistence = await client.info("persistence")
    namespace = f"capacity-{uuid.uuid4().hex[:12]}"
    result: dict[str, Any] = {
        "redis": info["redis_version"],
        "aof": bool(persistence.get("aof_enabled")),
        "appendfsync": (await client.config_get("appendfsync")).get("appendfsync"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "load_average": os.getloadavg(),
        "entries": entries,
        "dim": DIM,
    }
    try:
        # 1. the route's enrolment path
        result["route"] = [
            await enrol_route(url, namespace, 1, seconds, 0),
            await enrol_route(url, namespace, 8, seconds, 10**7),
        ]
        await clear(client, namespace)

        # 2 + 3. bulk enrolment and memory, vectors only
        store = RedisStore(url, namespace)
        vectors = unit_vectors(entries, 11)
        batch = [
            Entry(f"p{i:08d}", MODEL, vectors[i], camera="AB"[i % 2], label="visitor", timestamp=1.7e9 + i)
            for i in range(entries)
        ]
        before = await used_memory(client)
        begin = time.perf_counter()
        await store.enroll_many(batch)
        bulk_s = time.perf_counter() - begin
        after = await used_memory(client)
        result["bulk_per_s"] = entries / bulk_s
        result["redis_bytes_per_entry"] = (after - before) / entries
        for start in range(0, entries, 1000):
            async with client.pipeline(transaction=False) as pipe:
                for i in range(start, min(entries, start + 1000)):
                    pipe.set(f"{namespace}:{MODEL}:thumb:p{i:08d}", THUMBNAIL)
                await pipe.execute()
        result["redis_bytes_per_entry_with_thumbnail"] = (await used_memory(client) - before) / entries
        await store.close()

        # 4. a fresh replica's full load
        reader = RedisStore(url, namespace)
        begin = time.perf_counter()
        loaded = await reader.count(MODEL)
        result["replica_load_per_s"] = loaded / (time.perf_counter() - begin)
        assert loaded == entries, (loaded, entries)

        # 5. deletions, one request at a time
        latencies = []
        deadline = time.perf_counter() + seconds
        for i in range(entries):
            if time.perf_counter() > deadline:
                break
            begin = time.perf_counter()
            await reader.delete(MODEL, f"p{i:08d}")
            latencies.append(time.perf_counter() - begin)
        result["delete"] = {
            "deletions": len(latencies),
            "per_s": len(latencies) / sum(latencies),
            "p50_ms": 1000 * statistics.median(latencies),
            "p99_ms": 1000 * percentile(latencies, 99),
            "waitaof": reader._waitaof,
        }
        await reader.close()
    finally:
        result["keys_deleted"] = await clear(client, namespace)
        await client.aclose()
    return result


async def clear(client: aioredis.Redis, namespace: str) -> int:
    deleted = 0
    keys = [key async for key in client.scan_iter(match=f"{namespace}:*", count=1000)]
    for start in range(0, len(keys), 1000):
        deleted += await client.delete(*keys[start : start + 1000])
    return deleted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--entries", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each timed phase")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.url, args.entries, args.seconds)), indent=2))


if __name__ == "__main__":
    main()
