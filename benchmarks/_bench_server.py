"""The real service under uvicorn, plus a few benchmark-only routes under /_bench (never in production).

    .venv/bin/python -m benchmarks._bench_server --port 8123 [--profile]

Settings come from the REID_* environment as for `python -m service`. With --profile the upload
parsing, decoding, resizing, the wait for the model and every model call are timed per /embed
request (wrapping the service's own functions, whose code is unchanged), so a benchmark can split a
request's server time into decoding, preprocessing, model and framework. The routes:

- GET  /_bench/profile[?reset=1]  the per-request records and model-call totals since the last reset
- POST /_bench/preload?n=&seed=   fill the in-process gallery of the served model with n unit vectors
- GET  /_bench/floor?repeats=     time one float32 matrix-vector product over that gallery's matrix
- GET  /_bench/rss                the process's RSS and peak RSS
- POST /_bench/index?timeout=     wait for the gallery index's background builds (REID_GALLERY_INDEX=ivf)
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import functools
import threading
import time
from typing import Any

import numpy as np
import uvicorn
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from benchmarks._data import unit_vectors
from benchmarks._report import proc_status
from service.core.config import Settings
from service.gallery.base import Entry
from service.gallery.memory_store import MemoryStore
from service.main import create_app

_request: contextvars.ContextVar[dict[str, float] | None] = contextvars.ContextVar(
    "bench_request", default=None
)


class Profile:
    """Per-request timings of /embed and the model's busy time; reset by the benchmark per window."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.records: list[dict[str, float]] = []
            self.model_seconds = 0.0
            self.model_calls = 0
            self.model_chunks = 0
            self.since = time.perf_counter()

    def add_call(self, seconds: float, chunks: int) -> None:
        with self.lock:
            self.model_seconds += seconds
            self.model_calls += 1
            self.model_chunks += chunks

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "records": list(self.records),
                "model_seconds": self.model_seconds,
                "model_calls": self.model_calls,
                "model_chunks": self.model_chunks,
                "window_seconds": time.perf_counter() - self.since,
            }


PROFILE = Profile()


def _add(key: str, seconds: float) -> None:
    record = _request.get()
    if record is not None:
        record[key] = record.get(key, 0.0) + seconds


def _timed_sync(key: str, fn: Any) -> Any:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            _add(key, time.perf_counter() - start)

    return wrapper


def _timed_async(key: str, fn: Any) -> Any:
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return await fn(*args, **kwargs)
        finally:
            _add(key, time.perf_counter() - start)

    return wrapper


def install_profiling() -> None:
    """Wrap the functions /embed goes through; thread-pool work sees the request's record because
    asyncio.to_thread copies the context (and the record is one shared dict)."""
    from service.api import requests
    from service.inference import embedder, session
    from service.usecases import embed as usecases

    requests.read_form = _timed_async("parse", requests.read_form)
    usecases.decode_upload = _timed_sync("decode", usecases.decode_upload)
    embedder.resize_frames = _timed_sync("preprocess", embedder.resize_frames)
    embedder.Embedder.embed = _timed_async("embed", embedder.Embedder.embed)
    original_run = session.ModelSession.run

    def run(self: Any, frames: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        try:
            return original_run(self, frames)
        finally:
            PROFILE.add_call(time.perf_counter() - start, int(frames.shape[0]))

    session.ModelSession.run = run  # type: ignore[method-assign]


class RequestTimer:
    """Outermost ASGI layer: the server time of each /embed request, from its first byte handled to
    its response sent (what uvicorn adds before and after is outside, in the client's latency)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") != "/embed":
            await self.app(scope, receive, send)
            return
        record: dict[str, float] = {}
        token = _request.set(record)
        start = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            record["total"] = time.perf_counter() - start
            _request.reset(token)
            with PROFILE.lock:
                PROFILE.records.append(record)


def add_bench_routes(app: FastAPI) -> None:
    state = app.state.reid

    @app.get("/_bench/profile", include_in_schema=False)
    async def profile(reset: bool = False) -> dict[str, Any]:
        snapshot = PROFILE.snapshot()
        if reset:
            PROFILE.reset()
        return snapshot

    @app.get("/_bench/rss", include_in_schema=False)
    async def rss() -> dict[str, int]:
        return proc_status()

    @app.post("/_bench/preload", include_in_schema=False)
    async def preload(n: int, seed: int = 0) -> dict[str, Any]:
        store = state.store
        if not isinstance(store, MemoryStore):
            raise RuntimeError("preload fills the in-process gallery only")
        meta = state.meta
        before = proc_status()["VmRSS"]
        start = time.perf_counter()
        vectors = unit_vectors(n, meta.embedding_dim, seed)
        cameras = ("A", "B", "C", "D")
        count = await store.enroll_many(
            Entry(id=f"synthetic-{i:08d}", model_id=meta.model_id, vector=vectors[i], camera=cameras[i % 4])
            for i in range(n)
        )
        del vectors
        return {
            "entries": count,
            "seconds": time.perf_counter() - start,
            "rss_before": before,
            "rss_after": proc_status()["VmRSS"],
        }

    @app.post("/_bench/index", include_in_schema=False)
    async def index(timeout: float = 600.0) -> dict[str, Any]:
        """Wait until no index build is left (a search may start the next, once the gallery has
        outgrown the last one: wait, search, wait again) and say what the searches now run on."""
        matrix = state.store._models[state.meta.model_id]
        start = time.perf_counter()
        index = matrix.index
        if index is None:
            return {"indexed": False, "seconds": 0.0}
        query = unit_vectors(1, matrix.dim, 3)[0]

        async def settled() -> None:  # polled on the loop, which owns the matrix
            while not index.wait(timeout=0) and time.perf_counter() - start < timeout:
                await asyncio.sleep(0.2)

        for _ in range(3):
            await settled()
            matrix.search(query, 1)  # collects a finished build, may start a rebuild
        await settled()
        return {
            "indexed": index.indexed,
            "lists": index.index_lists,
            "rows": len(matrix),
            "seconds": time.perf_counter() - start,
        }

    @app.get("/_bench/floor", include_in_schema=False)
    async def floor(repeats: int = 50, seed: int = 1) -> dict[str, Any]:
        """One float32 matrix-vector product over the gallery's own rows, repeated: numpy's
        `rows @ query` (OpenBLAS) and the kernel the gallery uses (`matrix.scores`), alternating."""
        from service.gallery.matrix import scores

        matrix = state.store._models[state.meta.model_id]  # the MemoryStore's GalleryMatrix
        rows = matrix._matrix[: len(matrix)]
        query = unit_vectors(1, rows.shape[1], seed)[0]
        times: dict[str, list[float]] = {"matmul": [], "kernel": []}
        for i in range(repeats):
            for name in ("matmul", "kernel") if i % 2 == 0 else ("kernel", "matmul"):
                start = time.perf_counter()
                if name == "matmul":
                    rows @ query
                else:
                    scores(rows, query)
                times[name].append(time.perf_counter() - start)
        return {"times": times["matmul"], "kernel_times": times["kernel"], "rows": int(rows.shape[0])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--ort-spinning",
        choices=("on", "off"),
        default=None,
        help="override onnxruntime_engine.INTRA_OP_SPINNING",
    )
    args = parser.parse_args()
    if args.ort_spinning is not None:
        from service.inference import onnxruntime_engine

        onnxruntime_engine.INTRA_OP_SPINNING = args.ort_spinning == "on"
    if args.profile:
        install_profiling()
    settings = Settings(host="127.0.0.1", log_level="warning")  # the port: REID_PORT
    app = create_app(settings)
    add_bench_routes(app)
    uvicorn.run(RequestTimer(app), host="127.0.0.1", port=settings.port, log_level="warning", lifespan="on")


if __name__ == "__main__":
    main()
