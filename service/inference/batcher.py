"""Micro-batching: chunks of concurrent requests share model calls, which cost far less per chunk in a
batch; the rules (grouping by shape, waiting, filling to recent demand) are in docs/deployment.md.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from service.core.errors import NotReady, Overloaded

log = logging.getLogger(__name__)

RunBatch = Callable[[np.ndarray], np.ndarray]  # (B, T, H, W, 3) uint8 -> (B, D) float32, blocking
OnBatch = Callable[[int, float], None]  # (batch size, seconds of the model call)

_Key = tuple[tuple[int, ...], str]  # (chunk shape, dtype): what can be stacked together
_EARLY = 1e-4  # seconds: asyncio may wake a timer this early; counts as on time


@dataclass(eq=False)
class _Item:
    chunk: np.ndarray
    future: asyncio.Future[np.ndarray]
    enqueued: float  # loop time


class MicroBatcher:
    """Groups chunks into model calls; `run` awaits one chunk's embedding.

    `on_batch(batch_size, seconds)` is called on the event loop after every model call (failed ones
    included), so metrics code needs no locking; an exception from it is logged and ignored.
    """

    def __init__(
        self,
        run_batch: RunBatch,
        *,
        batching: bool = True,
        max_batch: int = 16,
        batch_wait_ms: float = 2.0,
        max_queue: int = 256,
        on_batch: OnBatch | None = None,
        fill_fraction: float = 0.0,
        max_fill_wait_ms: float = 150.0,
        demand_window_s: float = 2.0,
        max_batch_frames: int = 0,
    ) -> None:
        if max_batch < 1 or max_queue < 1 or batch_wait_ms < 0:
            raise ValueError("max_batch and max_queue must be >= 1 and batch_wait_ms >= 0")
        if fill_fraction < 0 or max_fill_wait_ms < 0 or demand_window_s < 0:
            raise ValueError("fill_fraction, max_fill_wait_ms and demand_window_s must be >= 0")
        self._run_batch = run_batch
        # Without batching every chunk is its own call, through the same queue and worker thread.
        self._max_batch = max_batch if batching else 1
        # frames (chunks x their length) per call, 0: no bound beyond max_batch. An engine on a CPU runs
        # fastest on a few frames a call and holds the activations of the largest call it has run.
        self._max_batch_frames = max_batch_frames
        self._wait = batch_wait_ms / 1000 if batching else 0.0
        self._fill_fraction = fill_fraction if batching else 0.0
        self._max_fill_wait = max_fill_wait_ms / 1000
        self._last_seconds = 0.0  # duration of the previous model call
        self._idle_since = 0.0  # loop time at which the previous model call ended
        self._demand_window = demand_window_s
        self._demand: deque[tuple[float, int]] = deque()  # (loop time, chunks in the system then)
        self._max_queue = max_queue
        self._on_batch = on_batch
        self._groups: dict[_Key, list[_Item]] = {}
        self._wakeup = asyncio.Event()
        self._executor: ThreadPoolExecutor | None = None
        self._worker: asyncio.Task[None] | None = None
        self._in_flight = 0
        self._closed = False  # no new chunks (close() called, or the worker ended)
        self._shut_down = False  # close() ran

    def batch_limit(self, key: _Key) -> int:
        """Chunks per call for chunks of this shape: max_batch, and max_batch_frames of frames (at least
        one chunk, however long)."""
        if self._max_batch_frames <= 0:
            return self._max_batch
        frames = key[0][0] if key[0] else 1
        return max(1, min(self._max_batch, self._max_batch_frames // max(1, frames)))

    # lifecycle

    def start(self) -> None:
        """Start the worker; call from within the running event loop (e.g. the app's lifespan)."""
        if self._closed:
            raise NotReady("the batcher was closed")
        if self._worker is not None:
            return
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reid-model")
        self._worker = asyncio.get_running_loop().create_task(self._work(), name="reid-micro-batcher")
        self._worker.add_done_callback(self._worker_done)

    async def close(self) -> None:
        """Stop taking chunks, fail the waiting ones with NotReady, let the running call finish."""
        if self._shut_down:
            return
        self._shut_down = self._closed = True
        self._fail_waiting("the service is shutting down")
        self._wakeup.set()
        if self._worker is not None:
            await asyncio.wait([self._worker])  # the running call finishes and answers its callers
        if self._executor is not None:
            self._executor.shutdown(wait=False)  # idle by now; never block the loop on a stray call

    def _fail_waiting(self, reason: str) -> None:
        for items in self._groups.values():
            for item in items:
                if not item.future.done():
                    item.future.set_exception(NotReady(reason))
        self._groups.clear()

    def _worker_done(self, task: asyncio.Task[None]) -> None:
        """However the worker ended, nobody may be left waiting for it forever."""
        if not task.cancelled() and task.exception() is not None:
            log.error("the micro-batching worker died", exc_info=task.exception())
        self._closed = True
        self._fail_waiting("the model worker stopped")

    # metrics

    @property
    def queue_depth(self) -> int:
        """Chunks accepted and waiting for a model call (the running batch not included)."""
        return sum(len(items) for items in self._groups.values())

    @property
    def in_flight(self) -> int:
        """Chunks in the model call that is running now."""
        return self._in_flight

    # submitting

    def submit_many(self, chunks: Sequence[np.ndarray]) -> list[asyncio.Future[np.ndarray]]:
        """Queue all chunks of one request or none (Overloaded): a half-accepted tracklet wastes work.

        Synchronous, so nothing interleaves between the capacity check and the enqueueing.
        """
        if self._closed or self._worker is None:
            raise NotReady("the model worker is not running")
        if self.queue_depth + len(chunks) > self._max_queue:
            raise Overloaded(
                f"{self.queue_depth} chunks are waiting for the model (limit {self._max_queue}); retry later"
            )
        for chunk in chunks:
            if chunk.ndim != 4 or chunk.shape[0] == 0:
                raise ValueError(f"a chunk is (T, H, W, 3) with T >= 1; got {chunk.shape}")
        loop = asyncio.get_running_loop()
        now = loop.time()
        futures: list[asyncio.Future[np.ndarray]] = []
        for chunk in chunks:
            future: asyncio.Future[np.ndarray] = loop.create_future()
            key = (tuple(chunk.shape), chunk.dtype.str)
            self._groups.setdefault(key, []).append(_Item(chunk, future, now))
            futures.append(future)
        self._note_demand(now)
        self._wakeup.set()
        return futures

    # the worker

    def _prune(self) -> None:
        """Drop chunks whose caller went away (cancelled), so they cost neither queue space nor compute."""
        for key in list(self._groups):
            items = [item for item in self._groups[key] if not item.future.done()]
            if items:
                self._groups[key] = items
            else:
                del self._groups[key]

    def demand(self, now: float | None = None) -> int:
        """The most chunks that were in the system at once (waiting or in the model) during the
        last `demand_window_s` (or three model calls, if longer); at least 1."""
        if now is None:
            now = asyncio.get_running_loop().time()
        window = max(self._demand_window, 3 * self._last_seconds)  # at least a few calls long
        while self._demand and self._demand[0][0] < now - window:
            self._demand.popleft()
        return max((count for _, count in self._demand), default=1)

    def _note_demand(self, now: float) -> None:
        count = self.queue_depth + self._in_flight
        while self._demand and self._demand[-1][1] <= count:  # a dominated sample can never be the max
            self._demand.pop()
        self._demand.append((now, count))

    def fill_wait(self, demand: int) -> float:
        """Seconds a group may wait beyond `batch_wait_ms` to fill up to `demand` chunks (see the
        module docstring); 0 for a demand of one chunk."""
        if demand <= 1 or self._fill_fraction == 0:
            return 0.0
        return min(self._max_fill_wait, self._fill_fraction * self._last_seconds)

    def _due(self, items: list[_Item], demand: int, limit: int) -> float:
        """Loop time at which this group is run even if it is not full. The fill wait counts from
        when the model fell idle, not from the oldest chunk: a cohort that queued during the last
        call still waits for the callers that call just answered."""
        due = items[0].enqueued + self._wait
        if len(items) < min(demand, limit):
            due = max(due, self._idle_since + self.fill_wait(demand))
        return due

    def _next_ready(self, now: float) -> tuple[_Key | None, float | None]:
        """The ready group with the oldest chunk, else None and how long until the first one is ready."""
        ready: list[tuple[float, _Key]] = []
        deadline: float | None = None
        demand = self.demand(now)
        for key, items in self._groups.items():
            limit = self.batch_limit(key)
            due = self._due(items, demand, limit)
            if len(items) >= limit or now + _EARLY >= due:
                ready.append((items[0].enqueued, key))
            else:
                deadline = due if deadline is None else min(deadline, due)
        if ready:
            return min(ready, key=lambda entry: entry[0])[1], None
        return None, None if deadline is None else deadline - now

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._closed:
            self._prune()
            key, timeout = self._next_ready(loop.time())
            if key is None:
                self._wakeup.clear()
                try:
                    async with asyncio.timeout(timeout):
                        await self._wakeup.wait()
                except TimeoutError:
                    pass
                continue
            limit = self.batch_limit(key)
            items = self._groups[key][:limit]
            rest = self._groups[key][limit:]
            if rest:
                self._groups[key] = rest
            else:
                del self._groups[key]
            await self._call(items)

    async def _call(self, items: list[_Item]) -> None:
        """One model call; each caller gets its row, or the call's exception."""
        loop = asyncio.get_running_loop()
        self._in_flight = len(items)
        started = time.perf_counter()
        try:
            batch = np.stack([item.chunk for item in items])
            out = await loop.run_in_executor(self._executor, self._run_batch, batch)
            if out.ndim != 2 or out.shape[0] != len(items):
                raise RuntimeError(f"the model returned {out.shape} for a batch of {len(items)}")
        except asyncio.CancelledError:
            for item in items:
                if not item.future.done():
                    item.future.set_exception(NotReady("the model worker was stopped"))
            raise
        except Exception as exc:
            for item in items:
                if not item.future.done():
                    item.future.set_exception(exc)
        else:
            for item, row in zip(items, out, strict=True):
                if not item.future.done():
                    item.future.set_result(np.array(row, dtype=np.float32))
        finally:
            self._in_flight = 0
            seconds = time.perf_counter() - started
            self._last_seconds = seconds
            self._idle_since = loop.time()
            self._observe(len(items), seconds)

    def _observe(self, size: int, seconds: float) -> None:
        if self._on_batch is None:
            return
        try:
            self._on_batch(size, seconds)
        except Exception:
            log.exception("on_batch observer failed; ignored")
