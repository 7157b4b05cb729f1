"""A GalleryMatrix composed with a faiss IVF SearchIndex: the index stays in step with the rows
(enrol, replace, remove), also when they change during a background build; filters never lose
matches, and recall is high on clustered vectors. Skipped where faiss (the optional `index`
extra, installed by scripts/setup.sh) is missing."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from service.gallery import Entry, GalleryMatrix, MemoryStore, SearchFilters, matrix_factory

pytest.importorskip("faiss")

from service.gallery import faiss_index
from service.gallery.faiss_index import SearchIndex

MODEL = "m@1"
DIM = 32


def clustered(n_ids: int, per_id: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Vectors of `n_ids` identities, `per_id` noisy views each (like tracklets of people), and
    the identity centres."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_ids, DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    views = np.repeat(centres, per_id, axis=0) + 0.15 * rng.standard_normal((n_ids * per_id, DIM)).astype(
        np.float32
    )
    views /= np.linalg.norm(views, axis=1, keepdims=True)
    return views, centres


def fill(matrix: GalleryMatrix, vectors: np.ndarray) -> None:
    for i, vector in enumerate(vectors):
        matrix.upsert(Entry(f"e{i:05d}", MODEL, vector, camera="A" if i % 2 else "B"))


def ids(matches: list) -> list[str]:
    return [m.entry.id for m in matches]


def indexed_matrix(**options: object) -> GalleryMatrix:
    return GalleryMatrix(SearchIndex(**options))  # type: ignore[arg-type]


def index_of(matrix: GalleryMatrix) -> SearchIndex:
    assert matrix.index is not None
    return matrix.index


@pytest.fixture
def pair() -> tuple[GalleryMatrix, GalleryMatrix, np.ndarray]:
    vectors, centres = clustered(150, 8)
    indexed = indexed_matrix(min_rows=100, nlist=16, nprobe=4, auto_build=False)
    exact = GalleryMatrix()
    fill(indexed, vectors)
    fill(exact, vectors)
    index_of(indexed).build()
    assert index_of(indexed).indexed
    return indexed, exact, centres


def test_below_min_rows_or_unbuilt_it_is_the_brute_force() -> None:
    vectors, centres = clustered(20, 5)
    small, exact = indexed_matrix(min_rows=1000, nlist=4, auto_build=False), GalleryMatrix()
    fill(small, vectors)
    fill(exact, vectors)
    index_of(small).build()
    assert not index_of(small).indexed
    for query in centres[:5]:
        assert ids(small.search(query, 7)) == ids(exact.search(query, 7))


def test_recall_on_clustered_vectors(pair: tuple[GalleryMatrix, GalleryMatrix, np.ndarray]) -> None:
    indexed, exact, centres = pair
    hits = 0
    for query in centres[:50]:
        got = indexed.search(query, 8)
        assert [m.similarity for m in got] == sorted((m.similarity for m in got), reverse=True)
        hits += len(set(ids(got)) & set(ids(exact.search(query, 8))))
    assert hits / (50 * 8) >= 0.95


def test_enrol_replace_and_remove_after_the_build(
    pair: tuple[GalleryMatrix, GalleryMatrix, np.ndarray],
) -> None:
    indexed, _, centres = pair
    query = centres[3]
    indexed.upsert(Entry("newcomer", MODEL, query.copy(), camera="C"))
    assert ids(indexed.search(query, 1)) == ["newcomer"]
    indexed.upsert(Entry("newcomer", MODEL, centres[77].copy(), camera="C"))  # replaced: moves away
    assert "newcomer" not in ids(indexed.search(query, 10))
    assert ids(indexed.search(centres[77], 1)) == ["newcomer"]
    best = ids(indexed.search(query, 3))
    assert indexed.remove(best[0])
    assert best[0] not in ids(indexed.search(query, 10))
    assert indexed.get(best[0]) is None


def test_filters_never_lose_existing_matches(
    pair: tuple[GalleryMatrix, GalleryMatrix, np.ndarray],
) -> None:
    indexed, exact, centres = pair
    indexed.upsert(Entry("only-on-d", MODEL, centres[40].copy(), camera="D"))
    exact.upsert(Entry("only-on-d", MODEL, centres[40].copy(), camera="D"))
    rare = SearchFilters(exclude_camera="A", min_similarity=0.0)
    for query in centres[:10]:
        got = indexed.search(query, 5, SearchFilters(exclude_camera="B"))
        assert all(m.entry.camera != "B" for m in got) and len(got) == 5
    index_of(indexed).nprobe = 16  # every list probed: the candidates hold the exact answer
    for query in centres[:10]:
        assert ids(indexed.search(query, 5, rare)) == ids(exact.search(query, 5, rare))
    # a filter that only one far entry passes: the index's candidates miss it, the fallback finds it
    far = Entry("far-rare", MODEL, -centres[0], camera="A", label="rare")
    indexed.upsert(far)
    exact.upsert(far)
    only_rare = SearchFilters(label="rare")
    assert ids(indexed.search(centres[0], 1, only_rare)) == ["far-rare"]
    assert ids(indexed.search(centres[0], 3, only_rare)) == ids(exact.search(centres[0], 3, only_rare))


def test_a_cleared_gallery_starts_over_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    """A clear drops the model's matrix and its index; what is enrolled next is searched exactly
    until it grows to min_rows again, and an index still building for the old rows is never used."""
    monkeypatch.setattr(faiss_index, "_COPY_BLOCK", 16)
    vectors, _ = clustered(30, 5)
    paused = PausedBuild(min_rows=100, nlist=4)
    indexes = iter([paused, SearchIndex(min_rows=100)])  # the first matrix's, then the next one's
    store = MemoryStore(lambda: GalleryMatrix(next(indexes)))

    async def run() -> None:
        await store.enroll_many(Entry(f"e{i:05d}", MODEL, v) for i, v in enumerate(vectors[:100]))
        assert paused.copied_first.wait(30)  # the first matrix's index is building
        assert await store.clear(MODEL) == 100
        paused.release.set()
        await store.enroll_many(Entry(f"e{i:05d}", MODEL, v) for i, v in enumerate(vectors[:20]))
        assert not await store.approximate(MODEL) and len(store._models[MODEL]) == 20
        assert store._models[MODEL].index is not paused
        assert (await store.search(MODEL, vectors[7], 1))[0].entry.id == "e00007"

    asyncio.run(run())


def assert_index_mirrors(matrix: GalleryMatrix) -> None:
    """Every row is in the index exactly once, under a key that maps back to its id, with its
    current vector (to the 8-bit quantisation's precision: values beyond the range seen in training
    are clipped, so compared by cosine)."""
    search_index = index_of(matrix)
    assert search_index.wait(timeout=60) and not search_index.building
    index = search_index._index
    assert index is not None and index.ntotal == len(matrix)
    assert set(search_index._key_of) == set(matrix.ids)
    for entry_id in matrix.ids:
        key = search_index._key_of[entry_id]
        assert search_index._id_of[key] == entry_id
        stored, current = index.reconstruct(key), matrix.get(entry_id).vector
        assert stored @ current / np.linalg.norm(stored) > 0.95, entry_id


class PausedBuild(SearchIndex):
    """Its background build stops after copying the first block of rows until released."""

    def __init__(self, **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self.copied_first = threading.Event()
        self.release = threading.Event()

    def _copy_block(self, start: int) -> tuple[np.ndarray, list[str]] | None:
        block = super()._copy_block(start)
        if start == 0:
            self.copied_first.set()
            assert self.release.wait(30)
        return block


def test_the_index_builds_by_itself_in_the_background_from_min_rows() -> None:
    vectors, centres = clustered(60, 5)
    matrix = indexed_matrix(min_rows=200, nlist=8, nprobe=8)
    fill(matrix, vectors[:199])
    assert not index_of(matrix).building and index_of(matrix).index_lists == 0  # below min_rows: exact only
    fill(matrix, vectors)
    assert index_of(matrix).building or index_of(matrix).indexed
    assert_index_mirrors(matrix)
    assert index_of(matrix).indexed and index_of(matrix).index_lists == 8
    exact = GalleryMatrix()
    fill(exact, vectors)
    for query in centres[:10]:
        assert ids(matrix.search(query, 5)) == ids(exact.search(query, 5))  # every list probed


def test_writes_during_a_build_are_all_in_the_index_it_delivers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows replaced, removed (moving the last row into a block already copied) and added while
    the build is copying are re-indexed when it is collected: none lost, none twice, none stale."""
    monkeypatch.setattr(faiss_index, "_COPY_BLOCK", 16)
    vectors, centres = clustered(40, 5)
    paused = PausedBuild(min_rows=150, nlist=4, nprobe=4)
    matrix = GalleryMatrix(paused)
    fill(matrix, vectors[:150])  # the 150th row starts the build, which pauses after rows 0-15
    assert paused.copied_first.wait(30)
    matrix.remove("e00003")  # row 3 (copied) gets the last row (not copied yet)
    matrix.remove("e00149")  # the row that had moved: gone before it was ever copied
    matrix.upsert(Entry("e00005", MODEL, centres[30].copy(), camera="C"))  # replaced after its copy
    matrix.upsert(Entry("e00100", MODEL, centres[31].copy(), camera="C"))  # replaced before its copy
    for i in range(150, 200):  # added during the build
        matrix.upsert(Entry(f"e{i:05d}", MODEL, vectors[i], camera="A"))
    assert not index_of(matrix).indexed  # searches meanwhile are exact
    assert ids(matrix.search(centres[30], 1)) == ["e00005"]
    paused.release.set()
    assert_index_mirrors(matrix)
    assert len(matrix) == 198 and "e00003" not in matrix and "e00149" not in matrix
    assert ids(matrix.search(centres[30], 1)) == ["e00005"]
    assert ids(matrix.search(centres[31], 1)) == ["e00100"]


def test_it_rebuilds_once_the_gallery_has_grown_and_a_failed_build_leaves_exact_search(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vectors, _ = clustered(80, 5)
    matrix = indexed_matrix(min_rows=100, rebuild_growth=2.0)
    fill(matrix, vectors[:100])
    assert_index_mirrors(matrix)
    first = index_of(matrix).index_lists
    fill(matrix, vectors[:199])
    assert not index_of(matrix).building  # 199 < 2 x 100: the first index still serves
    fill(matrix, vectors[:200])
    assert_index_mirrors(matrix)
    assert index_of(matrix).index_lists > first  # more rows, more lists (4 sqrt(n))

    def fail(self: SearchIndex) -> None:
        raise RuntimeError("out of memory")

    monkeypatch.setattr(SearchIndex, "_build", fail)
    broken = indexed_matrix(min_rows=100)
    fill(broken, vectors[:100])
    assert index_of(broken).wait(timeout=30)
    assert not index_of(broken).indexed and not index_of(broken).building
    assert broken.search(vectors[42], 1)[0].entry.id == "e00042"
    fill(broken, vectors[:150])
    assert not index_of(broken).building  # no retry before the gallery has grown past the failed size


def test_the_service_factory_gives_stores_indexed_matrices() -> None:
    assert matrix_factory("exact") is GalleryMatrix
    make = matrix_factory("ivf", min_rows=50, nprobe=64)
    made = make()
    assert index_of(made).min_rows == 50 and index_of(made).nprobe == 64

    vectors, centres = clustered(20, 5)
    store = MemoryStore(make)

    async def run() -> list[str]:
        await store.enroll_many(Entry(f"e{i:05d}", MODEL, v) for i, v in enumerate(vectors))
        index_of(store._models[MODEL]).wait(timeout=30)
        assert index_of(store._models[MODEL]).indexed and await store.approximate(MODEL)
        assert not await store.approximate("other@1")
        return [(await store.search(MODEL, c, 1))[0].entry.id for c in centres]

    found = asyncio.run(run())
    assert [int(i[1:]) // 5 for i in found] == list(range(20))  # each centre finds one of its views


def test_asking_for_the_index_without_faiss_fails_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> None:
        raise ImportError("the gallery index needs faiss")

    monkeypatch.setattr(faiss_index, "require_faiss", missing)
    with pytest.raises(ImportError, match="faiss"):
        matrix_factory("ivf")
