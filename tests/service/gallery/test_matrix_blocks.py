"""The block-by-block top-k of GalleryMatrix.search gives the brute force's answer across block edges:
with filters, with ties spread over several blocks, and with blocks where nothing passes."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from test_matrix import brute_force, entry, ids, random_entries

from service.gallery import GalleryMatrix, SearchFilters
from service.gallery import matrix as matrix_module


@pytest.fixture(params=[1, 7, 64])
def small_blocks(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(matrix_module, "_SEARCH_BLOCK", request.param)
    return int(request.param)


def test_blocks_match_brute_force_with_filters(small_blocks: int, units: Callable[..., np.ndarray]) -> None:
    entries = random_entries(units, 250, seed=4)
    matrix = GalleryMatrix()
    for e in entries.values():
        matrix.upsert(e)
    for filters in [
        SearchFilters(),
        SearchFilters(exclude_camera="c1"),
        SearchFilters(label="l0", time_from=20.0, time_to=80.0),
        SearchFilters(min_similarity=0.3),
        SearchFilters(label="never-seen"),
    ]:
        for query in units(4, 16, seed=11):
            for k in (1, 5, 30, 400):
                assert ids(matrix.search(query, k, filters)) == brute_force(entries, query, k, filters)


def test_ties_across_blocks_are_broken_by_id(small_blocks: int) -> None:
    matrix = GalleryMatrix()
    tied = [f"t{i:02d}" for i in range(40)]
    for entry_id in reversed(tied):  # row order opposite to id order
        matrix.upsert(entry(entry_id, [0.0, 1.0]))
    matrix.upsert(entry("best", [0.1, 1.0]))
    query = np.array([0.1, 1.0], np.float32) / np.float32(np.hypot(0.1, 1.0))
    assert ids(matrix.search(query, k=4)) == ["best", "t00", "t01", "t02"]
    assert ids(matrix.search(query, k=41)) == ["best", *tied]


def test_a_large_gallery_spanning_real_blocks(units: Callable[..., np.ndarray]) -> None:
    """More rows than one default block, no monkeypatching: the production block size at work."""
    n = matrix_module._SEARCH_BLOCK + 1000
    vectors = units(n, 8, seed=2)
    matrix = GalleryMatrix()
    for i in range(n):
        matrix.upsert(entry(f"r{i:06d}", vectors[i], camera="A" if i % 3 else "B"))
    query = vectors[n - 5]
    scores = vectors @ query
    expected = [f"r{i:06d}" for i in np.argsort(-scores, kind="stable")[:10]]
    assert ids(matrix.search(query, 10)) == expected
    allowed = np.flatnonzero(np.arange(n) % 3 == 0)
    ranked = allowed[np.argsort(-scores[allowed], kind="stable")[:10]]
    assert ids(matrix.search(query, 10, SearchFilters(exclude_camera="A"))) == [f"r{i:06d}" for i in ranked]


def test_both_score_kernels_give_the_same_scores(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = np.random.default_rng(2).standard_normal((300, 48)).astype(np.float32)
    query = np.random.default_rng(3).standard_normal(48).astype(np.float32)
    monkeypatch.setattr(matrix_module, "_BLAS_MIN_ROWS", 10**9)
    one_thread = matrix_module.scores(rows, query)
    monkeypatch.setattr(matrix_module, "_BLAS_MIN_ROWS", 1)
    blas = matrix_module.scores(rows, query)
    assert one_thread.dtype == blas.dtype == np.float32 and one_thread.shape == (300,)
    np.testing.assert_allclose(one_thread, blas, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(blas, rows.astype(np.float64) @ query, rtol=1e-4, atol=1e-4)
