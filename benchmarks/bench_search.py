"""Gallery search: POST /match over HTTP against galleries of 1k to 1M synthetic unit vectors, against
the floor of one float32 matrix-vector product over the same matrix; memory per entry; pipelined
enrolment into Redis; and a faiss index behind the same interface, with its recall@10.

    .venv/bin/python -m benchmarks.bench_search [--quick] [--out DIR] [--no-redis] [--no-faiss]

Each gallery size gets a fresh service process (`benchmarks._bench_server`, in-process gallery)
filled through `MemoryStore.enroll_many`; the floor is timed inside that process on the gallery's
own rows, so the ratio compares like with like.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
import uuid
from typing import Any

import numpy as np

from benchmarks._data import unit_vectors
from benchmarks._http import closed_loop, get_json, request_bytes, service_process
from benchmarks._report import Section, base_parser, fmt, median, proc_status, usable_cores
from devtools.stats import percentile

TARGET_RATIO = 2.0  # /match p50 within 2x of the matvec floor at 100k and 1M
TARGET_ENROLL = 5000  # embeddings/s into Redis
K = 10
REDIS_URL = "redis://127.0.0.1:6379/0"


# ------------------------------------------------------------------------------------------ /match


def match_requests(dim: int, count: int, seed: int = 7) -> list[bytes]:
    queries = unit_vectors(count, dim, seed)
    return [
        request_bytes(
            "POST",
            "/match",
            json.dumps({"embedding": [float(v) for v in q], "top_k": K}).encode(),
            "application/json",
        )
        for q in queries
    ]


def http_search(size: int, measure_s: float, floor_repeats: int) -> dict[str, Any]:
    with service_process() as service:
        dim = int(get_json(service.port, "/model")["embedding_dim"])
        loaded = get_json(service.port, f"/_bench/preload?n={size}", method="POST")
        gc_rss = get_json(service.port, "/_bench/rss")
        requests = match_requests(dim, 32)
        asyncio.run(closed_loop(service.port, requests, 1, 0.0, min(2.0, measure_s / 3)))  # warm-up
        before = get_json(service.port, f"/_bench/floor?repeats={floor_repeats}")
        load = asyncio.run(closed_loop(service.port, requests, 1, 0.0, measure_s))
        after = get_json(service.port, f"/_bench/floor?repeats={floor_repeats}")
    floor = before["times"] + after["times"]
    kernel = before["kernel_times"] + after["kernel_times"]
    lat = load.latencies
    return {
        "size": size,
        "dim": dim,
        "queries": len(lat),
        "errors": load.errors,
        "p50_ms": 1000 * percentile(lat, 50),
        "p99_ms": 1000 * percentile(lat, 99),
        "floor_p50_ms": 1000 * percentile(floor, 50),
        "floor_p99_ms": 1000 * percentile(floor, 99),
        "kernel_p50_ms": 1000 * percentile(kernel, 50),
        "kernel_p99_ms": 1000 * percentile(kernel, 99),
        "load_seconds": loaded["seconds"],
        "bytes_per_entry": (loaded["rss_after"] - loaded["rss_before"]) / size,
        "rss_after": gc_rss.get("VmRSS"),
    }


def http_indexed_search(size: int, measure_s: float) -> dict[str, Any]:
    """/match through the service with REID_GALLERY_INDEX=ivf (its default min_rows and nprobe), after
    the background builds have settled; random unit vectors, so only the latency is meaningful here
    (recall is measured in process below, on clustered vectors too)."""
    env = {"REID_PROVIDERS": '["CPUExecutionProvider"]', "REID_GALLERY_INDEX": "ivf"}
    with service_process(env) as service:
        dim = int(get_json(service.port, "/model")["embedding_dim"])
        loaded = get_json(service.port, f"/_bench/preload?n={size}", method="POST")
        built = get_json(service.port, "/_bench/index", method="POST")
        requests = match_requests(dim, 32)
        asyncio.run(closed_loop(service.port, requests, 1, 0.0, min(2.0, measure_s / 3)))  # warm-up
        load = asyncio.run(closed_loop(service.port, requests, 1, 0.0, measure_s))
        rss = get_json(service.port, "/_bench/rss")
    lat = load.latencies
    return {
        "size": size,
        "indexed": built["indexed"],
        "lists": built.get("lists", 0),
        "settle_s": loaded["seconds"] + built["seconds"],
        "queries": len(lat),
        "errors": load.errors,
        "p50_ms": 1000 * percentile(lat, 50),
        "p99_ms": 1000 * percentile(lat, 99),
        "bytes_per_entry": (rss["VmRSS"] - loaded["rss_before"]) / size,
    }


# ------------------------------------------------------------------------------------------ in process


def clustered_vectors(n: int, dim: int, per_id: int = 10, noise: float = 0.8, seed: int = 3) -> np.ndarray:
    """n unit vectors of n / per_id identities: each a noisy view of its identity's centre (cosine
    about 0.6 between two views of one identity, about 0 between identities), as re-id embeddings are."""
    rng = np.random.default_rng(seed)
    centres = unit_vectors(max(1, n // per_id), dim, seed + 1)
    out = np.empty((n, dim), np.float32)
    for start in range(0, n, 65536):
        stop = min(n, start + 65536)
        block = centres[np.arange(start, stop) // per_id % len(centres)]
        block = block + noise * rng.standard_normal((stop - start, dim), dtype=np.float32) / np.sqrt(dim)
        out[start:stop] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def filled(vectors: np.ndarray, **index_options: Any) -> Any:
    from service.gallery.base import Entry
    from service.gallery.faiss_index import SearchIndex
    from service.gallery.matrix import GalleryMatrix

    matrix = GalleryMatrix(SearchIndex(**index_options))
    for i in range(len(vectors)):
        matrix.upsert(Entry(f"e{i:08d}", "bench@0", vectors[i], camera="AB"[i % 2]))
    return matrix


def faiss_rows(size: int, kind: str, nprobes: tuple[int, ...], queries: int) -> list[dict[str, Any]]:
    """Recall@10 of the IVF-SQ8 index against the brute force of the same matrix, and its latency."""
    dim = 512
    vectors = unit_vectors(size, dim, 0) if kind == "random" else clustered_vectors(size, dim)
    if kind == "random":
        probes = unit_vectors(queries, dim, 99)
    else:  # fresh views of gallery identities: each has 10 true neighbours in the gallery
        rng = np.random.default_rng(5)
        probes = clustered_vectors(size, dim, seed=3)[rng.choice(size, queries, replace=False)]
        probes = probes + 0.3 * rng.standard_normal(probes.shape, dtype=np.float32) / np.sqrt(dim)
        probes /= np.linalg.norm(probes, axis=1, keepdims=True)
    matrix = filled(vectors, min_rows=1, auto_build=False)
    del vectors
    gc.collect()
    exact, exact_times = [], []
    for q in probes:
        start = time.perf_counter()
        exact.append({m.entry.id for m in matrix.search_exact(q, K)})
        exact_times.append(time.perf_counter() - start)
    rss0 = proc_status()["VmRSS"]
    start = time.perf_counter()
    matrix.index.build()
    build_s = time.perf_counter() - start
    index_bytes = (proc_status()["VmRSS"] - rss0) / size
    rows = []
    for nprobe in nprobes:
        matrix.index.nprobe = nprobe
        hits, times = 0, []
        for q, truth in zip(probes, exact, strict=True):
            start = time.perf_counter()
            got = matrix.search(q, K)
            times.append(time.perf_counter() - start)
            hits += len(truth & {m.entry.id for m in got})
        rows.append(
            {
                "size": size,
                "data": kind,
                "nlist": matrix.index_lists,
                "nprobe": nprobe,
                "recall_at_10": hits / (K * len(probes)),
                "p50_ms": 1000 * percentile(times, 50),
                "p99_ms": 1000 * percentile(times, 99),
                "exact_p50_ms": 1000 * percentile(exact_times, 50),
                "build_s": build_s,
                "index_bytes_per_entry": index_bytes,
            }
        )
        print(rows[-1], flush=True)
    del matrix
    gc.collect()
    return rows


# ------------------------------------------------------------------------------------------ Redis


async def redis_enroll(count: int) -> dict[str, Any]:
    """Pipelined enrolment (`RedisStore.enroll_many`) and a replica's full load, with the hiredis
    reply parser and with redis-py's pure-Python one, alternating, in a throwaway namespace."""
    import redis.asyncio as aioredis
    from redis._parsers import _AsyncRESP2Parser

    from service.gallery.base import Entry
    from service.gallery.redis_store import RedisStore

    vectors = unit_vectors(count, 512, 11)
    model_id = "bench@0.0.0+00000000"
    results: dict[str, dict[str, list[float]]] = {}
    namespaces = []
    try:
        for rnd in range(2):
            for parser in ("hiredis", "python") if rnd % 2 == 0 else ("python", "hiredis"):
                namespace = f"bench-{uuid.uuid4().hex[:12]}"
                namespaces.append(namespace)
                store = RedisStore(REDIS_URL, namespace)
                if parser == "python":
                    store._client.connection_pool.connection_kwargs["parser_class"] = _AsyncRESP2Parser
                entries = [
                    Entry(f"p{i:07d}", model_id, vectors[i], camera="AB"[i % 2], label="visitor")
                    for i in range(count)
                ]
                start = time.perf_counter()
                await store.enroll_many(entries)
                enroll_s = time.perf_counter() - start
                await store.close()
                reader = RedisStore(REDIS_URL, namespace)
                if parser == "python":
                    reader._client.connection_pool.connection_kwargs["parser_class"] = _AsyncRESP2Parser
                start = time.perf_counter()
                loaded = await reader.count(model_id)
                load_s = time.perf_counter() - start
                await reader.close()
                assert loaded == count, (loaded, count)
                stats = results.setdefault(parser, {"enroll": [], "load": []})
                stats["enroll"].append(count / enroll_s)
                stats["load"].append(count / load_s)
    finally:
        client = aioredis.Redis.from_url(REDIS_URL)
        deleted = 0
        for namespace in namespaces:
            keys = [key async for key in client.scan_iter(match=f"{namespace}:*", count=1000)]
            for start in range(0, len(keys), 1000):
                deleted += await client.delete(*keys[start : start + 1000])
        await client.aclose()
    return {
        parser: {"enroll_per_s": median(s["enroll"]), "load_per_s": median(s["load"])}
        for parser, s in results.items()
    } | {"keys_deleted": deleted, "count": count}


# ------------------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--no-redis", action="store_true")
    parser.add_argument("--no-faiss", action="store_true")
    args = parser.parse_args(argv)
    section = Section("search", "3. Gallery search: /match, memory per entry, Redis enrolment, an index")
    results = match_over_http(section, args.quick)
    if not args.no_redis:
        redis_enrolment(section, args.quick)
    if not args.no_faiss:
        index_in_process(section, args.quick)
        index_through_the_service(section, args.quick, results)
    section.emit(args.out)


def match_over_http(section: Section, quick: bool) -> list[dict[str, Any]]:
    """/match over HTTP at each gallery size, against the floor of one matrix-vector product."""
    sizes = (1_000, 10_000, 100_000) if quick else (1_000, 10_000, 100_000, 1_000_000)
    results = []
    for size in sizes:
        measure_s = (2.0 if size < 1_000_000 else 6.0) if quick else (4.0 if size < 1_000_000 else 12.0)
        results.append(http_search(size, measure_s, 10 if quick else 30))
        print(results[-1], flush=True)
    section.data["match"] = results
    dim = results[0]["dim"]
    rows = []
    for r in results:
        rows.append(
            [
                fmt(r["size"]),
                fmt(r["floor_p50_ms"], 2),
                fmt(r["floor_p99_ms"], 2),
                f"{fmt(r['kernel_p50_ms'], 2)} / {fmt(r['kernel_p99_ms'], 2)}",
                fmt(r["p50_ms"], 2),
                fmt(r["p99_ms"], 2),
                f"**{r['p50_ms'] / r['floor_p50_ms']:.2f}x**",
                f"{r['p99_ms'] / r['floor_p99_ms']:.2f}x",
                fmt(r["bytes_per_entry"], 0),
                f"{r['bytes_per_entry'] / (4 * dim):.2f}",
                r["queries"],
            ]
        )
    section.table(
        [
            "entries",
            "floor p50 ms",
            "floor p99 ms",
            "gallery kernel p50 / p99 ms",
            "/match p50 ms",
            "/match p99 ms",
            "p50 / floor",
            "p99 / floor",
            "bytes per entry",
            "/ (4 x D)",
            "queries",
        ],
        rows,
        caption=(
            f"`POST /match` with a JSON embedding (D = {dim}), top_k = {K}, one client, keep-alive; "
            "galleries "
            f"of synthetic unit vectors loaded with `MemoryStore.enroll_many` into a fresh service per "
            f"size. Floor = one `rows @ query` (numpy float32 matrix-vector product) over the gallery's "
            f"own matrix, timed inside the service process before and after; the gallery's own kernel "
            f"(`service.gallery.matrix.scores`: numpy einsum on one thread below 32,768 rows, BLAS from "
            f"there) timed alternately with it. "
            f"Bytes per entry = the "
            f"service's RSS growth while loading / entries ({4 * dim} = 4 x D is the float32 row alone)."
        ),
    )
    big = [r for r in results if r["size"] >= 100_000]
    worst = max(r["p50_ms"] / r["floor_p50_ms"] for r in big) if big else float("nan")
    section.data["worst_ratio_100k_plus"] = worst
    per_entry_ns = (
        1e6 * results[-1]["floor_p50_ms"] / results[-1]["size"]
        if results[-1]["size"] >= 100_000
        else float("nan")
    )
    section.text(
        f"**Target (p50 within {TARGET_RATIO:.0f}x of the floor at 100k and 1M): "
        f"{'met' if worst <= TARGET_RATIO else 'missed'}** — worst p50 / floor at >= 100k entries: "
        f"{worst:.2f}x. Memory: {results[-1]['bytes_per_entry']:.0f} bytes per entry at "
        f"{results[-1]['size']:,} entries = {results[-1]['bytes_per_entry'] / (4 * dim):.2f} x the "
        "float32 row."
        f" The floor itself grows linearly, about {per_entry_ns:.0f} ns per entry on this machine "
        f"(memory bandwidth, {usable_cores()} cores): a 50 ms budget per query is spent at about "
        f"{50e6 / per_entry_ns / 1e6:.1f}M entries, beyond which brute force is no longer good enough "
        "for interactive matching and the index below is the answer."
    )
    return results


def redis_enrolment(section: Section, quick: bool) -> None:
    """Embeddings enrolled into Redis per second, and a replica's load, by reply parser."""
    try:
        redis_stats = asyncio.run(redis_enroll(5_000 if quick else 20_000))
    except OSError as exc:
        section.text(f"Redis enrolment not measured: no Redis at {REDIS_URL} ({exc}).")
    else:
        section.data["redis"] = redis_stats
        best = max(redis_stats[p]["enroll_per_s"] for p in ("hiredis", "python"))
        section.table(
            ["reply parser", "enroll embeddings/s (pipelined)", "replica load entries/s"],
            [
                [p, fmt(redis_stats[p]["enroll_per_s"], 0), fmt(redis_stats[p]["load_per_s"], 0)]
                for p in ("hiredis", "python")
            ],
            caption=(
                f"`RedisStore.enroll_many` of {redis_stats['count']:,} embeddings (D = 512, Lua "
                "script per "
                f"entry, {1000} per pipelined round trip) into a throwaway namespace, then a fresh "
                f"replica's full load (`count`, which reloads the matrix from Redis); medians of 2 "
                f"rounds, parsers alternating; {redis_stats['keys_deleted']:,} keys deleted afterwards. "
                f"Local Redis on 127.0.0.1."
            ),
        )
        section.text(
            f"**Target (>= {TARGET_ENROLL:,} embeddings/s into Redis): "
            f"{'met' if best >= TARGET_ENROLL else 'missed'}** — {best:,.0f}/s."
        )


def index_in_process(section: Section, quick: bool) -> None:
    """Recall and latency of the faiss index against the exact search of the same matrix."""
    try:
        import faiss  # noqa: F401
    except ImportError:
        section.text("faiss not installed (`pip install .[index]`): the index rows are missing.")
        return
    plan = (
        [(100_000, "random"), (100_000, "clustered")]
        if quick
        else [(100_000, "random"), (100_000, "clustered"), (1_000_000, "clustered")]
    )
    nprobes = (8, 32) if quick else (4, 16, 64, 128, 256)
    index_rows = []
    for size, kind in plan:
        index_rows += faiss_rows(size, kind, nprobes, 50 if quick else 200)
    section.data["faiss"] = index_rows
    section.table(
        [
            "entries",
            "vectors",
            "lists",
            "nprobe",
            "recall@10",
            "p50 ms",
            "p99 ms",
            "brute force p50 ms",
            "speed-up",
            "build s",
            "index bytes/entry",
        ],
        [
            [
                fmt(r["size"]),
                r["data"],
                r["nlist"],
                r["nprobe"],
                f"{r['recall_at_10']:.3f}",
                fmt(r["p50_ms"], 2),
                fmt(r["p99_ms"], 2),
                fmt(r["exact_p50_ms"], 1),
                f"{r['exact_p50_ms'] / r['p50_ms']:.0f}x",
                fmt(r["build_s"], 0),
                fmt(r["index_bytes_per_entry"], 0),
            ]
            for r in index_rows
        ],
        caption=(
            "`GalleryMatrix` with a `service.gallery.faiss_index.SearchIndex`: "
            f"faiss IVF with 8-bit scalar-quantised vectors, {4} x k candidates re-scored exactly "
            "from the float32 rows; recall@10 = overlap with the exact top 10 of the same matrix, "
            "in-process, one query at a time. `random`: i.i.d. unit vectors, the worst case (no "
            "structure to exploit: every neighbour is almost as far as any other). `clustered`: "
            "10 noisy views per identity, queries are fresh views (the shape of re-id data)."
        ),
    )


def index_through_the_service(section: Section, quick: bool, results: list[dict[str, Any]]) -> None:
    """/match at a million entries with REID_GALLERY_INDEX=ivf, against the exact /match."""
    served = [http_indexed_search(1_000_000, 6.0 if quick else 12.0)]
    section.data["served_index"] = served
    exact = {r["size"]: r for r in results}
    section.table(
        [
            "entries",
            "searches on",
            "lists",
            "/match p50 ms",
            "/match p99 ms",
            "exact /match p50 ms",
            "speed-up",
            "load + build s",
            "bytes per entry",
            "queries",
        ],
        [
            [
                fmt(r["size"]),
                "the index" if r["indexed"] else "brute force (index not built)",
                r["lists"],
                fmt(r["p50_ms"], 2),
                fmt(r["p99_ms"], 2),
                fmt(exact[r["size"]]["p50_ms"], 2) if r["size"] in exact else "-",
                f"{exact[r['size']]['p50_ms'] / r['p50_ms']:.0f}x" if r["size"] in exact else "-",
                fmt(r["settle_s"], 0),
                fmt(r["bytes_per_entry"], 0),
                r["queries"],
            ]
            for r in served
        ],
        caption=(
            "The service with `REID_GALLERY_INDEX=ivf` (defaults: index from 500,000 entries, nprobe "
            "128): the gallery loaded as above, the index built in the background (at 500k, rebuilt "
            "at 1M), then `POST /match` with a JSON embedding, top_k = 10, one client; bytes per "
            "entry include the index."
        ),
    )


if __name__ == "__main__":
    main()
