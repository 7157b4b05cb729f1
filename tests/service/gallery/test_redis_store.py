"""RedisStore beyond the shared contract: key layout, replicas kept fresh through the change stream,
concurrent "add" enrolments, a restart, and what an outage looks like (and that it heals)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pytest
import redis

from service.core.errors import StoreUnavailable
from service.gallery import Entry, RedisStore, SearchFilters

A, B = "osnet@1", "osnet@2"
DOWN_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def vec(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float32)


def ids(matches: list) -> list[str]:
    return [m.entry.id for m in matches]


def run_stores(url: str, namespace: str, n: int, body: Callable[..., Awaitable[None]]) -> None:
    """Run `body(*stores)` with n RedisStore instances on one namespace (n service replicas)."""

    async def main() -> None:
        stores = [RedisStore(url, namespace) for _ in range(n)]
        try:
            await body(*stores)
        finally:
            for store in stores:
                await store.close()

    asyncio.run(main())


class Spy:
    """Counts the calls of some methods of an object, still calling them."""

    def __init__(self, target: object, *names: str) -> None:
        self.calls = dict.fromkeys(names, 0)
        for name in names:
            setattr(target, name, self._wrap(name, getattr(target, name)))

    def _wrap(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return method(*args, **kwargs)

        return counted


def test_key_layout_and_change_log(redis_url: str, namespace: str) -> None:
    client = redis.Redis.from_url(redis_url)
    prefix = f"{namespace}:{A}"

    async def body(store: RedisStore) -> None:
        await store.add(Entry("p1", A, vec(3, 4), camera="c1", timestamp=5.5, tags={"k": "v"}))
        fields = client.hgetall(f"{prefix}:entry:p1")
        assert set(fields) == {b"vector", b"camera", b"timestamp", b"tags", b"created", b"updated", b"count"}
        np.testing.assert_allclose(np.frombuffer(fields[b"vector"], "<f4"), [0.6, 0.8], rtol=1e-6)
        assert (fields[b"camera"], fields[b"timestamp"], fields[b"count"]) == (b"c1", b"5.5", b"1")
        assert fields[b"tags"] == b'{"k": "v"}'
        assert client.zrange(f"{prefix}:ids", 0, -1, withscores=True) == [(b"p1", 0.0)]
        assert await store.delete(A, "p1")
        assert not client.exists(f"{prefix}:entry:p1") and client.zcard(f"{prefix}:ids") == 0
        await store.add(Entry("p2", A, vec(1, 0)))
        await store.add(Entry("q", B, vec(1, 0)))
        assert await store.clear(A) == 1
        ops = [(f[b"op"], f[b"id"]) for _, f in client.xrange(f"{prefix}:changes")]
        assert ops == [(b"upsert", b"p1"), (b"delete", b"p1"), (b"upsert", b"p2"), (b"clear", b"")]
        assert set(client.scan_iter(match=f"{prefix}:*")) == {f"{prefix}:changes".encode()}
        assert client.exists(f"{namespace}:{B}:entry:q")

    try:
        run_stores(redis_url, namespace, 1, body)
    finally:
        client.close()


def test_replicas_see_each_others_writes(redis_url: str, namespace: str) -> None:
    async def body(writer: RedisStore, reader: RedisStore) -> None:
        assert await reader.count(A) == 0
        await writer.add(Entry("p1", A, vec(1, 0), camera="c1"))
        reloads = Spy(reader, "_reload")
        assert await reader.count(A) == 1  # seen empty, then written: loaded again
        await writer.add(Entry("p2", A, vec(0, 1), camera="c2"))
        assert ids(await reader.search(A, vec(1, 0.1), 5)) == ["p1", "p2"]
        await writer.add(Entry("p2", A, vec(1, 0), label="now-known"), "add")  # an update
        page, total = await reader.list(A, 0, 10)
        assert total == 2 and page[1].count == 2 and page[1].label == "now-known"
        np.testing.assert_allclose(page[1].vector, [0.70710677, 0.70710677], rtol=1e-6)
        await writer.delete(A, "p1")
        assert ids(await reader.search(A, vec(1, 0), 5)) == ["p2"]
        assert ids(await reader.search(A, vec(1, 0), 5, SearchFilters(exclude_camera="c2"))) == []
        assert reloads.calls["_reload"] == 1  # upserts and deletes came through the stream
        await writer.clear(A)
        assert await reader.count(A) == 0
        assert reloads.calls["_reload"] == 2  # a clear reloads
        await writer.add(Entry("p3", A, vec(0, 1)))
        await reader.add(Entry("p4", A, vec(1, 0)))  # and the other way round
        assert ids(await reader.search(A, vec(1, 0), 5)) == ["p4", "p3"]
        assert ids(await writer.search(A, vec(1, 0), 5)) == ["p4", "p3"]
        assert await reader.count(B) == 0

    run_stores(redis_url, namespace, 2, body)


def test_up_to_date_replica_costs_one_round_trip(redis_url: str, namespace: str) -> None:
    async def body(store: RedisStore) -> None:
        await store.enroll_many([Entry(f"p{i}", A, vec(1, i)) for i in range(5)])
        assert await store.count(A) == 5  # loads
        calls = Spy(store._client, "xrange", "xrevrange", "pipeline", "hgetall")
        for _ in range(3):
            assert len(await store.search(A, vec(1, 0), 3)) == 3
        assert calls.calls == {"xrange": 3, "xrevrange": 0, "pipeline": 0, "hgetall": 0}

    run_stores(redis_url, namespace, 1, body)


def test_stream_trimmed_past_last_seen_id_reloads(redis_url: str, namespace: str) -> None:
    client = redis.Redis.from_url(redis_url)

    async def body(writer: RedisStore, reader: RedisStore) -> None:
        await writer.enroll_many([Entry(f"p{i}", A, vec(1, i)) for i in range(3)])
        assert await reader.count(A) == 3
        client.xtrim(f"{namespace}:{A}:changes", maxlen=0)  # as if 100 000 changes had gone by
        await writer.delete(A, "p0")
        await writer.add(Entry("p9", A, vec(0, 1)))
        page, total = await reader.list(A, 0, 10)
        assert [e.id for e in page] == ["p1", "p2", "p9"] and total == 3
        client.delete(f"{namespace}:{A}:changes")  # the stream lost altogether
        await writer.delete(A, "p1")
        assert await reader.count(A) == 2

    try:
        run_stores(redis_url, namespace, 2, body)
    finally:
        client.close()


def test_a_stream_written_again_under_the_last_seen_id_still_reloads(redis_url: str, namespace: str) -> None:
    """A stream deleted and written again in the same millisecond reuses the id a replica last saw,
    for another change: the replica must not take it for the change it saw."""
    client = redis.Redis.from_url(redis_url)
    changes = f"{namespace}:{A}:changes"

    async def body(writer: RedisStore, reader: RedisStore) -> None:
        await writer.enroll_many([Entry(f"p{i}", A, vec(1, i)) for i in range(3)])
        assert await reader.count(A) == 3
        seen_id = client.xrevrange(changes, count=1)[0][0]
        await writer.delete(A, "p1")
        deletion = client.xrevrange(changes, count=1)[0][1]
        client.delete(changes)
        client.xadd(changes, deletion, id=seen_id)  # the deletion, under the id the reader last saw
        assert await reader.count(A) == 2

    try:
        run_stores(redis_url, namespace, 2, body)
    finally:
        client.close()


def test_concurrent_add_enrolments_lose_nothing(
    redis_url: str, namespace: str, units: Callable[..., Any]
) -> None:
    vectors = units(40, 16, seed=11)

    async def body(one: RedisStore, two: RedisStore) -> None:
        await asyncio.gather(*((one, two)[i % 2].add(Entry("p", A, vectors[i]), "add") for i in range(40)))
        stored = await one.get(A, "p")
        assert stored is not None and stored.count == 40
        assert np.linalg.norm(stored.vector) == pytest.approx(1.0, abs=1e-6)
        assert await two.count(A) == 1

    run_stores(redis_url, namespace, 2, body)


def test_new_instance_reads_back_the_whole_gallery(
    redis_url: str, namespace: str, units: Callable[..., Any]
) -> None:
    n = 2500  # more than one batch of 1000 to load
    vectors = units(n, 32, seed=12)
    entries = [
        Entry(f"id{i:05d}", A, vectors[i], camera=f"c{i % 4}", label=f"l{i % 3}", timestamp=1e9 + i)
        for i in range(n)
    ]

    async def write(store: RedisStore) -> None:
        assert await store.enroll_many(entries) == n

    async def read(store: RedisStore) -> None:
        assert await store.count(A) == n
        page, total = await store.list(A, 1000, 3)
        assert total == n and [e.id for e in page] == ["id01000", "id01001", "id01002"]
        for i in (0, 999, 1000, 2499):
            got = await store.get(A, f"id{i:05d}")
            assert got is not None
            np.testing.assert_array_equal(got.vector, vectors[i])
            assert (got.camera, got.label, got.timestamp) == (f"c{i % 4}", f"l{i % 3}", 1e9 + i)
            assert ids(await store.search(A, vectors[i], 1)) == [f"id{i:05d}"]
        assert len(await store.search(A, vectors[0], 10, SearchFilters(exclude_camera="c0"))) == 10

    run_stores(redis_url, namespace, 1, write)
    run_stores(redis_url, namespace, 1, read)  # a brand-new instance in a new event loop


def test_unreachable_redis_raises_store_unavailable() -> None:
    """No Redis needed: port 1 refuses at once, so this also checks the calls fail fast."""

    async def body() -> None:
        store = RedisStore(DOWN_URL, "unreachable")
        started = time.monotonic()
        try:
            assert await store.ping() is False
            calls: list[Callable[[], Awaitable[object]]] = [
                lambda: store.add(Entry("p", A, vec(1, 0))),
                lambda: store.enroll_many([Entry("p", A, vec(1, 0))]),
                lambda: store.get(A, "p"),
                lambda: store.delete(A, "p"),
                lambda: store.clear(A),
                lambda: store.list(A, 0, 10),
                lambda: store.count(A),
                lambda: store.search(A, vec(1, 0), 3),
            ]
            for call in calls:
                with pytest.raises(StoreUnavailable, match=r"gallery store \(Redis\) unreachable") as caught:
                    await call()
                assert caught.value.status == 503
        finally:
            await store.close()
        assert time.monotonic() - started < 5.0

    asyncio.run(body())


class Relay:
    """A TCP relay to Redis that a test can cut and restore on the same port, to play an outage."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        self._writers.clear()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers += [writer, up_writer]
        await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass  # the other side is gone: the relay was cut
        finally:
            writer.close()


def test_reconnects_when_redis_comes_back(redis_url: str, namespace: str) -> None:
    target = urlsplit(redis_url)

    async def body() -> None:
        relay = Relay(target.hostname or "127.0.0.1", target.port or 6379)
        await relay.start()
        store = RedisStore(f"redis://127.0.0.1:{relay.port}/0", namespace)
        try:
            await store.add(Entry("p1", A, vec(1, 0)))
            assert await store.count(A) == 1
            await relay.stop()  # Redis "goes away", the open connection too
            with pytest.raises(StoreUnavailable):
                await store.add(Entry("p2", A, vec(0, 1)))
            with pytest.raises(StoreUnavailable):
                await store.search(A, vec(1, 0), 3)
            assert await store.ping() is False
            await relay.start()  # and comes back: no restart of the store
            assert await store.ping() is True
            await store.add(Entry("p2", A, vec(0, 1)))
            assert ids(await store.search(A, vec(1, 0), 3)) == ["p1", "p2"]
        finally:
            await store.close()
            await relay.stop()

    asyncio.run(body())
