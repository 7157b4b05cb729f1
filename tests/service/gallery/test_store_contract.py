"""The one GalleryStore contract, run on every store: process memory, Redis and Milvus (Lite here,
in a file of the test's module; the real server runs the same tests in test_milvus_server.py, which
imports them and brings its own `backend` fixture).

Each test takes `backend`, whose `run(body)` calls `body(store)` in a fresh event loop with a fresh,
empty store (and closes it), and `run_replicas(n, body)` with n stores on the same gallery (service
replicas; memory has one process only, so its "replicas" are one store given n times).
"""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from service.core.errors import BadInput, Conflict
from service.gallery import Entry, GalleryStore, MemoryStore, RedisStore, SearchFilters

A, B = "osnet@1", "osnet@2"  # two model ids
StoreFactory = Callable[[], GalleryStore]


def vec(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float32)


def ids(matches: list) -> list[str]:
    return [m.entry.id for m in matches]


def unit_vectors(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((n, dim))
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


@dataclass
class Backend:
    """Stores of one kind on one (test-private) gallery."""

    name: str
    factory: StoreFactory
    shared: bool = True  # False: every factory() call is a separate gallery (memory)

    def run(self, body: Callable[[GalleryStore], Awaitable[None]]) -> None:
        self.run_replicas(1, body)

    def run_replicas(self, n: int, body: Callable[..., Awaitable[None]]) -> None:
        async def main() -> None:
            stores = [self.factory() for _ in range(n)] if self.shared else [self.factory()] * n
            try:
                await body(*stores)
            finally:
                for store in dict.fromkeys(stores):
                    await store.close()

        asyncio.run(main())


@pytest.fixture(scope="module")
def milvus_lite_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One Lite database for the module: opening one costs little, each collection about a second."""
    pytest.importorskip("pymilvus", reason="the `milvus` extra is not installed")
    pytest.importorskip("milvus_lite", reason="the `milvus` extra is not installed")
    return tmp_path_factory.mktemp("milvus") / "gallery.db"


def milvus_factory(uri: str, **options: object) -> StoreFactory:
    from service.gallery.milvus_store import MilvusStore

    # a prefix per test: its collections are its own, whatever the others left in the database
    prefix = f"t{uuid.uuid4().hex[:12]}"
    return functools.partial(MilvusStore, uri, prefix=prefix, index="FLAT", **options)


@pytest.fixture(params=["memory", "redis", "milvus_lite"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    if request.param == "memory":
        yield Backend("memory", MemoryStore, shared=False)
    elif request.param == "redis":
        url, namespace = request.getfixturevalue("redis_url"), request.getfixturevalue("namespace")
        yield Backend("redis", functools.partial(RedisStore, url, namespace))
    else:
        path = request.getfixturevalue("milvus_lite_file")
        yield Backend("milvus_lite", milvus_factory(str(path)))


def test_add_then_get_normalises_and_stamps(backend: Backend) -> None:
    async def body(store: GalleryStore) -> None:
        stored = await store.add(
            Entry("p1", A, vec(3, 4), camera="c1", label="alice", timestamp=1700000000.25, tags={"k": "v"})
        )
        np.testing.assert_allclose(stored.vector, [0.6, 0.8], rtol=1e-6)
        assert stored.count == 1 and stored.created == stored.updated > 0
        got = await store.get(A, "p1")
        assert got is not None
        np.testing.assert_array_equal(got.vector, stored.vector)
        assert got.vector.dtype == np.float32
        assert (got.camera, got.label, got.timestamp, got.tags) == ("c1", "alice", 1700000000.25, {"k": "v"})
        assert (got.created, got.updated, got.count, got.model_id) == (stored.created, stored.updated, 1, A)
        assert got.expires_at is None
        assert await store.get(A, "nobody") is None
        assert await store.get(B, "p1") is None
        bare = await store.add(Entry("p2", A, vec(0, 1)))
        got = await store.get(A, "p2")
        assert got is not None and (got.camera, got.label, got.timestamp, got.tags) == (None, None, None, {})
        assert got.created == bare.created

    backend.run(body)


def test_replace_starts_afresh(backend: Backend) -> None:
    async def body(store: GalleryStore) -> None:
        first = await store.add(Entry("p1", A, vec(1, 0), camera="c1", tags={"old": "1"}))
        await asyncio.sleep(0.002)
        second = await store.add(Entry("p1", A, vec(0, 1), label="bob"), mode="replace")
        assert second.created > first.created
        got = await store.get(A, "p1")
        assert got is not None
        np.testing.assert_allclose(got.vector, [0.0, 1.0])
        assert (got.camera, got.label, got.tags, got.count) == (None, "bob", {}, 1)
        assert await store.count(A) == 1

    backend.run(body)


def test_add_mode_averages_by_count(backend: Backend) -> None:
    async def body(store: GalleryStore) -> None:
        first = await store.add(Entry("p1", A, vec(1, 0), camera="c1", label="x", tags={"a": "1"}), "add")
        assert first.count == 1  # "add" of a new id is a plain enrolment
        await asyncio.sleep(0.002)
        second = await store.add(Entry("p1", A, vec(0, 1), camera="c2", tags={"b": "2"}), "add")
        np.testing.assert_allclose(second.vector, [0.70710677, 0.70710677], rtol=1e-6)
        assert second.count == 2
        assert (second.camera, second.label, second.tags) == ("c2", "x", {"a": "1", "b": "2"})
        assert second.created == first.created and second.updated > first.updated
        third = await store.add(Entry("p1", A, vec(1, 0), tags={"a": "3"}), "add")
        expected = np.array([np.sqrt(2) + 1, np.sqrt(2)])
        np.testing.assert_allclose(third.vector, expected / np.linalg.norm(expected), rtol=1e-6)
        assert third.count == 3 and third.tags == {"a": "3", "b": "2"} and third.camera == "c2"
        fourth = await store.add(Entry("p1", A, vec(0, 1), count=2), "add")
        expected = third.vector.astype(np.float64) * 3 + np.array([0.0, 2.0])
        np.testing.assert_allclose(fourth.vector, expected / np.linalg.norm(expected), rtol=1e-6)
        assert fourth.count == 5
        got = await store.get(A, "p1")
        assert got is not None and got.count == 5 and got.created == first.created
        np.testing.assert_array_equal(got.vector, fourth.vector)
        assert await store.count(A) == 1

    backend.run(body)


def test_concurrent_add_enrolments_lose_nothing(backend: Backend) -> None:
    """Two replicas enrolling "add" onto one id at once: every embedding counts."""

    async def body(one: GalleryStore, two: GalleryStore) -> None:
        await one.add(Entry("p1", A, vec(1, 0, 0)), "add")
        calls = [
            (one if i % 2 else two).add(Entry("p1", A, vec(0, 1, 0) if i % 2 else vec(0, 0, 1)), "add")
            for i in range(12)
        ]
        await asyncio.gather(*calls)
        got = await two.get(A, "p1")
        assert got is not None and got.count == 13  # a lost update would leave fewer
        assert got.vector[1] > 0.3 and got.vector[2] > 0.3  # both replicas' embeddings are in

    backend.run_replicas(2, body)


def test_delete(backend: Backend) -> None:
    async def body(store: GalleryStore) -> None:
        await store.add(Entry("p1", A, vec(1, 0)))
        await store.add(Entry("p2", A, vec(0, 1)))
        assert await store.delete(A, "p1") is True
        assert await store.delete(A, "p1") is False
        assert await store.delete(A, "never") is False
        assert await store.delete(B, "p2") is False
        assert await store.get(A, "p1") is None
        assert await store.count(A) == 1
        assert ids(await store.search(A, vec(1, 0), 5)) == ["p2"]

    backend.run(body)


def test_list_pages_in_id_order(backend: Backend) -> None:
    async def body(store: GalleryStore) -> None:
        names = ["id07", "id03", "id10", "id01", "id05", "id02", "id09"]
        for i, name in enumerate(names):
            await store.add(Entry(name, A, vec(1, i)))
        pages = [await store.list(A, offset, 3) for offset in (0, 3, 6, 9)]
        assert [[e.id for e in page] for page, _ in pages] == [
            ["id01", "id02", "id03"],
            ["id05", "id07", "id09"],
            ["id10"],
            [],
        ]
        assert {total for _, total in pages} == {7}
        page, _ = await store.list(A, 1, 1)
        assert [e.id for e in page] == ["id02"] and page[0].vector.shape == (2,)
        assert await store.count(A) == 7
        entries, total = await store.list(B, 0, 10)
        assert (entries, total) == ([], 0)
        assert await store.count(B) == 0

    backend.run(body)


def test_clear_clears_one_model_only(backend: Backend) -> None:
    async def body(store: GalleryStore) -> None:
        for i in range(5):
            await store.add(Entry(f"a{i}", A, vec(1, i)))
        await store.add(Entry("b0", B, vec(0, 1, 0)))
        assert await store.clear(A) == 5
        assert await store.count(A) == 0 and await store.list(A, 0, 10) == ([], 0)
        assert await store.search(A, vec(1, 0), 5) == []
        assert await store.get(A, "a1") is None
        assert await store.count(B) == 1 and await store.get(B, "b0") is not None
        assert await store.clear(A) == 0
        # a cleared model starts again, here even with another dimension
        await store.add(Entry("a0", A, vec(1, 0, 0, 0)))
        assert ids(await store.search(A, vec(1, 0, 0, 0), 5)) == ["a0"]

    backend.run(body)


def test_clear_seen_by_another_replica(backend: Backend) -> None:
    async def body(one: GalleryStore, two: GalleryStore) -> None:
        await one.add(Entry("a0", A, vec(1, 0)))
        assert await two.count(A) == 1
        assert await one.clear(A) == 1
        assert await two.count(A) == 0 and await two.get(A, "a0") is None
        await two.add(Entry("a1", A, vec(1, 0, 0)))  # the other replica enrols afresh
        assert ids(await one.search(A, vec(1, 0, 0), 5)) == ["a1"]

    backend.run_replicas(2, body)


def test_two_models_never_meet(backend: Backend) -> None:
    async def body(store: GalleryStore) -> None:
        await store.add(Entry("same", A, vec(1, 0)))
        await store.add(Entry("only-a", A, vec(0.9, 0.1)))
        await store.add(Entry("same", B, vec(0, 1, 0)))  # another model, another dimension even
        got_a, got_b = await store.get(A, "same"), await store.get(B, "same")
        assert got_a is not None and got_b is not None and got_a.vector.shape == (2,)
        assert got_b.vector.shape == (3,)
        assert {m.entry.model_id for m in await store.search(A, vec(1, 0), 10)} == {A}
        assert ids(await store.search(B, vec(0, 1, 0), 10)) == ["same"]
        assert await store.count(A) == 2 and await store.count(B) == 1
        assert [e.id for e in (await store.list(B, 0, 10))[0]] == ["same"]
        assert await store.delete(B, "same")
        assert await store.get(A, "same") is not None

    backend.run(body)


def test_search_ranks_and_filters(backend: Backend) -> None:
    async def body(store: GalleryStore) -> None:
        gallery = [  # id, vector, camera, label, timestamp
            ("a", vec(1, 0, 0), "cam1", "staff", 100.0),
            ("b", vec(0.8, 0.6, 0), "cam2", "staff", 200.0),
            ("c", vec(0.6, 0, 0.8), "cam1", "visitor", 300.0),
            ("d", vec(0, 1, 0), "cam2", None, None),
            ("e", vec(-1, 0, 0), "cam3", "visitor", 400.0),
        ]
        for entry_id, vector, camera, label, timestamp in gallery:
            await store.add(Entry(entry_id, A, vector, camera=camera, label=label, timestamp=timestamp))
        query = vec(2, 0, 0)  # not normalised: the store does it
        matches = await store.search(A, query, 3)
        assert ids(matches) == ["a", "b", "c"]
        assert [m.similarity for m in matches] == pytest.approx([1.0, 0.8, 0.6], abs=1e-6)
        assert ids(await store.search(A, query, 50)) == ["a", "b", "c", "d", "e"]  # k > N
        assert ids(await store.search(A, query, 5, SearchFilters(exclude_camera="cam1"))) == ["b", "d", "e"]
        assert ids(await store.search(A, query, 5, SearchFilters(exclude_camera="nowhere"))) == list("abcde")
        assert ids(await store.search(A, query, 5, SearchFilters(label="visitor"))) == ["c", "e"]
        assert await store.search(A, query, 5, SearchFilters(label="nobody")) == []
        window = SearchFilters(time_from=150.0, time_to=400.0)
        assert ids(await store.search(A, query, 5, window)) == ["b", "c", "e"]
        assert ids(await store.search(A, query, 5, SearchFilters(time_to=250.0))) == ["a", "b"]
        assert ids(await store.search(A, query, 5, SearchFilters(min_similarity=0.7))) == ["a", "b"]
        both = SearchFilters(exclude_camera="cam2", min_similarity=0.5, time_from=150.0)
        assert ids(await store.search(A, query, 5, both)) == ["c"]
        assert await store.search(B, query, 5) == []  # empty gallery of another model
        hit = (await store.search(A, query, 1))[0]
        assert (hit.entry.camera, hit.entry.label, hit.entry.timestamp) == ("cam1", "staff", 100.0)
        assert hit.entry.model_id == A and hit.entry.count == 1
        assert not await store.approximate(A)  # the contract runs every store exact

    backend.run(body)


def test_filters_quote_what_they_compare(backend: Backend) -> None:
    """Labels are free text: a quote or a backslash in one is compared, never interpreted."""

    async def body(store: GalleryStore) -> None:
        odd = 'x" or camera != "'
        await store.add(Entry("p1", A, vec(1, 0), camera=odd, label="a\\b"))
        await store.add(Entry("p2", A, vec(1, 0.1), camera="c2", label="plain"))
        assert ids(await store.search(A, vec(1, 0), 5, SearchFilters(exclude_camera=odd))) == ["p2"]
        assert ids(await store.search(A, vec(1, 0), 5, SearchFilters(label="a\\b"))) == ["p1"]

    backend.run(body)


def test_refuses_other_dimensions_and_bad_vectors(backend: Backend) -> None:
    async def body(store: GalleryStore) -> None:
        await store.add(Entry("p1", A, vec(1, 0, 0)))
        with pytest.raises(Conflict):
            await store.add(Entry("p2", A, vec(1, 0)))
        with pytest.raises(Conflict):
            await store.add(Entry("p1", A, vec(1, 0)), "add")
        with pytest.raises(Conflict):
            await store.search(A, vec(1, 0), 3)
        with pytest.raises(BadInput):
            await store.add(Entry("p3", A, vec(0, 0, 0)))
        with pytest.raises(BadInput):
            await store.search(A, vec(np.nan, 0, 0), 3)
        assert await store.count(A) == 1

    backend.run(body)


def test_callers_cannot_mutate_stored_vectors(backend: Backend) -> None:
    async def body(store: GalleryStore) -> None:
        vector = vec(1, 0)
        stored = await store.add(Entry("p1", A, vector))
        vector[:] = [0, 1]
        stored.vector[:] = [0, 1]
        got = await store.get(A, "p1")
        assert got is not None
        np.testing.assert_array_equal(got.vector, [1, 0])
        got.vector[:] = [0, 1]
        hit = (await store.search(A, vec(1, 0), 1))[0]
        hit.entry.vector[:] = [0, 1]
        hit.entry.tags["x"] = "y"
        again = await store.get(A, "p1")
        assert again is not None and again.tags == {}
        np.testing.assert_array_equal(again.vector, [1, 0])
        assert (await store.search(A, vec(1, 0), 1))[0].similarity == pytest.approx(1.0)

    backend.run(body)


def test_enroll_many(backend: Backend) -> None:
    async def body(store: GalleryStore) -> None:
        vectors = unit_vectors(50, 8, seed=4)
        entries = [Entry(f"m{i:02d}", A, vectors[i], camera=f"c{i % 3}") for i in range(50)]
        assert await store.enroll_many(entries) == 50  # type: ignore[attr-defined]
        assert await store.count(A) == 50
        for i in (0, 17, 49):
            assert ids(await store.search(A, vectors[i], 1)) == [f"m{i:02d}"]
        assert await store.enroll_many([Entry("m00", A, vectors[1])] * 3, mode="add") == 3  # type: ignore[attr-defined]
        got = await store.get(A, "m00")
        assert got is not None and got.count == 4 and got.camera == "c0"
        expected = vectors[0].astype(np.float64)
        for n in (1, 2, 3):
            expected = expected * n + vectors[1]
            expected /= np.linalg.norm(expected)
        np.testing.assert_allclose(got.vector, expected, atol=1e-6)
        assert await store.enroll_many([]) == 0  # type: ignore[attr-defined]

    backend.run(body)


def test_expired_entries_are_never_read_and_expire_removes_them(backend: Backend) -> None:
    async def body(store: GalleryStore) -> None:
        await store.add(Entry("kept", A, vec(0, 1)))  # first: a new Milvus collection takes a second
        soon = time.time() + 2.5  # a server's Strong reads wait for its time tick (400 ms each)
        await store.add(Entry("short", A, vec(1, 0), label="gone", expires_at=soon))
        await store.add(Entry("long", A, vec(0.9, 0.1), expires_at=time.time() + 3600))
        got = await store.get(A, "short")
        assert got is not None and got.expires_at == pytest.approx(soon)
        assert await store.count(A) == 3
        await asyncio.sleep(max(0.0, soon - time.time()) + 0.1)
        # gone for every read before any sweep
        assert await store.get(A, "short") is None
        assert await store.count(A) == 2
        assert [e.id for e in (await store.list(A, 0, 10))[0]] == ["kept", "long"]
        assert ids(await store.search(A, vec(1, 0), 5)) == ["long", "kept"]
        assert await store.search(A, vec(1, 0), 5, SearchFilters(label="gone")) == []
        gone = await store.expire(A, time.time())
        assert gone in ([], ["short"])  # Redis may drop the key by itself before the sweep
        assert await store.expire(A, time.time()) == []
        assert await store.count(A) == 2
        # expire() with a later "now" ends what is due by then, and only that
        assert await store.expire(A, time.time() + 7200) == ["long"]
        assert [e.id for e in (await store.list(A, 0, 10))[0]] == ["kept"]

    backend.run(body)


def test_adding_to_an_expired_entry_starts_afresh(backend: Backend) -> None:
    async def body(store: GalleryStore) -> None:
        soon = time.time() + 0.3
        await store.add(Entry("p1", A, vec(1, 0), expires_at=soon), "add")
        await store.add(Entry("keep", A, vec(1, 1)), "add")
        await asyncio.sleep(0.5)
        again = await store.add(Entry("p1", A, vec(0, 1)), "add")
        assert again.count == 1 and again.expires_at is None
        np.testing.assert_allclose(again.vector, [0.0, 1.0], atol=1e-6)
        gone = await store.expire(A, time.time())
        assert gone in ([], ["p1"])
        assert await store.count(A) == 2

    backend.run(body)


def test_thumbnails_follow_their_entry(backend: Backend) -> None:
    async def body(store: GalleryStore) -> None:
        jpeg = b"\xff\xd8 a strip \xff\xd9"
        await store.add(Entry("p1", A, vec(1, 0)))
        soon = time.time() + 2.5  # a server's Strong reads wait for its time tick (400 ms each)
        await store.add(Entry("p2", A, vec(0, 1), expires_at=soon))
        await store.put_thumbnail(A, "p1", jpeg, None)
        await store.put_thumbnail(A, "p2", b"two", soon)
        await store.put_thumbnail(A, "nobody", b"orphan", None)  # no entry: not kept
        assert await store.get_thumbnail(A, "p1") == jpeg
        assert await store.get_thumbnail(A, "p2") == b"two"
        assert await store.get_thumbnail(A, "nobody") is None
        assert await store.get_thumbnail(B, "p1") is None
        await asyncio.sleep(max(0.0, soon - time.time()) + 0.1)
        assert await store.get_thumbnail(A, "p2") is None  # the entry's retention ended
        assert await store.delete(A, "p1")
        assert await store.get_thumbnail(A, "p1") is None
        await store.add(Entry("p1", A, vec(1, 0)))  # a new enrolment does not bring it back
        assert await store.get_thumbnail(A, "p1") is None
        await store.put_thumbnail(A, "p1", jpeg, None)
        await store.clear(A)
        await store.add(Entry("p1", A, vec(1, 0)))
        assert await store.get_thumbnail(A, "p1") is None

    backend.run(body)


def test_erased_entry_cannot_be_read_back(backend: Backend) -> None:
    """Erasure: after an acknowledged delete (and, where the store compacts, its compaction) the
    vector is found neither by id, nor by a filter only it passes, nor by a search for itself, from
    any replica; an "add" under its id starts afresh rather than averaging the erased vector in."""

    async def body(one: GalleryStore, two: GalleryStore) -> None:
        vectors = unit_vectors(20, 16, seed=7)
        for i in range(20):
            await one.add(Entry(f"p{i:02d}", A, vectors[i], camera=f"c{i % 4}", label=f"l{i}"))
        target = vectors[5]
        assert ids(await two.search(A, target, 1)) == ["p05"]
        erase = getattr(one, "erase", None)
        if erase is not None:
            assert await erase(A, "p05") is True  # delete, then compaction
        else:
            assert await one.delete(A, "p05") is True
        for store in (one, two):
            assert await store.get(A, "p05") is None
            assert await store.search(A, target, 20, SearchFilters(label="l5")) == []
            hits = await store.search(A, target, 20)
            assert "p05" not in ids(hits) and len(hits) == 19
            assert all(m.similarity < 0.99 for m in hits)
            assert "p05" not in [e.id for e in (await store.list(A, 0, 100))[0]]
            assert await store.count(A) == 19
        again = await two.add(Entry("p05", A, vectors[6]), "add")
        assert again.count == 1
        np.testing.assert_allclose(again.vector, vectors[6], atol=1e-6)

    backend.run_replicas(2, body)


def test_ping(backend: Backend) -> None:
    async def body(store: GalleryStore) -> None:
        assert await store.ping()

    backend.run(body)


# what test_milvus_server.py runs against the real server
CONTRACT = [
    test_add_then_get_normalises_and_stamps,
    test_replace_starts_afresh,
    test_add_mode_averages_by_count,
    test_concurrent_add_enrolments_lose_nothing,
    test_delete,
    test_list_pages_in_id_order,
    test_clear_clears_one_model_only,
    test_clear_seen_by_another_replica,
    test_two_models_never_meet,
    test_search_ranks_and_filters,
    test_filters_quote_what_they_compare,
    test_refuses_other_dimensions_and_bad_vectors,
    test_callers_cannot_mutate_stored_vectors,
    test_enroll_many,
    test_expired_entries_are_never_read_and_expire_removes_them,
    test_adding_to_an_expired_entry_starts_afresh,
    test_thumbnails_follow_their_entry,
    test_erased_entry_cannot_be_read_back,
    test_ping,
]
