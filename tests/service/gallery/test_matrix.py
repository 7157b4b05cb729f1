"""GalleryMatrix: ranking, filters, ties, growth and swap-with-last removal, against a brute force."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from service.core.errors import BadInput, Conflict
from service.gallery import Entry, GalleryMatrix, SearchFilters
from service.gallery.enrolment import unit_vector, weighted_mean

MODEL = "m@1"


def entry(
    entry_id: str,
    vector: list[float] | np.ndarray,
    camera: str | None = None,
    label: str | None = None,
    timestamp: float | None = None,
) -> Entry:
    return Entry(entry_id, MODEL, unit_vector(np.asarray(vector)), camera, label, timestamp)


def brute_force(entries: dict[str, Entry], query: np.ndarray, k: int, filters: SearchFilters) -> list[str]:
    """The reference: a Python loop over every entry, sorted by (-similarity, id)."""
    scored = []
    for e in entries.values():
        s = float(np.float32(e.vector @ query))
        if filters.exclude_camera is not None and e.camera == filters.exclude_camera:
            continue
        if filters.label is not None and e.label != filters.label:
            continue
        if filters.time_from is not None and (e.timestamp is None or e.timestamp < filters.time_from):
            continue
        if filters.time_to is not None and (e.timestamp is None or e.timestamp > filters.time_to):
            continue
        if filters.min_similarity is not None and s < filters.min_similarity:
            continue
        scored.append((-s, e.id))
    return [entry_id for _, entry_id in sorted(scored)[:k]]


def random_entries(
    units: Callable[..., np.ndarray], n: int, dim: int = 16, seed: int = 0
) -> dict[str, Entry]:
    rng = np.random.default_rng(seed)
    vectors = units(n, dim, seed)
    return {
        f"e{i:04d}": entry(
            f"e{i:04d}",
            vectors[i],
            camera=f"c{rng.integers(3)}",
            label=None if i % 5 == 0 else f"l{rng.integers(2)}",
            timestamp=None if i % 7 == 0 else float(rng.integers(0, 100)),
        )
        for i in range(n)
    }


def ids(matches: list) -> list[str]:
    return [m.entry.id for m in matches]


HAND = {
    "a": [1.0, 0.0, 0.0],
    "b": [0.8, 0.6, 0.0],
    "c": [0.0, 1.0, 0.0],
    "d": [-1.0, 0.0, 0.0],
    "e": [0.6, 0.0, 0.8],
}


@pytest.fixture
def hand() -> GalleryMatrix:
    matrix = GalleryMatrix()
    for i, (entry_id, vector) in enumerate(HAND.items()):
        matrix.upsert(
            entry(entry_id, vector, camera=f"cam{i % 2}", label="x" if i < 3 else "y", timestamp=10.0 * i)
        )
    return matrix


def test_search_ranks_by_cosine_similarity(hand: GalleryMatrix) -> None:
    matches = hand.search(unit_vector(np.array([1.0, 0.0, 0.0])), k=5)
    assert ids(matches) == ["a", "b", "e", "c", "d"]
    assert [m.similarity for m in matches] == pytest.approx([1.0, 0.8, 0.6, 0.0, -1.0], abs=1e-6)
    assert matches[1].distance == pytest.approx(0.2, abs=1e-6)
    assert matches[0].entry.camera == "cam0" and matches[0].entry.timestamp == 0.0


def test_k_larger_than_n_and_k_zero(hand: GalleryMatrix) -> None:
    query = unit_vector(np.array([0.0, 1.0, 0.0]))
    assert ids(hand.search(query, k=100)) == ["c", "b", "a", "d", "e"]  # a, d, e tie at 0: by id
    assert ids(hand.search(query, k=2)) == ["c", "b"]
    assert hand.search(query, k=0) == []


def test_empty_gallery() -> None:
    matrix = GalleryMatrix()
    assert len(matrix) == 0 and matrix.dim is None
    assert matrix.search(np.array([1.0, 0.0], np.float32), k=3) == []
    assert matrix.page(0, 10) == []
    assert matrix.get("x") is None and not matrix.remove("x")


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (SearchFilters(exclude_camera="cam0"), ["b", "d"]),  # a, c, e are cam0
        (SearchFilters(exclude_camera="elsewhere"), ["a", "b", "e", "c", "d"]),
        (SearchFilters(label="y"), ["e", "d"]),
        (SearchFilters(label="never-seen"), []),
        (SearchFilters(time_from=10.0, time_to=30.0), ["b", "c", "d"]),  # bounds inclusive
        (SearchFilters(time_from=25.0), ["e", "d"]),
        (SearchFilters(time_to=5.0), ["a"]),
        (SearchFilters(min_similarity=0.55), ["a", "b", "e"]),
        (SearchFilters(min_similarity=0.7, exclude_camera="cam1"), ["a"]),
        (SearchFilters(label="x", exclude_camera="cam0", min_similarity=-1.0), ["b"]),
    ],
)
def test_each_filter(hand: GalleryMatrix, filters: SearchFilters, expected: list[str]) -> None:
    assert ids(hand.search(unit_vector(np.array([1.0, 0.0, 0.0])), k=10, filters=filters)) == expected


def test_entries_without_timestamp_fail_a_time_filter() -> None:
    matrix = GalleryMatrix()
    matrix.upsert(entry("dated", [1.0, 0.0], timestamp=5.0))
    matrix.upsert(entry("undated", [1.0, 0.0]))
    query = np.array([1.0, 0.0], np.float32)
    assert ids(matrix.search(query, 5)) == ["dated", "undated"]
    assert ids(matrix.search(query, 5, SearchFilters(time_from=0.0))) == ["dated"]


def test_ties_are_broken_by_id_whatever_the_row_order() -> None:
    matrix = GalleryMatrix()
    for entry_id in ["t5", "t2", "t9", "t1", "t7", "t3"]:
        matrix.upsert(entry(entry_id, [0.0, 1.0]))
    matrix.upsert(entry("best", [0.1, 1.0]))
    query = unit_vector(np.array([0.1, 1.0]))
    assert ids(matrix.search(query, k=3)) == ["best", "t1", "t2"]
    assert ids(matrix.search(query, k=10)) == ["best", "t1", "t2", "t3", "t5", "t7", "t9"]


def test_matches_brute_force_with_filters(units: Callable[..., np.ndarray]) -> None:
    entries = random_entries(units, 300)
    matrix = GalleryMatrix()
    for e in entries.values():
        matrix.upsert(e)
    queries = units(5, 16, seed=99)
    for filters in [
        SearchFilters(),
        SearchFilters(exclude_camera="c1"),
        SearchFilters(label="l0", time_from=20.0, time_to=80.0),
        SearchFilters(min_similarity=0.2, exclude_camera="c0"),
    ]:
        for query in queries:
            for k in (1, 7, 50, 1000):
                assert ids(matrix.search(query, k, filters)) == brute_force(entries, query, k, filters)


def test_removal_swaps_with_last_and_search_stays_correct(units: Callable[..., np.ndarray]) -> None:
    entries = random_entries(units, 200, seed=1)
    matrix = GalleryMatrix()
    for e in entries.values():
        matrix.upsert(e)
    removed = [str(entry_id) for entry_id in np.random.default_rng(5).permutation(list(entries))[:120]]
    for entry_id in removed:
        assert matrix.remove(entry_id)
        del entries[entry_id]
    assert not matrix.remove(removed[0]) and matrix.get(removed[0]) is None
    assert len(matrix) == len(entries) == 80
    assert sorted(matrix.ids) == sorted(entries)
    for entry_id, e in entries.items():  # rows that moved carry their metadata along
        got = matrix.get(entry_id)
        assert got is not None
        np.testing.assert_array_equal(got.vector, e.vector)
        assert (got.camera, got.label, got.timestamp) == (e.camera, e.label, e.timestamp)
    filters = SearchFilters(exclude_camera="c2", time_to=60.0)
    for query in units(4, 16, seed=7):
        assert ids(matrix.search(query, 10)) == brute_force(entries, query, 10, SearchFilters())
        assert ids(matrix.search(query, 10, filters)) == brute_force(entries, query, 10, filters)


def test_remove_last_and_only_rows() -> None:
    matrix = GalleryMatrix()
    matrix.upsert(entry("a", [1.0, 0.0]))
    matrix.upsert(entry("b", [0.0, 1.0]))
    assert matrix.remove("b")  # the last row: nothing to move
    assert ids(matrix.search(np.array([0.0, 1.0], np.float32), 5)) == ["a"]
    assert matrix.remove("a") and not matrix.remove("a")
    assert len(matrix) == 0 and matrix.search(np.array([0.0, 1.0], np.float32), 5) == []


def test_upsert_overwrites_in_place() -> None:
    matrix = GalleryMatrix()
    matrix.upsert(entry("a", [1.0, 0.0], camera="c1", label="old"))
    matrix.upsert(entry("b", [0.0, 1.0], camera="c2"))
    matrix.upsert(entry("a", [0.0, 1.0], camera="c2", label="new"))
    assert len(matrix) == 2
    got = matrix.get("a")
    assert got is not None and got.label == "new"
    np.testing.assert_allclose(got.vector, [0.0, 1.0])
    query = np.array([0.0, 1.0], np.float32)
    assert ids(matrix.search(query, 5, SearchFilters(exclude_camera="c2"))) == []
    assert ids(matrix.search(query, 5, SearchFilters(label="old"))) == []


def test_capacity_doubles_and_rows_are_copied(units: Callable[..., np.ndarray]) -> None:
    matrix = GalleryMatrix()
    vectors = units(100, 8, seed=3)
    buffers = set()
    for i, vector in enumerate(vectors):
        matrix.upsert(entry(f"v{i:03d}", vector))
        buffers.add(id(matrix._matrix))
        capacity = matrix._matrix.shape[0]
        assert capacity >= len(matrix) and capacity & (capacity - 1) == 0  # a power of two
    assert matrix._matrix.flags.c_contiguous and matrix._matrix.dtype == np.float32
    assert len(buffers) <= 4  # 16 -> 32 -> 64 -> 128: reallocated only when full
    first = vectors[0].copy()
    vectors[0][:] = 0.0  # the caller's array is not the stored row
    got = matrix.get("v000")
    assert got is not None
    np.testing.assert_array_equal(got.vector, first)
    got.vector[:] = 0.0  # nor is the returned copy
    assert ids(matrix.search(first, 1)) == ["v000"]


def test_page_is_ordered_by_id() -> None:
    matrix = GalleryMatrix()
    for entry_id in ["p3", "p10", "p1", "p2", "p0"]:
        matrix.upsert(entry(entry_id, [1.0, 1.0]))
    assert [e.id for e in matrix.page(0, 3)] == ["p0", "p1", "p10"]
    assert [e.id for e in matrix.page(3, 3)] == ["p2", "p3"]
    matrix.remove("p1")
    matrix.upsert(entry("p00", [1.0, 0.0]))
    assert [e.id for e in matrix.page(0, 10)] == ["p0", "p00", "p10", "p2", "p3"]
    assert matrix.page(10, 5) == []


def test_dimension_clash_and_bad_vectors() -> None:
    matrix = GalleryMatrix()
    matrix.upsert(entry("a", [1.0, 0.0, 0.0]))
    with pytest.raises(Conflict):
        matrix.upsert(entry("b", [1.0, 0.0]))
    with pytest.raises(Conflict):
        matrix.search(np.array([1.0, 0.0], np.float32), 1)
    with pytest.raises(BadInput):
        unit_vector(np.zeros(3))
    with pytest.raises(BadInput):
        unit_vector(np.array([1.0, np.nan]))
    with pytest.raises(BadInput):
        unit_vector(np.ones((2, 2)))


def test_weighted_mean_exact() -> None:
    mean = weighted_mean(np.array([1.0, 0.0], np.float32), 3, np.array([0.0, 1.0], np.float32), 1)
    np.testing.assert_allclose(mean, np.array([3.0, 1.0]) / np.sqrt(10.0), rtol=1e-6)
    assert mean.dtype == np.float32
