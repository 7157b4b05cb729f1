"""MilvusStore beyond the shared contract (which test_store_contract.py runs on Milvus Lite): the
names and expressions it sends, its settings, the approximate index, Redis for locks and
thumbnails, erasure with compaction, and what an unreachable Milvus looks like."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
import redis

from service.core.config import Settings
from service.core.errors import StoreUnavailable
from service.gallery import Entry, SearchFilters

pytest.importorskip("milvus_lite", reason="the `milvus` extra is not installed")

from service.gallery.milvus_store import (
    NEVER,
    MilvusStore,
    collection_name,
    filter_expression,
    quote,
    require_pymilvus,
)

A = "osnet-ain@1.0"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("milvus") / "lite.db"


def prefix() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


def units(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((n, dim))
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def test_collection_names_are_valid_and_never_shared() -> None:
    names = {collection_name("reid", m) for m in ("a-b@1", "a_b@1", "a.b@1", "a b@1", "é@1")}
    assert len(names) == 5
    for name in names:
        assert name.startswith("reid_") and len(name) <= 255
        assert all(c.isascii() and (c.isalnum() or c == "_") for c in name)
    assert collection_name("reid", A) == collection_name("reid", A)
    assert collection_name("reid", A) != collection_name("other", A)


def test_every_expression_excludes_the_expired_and_quotes_its_values() -> None:
    assert filter_expression(None, 12.5) == "expires > 12.5"
    both = filter_expression(
        SearchFilters(exclude_camera='a"b', label="x\\y", time_from=1.0, time_to=2.0), 9.0
    )
    assert both.startswith("expires > 9.0 and ")
    assert 'camera != "a\\"b"' in both and 'label == "x\\\\y"' in both
    assert "timestamp >= 1.0" in both and "timestamp <= 2.0" in both
    assert quote('"') == '"\\""'
    assert NEVER > 4e9  # "kept until deleted" passes every `expires > now`


def test_the_milvus_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """What service/build.py maps onto MilvusStore's arguments (no component reads Settings)."""
    monkeypatch.setenv("REID_MILVUS_URI", "http://milvus:19530")
    monkeypatch.setenv("REID_MILVUS_INDEX", "FLAT")
    monkeypatch.setenv("REID_MILVUS_CONSISTENCY", "Bounded")
    monkeypatch.setenv("REID_MILVUS_TOKEN", "root:Milvus")
    settings = Settings(_env_file=None)
    assert (settings.milvus_uri, settings.milvus_index, settings.milvus_consistency) == (
        "http://milvus:19530",
        "FLAT",
        "Bounded",
    )
    assert settings.milvus_token is not None and settings.milvus_token.get_secret_value() == "root:Milvus"
    monkeypatch.setenv("REID_MILVUS_URI", "")
    monkeypatch.delenv("REID_MILVUS_CONSISTENCY")
    monkeypatch.delenv("REID_MILVUS_INDEX")
    defaults = Settings(_env_file=None)
    assert defaults.milvus_uri is None  # unset, as compose passes an empty variable
    assert (defaults.milvus_consistency, defaults.milvus_index) == ("Shared", "HNSW")
    assert require_pymilvus().__name__ == "pymilvus"


def test_hnsw_is_approximate_and_finds_its_own_vectors(db: Path) -> None:
    vectors = units(300, 32, seed=1)

    async def body() -> None:
        store = MilvusStore(
            str(db), prefix=prefix(), index="HNSW", hnsw_m=8, hnsw_ef_construction=64, scalar_indexes=True
        )
        try:
            await store.enroll_many(
                [
                    Entry(
                        f"h{i:03d}",
                        A,
                        vectors[i],
                        camera=f"c{i % 2}",
                        label=["even", "odd"][i % 2],
                        timestamp=float(i),
                    )
                    for i in range(300)
                ]
            )
            assert await store.approximate(A)
            for i in (0, 99, 299):
                assert [m.entry.id for m in await store.search(A, vectors[i], 1)] == [f"h{i:03d}"]
            hits = await store.search(A, vectors[4], 10, SearchFilters(exclude_camera="c0"))
            assert len(hits) == 10 and {m.entry.camera for m in hits} == {"c1"}
            # the scalar indexes (INVERTED on Lite) answer the selective filters
            window = SearchFilters(label="odd", time_from=100.0, time_to=199.0)
            assert {m.entry.id for m in await store.search(A, vectors[0], 100, window)} == {
                f"h{i:03d}" for i in range(101, 200, 2)
            }
        finally:
            await store.close()

    asyncio.run(body())


def test_erase_compacts_and_nothing_reads_the_vector_back(db: Path) -> None:
    vectors = units(30, 16, seed=2)

    async def body() -> None:
        store = MilvusStore(str(db), prefix=prefix(), index="FLAT", compact_interval_s=None)
        try:
            await store.enroll_many([Entry(f"e{i:02d}", A, vectors[i], label=f"l{i}") for i in range(30)])
            assert await store.erase(A, "e03") is True
            assert await store.get(A, "e03") is None
            assert await store.search(A, vectors[3], 30, SearchFilters(label="l3")) == []
            assert "e03" not in [m.entry.id for m in await store.search(A, vectors[3], 30)]
            assert "e03" not in await store.ids(A)
            assert await store.count(A) == 29
            assert await store.erase(A, "e03") is False
        finally:
            await store.close()

    asyncio.run(body())


def test_expire_reports_the_ended_and_a_new_add_reports_what_it_replaced(db: Path) -> None:
    async def body() -> None:
        store = MilvusStore(str(db), prefix=prefix(), index="FLAT")
        try:
            await store.add(Entry("keep", A, np.ones(4, np.float32)))
            await store.add(Entry("x", A, np.ones(4, np.float32), expires_at=time.time() + 0.2), "add")
            await asyncio.sleep(0.3)
            again = await store.add(Entry("x", A, np.ones(4, np.float32)), "add")
            assert again.count == 1
            assert await store.expire(A, time.time()) == ["x"]  # for the audit trail, as memory does
            assert await store.get(A, "x") is not None  # the new enrolment stays
        finally:
            await store.close()

    asyncio.run(body())


def test_unreachable_milvus_is_not_ready_and_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    async def body() -> None:
        store = MilvusStore(f"http://127.0.0.1:{port}", timeout_s=2.0)
        try:
            assert await store.ping() is False
            with pytest.raises(StoreUnavailable) as raised:
                await store.count(A)
            assert raised.value.status == 503
            with pytest.raises(StoreUnavailable):
                await store.add(Entry("p", A, np.ones(4, np.float32)))
        finally:
            await store.close()

    asyncio.run(body())


def test_replicas_with_redis_share_locks_and_thumbnails(db: Path, redis_url: str, namespace: str) -> None:
    """Two stores with Redis (two replicas): "add" enrolments of one id from both lose nothing,
    and a thumbnail written by one is read by the other, with its lifetime capped."""
    name = prefix()

    async def body() -> None:
        one, two = (
            MilvusStore(
                str(db),
                prefix=name,
                index="FLAT",
                redis_url=redis_url,
                redis_namespace=namespace,
                thumbnail_ttl_s=60,
            )
            for _ in range(2)
        )
        try:
            await one.add(Entry("p", A, np.array([1, 0, 0], np.float32)))
            await asyncio.gather(
                *(
                    (one if i % 2 else two).add(Entry("p", A, np.array([0, 1, 0], np.float32)), "add")
                    for i in range(10)
                )
            )
            got = await two.get(A, "p")
            assert got is not None and got.count == 11
            assert await one.ping() and await two.ping()
            await one.put_thumbnail(A, "p", b"jpeg", None)
            assert await two.get_thumbnail(A, "p") == b"jpeg"
            client = redis.Redis.from_url(redis_url)
            key = f"{namespace}:{A}:thumb:p"
            assert 0 < client.pttl(key) <= 60_000  # capped, though the entry is kept until deleted
            assert await two.delete(A, "p")
            assert not client.exists(key) and await one.get_thumbnail(A, "p") is None
            assert not list(client.scan_iter(match=f"{namespace}:{A}:lock:*"))  # locks released
            client.close()
        finally:
            await one.close()
            await two.close()

    asyncio.run(body())


def test_shared_consistency_raises_the_write_timestamp_only(redis_url: str, namespace: str) -> None:
    """The shared write timestamp in Redis only ever rises (replicas' writes land in any order),
    compared exactly (hybrid timestamps are past 2**53, which Lua's numbers would round), and a
    read waits for it at the Customized level; without the key (or without Redis) reads are Strong
    (or Session)."""
    from service.gallery.milvus_store import _RAISE_TS

    async def body() -> None:
        store = MilvusStore(
            "http://127.0.0.1:1", prefix=prefix(), redis_url=redis_url, redis_namespace=namespace
        )
        lone = MilvusStore("http://127.0.0.1:1", prefix=prefix())
        try:
            assert store.consistency == "Shared"
            assert await store._read_level(A) == {"consistency_level": "Strong"}  # no write known yet
            assert await lone._read_level(A) == {"consistency_level": "Session"}
            key = store._ts_key(A)
            high, low = 470984250927349761, 470984250927349760  # one apart: equal as doubles
            await store._redis.eval(_RAISE_TS, 1, key, f"{high:020d}")
            await store._redis.eval(_RAISE_TS, 1, key, f"{low:020d}")
            assert int(await store._redis.get(key)) == high
            assert await store._read_level(A) == {
                "consistency_level": "Customized",
                "guarantee_timestamp": high,
            }
            store._write_ts[collection_name(store.prefix, A)] = high + 5  # its own later write
            await store._publish(A)
            assert int(await store._redis.get(key)) == high + 5
            for level in ("Strong", "Bounded", "Session", "Eventually"):
                store.consistency = level
                assert await store._read_level(A) == {"consistency_level": level}
        finally:
            await store.close()
            await lone.close()

    asyncio.run(body())


def test_shared_consistency_between_two_stores_on_lite(db: Path, redis_url: str, namespace: str) -> None:
    """Two stores with Redis at the default (Shared) level: what one enrols the other finds at once,
    what one erases the other never returns (Lite sees every write; the server test checks the
    waiting)."""
    name = prefix()

    async def body() -> None:
        one, two = (
            MilvusStore(str(db), prefix=name, index="FLAT", redis_url=redis_url, redis_namespace=namespace)
            for _ in range(2)
        )
        try:
            vectors = units(5, 8, seed=4)
            for i, vector in enumerate(vectors):
                await one.add(Entry(f"s{i}", A, vector))
                assert [m.entry.id for m in await two.search(A, vector, 1)] == [f"s{i}"]
            for i, vector in enumerate(vectors):
                assert await one.delete(A, f"s{i}")
                assert f"s{i}" not in [m.entry.id for m in await two.search(A, vector, 5)]
                assert await two.get(A, f"s{i}") is None
            assert await two.count(A) == 0
        finally:
            await one.close()
            await two.close()

    asyncio.run(body())
