"""The gallery in Milvus at N entries: load rate, index build, recall@10 against exact, and the
/match-like search's p50/p99 (MilvusStore.search: filter expression, top k, entities back),
unfiltered and with the re-id filters, at Bounded and at Strong consistency; beside the exact
in-process matrix on the same vectors and machine.

    scripts/milvus_server.sh install
    .venv/bin/python -m benchmarks.bench_milvus --size 100000 --start-server   # ~10 min on 2 cores
    .venv/bin/python -m benchmarks.bench_milvus --size 1000000 --uri http://127.0.0.1:19530
    # keep a 1M gallery under the shipped model's id, for a replica to start on (a rerun reuses it)
    .venv/bin/python -m benchmarks.bench_milvus --size 1000000 --dim 256 --uri http://127.0.0.1:19530 \
        --prefix scale --model-id osnet-ain-multisite@2.1.0+7b6bee1b --keep
    # two stores' reads right after each other's writes, per consistency level (needs Redis)
    .venv/bin/python -m benchmarks.bench_milvus --uri http://127.0.0.1:19530 --consistency 40

The vectors are docs/benchmarks.md's `clustered` ones (re-id-like: 10 views per identity, queries
fresh views of enrolled identities); 20 cameras at random, an identity's views within an hour of one
day of a month, the time-window filter the day either side of the query's identity.
Prints one JSON object; --out DIR also writes milvus.json there.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.bench_search import clustered_vectors
from service.gallery.base import Entry, SearchFilters
from service.gallery.matrix import GalleryMatrix
from service.gallery.milvus_store import MilvusStore

REPO = Path(__file__).resolve().parents[1]
MODEL = "bench@1"
CAMERAS = 20


def make_data(n: int, dim: int, queries: int, seed: int = 5) -> dict[str, Any]:
    """docs/benchmarks.md's `clustered` vectors (10 noisy views per identity; queries are fresh views
    of enrolled identities, so the exact top 10 are their true neighbours), with a camera per view
    and the views of one identity seen within an hour of a day of the month; a query's time window
    is the day either side of its identity's."""
    rng = np.random.default_rng(seed)
    per_id = 10
    vectors = clustered_vectors(n, dim, per_id=per_id)
    identities = max(1, n // per_id)
    identity = np.arange(n) // per_id % identities
    seen = rng.uniform(0, 30 * 86400, identities)
    rows = rng.choice(n, queries, replace=False)
    probes = vectors[rows] + 0.3 * rng.standard_normal((queries, dim), dtype=np.float32) / np.sqrt(dim)
    return {
        "vectors": vectors,
        "camera": rng.integers(0, CAMERAS, n),
        "timestamp": seen[identity] + rng.uniform(0, 3600, n),
        "queries": (probes / np.linalg.norm(probes, axis=1, keepdims=True)).astype(np.float32),
        "query_camera": rng.integers(0, CAMERAS, queries),
        "query_seen": seen[identity[rows]],
    }


def exact_top(matrix: GalleryMatrix, query: np.ndarray, k: int, filters: SearchFilters | None) -> list[str]:
    return [m.entry.id for m in matrix.search_exact(query, k, filters)]


def percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.array(seconds) * 1000
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
    }


def start_server(port: int, data: Path, tick_ms: int | None) -> subprocess.Popen[bytes]:
    log = (data.parent / "server.log").open("ab")
    extra = [] if tick_ms is None else ["--extra-config", f"proxy.timeTickInterval={tick_ms}"]
    process = subprocess.Popen(
        [str(REPO / "scripts" / "milvus_server.sh"), "start", str(port), str(data), *extra],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    from pymilvus import MilvusClient

    began = time.monotonic()
    while time.monotonic() - began < 300:
        try:
            MilvusClient(uri=f"http://127.0.0.1:{port}", timeout=2).list_collections()
            return process
        except Exception:
            time.sleep(1)
    raise TimeoutError("Milvus did not start")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    data = make_data(args.size, args.dim, args.queries)
    n, k = args.size, 10
    result: dict[str, Any] = {"size": n, "dim": args.dim, "queries": args.queries, "index": args.index}
    result["tick_ms"] = args.tick_ms or 200
    model = args.model_id
    store = MilvusStore(
        args.uri,
        prefix=args.prefix or f"bench{uuid.uuid4().hex[:8]}",
        index=args.index,
        hnsw_m=args.m,
        hnsw_ef_construction=args.ef_construction,
        search_ef=args.ef[0],
        consistency="Bounded",
        timeout_s=600,
    )
    entries = (
        Entry(
            f"e{i:08d}",
            model,
            data["vectors"][i],
            camera=f"cam{data['camera'][i]}",
            timestamp=float(data["timestamp"][i]),
            created=1.0,
            updated=1.0,
        )
        for i in range(n)
    )
    began = time.perf_counter()
    held = await store.count(model)
    if held == n:  # kept by an earlier --keep run with the same size: measure it as it is
        result["loaded_before"] = True
    else:
        if held:
            await store.clear(model)
        batch: list[Entry] = []
        for entry in entries:
            batch.append(entry)
            if len(batch) == 2000:
                await store.put_entries(batch)
                batch = []
        await store.put_entries(batch)
        result["load_s"] = round(time.perf_counter() - began, 1)
        result["load_per_s"] = round(n / (time.perf_counter() - began))
        print("loaded", json.dumps(result), flush=True)

    def wait_index(client: Any) -> None:
        coll = store._collection(client, model)
        client.flush(coll.name)
        while True:
            info = client.describe_index(coll.name, "vector")
            # Milvus 2.3 keeps reporting pending_index_rows once the index is "Finished"
            done = info.get("state") == "Finished" or int(info.get("pending_index_rows", 0)) == 0
            if int(info.get("indexed_rows", n)) >= n and done:
                return
            time.sleep(2)

    began = time.perf_counter()
    await store._call(wait_index)
    result["flush_and_index_s"] = round(time.perf_counter() - began, 1)
    assert await store.count(model) == n
    print("indexed", json.dumps(result), flush=True)
    if args.load_only:
        await store.close()
        return result

    matrix = GalleryMatrix()
    for i in range(n):
        matrix.upsert(
            Entry(
                f"e{i:08d}",
                model,
                data["vectors"][i],
                camera=f"cam{data['camera'][i]}",
                timestamp=float(data["timestamp"][i]),
            )
        )
    cases = {
        "unfiltered": lambda q: None,
        "other_cameras": lambda q: SearchFilters(exclude_camera=f"cam{data['query_camera'][q]}"),
        "other_cameras_time_window": lambda q: SearchFilters(
            exclude_camera=f"cam{data['query_camera'][q]}",
            time_from=float(data["query_seen"][q]) - 86400,
            time_to=float(data["query_seen"][q]) + 86400,
        ),
    }
    for case, filters_of in cases.items():
        exact_s, truth = [], []
        for q in range(args.queries):
            began = time.perf_counter()
            truth.append(exact_top(matrix, data["queries"][q], k, filters_of(q)))
            exact_s.append(time.perf_counter() - began)
        row: dict[str, Any] = {"exact_matrix": percentiles(exact_s)}
        runs = [("Bounded", ef) for ef in args.ef] + [("Strong", args.ef[0])]
        for level, ef in runs:
            store.consistency, store._search_ef = level, ef
            timings, recalls = [], []
            for q in range(args.queries if level == "Bounded" else min(args.queries, 50)):
                began = time.perf_counter()
                hits = await store.search(model, data["queries"][q], k, filters_of(q))
                timings.append(time.perf_counter() - began)
                got = {m.entry.id for m in hits}
                if truth[q]:
                    recalls.append(len(got & set(truth[q])) / len(truth[q]))
            name = level if ef == args.ef[0] else f"{level}_ef{ef}"
            row[name] = {**percentiles(timings), "recall_at_10": round(float(np.mean(recalls)), 4)}
        result[case] = row
        print(case, json.dumps(row), flush=True)
    result["indexes"] = await store._call(
        lambda client: client.list_indexes(store._collection(client, model).name)
    )
    if args.server_group is not None:
        result["server_rss_mb"] = group_rss_mb(args.server_group)
    if not args.keep:
        await store.clear(model)
    await store.close()
    return result


async def consistency_run(uri: str, redis_url: str, rounds: int, dim: int) -> dict[str, Any]:
    """Two stores on one server (two replicas): A enrols an entry, then B searches for it at once;
    then A erases it and B searches again. Per consistency level of B: how often B's read missed the
    enrolment or returned the erased entry, and the read's p50/p99, right after a write and idle
    (1 s after the last write)."""
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    rng = np.random.default_rng(2)
    vectors = rng.standard_normal((rounds + 1, dim)).astype(np.float32)
    writer = MilvusStore(uri, prefix=prefix, redis_url=redis_url, redis_namespace=namespace, timeout_s=30)
    await writer.add(Entry("seed", MODEL, vectors[-1]))
    out: dict[str, Any] = {"rounds": rounds}
    try:
        for level in ("Shared", "Bounded", "Strong"):
            reader = MilvusStore(
                uri,
                prefix=prefix,
                redis_url=redis_url,
                redis_namespace=namespace,
                consistency=level,
                timeout_s=30,
            )
            missed = resurrected = 0
            after, idle = [], []
            for i in range(rounds):
                entry_id = f"{level}{i}"
                await writer.add(Entry(entry_id, MODEL, vectors[i]))
                began = time.perf_counter()
                hits = await reader.search(MODEL, vectors[i], 1)
                after.append(time.perf_counter() - began)
                missed += [m.entry.id for m in hits] != [entry_id]
                await writer.delete(MODEL, entry_id)
                began = time.perf_counter()
                hits = await reader.search(MODEL, vectors[i], 3)
                after.append(time.perf_counter() - began)
                resurrected += entry_id in [m.entry.id for m in hits]
                if i % 4 == 0:
                    await asyncio.sleep(1.0)
                    began = time.perf_counter()
                    await reader.search(MODEL, vectors[i], 3)
                    idle.append(time.perf_counter() - began)
            out[level] = {
                "enrolment_missed": missed,
                "erasure_returned": resurrected,
                "after_write": percentiles(after),
                "idle": percentiles(idle),
            }
            print("consistency", level, json.dumps(out[level]), flush=True)
            await reader.close()
    finally:
        await writer.clear(MODEL)
        await writer.close()
    return out


def group_rss_mb(pgid: int) -> float:
    """Resident memory of every process of a process group (the server and its wrapper)."""
    total = 0
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = status.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:  # pgrp
                rss = (status.parent / "status").read_text().split("VmRSS:")[1].split()[0]
                total += int(rss)
        except (OSError, IndexError, ValueError):
            continue
    return round(total / 1024, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--index", choices=["HNSW", "IVF_FLAT", "FLAT"], default="HNSW")
    parser.add_argument("--m", type=int, default=16)
    parser.add_argument("--ef-construction", type=int, default=200)
    parser.add_argument("--ef", default="64", help="HNSW ef of the searches; a list measures each")
    parser.add_argument("--tick-ms", type=int, help="the started server's proxy.timeTickInterval")
    parser.add_argument("--uri", help="a Milvus server URI (or a Lite file)")
    parser.add_argument("--start-server", action="store_true", help="start scripts/milvus_server.sh's server")
    parser.add_argument("--port", type=int, default=19640)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--model-id", default=MODEL, help="the gallery's model id (a replica's collection)")
    parser.add_argument("--prefix", help="collection prefix (default: a random one, dropped at the end)")
    parser.add_argument("--keep", action="store_true", help="keep the collection (a later run reuses it)")
    parser.add_argument("--load-only", action="store_true", help="load, flush, index; no measurements")
    parser.add_argument(
        "--consistency", type=int, metavar="ROUNDS", help="only the two-replica consistency run (needs Redis)"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    args.ef = [int(ef) for ef in str(args.ef).split(",")]
    process = None
    args.server_group = None
    if args.start_server:
        data = Path(tempfile.mkdtemp(prefix="bench-milvus-")) / "data"
        process = start_server(args.port, data, args.tick_ms)
        args.uri = f"http://127.0.0.1:{args.port}"
        args.server_group = process.pid
    if not args.uri:
        parser.error("give --uri or --start-server")
    try:
        if args.consistency:
            result = asyncio.run(consistency_run(args.uri, args.redis_url, args.consistency, args.dim))
        else:
            result = asyncio.run(run(args))
    finally:
        if process is not None:
            os.killpg(process.pid, signal.SIGKILL)
    print(json.dumps(result))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "milvus.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
