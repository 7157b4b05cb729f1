"""The performance settings of the model path: the ONNX Runtime session options, and the
micro-batcher filling a batch to the recent demand (behaviour only; timings live in benchmarks/)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from batching import embed_chunk
from test_batcher import Gate

from service.inference import onnxruntime_engine as session_module
from service.inference.batcher import MicroBatcher
from service.inference.onnxruntime_engine import session_options
from service.inference.session import ModelSession

D = 4


def test_session_options_one_graph_at_a_time_without_spinning() -> None:
    options = session_options(3)
    assert options.intra_op_num_threads == 3
    assert options.inter_op_num_threads == 1
    assert options.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert session_options().intra_op_num_threads == 0  # ONNX Runtime's default: one per core


def test_spinning_can_be_turned_back_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session_module, "INTRA_OP_SPINNING", True)
    assert session_options().get_session_config_entry("session.intra_op.allow_spinning") == "1"


def test_a_session_with_these_options_gives_the_same_embeddings(
    tiny_model_path: Path, tiny_reference: Callable[[np.ndarray], np.ndarray]
) -> None:
    session = ModelSession(tiny_model_path, providers=["CPUExecutionProvider"], intra_op_threads=2)
    frames = np.random.default_rng(3).integers(0, 256, (3, 5, 64, 48, 3), dtype=np.uint8)
    np.testing.assert_allclose(session.run(frames), tiny_reference(frames), atol=1e-5)


def chunk() -> np.ndarray:
    return np.zeros((2, 8, 8, 3), np.uint8)


def test_after_a_batch_of_n_a_smaller_group_waits_to_fill_up() -> None:
    """Four callers answered together come back one by one, 20 ms apart: one batch of four, not
    a lone chunk after batch_wait_ms and then the other three."""

    async def main() -> list[int]:
        gate = Gate()
        gate.opened.set()
        batcher = MicroBatcher(gate, max_batch=8, batch_wait_ms=1, fill_fraction=1.0, max_fill_wait_ms=500)
        batcher.start()
        try:
            await asyncio.gather(
                *(embed_chunk(batcher, chunk()) for _ in range(4))
            )  # one call of 4: demand 4
            batcher._last_seconds = 0.5  # as if that call took 500 ms: fill for up to 500 ms
            callers = []
            for _ in range(4):
                callers.append(asyncio.ensure_future(embed_chunk(batcher, chunk())))
                await asyncio.sleep(0.02)
            await asyncio.gather(*callers)
            return gate.sizes
        finally:
            await batcher.close()

    assert asyncio.run(main()) == [4, 4]


def test_closed_loop_clients_end_up_sharing_one_batch() -> None:
    """Eight clients whose next requests arrive staggered (decoding takes a while) do not split
    into cohorts that alternate on the model: the batches settle at all eight."""

    def model(batch: np.ndarray) -> np.ndarray:
        time.sleep(0.1)
        return np.ones((len(batch), D), np.float32)

    async def main() -> list[int]:
        sizes: list[int] = []
        batcher = MicroBatcher(
            model,
            max_batch=16,
            batch_wait_ms=1,
            fill_fraction=1.0,
            max_fill_wait_ms=500,
            on_batch=lambda size, seconds: sizes.append(size),
        )
        batcher.start()

        async def client(index: int) -> None:
            await asyncio.sleep(0.005 * index)
            for _ in range(6):
                await embed_chunk(batcher, chunk())
                await asyncio.sleep(0.003 * index)  # this client's "decoding" of its next request

        try:
            await asyncio.gather(*(client(i) for i in range(8)))
            return sizes
        finally:
            await batcher.close()

    sizes = asyncio.run(main())
    assert sum(sizes) == 48
    # the first arrivals may run alone (no demand seen yet); after that, whole batches of eight,
    # where without filling two cohorts (e.g. 1 and 7) would keep alternating
    assert sizes.count(8) >= 3, sizes


def test_the_fill_wait_is_bounded_and_a_demand_of_one_never_waits() -> None:
    batcher = MicroBatcher(lambda b: b, batch_wait_ms=2, fill_fraction=0.1, max_fill_wait_ms=50)
    batcher._last_seconds = 0.3
    assert batcher.fill_wait(8) == pytest.approx(0.03)
    assert batcher.fill_wait(1) == 0.0
    batcher._last_seconds = 5.0
    assert batcher.fill_wait(8) == pytest.approx(0.05)  # capped
    unbatched = MicroBatcher(lambda b: b, batching=False)
    unbatched._last_seconds = 0.3
    assert unbatched.fill_wait(8) == 0.0


def test_demand_is_the_recent_peak_and_decays() -> None:
    async def main() -> tuple[int, int, int]:
        gate = Gate()
        batcher = MicroBatcher(gate, max_batch=8, batch_wait_ms=0, demand_window_s=0.1)
        batcher.start()
        try:
            assert batcher.demand() == 1  # nothing seen yet
            waiting = [asyncio.ensure_future(embed_chunk(batcher, chunk())) for _ in range(3)]
            await asyncio.sleep(0.01)
            during = batcher.demand()
            gate.opened.set()
            await asyncio.gather(*waiting)
            just_after = batcher.demand()
            await asyncio.sleep(0.25)
            return during, just_after, batcher.demand()
        finally:
            await batcher.close()

    assert asyncio.run(main()) == (3, 3, 1)


def test_when_demand_drops_the_group_runs_after_the_bounded_wait() -> None:
    """After a batch of 4 only one caller comes back: it runs alone once the fill wait is over."""

    async def main() -> tuple[list[int], float]:
        gate = Gate()
        gate.opened.set()
        batcher = MicroBatcher(gate, max_batch=8, batch_wait_ms=1, fill_fraction=1.0, max_fill_wait_ms=60)
        batcher.start()
        try:
            await asyncio.gather(*(embed_chunk(batcher, chunk()) for _ in range(4)))
            batcher._last_seconds = 10.0  # the cap (60 ms) applies
            loop = asyncio.get_running_loop()
            start = loop.time()
            await embed_chunk(batcher, chunk())
            return gate.sizes, loop.time() - start
        finally:
            await batcher.close()

    sizes, waited = asyncio.run(main())
    assert sizes == [4, 1]
    assert 0.05 <= waited < 5.0  # it waited for the others, and not forever


def test_filling_is_off_by_default_and_follows_its_setting() -> None:
    from service.build import micro_batcher
    from service.core.config import Settings

    assert MicroBatcher(lambda b: b).fill_wait(8) == 0.0
    plain = micro_batcher(lambda b: b, Settings())
    assert plain._fill_fraction == 0.0
    filling = micro_batcher(lambda b: b, Settings(batch_fill_fraction=0.3))
    filling._last_seconds = 0.2
    assert filling.fill_wait(8) == pytest.approx(0.06)


def test_invalid_fill_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        MicroBatcher(lambda b: b, fill_fraction=-0.1)
    with pytest.raises(ValueError):
        MicroBatcher(lambda b: b, max_fill_wait_ms=-1)
    with pytest.raises(ValueError):
        MicroBatcher(lambda b: b, demand_window_s=-1)
