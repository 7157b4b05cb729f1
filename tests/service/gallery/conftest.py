"""Fixtures of the gallery tests: random unit vectors and
`with_store`, which runs a test body against each store (memory, Redis) in its own event loop."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable

import numpy as np
import pytest

from service.gallery import GalleryStore, MemoryStore, RedisStore

StoreBody = Callable[[GalleryStore], Awaitable[None]]


def unit_vectors(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """(n, dim) float32 rows of unit length, reproducible from `seed`."""
    rows = np.random.default_rng(seed).standard_normal((n, dim))
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture
def units() -> Callable[..., np.ndarray]:
    return unit_vectors


@pytest.fixture(params=["memory", "redis"])
def with_store(request: pytest.FixtureRequest) -> Callable[[StoreBody], None]:
    """Run `body(store)` in a fresh event loop with a fresh store, closed afterwards."""

    def run(body: StoreBody) -> None:
        factory: Callable[[], GalleryStore] = MemoryStore
        if request.param == "redis":  # resolved outside the loop: a skip must not cross asyncio.run
            url, namespace = request.getfixturevalue("redis_url"), request.getfixturevalue("namespace")
            factory = functools.partial(RedisStore, url, namespace)

        async def main() -> None:
            store = factory()
            try:
                await body(store)
            finally:
                await store.close()

        asyncio.run(main())

    return run
