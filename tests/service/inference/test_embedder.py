"""A tracklet's embedding is its chunks' embeddings combined by length, whatever the sampling mode."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import numpy as np
import pytest

from service.core.errors import BadInput, Overloaded
from service.inference.batcher import MicroBatcher
from service.inference.embedder import Embedder, EmbedResult, SamplingMode
from service.inference.preprocess import resize_frames
from service.inference.session import ModelSession

T = TypeVar("T")


def tracklet(count: int, height: int = 64, width: int = 48, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(count)]


def with_embedder(
    session: ModelSession,
    body: Callable[[Embedder], Awaitable[T]],
    *,
    max_queue: int = 256,
    batch_wait_ms: float = 5,
) -> tuple[T, list[int]]:
    """Run `body` with a started batcher around the session; also returns the model calls' batch sizes."""
    sizes: list[int] = []

    async def main() -> T:
        batcher = MicroBatcher(
            session.run,
            batch_wait_ms=batch_wait_ms,
            max_queue=max_queue,
            on_batch=lambda n, s: sizes.append(n),
        )
        batcher.start()
        try:
            return await asyncio.wait_for(body(Embedder(session, batcher)), timeout=20)
        finally:
            await batcher.close()

    return asyncio.run(main()), sizes


def embed(
    session: ModelSession, frames: list[np.ndarray], mode: SamplingMode = "chunks", count: int | None = None
) -> EmbedResult:
    return with_embedder(session, lambda e: e.embed(frames, mode, count))[0]


def by_hand(session: ModelSession, chunks: list[np.ndarray], weighted: bool = True) -> np.ndarray:
    """Each chunk alone through the session, then the mean weighted by chunk length, L2-normalised."""
    embeddings = [session.run(chunk[None])[0].astype(np.float64) for chunk in chunks]
    total = sum((len(chunk) if weighted else 1) * e for chunk, e in zip(chunks, embeddings, strict=True))
    return total / np.linalg.norm(total)


@pytest.mark.parametrize("mode", ["chunks", "all"])
def test_a_40_frame_tracklet_is_the_length_weighted_combination_of_its_chunks(
    tiny_session: ModelSession, mode: SamplingMode
) -> None:
    frames = np.stack(tracklet(40))
    frames[32:] //= 4  # a dark tail: its chunk's embedding differs, so the weights visibly matter
    result, sizes = with_embedder(tiny_session, lambda e: e.embed(list(frames), mode))
    chunks = [frames[0:16], frames[16:32], frames[32:40]]
    want = by_hand(tiny_session, chunks)
    assert np.abs(want - by_hand(tiny_session, chunks, weighted=False)).max() > 1e-3  # the test can tell
    assert (result.frames_received, result.frames_used, result.chunks) == (40, 40, 3)
    assert result.vector.dtype == np.float32 and result.vector.shape == (64,)
    np.testing.assert_allclose(result.vector, want, rtol=0, atol=1e-5)
    assert sorted(sizes) == [1, 2]  # the two 16-frame chunks shared a call; the 8-frame tail could not
    assert result.seconds > 0


def test_frames_of_another_size_are_resized_to_the_model_input(tiny_session: ModelSession) -> None:
    frames = tracklet(20, height=150, width=70, seed=1)
    result = embed(tiny_session, frames)
    resized = resize_frames(frames, 64, 48)
    assert result.chunks == 1  # a 4-frame tail is merged into the 16-frame chunk
    np.testing.assert_allclose(result.vector, by_hand(tiny_session, [resized]), rtol=0, atol=1e-5)


def test_uniform_sampling_uses_exactly_count_frames_spread_over_the_tracklet(
    tiny_session: ModelSession,
) -> None:
    frames = tracklet(41, seed=2)
    result = embed(tiny_session, frames, mode="uniform", count=5)
    assert (result.frames_received, result.frames_used, result.chunks) == (41, 5, 1)
    chosen = np.stack([frames[i] for i in (0, 10, 20, 30, 40)])
    np.testing.assert_allclose(result.vector, by_hand(tiny_session, [chosen]), rtol=0, atol=1e-5)


def test_uniform_sampling_of_many_frames_is_still_chunked(tiny_session: ModelSession) -> None:
    result = embed(tiny_session, tracklet(80, seed=3), mode="uniform", count=40)
    assert (result.frames_used, result.chunks) == (40, 3)


def test_uniform_sampling_without_a_count_is_bad_input(tiny_session: ModelSession) -> None:
    with pytest.raises(BadInput, match="count"):
        embed(tiny_session, tracklet(10), mode="uniform")


@pytest.mark.parametrize("count", [1, 7, 16, 40, 61])
def test_the_vector_is_unit_length(tiny_session: ModelSession, count: int) -> None:
    result = embed(tiny_session, tracklet(count, seed=count))
    assert result.vector.shape == (64,)
    assert abs(float(np.linalg.norm(result.vector)) - 1.0) < 1e-5


def test_a_one_frame_tracklet_is_the_model_on_that_frame(tiny_session: ModelSession) -> None:
    frames = tracklet(1, seed=4)
    result = embed(tiny_session, frames)
    assert (result.frames_received, result.frames_used, result.chunks) == (1, 1, 1)
    np.testing.assert_allclose(result.vector, tiny_session.run(frames[0][None, None])[0], rtol=0, atol=1e-5)


def test_an_empty_tracklet_is_bad_input(tiny_session: ModelSession) -> None:
    with pytest.raises(BadInput):
        embed(tiny_session, [])


def test_concurrent_tracklets_share_model_calls_without_changing_answers(tiny_session: ModelSession) -> None:
    tracklets = [tracklet(16, seed=10 + i) for i in range(4)]
    alone = [embed(tiny_session, frames).vector for frames in tracklets]

    async def body(e: Embedder) -> list[EmbedResult]:
        return await asyncio.gather(*(e.embed(frames) for frames in tracklets))

    # a generous wait: the tracklets reach the queue after their resizing thread hops, not all at once
    together, sizes = with_embedder(tiny_session, body, batch_wait_ms=100)
    assert len(sizes) < 4
    for got, want in zip(together, alone, strict=True):
        np.testing.assert_allclose(got.vector, want, rtol=0, atol=1e-5)


def test_a_tracklet_that_does_not_fit_the_queue_is_refused_whole(tiny_session: ModelSession) -> None:
    async def body(e: Embedder) -> None:
        with pytest.raises(Overloaded):
            await e.embed(tracklet(40))  # 3 chunks, room for 2

    _, sizes = with_embedder(tiny_session, body, max_queue=2)
    assert sizes == []  # nothing of it was computed
