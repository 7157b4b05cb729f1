#!/usr/bin/env python3
"""A bounded load test of the service on this machine: concurrent clients mixing embed, match and
enroll for a fixed time; latency percentiles per endpoint, errors, and the service's memory every 10 s.

    .venv/bin/python scripts/load.py                       # spawn the service on the shipped model, 120 s
    .venv/bin/python scripts/load.py --duration 180 --clients 32 --json runs/load.json
    .venv/bin/python scripts/load.py --url http://127.0.0.1:8000 --pid 1234 --api-key KEY

By default it starts `python -m service` itself (the shipped model, Redis at --redis-url in a namespace
of its own that is deleted afterwards, rate limits off: every client comes from 127.0.0.1 and the
limit is per address by design) and stops it at the end. It only ever talks to 127.0.0.1.

Each client loops: 45% `POST /embed` of a tracklet, 35% `POST /match` of a tracklet against the
gallery, 20% `POST /gallery` enrolling a tracklet (mode add or replace) under one of --ids ids, so the
gallery grows to --ids entries and then stays: after the warm-up the memory should stay flat.
Tracklets are synthetic person crops (JPEG), made once at start.

Exit status: 0 when no request failed (and the memory grew less than --max-rss-growth-mb after the
warm-up, when the service's pid is known), 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import secrets
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script from anywhere: the dev harness is in the repository

from devtools.harness import ServiceProcess, drop_namespace, rss_mb  # noqa: E402
from devtools.stats import percentile  # noqa: E402
from devtools.synthetic import frames_files, person_frames  # noqa: E402
from service.core.config import DEFAULT_MODEL  # noqa: E402

LOCAL_HOSTS = {"127.0.0.1", "localhost"}
MIX = (("embed", 0.45), ("match", 0.35), ("enroll", 0.20))


# ------------------------------------------------------------------------------------------ the service


def redis_reachable(url: str, parser: argparse.ArgumentParser) -> None:
    import redis  # the service's own dependency

    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.exceptions.RedisError as exc:
        parser.error(f"no Redis answers at {url} ({exc}); start one, or pass --redis-url '' for memory")
    finally:
        client.close()


@dataclass
class Spawned:
    service: ServiceProcess
    api_key: str
    namespace: str | None


def spawn(args: argparse.Namespace) -> Spawned:
    api_key = secrets.token_urlsafe(24)
    namespace = f"load-{uuid.uuid4().hex[:12]}" if args.redis_url else None
    settings: dict[str, object] = {
        "model_path": Path(args.model).resolve(),
        "api_key": api_key,
        "rate_limit_per_minute": 0,
    }
    if args.intra_op_threads is not None:
        settings["intra_op_threads"] = args.intra_op_threads
    if args.redis_url:
        settings.update(redis_url=args.redis_url, redis_namespace=namespace or "load")
    # a directory without a .env file: the settings are these
    service = ServiceProcess(settings, workdir=Path(tempfile.mkdtemp(prefix="reid-load-")))
    try:
        service.start(timeout_s=120)
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from None
    return Spawned(service, api_key, namespace)


def stop(spawned: Spawned, redis_url: str | None) -> None:
    spawned.service.stop(timeout_s=30)
    if redis_url and spawned.namespace:
        drop_namespace(redis_url, spawned.namespace)


# ------------------------------------------------------------------------------------------- the load


@dataclass
class Stats:
    latency: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)
    error_examples: dict[str, str] = field(default_factory=dict)
    rss: list[tuple[float, float]] = field(default_factory=list)  # (elapsed s, MiB)

    @property
    def done(self) -> int:
        return sum(len(v) for v in self.latency.values())


async def client_loop(
    n: int,
    url: str,
    api_key: str | None,
    tracklets: list[list[bytes]],
    ids: int,
    stop_at: float,
    stats: Stats,
) -> None:
    rng = random.Random(n)
    ops, weights = zip(*MIX, strict=True)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    async with httpx.AsyncClient(base_url=url, timeout=120, headers=headers) as client:
        while time.monotonic() < stop_at:
            op = rng.choices(ops, weights)[0]
            person = rng.randrange(len(tracklets))
            files = frames_files(tracklets[person])
            if op == "embed":
                call = client.post("/embed", files=files)
            elif op == "match":
                call = client.post("/match", files=files, data={"top_k": "5", "exclude_camera": "A"})
            else:
                data = {
                    "id": f"person-{person % ids:05d}",
                    "camera": rng.choice("AB"),
                    "mode": rng.choice(["add", "replace"]),
                }
                call = client.post("/gallery", files=files, data=data)
            started = time.perf_counter()
            try:
                response = await call
                ok = response.status_code in (200, 201)
                what = f"{op} {response.status_code}"
                detail = response.text[:300]
            except httpx.HTTPError as exc:
                ok, what, detail = False, f"{op} {type(exc).__name__}", str(exc)[:300]
            elapsed = time.perf_counter() - started
            stats.latency[op].append(elapsed)
            if not ok:
                stats.errors[what] += 1
                stats.error_examples.setdefault(what, detail)


async def monitor(pid: int | None, started: float, stop_at: float, every: float, stats: Stats) -> None:
    last_done, last_t = 0, started
    while True:
        await asyncio.sleep(max(0.0, min(every, stop_at - time.monotonic() + 0.05)))
        now = time.monotonic()
        rss = rss_mb(pid) if pid else None
        if rss is not None:
            stats.rss.append((now - started, rss))
        done = stats.done
        rate = (done - last_done) / max(now - last_t, 1e-9)
        last_done, last_t = done, now
        print(
            f"[{now - started:6.1f} s] {done:6d} requests, {rate:6.1f}/s, "
            f"errors {sum(stats.errors.values())}, RSS {'?' if rss is None else f'{rss:.1f} MiB'}",
            flush=True,
        )
        if now >= stop_at:
            return


async def run_load(args: argparse.Namespace, url: str, api_key: str | None, pid: int | None) -> Stats:
    tracklets = [person_frames(seed, args.frames) for seed in range(args.tracklets)]
    stats = Stats()
    started = time.monotonic()
    stop_at = started + args.duration
    clients = [client_loop(n, url, api_key, tracklets, args.ids, stop_at, stats) for n in range(args.clients)]
    await asyncio.gather(monitor(pid, started, stop_at, args.report_every, stats), *clients)
    return stats


def report(args: argparse.Namespace, stats: Stats, wall: float) -> dict:
    rows = {}
    print(f"\n{args.clients} clients, {wall:.0f} s, {stats.done} requests ({stats.done / wall:.1f}/s)")
    columns = ("count", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms")
    print(
        f"{'endpoint':8} {columns[0]:>7} {columns[1]:>7} "
        + " ".join(f"{c:>8}" for c in columns[2:])
        + " errors"
    )
    for op, _ in MIX:
        values = stats.latency.get(op, [])
        errors = sum(c for what, c in stats.errors.items() if what.startswith(op + " "))
        row = {
            "count": len(values),
            "per_s": len(values) / wall,
            "p50_ms": 1000 * percentile(values, 50),
            "p90_ms": 1000 * percentile(values, 90),
            "p99_ms": 1000 * percentile(values, 99),
            "max_ms": 1000 * max(values, default=float("nan")),
            "errors": errors,
        }
        rows[op] = row
        print(
            f"{op:8} {row['count']:7d} {row['per_s']:7.1f} {row['p50_ms']:8.0f} {row['p90_ms']:8.0f} "
            f"{row['p99_ms']:8.0f} {row['max_ms']:8.0f} {errors:6d}"
        )
    for what, count in stats.errors.most_common():
        print(f"error {what}: {count}, e.g. {stats.error_examples[what]}")
    memory: dict[str, float] = {}
    after = [mb for t, mb in stats.rss if t >= args.warmup]
    if after:
        memory = {
            "after_warmup_mib": after[0],
            "end_mib": after[-1],
            "max_mib": max(after),
            "growth_after_warmup_mib": max(after) - after[0],
        }
        print(
            f"RSS after the {args.warmup:.0f} s warm-up: {after[0]:.1f} MiB, at the end {after[-1]:.1f} MiB, "
            f"max {max(after):.1f} MiB (+{memory['growth_after_warmup_mib']:.1f} MiB)"
        )
    return {
        "clients": args.clients,
        "duration_s": wall,
        "requests": stats.done,
        "endpoints": rows,
        "errors": dict(stats.errors),
        "rss_mib": [[round(t, 1), round(mb, 1)] for t, mb in stats.rss],
        "memory": memory,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help="an already running service (127.0.0.1 only); default: spawn one")
    parser.add_argument("--pid", type=int, help="its process id, to report its memory (with --url)")
    parser.add_argument("--api-key", help="the key for enrolments (with --url)")
    parser.add_argument("--model", default=str(DEFAULT_MODEL), help="model of the spawned service")
    parser.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/0",
        help="Redis of the spawned service ('' for the in-process gallery)",
    )
    parser.add_argument("--intra-op-threads", type=int, help="REID_INTRA_OP_THREADS of the spawned service")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of load (at most 3600)")
    parser.add_argument("--warmup", type=float, default=30.0, help="seconds before memory is judged")
    parser.add_argument("--report-every", type=float, default=10.0)
    parser.add_argument("--frames", type=int, default=8, help="frames per tracklet")
    parser.add_argument("--tracklets", type=int, default=64, help="distinct synthetic tracklets")
    parser.add_argument("--ids", type=int, default=48, help="distinct gallery ids enrolled")
    parser.add_argument("--max-rss-growth-mb", type=float, default=64.0, help="after the warm-up")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    if not 0 < args.duration <= 3600 or not 1 <= args.clients <= 256:
        parser.error("--duration must be in (0, 3600] and --clients in [1, 256]")

    spawned: Spawned | None = None
    if args.url:
        host = urlsplit(args.url).hostname
        if host not in LOCAL_HOSTS:
            parser.error(f"--url must point to 127.0.0.1 (or localhost), not {host!r}")
        url, api_key, pid = args.url.rstrip("/"), args.api_key, args.pid
    else:
        if args.redis_url:
            redis_reachable(args.redis_url, parser)
        spawned = spawn(args)
        url, api_key, pid = spawned.service.url, spawned.api_key, spawned.service.pid
        log = spawned.service.log
        print(f"spawned the service (pid {pid}) at {url}, model {args.model}, log {log}", flush=True)
    try:
        started = time.monotonic()
        stats = asyncio.run(run_load(args, url, api_key, pid))
        results = report(args, stats, time.monotonic() - started)
    finally:
        if spawned is not None:
            stop(spawned, args.redis_url or None)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    failed = sum(stats.errors.values()) > 0
    growth = results["memory"].get("growth_after_warmup_mib")
    if growth is not None and growth > args.max_rss_growth_mb:
        print(f"FAIL: memory grew {growth:.1f} MiB after the warm-up (limit {args.max_rss_growth_mb} MiB)")
        failed = True
    print("FAIL" if failed else "OK: no errors")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
