"""Fixtures of the gallery tests: random unit vectors, a live Redis in a throwaway namespace, and
`with_store`, which runs a test body against each store (memory, Redis) in its own event loop."""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Awaitable, Callable, Iterator

import numpy as np
import pytest
import redis

from service.gallery import GalleryStore, MemoryStore, RedisStore

REDIS_URL = "redis://127.0.0.1:6379/0"

StoreBody = Callable[[GalleryStore], Awaitable[None]]


def unit_vectors(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """(n, dim) float32 rows of unit length, reproducible from `seed`."""
    rows = np.random.default_rng(seed).standard_normal((n, dim))
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture
def units() -> Callable[..., np.ndarray]:
    return unit_vectors


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The local Redis; the tests that need it are skipped (not failed) where it does not answer."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        pytest.skip(f"no Redis answering at {REDIS_URL}: {exc}")
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def namespace(redis_url: str) -> Iterator[str]:
    """A namespace of this test alone, whose keys are all deleted afterwards."""
    name = f"test-gallery-{uuid.uuid4().hex}"
    yield name
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{name}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


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
