"""Micro-batching shares model calls without changing any answer, and fails loudly, never silently."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import numpy as np
import pytest
from batching import embed_chunk

from service.core.errors import NotReady, Overloaded
from service.inference.batcher import MicroBatcher
from service.inference.session import ModelSession

T = TypeVar("T")
D = 4


def chunks_of(length: int, count: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (length, 64, 48, 3), dtype=np.uint8) for _ in range(count)]


def with_batcher(batcher: MicroBatcher, body: Callable[[MicroBatcher], Awaitable[T]]) -> T:
    """Run `body` inside a loop with the batcher started, closed afterwards; bounded in time."""

    async def main() -> T:
        batcher.start()
        try:
            return await asyncio.wait_for(body(batcher), timeout=20)
        finally:
            await batcher.close()

    return asyncio.run(main())


class Gate:
    """A fake model call that blocks its thread until opened: keeps the worker busy on purpose."""

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.sizes: list[int] = []

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        self.sizes.append(len(batch))
        assert self.opened.wait(10), "gate never opened"
        return np.ones((len(batch), D), np.float32)


async def until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.001)


def test_concurrent_chunks_share_calls_and_get_the_sequential_answers(tiny_session: ModelSession) -> None:
    chunks = chunks_of(5, 12)
    sequential = [tiny_session.run(chunk[None])[0] for chunk in chunks]
    sizes: list[int] = []
    batcher = MicroBatcher(
        tiny_session.run, max_batch=16, batch_wait_ms=5, on_batch=lambda size, seconds: sizes.append(size)
    )

    async def body(b: MicroBatcher) -> list[np.ndarray]:
        return await asyncio.gather(*(embed_chunk(b, chunk) for chunk in chunks))

    together = with_batcher(batcher, body)
    assert sum(sizes) == 12 and len(sizes) < 12, sizes
    for got, want in zip(together, sequential, strict=True):
        assert got.shape == (64,) and got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def test_a_batch_never_exceeds_max_batch(tiny_session: ModelSession) -> None:
    sizes: list[int] = []
    batcher = MicroBatcher(
        tiny_session.run, max_batch=4, batch_wait_ms=50, on_batch=lambda n, s: sizes.append(n)
    )

    async def body(b: MicroBatcher) -> list[np.ndarray]:
        return await asyncio.gather(*(embed_chunk(b, chunk) for chunk in chunks_of(2, 10)))

    started = time.perf_counter()
    assert len(with_batcher(batcher, body)) == 10
    assert sizes == [4, 4, 2]
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize(("length", "expected"), [(16, [2, 2, 2, 2, 2]), (1, [8, 2]), (40, [1] * 10)])
def test_a_call_holds_at_most_max_batch_frames_of_frames(
    tiny_session: ModelSession, length: int, expected: list[int]
) -> None:
    """The engine's bound in frames: 16-frame chunks two a call at 32 frames, one-crop chunks up to
    max_batch, and a chunk longer than the bound still runs, alone."""
    sizes: list[int] = []
    batcher = MicroBatcher(
        tiny_session.run,
        max_batch=8,
        batch_wait_ms=50,
        max_batch_frames=32,
        on_batch=lambda n, s: sizes.append(n),
    )

    async def body(b: MicroBatcher) -> list[np.ndarray]:
        return await asyncio.gather(*(embed_chunk(b, chunk) for chunk in chunks_of(length, 10)))

    assert len(with_batcher(batcher, body)) == 10
    assert sizes == expected


def test_chunks_of_different_length_are_never_stacked(tiny_session: ModelSession) -> None:
    chunks = [c for pair in zip(chunks_of(3, 5, seed=1), chunks_of(7, 5, seed=2), strict=True) for c in pair]
    shapes: list[tuple[int, ...]] = []

    def recording(batch: np.ndarray) -> np.ndarray:
        shapes.append(batch.shape)
        return tiny_session.run(batch)

    async def body(b: MicroBatcher) -> list[np.ndarray]:
        return await asyncio.gather(*(embed_chunk(b, chunk) for chunk in chunks))

    results = with_batcher(MicroBatcher(recording, max_batch=16, batch_wait_ms=5), body)
    assert sorted(shapes) == [(5, 3, 64, 48, 3), (5, 7, 64, 48, 3)]
    for chunk, got in zip(chunks, results, strict=True):
        np.testing.assert_allclose(got, tiny_session.run(chunk[None])[0], rtol=0, atol=1e-5)


def test_a_full_queue_answers_overloaded_at_once() -> None:
    gate = Gate()
    batcher = MicroBatcher(gate, max_batch=1, batch_wait_ms=0, max_queue=2)

    async def body(b: MicroBatcher) -> tuple[list[np.ndarray], int]:
        first = asyncio.ensure_future(embed_chunk(b, chunks_of(1, 1)[0]))
        await until(lambda: b.in_flight == 1)  # the worker is busy with the first chunk
        waiting = [asyncio.ensure_future(embed_chunk(b, chunk)) for chunk in chunks_of(1, 2)]
        await until(lambda: b.queue_depth == 2)
        with pytest.raises(Overloaded, match="limit 2"):
            await embed_chunk(b, chunks_of(1, 1)[0])
        with pytest.raises(Overloaded):
            b.submit_many(chunks_of(1, 1))
        depth = b.queue_depth
        gate.opened.set()
        return await asyncio.gather(first, *waiting), depth

    try:
        results, depth = with_batcher(batcher, body)
    finally:
        gate.opened.set()
    assert len(results) == 3 and depth == 2 and gate.sizes == [1, 1, 1]


def test_a_request_larger_than_the_free_space_is_refused_whole(tiny_session: ModelSession) -> None:
    batcher = MicroBatcher(tiny_session.run, max_queue=3)

    async def body(b: MicroBatcher) -> int:
        with pytest.raises(Overloaded):
            b.submit_many(chunks_of(1, 4))
        return b.queue_depth

    assert with_batcher(batcher, body) == 0


def test_a_model_error_reaches_every_waiting_caller_and_the_worker_survives() -> None:
    calls: list[int] = []

    def flaky(batch: np.ndarray) -> np.ndarray:
        calls.append(len(batch))
        if len(calls) <= 2:
            raise RuntimeError("model exploded")
        return np.ones((len(batch), D), np.float32)

    async def body(b: MicroBatcher) -> tuple[list[object], np.ndarray]:
        failed = await asyncio.gather(*(embed_chunk(b, c) for c in chunks_of(2, 6)), return_exceptions=True)
        return failed, await embed_chunk(b, chunks_of(2, 1)[0])

    failed, later = with_batcher(MicroBatcher(flaky, max_batch=4, batch_wait_ms=5), body)
    assert calls[:2] == [4, 2]
    assert len(failed) == 6
    assert all(isinstance(e, RuntimeError) and str(e) == "model exploded" for e in failed)
    np.testing.assert_array_equal(later, np.ones(D, np.float32))


def test_without_batching_each_chunk_is_its_own_call(tiny_session: ModelSession) -> None:
    chunks = chunks_of(4, 5, seed=3)
    sizes: list[int] = []
    threads: set[str] = set()

    def recording(batch: np.ndarray) -> np.ndarray:
        threads.add(threading.current_thread().name)
        return tiny_session.run(batch)

    batcher = MicroBatcher(recording, batching=False, max_batch=16, on_batch=lambda n, s: sizes.append(n))

    async def body(b: MicroBatcher) -> list[np.ndarray]:
        return await asyncio.gather(*(embed_chunk(b, chunk) for chunk in chunks))

    results = with_batcher(batcher, body)
    assert sizes == [1] * 5
    assert len(threads) == 1 and threading.main_thread().name not in threads  # one worker, off the loop
    for chunk, got in zip(chunks, results, strict=True):
        np.testing.assert_allclose(got, tiny_session.run(chunk[None])[0], rtol=0, atol=1e-6)


def test_the_event_loop_stays_responsive_during_a_model_call() -> None:
    def slow(batch: np.ndarray) -> np.ndarray:
        time.sleep(0.3)
        return np.ones((len(batch), D), np.float32)

    async def body(b: MicroBatcher) -> int:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.ensure_future(ticker())
        await embed_chunk(b, chunks_of(1, 1)[0])
        task.cancel()
        return ticks

    assert with_batcher(MicroBatcher(slow), body) >= 10


def test_a_cancelled_caller_costs_no_compute() -> None:
    gate = Gate()

    async def body(b: MicroBatcher) -> None:
        first = asyncio.ensure_future(embed_chunk(b, chunks_of(1, 1)[0]))
        await until(lambda: b.in_flight == 1)
        gone, kept = (asyncio.ensure_future(embed_chunk(b, c)) for c in chunks_of(1, 2))
        await until(lambda: b.queue_depth == 2)
        gone.cancel()
        gate.opened.set()
        await asyncio.gather(first, kept)

    try:
        with_batcher(MicroBatcher(gate, max_batch=8, batch_wait_ms=0), body)
    finally:
        gate.opened.set()
    assert gate.sizes == [1, 1]


def test_close_fails_waiting_callers_and_finishes_the_running_call() -> None:
    gate = Gate()

    async def main() -> tuple[object, list[object]]:
        batcher = MicroBatcher(gate, max_batch=1, batch_wait_ms=0)
        batcher.start()
        running = asyncio.ensure_future(embed_chunk(batcher, chunks_of(1, 1)[0]))
        await until(lambda: batcher.in_flight == 1)
        waiting = [asyncio.ensure_future(embed_chunk(batcher, c)) for c in chunks_of(1, 3)]
        await until(lambda: batcher.queue_depth == 3)
        closing = asyncio.ensure_future(batcher.close())
        await asyncio.sleep(0.01)
        gate.opened.set()
        await asyncio.wait_for(closing, timeout=10)
        with pytest.raises(NotReady):
            await embed_chunk(batcher, chunks_of(1, 1)[0])
        return await running, await asyncio.gather(*waiting, return_exceptions=True)

    try:
        result, failed = asyncio.run(main())
    finally:
        gate.opened.set()
    np.testing.assert_array_equal(result, np.ones(D, np.float32))
    assert all(isinstance(e, NotReady) and "shutting down" in str(e) for e in failed), failed
    assert gate.sizes == [1]


def test_a_batcher_that_was_not_started_is_not_ready() -> None:
    async def main() -> None:
        with pytest.raises(NotReady):
            await embed_chunk(MicroBatcher(lambda batch: batch), chunks_of(1, 1)[0])

    asyncio.run(main())
