"""The GalleryStore contract. Each test runs on MemoryStore and, through the same body, on RedisStore
(`with_store` is parametrised over both), so the two stores cannot drift apart; the Redis-only
behaviour (replicas, concurrency, restart, outages) is in test_redis_store.py."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import numpy as np
import pytest

from service.core.errors import BadInput, Conflict
from service.gallery import Entry, GalleryStore, MemoryStore, SearchFilters
from service.gallery.redis_store import RedisStore

A, B = "osnet@1", "osnet@2"  # two model ids
Run = Callable[[Callable[[GalleryStore], object]], None]


def vec(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float32)


def ids(matches: list) -> list[str]:
    return [m.entry.id for m in matches]


def test_add_then_get_normalises_and_stamps(with_store: Run) -> None:
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
        assert await store.get(A, "nobody") is None
        assert await store.get(B, "p1") is None

    with_store(body)


def test_replace_starts_afresh(with_store: Run) -> None:
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

    with_store(body)


def test_add_mode_averages_by_count(with_store: Run) -> None:
    async def body(store: GalleryStore) -> None:
        first = await store.add(Entry("p1", A, vec(1, 0), camera="c1", label="x", tags={"a": "1"}), "add")
        assert first.count == 1  # "add" of a new id is a plain enrolment
        await asyncio.sleep(0.002)
        second = await store.add(Entry("p1", A, vec(0, 1), camera="c2", tags={"b": "2"}), "add")
        np.testing.assert_allclose(second.vector, [0.70710677, 0.70710677], rtol=1e-6)
        assert second.count == 2
        assert (second.camera, second.label, second.tags) == ("c2", "x", {"a": "1", "b": "2"})
        assert second.created == first.created and second.updated > first.updated
        # normalize(m2 * 2 + [1, 0]) with m2 = [1, 1] / sqrt(2): [sqrt(2) + 1, sqrt(2)], re-normalised
        third = await store.add(Entry("p1", A, vec(1, 0), tags={"a": "3"}), "add")
        expected = np.array([np.sqrt(2) + 1, np.sqrt(2)])
        np.testing.assert_allclose(third.vector, expected / np.linalg.norm(expected), rtol=1e-6)
        assert third.count == 3 and third.tags == {"a": "3", "b": "2"} and third.camera == "c2"
        # an enrolment that already averages 2 embeddings weighs 2: normalize(m3 * 3 + [0, 1] * 2)
        fourth = await store.add(Entry("p1", A, vec(0, 1), count=2), "add")
        expected = third.vector.astype(np.float64) * 3 + np.array([0.0, 2.0])
        np.testing.assert_allclose(fourth.vector, expected / np.linalg.norm(expected), rtol=1e-6)
        assert fourth.count == 5
        got = await store.get(A, "p1")
        assert got is not None and got.count == 5
        np.testing.assert_array_equal(got.vector, fourth.vector)
        assert await store.count(A) == 1

    with_store(body)


def test_delete(with_store: Run) -> None:
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

    with_store(body)


def test_list_pages_in_id_order(with_store: Run) -> None:
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
        assert await store.count(A) == 7
        entries, total = await store.list(B, 0, 10)
        assert (entries, total) == ([], 0)
        assert await store.count(B) == 0

    with_store(body)


def test_clear_clears_one_model_only(with_store: Run) -> None:
    async def body(store: GalleryStore) -> None:
        for i in range(5):
            await store.add(Entry(f"a{i}", A, vec(1, i)))
        await store.add(Entry("b0", B, vec(0, 1, 0)))
        assert await store.clear(A) == 5
        assert await store.count(A) == 0 and await store.list(A, 0, 10) == ([], 0)
        assert await store.search(A, vec(1, 0), 5) == []
        assert await store.count(B) == 1 and await store.get(B, "b0") is not None
        assert await store.clear(A) == 0
        # a cleared model starts again, here even with another dimension
        await store.add(Entry("a0", A, vec(1, 0, 0, 0)))
        assert ids(await store.search(A, vec(1, 0, 0, 0), 5)) == ["a0"]

    with_store(body)


def test_two_models_never_meet(with_store: Run) -> None:
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
        assert await store.delete(B, "same")
        assert await store.get(A, "same") is not None

    with_store(body)


def test_search_ranks_and_filters(with_store: Run) -> None:
    async def body(store: GalleryStore) -> None:
        assert not await store.approximate(A)  # no index configured: always the exact scan
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
        assert ids(await store.search(A, query, 5, SearchFilters(label="visitor"))) == ["c", "e"]
        window = SearchFilters(time_from=150.0, time_to=400.0)
        assert ids(await store.search(A, query, 5, window)) == ["b", "c", "e"]
        assert ids(await store.search(A, query, 5, SearchFilters(min_similarity=0.7))) == ["a", "b"]
        both = SearchFilters(exclude_camera="cam2", min_similarity=0.5, time_from=150.0)
        assert ids(await store.search(A, query, 5, both)) == ["c"]
        assert await store.search(B, query, 5) == []  # empty gallery of another model
        hit = (await store.search(A, query, 1))[0]
        assert (hit.entry.camera, hit.entry.label, hit.entry.timestamp) == ("cam1", "staff", 100.0)
        assert not await store.approximate(A)

    with_store(body)


def test_refuses_other_dimensions_and_bad_vectors(with_store: Run) -> None:
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

    with_store(body)


def test_callers_cannot_mutate_stored_vectors(with_store: Run) -> None:
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

    with_store(body)


def test_enroll_many(with_store: Run, units: Callable[..., np.ndarray]) -> None:
    async def body(store: GalleryStore) -> None:
        assert isinstance(store, MemoryStore | RedisStore)
        vectors = units(50, 8, seed=4)
        entries = [Entry(f"m{i:02d}", A, vectors[i], camera=f"c{i % 3}") for i in range(50)]
        assert await store.enroll_many(entries) == 50
        assert await store.count(A) == 50
        for i in (0, 17, 49):
            assert ids(await store.search(A, vectors[i], 1)) == [f"m{i:02d}"]
        assert await store.enroll_many([Entry("m00", A, vectors[1])] * 3, mode="add") == 3
        got = await store.get(A, "m00")
        assert got is not None and got.count == 4 and got.camera == "c0"
        expected = vectors[0].astype(np.float64)
        for n in (1, 2, 3):
            expected = expected * n + vectors[1]
            expected /= np.linalg.norm(expected)
        np.testing.assert_allclose(got.vector, expected, atol=1e-6)
        assert await store.enroll_many([]) == 0

    with_store(body)


def test_adding_to_an_expired_entry_starts_afresh(with_store: Run) -> None:
    """An entry whose retention ended is never averaged into a new enrolment under its id, and
    its expiry is still reported (the audit trail records it)."""

    async def body(store: GalleryStore) -> None:
        soon = time.time() + 0.2
        await store.add(Entry("p1", A, vec(1, 0), expires_at=soon), "add")
        await store.add(Entry("keep", A, vec(1, 1)), "add")
        await asyncio.sleep(0.4)
        again = await store.add(Entry("p1", A, vec(0, 1)), "add")
        assert again.count == 1 and again.expires_at is None
        np.testing.assert_allclose(again.vector, [0.0, 1.0], atol=1e-6)
        gone = await store.expire(A, time.time())
        assert gone in ([], ["p1"])  # Redis may drop the key by itself before the sweep
        assert await store.count(A) == 2

    with_store(body)
