"""The in-memory matrix of one model's gallery: what every search runs on, whatever store keeps it.

Rows are L2-normalised float32 vectors in one contiguous (capacity, D) array that doubles when full,
so an enrolment costs O(D) amortised and a search is a single matrix-vector product. Camera, label
and timestamp live in numpy arrays beside the rows, so filters are boolean masks, not a Python loop
over entries. Removal swaps the last row into the hole to stay O(D).
"""

from __future__ import annotations

import dataclasses
import heapq
import threading
from typing import Protocol

import numpy as np

from service.core.errors import BadInput, Conflict
from service.gallery.base import Entry, Match, SearchFilters

_EMPTY = np.zeros(0, dtype=np.float32)
_NO_CODE = -1  # camera/label code of an entry without one
_UNSEEN = -2  # code of a filter value no entry has: matches nothing
_MIN_CAPACITY = 16
# Rows per block of the top-k selection: its temporaries stay in cache, whatever the gallery's size.
_SEARCH_BLOCK = 65536
# From this many rows `scores` uses BLAS (threaded); below, one thread (see its docstring).
_BLAS_MIN_ROWS = 32768


def scores(rows: np.ndarray, query: np.ndarray) -> np.ndarray:
    """float32 `rows @ query`: BLAS (threaded) over many rows, where its threads pull more memory
    bandwidth; numpy's own single-thread loop over few, where waking those threads costs more than
    the product whenever ONNX Runtime keeps the cores busy (docs/benchmarks.md, section 3)."""
    if rows.shape[0] >= _BLAS_MIN_ROWS:
        return rows @ query
    return np.einsum("ij,j->i", rows, query)


class CandidateIndex(Protocol):
    """What the matrix needs of an approximate index over its rows (`faiss_index.SearchIndex` is
    one). Declared here, on the side that uses it, so that the index depends on the matrix and not
    the other way round."""

    @property
    def indexed(self) -> bool: ...

    def attach(self, matrix: GalleryMatrix) -> None: ...

    def sync(self) -> None: ...

    def grown(self) -> None: ...

    def written(self, entry_id: str) -> None: ...

    def removed(self, entry_id: str, moved: str | None) -> None: ...

    def candidates(self, query: np.ndarray, k: int, filtered: bool) -> np.ndarray | None: ...


class GalleryMatrix:
    """The rows of one model id: ids, vectors, metadata, and the index from id to row; searched
    exactly, or through an approximate `CandidateIndex` over these rows when given one."""

    def __init__(self, index: CandidateIndex | None = None) -> None:
        # Held by writes, and by an index's background build while it copies rows.
        self.lock = threading.Lock()
        self._dim: int | None = None
        self._n = 0
        self._matrix = np.zeros((0, 0), dtype=np.float32)
        self._camera = np.zeros(0, dtype=np.int32)  # codes into _camera_codes
        self._label = np.zeros(0, dtype=np.int32)
        self._timestamp = np.zeros(0, dtype=np.float64)  # NaN where unknown
        self._expires = np.zeros(0, dtype=np.float64)  # +inf where kept until deleted
        self._ids: list[str] = []
        self._meta: list[Entry] = []  # entries without their vector (it lives in the matrix)
        self._row: dict[str, int] = {}
        self._camera_codes: dict[str, int] = {}
        self._label_codes: dict[str, int] = {}
        self._sorted_ids: list[str] | None = None  # cache for paging, dropped on insert/remove
        self.index = index
        if index is not None:
            index.attach(self)

    def __len__(self) -> int:
        return self._n

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._row

    @property
    def dim(self) -> int | None:
        """Dimension of the rows; None until the first entry."""
        return self._dim

    @property
    def approximate(self) -> bool:
        """Whether searches may miss some of the exact top k (an index answers them)."""
        return self.index is not None and self.index.indexed

    @property
    def ids(self) -> list[str]:
        """Ids in row order (a copy)."""
        return list(self._ids)

    def get(self, entry_id: str) -> Entry | None:
        row = self._row.get(entry_id)
        return None if row is None else self._entry(row)

    def row_of(self, entry_id: str) -> int | None:
        return self._row.get(entry_id)

    def rows(self, start: int, stop: int) -> tuple[np.ndarray, list[str]]:
        """A copy of the vectors of rows start..stop and their ids (hold `lock` across threads)."""
        stop = min(stop, self._n)
        return self._matrix[start:stop].copy(), self._ids[start:stop]

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        """A copy of the vectors of these rows."""
        return self._matrix[rows]

    def upsert(self, entry: Entry) -> None:
        """Insert or overwrite `entry`; its vector must already be L2-normalised (it is copied)."""
        if self.index is not None:
            self.index.sync()
        with self.lock:
            self._upsert(entry)
            if self.index is not None:
                self.index.written(entry.id)
        if self.index is not None:
            self.index.grown()

    def remove(self, entry_id: str) -> bool:
        """Drop one entry by moving the last row into its place; True when it was there."""
        if self.index is None:
            return self._remove(entry_id)
        self.index.sync()
        with self.lock:
            moved = self._ids[-1] if entry_id in self._row else None
            removed = self._remove(entry_id)
            if removed:
                self.index.removed(entry_id, moved)
        return removed

    def _upsert(self, entry: Entry) -> None:
        vector = np.asarray(entry.vector, dtype=np.float32)
        if vector.ndim != 1 or vector.size == 0:
            raise BadInput(f"a vector must be one-dimensional and non-empty, not of shape {vector.shape}")
        if self._dim is None:
            self._dim = vector.size
            self._grow(_MIN_CAPACITY)
        elif vector.size != self._dim:
            raise Conflict(
                f"vector of dimension {vector.size} for a gallery of dimension {self._dim} "
                f"(model {entry.model_id})"
            )
        row = self._row.get(entry.id)
        if row is None:
            if self._n == self._matrix.shape[0]:
                self._grow(2 * self._n)
            row = self._n
            self._n += 1
            self._ids.append(entry.id)
            self._meta.append(entry)  # replaced just below
            self._row[entry.id] = row
            self._sorted_ids = None
        self._matrix[row] = vector
        self._camera[row] = self._code(self._camera_codes, entry.camera)
        self._label[row] = self._code(self._label_codes, entry.label)
        self._timestamp[row] = np.nan if entry.timestamp is None else entry.timestamp
        self._expires[row] = np.inf if entry.expires_at is None else entry.expires_at
        self._meta[row] = dataclasses.replace(entry, vector=_EMPTY, tags=dict(entry.tags))

    def _remove(self, entry_id: str) -> bool:
        row = self._row.pop(entry_id, None)
        if row is None:
            return False
        last = self._n - 1
        if row != last:
            moved = self._ids[last]
            self._matrix[row] = self._matrix[last]
            self._camera[row] = self._camera[last]
            self._label[row] = self._label[last]
            self._timestamp[row] = self._timestamp[last]
            self._expires[row] = self._expires[last]
            self._ids[row] = moved
            self._meta[row] = self._meta[last]
            self._row[moved] = row
        self._ids.pop()
        self._meta.pop()
        self._n = last
        self._sorted_ids = None
        return True

    def has_expired(self, entry_id: str, now: float) -> bool:
        """Whether this entry is here and its retention ended by `now` (no copy of the entry)."""
        row = self._row.get(entry_id)
        return row is not None and bool(self._expires[row] <= now)

    def expired(self, now: float) -> list[str]:
        """Ids whose retention ended by `now` (one vectorised comparison; usually none)."""
        rows = np.flatnonzero(self._expires[: self._n] <= now)
        return [self._ids[row] for row in rows]

    def purge_expired(self, now: float) -> list[str]:
        """Remove the expired rows; returns their ids."""
        gone = self.expired(now)
        for entry_id in gone:
            self.remove(entry_id)
        return gone

    def page(self, offset: int, limit: int) -> list[Entry]:
        """Entries ordered by id; the sorted order is cached until the next insert or removal."""
        if self._sorted_ids is None:
            self._sorted_ids = sorted(self._ids)
        start = max(0, offset)
        chosen = self._sorted_ids[start : start + max(0, limit)]
        return [self._entry(self._row[entry_id]) for entry_id in chosen]

    def search(self, query: np.ndarray, k: int, filters: SearchFilters | None = None) -> list[Match]:
        """The k rows most similar to `query` (L2-normalised, float32) that pass the filters, best
        first: from the index's candidates, re-scored exactly, when it has enough that pass;
        otherwise `search_exact`."""
        if self.index is None or k <= 0:
            return self.search_exact(query, k, filters)
        self.index.sync()
        self.index.grown()
        query = np.asarray(query, dtype=np.float32)
        filters = filters or SearchFilters()
        rows = self.index.candidates(query, k, filtered=filters != SearchFilters())
        if rows is None or rows.size == 0:
            return self.search_exact(query, k, filters)
        similarity = self._matrix[rows] @ query  # exact float32 similarities of the candidates
        mask = self._mask(similarity, filters, rows)
        if mask is not None:
            rows, similarity = rows[mask], similarity[mask]
        if rows.size < k:  # the index saw too few that pass: the exact answer is cheap to be sure of
            return self.search_exact(query, k, filters)
        return self._ranked(rows, similarity, k)

    def search_exact(self, query: np.ndarray, k: int, filters: SearchFilters | None = None) -> list[Match]:
        """Every row scored: equal similarities are ordered by id so the answer does not depend on
        row order.

        One float32 matrix-vector product (`scores`) gives the score vector, the only temporary of
        the gallery's size; filtering and the top-k selection then run block by block over it (see
        `_top_rows`), so a query over a million rows allocates a few hundred KiB beyond the scores."""
        n = self._n
        if n == 0 or k <= 0:
            return []
        query = np.asarray(query, dtype=np.float32)
        if query.shape != (self._dim,):
            raise Conflict(f"query of shape {query.shape} for a gallery of dimension {self._dim}")
        similarity = scores(self._matrix[:n], query)
        rows = np.array(self._top_rows(similarity, filters or SearchFilters(), k), dtype=np.int64)
        return self._ranked(rows, similarity[rows], k)

    # internals

    def _ranked(self, rows: np.ndarray, similarity: np.ndarray, k: int) -> list[Match]:
        """The k best of these candidate rows (`similarity[i]` is row `rows[i]`'s score) as
        matches, best first, equal scores ordered by id; similarities clipped to [-1, 1]."""
        best = heapq.nsmallest(k, range(rows.size), key=lambda i: (-float(similarity[i]), self._ids[rows[i]]))
        return [Match(self._entry(int(rows[i])), min(1.0, max(-1.0, float(similarity[i])))) for i in best]

    def _mask(
        self, similarity: np.ndarray, filters: SearchFilters, rows: slice | np.ndarray | None = None
    ) -> np.ndarray | None:
        """Boolean mask over `rows` (a slice or row indices; all rows when None) whose scores
        `similarity` holds, or None when there is nothing to filter."""
        if rows is None:
            rows = slice(0, similarity.shape[0])
        mask: np.ndarray | None = None

        def narrow(condition: np.ndarray) -> None:
            nonlocal mask
            mask = condition if mask is None else np.logical_and(mask, condition, out=mask)

        if filters.exclude_camera is not None:
            code = self._camera_codes.get(filters.exclude_camera)
            if code is not None:
                narrow(self._camera[rows] != code)
        if filters.label is not None:
            code = self._label_codes.get(filters.label, _UNSEEN)
            narrow(self._label[rows] == code)
        # entries without a timestamp never pass a time filter (NaN compares false)
        if filters.time_from is not None:
            narrow(self._timestamp[rows] >= filters.time_from)
        if filters.time_to is not None:
            narrow(self._timestamp[rows] <= filters.time_to)
        if filters.min_similarity is not None:
            narrow(similarity >= np.float32(filters.min_similarity))
        return mask

    def _top_rows(self, similarity: np.ndarray, filters: SearchFilters, k: int) -> list[int]:
        """The k best rows that pass the filters (unordered), ties at the k-th value resolved by id
        so that the same gallery always gives the same answer.

        Block by block: each block keeps its rows scoring at least its own k-th best (ties
        included), which contains every row of the overall top k; the survivors, at most a few
        times k per block, are ranked together at the end. Temporaries are of block size."""
        candidate_rows: list[np.ndarray] = []
        candidate_scores: list[np.ndarray] = []
        for start in range(0, similarity.shape[0], _SEARCH_BLOCK):
            scores = similarity[start : start + _SEARCH_BLOCK]
            mask = self._mask(scores, filters, slice(start, start + scores.shape[0]))
            if mask is not None:
                local = np.flatnonzero(mask)
                scores = scores[local]
            else:
                local = None
            if scores.size > k:
                kth = np.partition(scores, scores.size - k)[scores.size - k]
                keep = np.flatnonzero(scores >= kth)
                scores = scores[keep]
                local = keep if local is None else local[keep]
            elif local is None:
                local = np.arange(scores.size)
            candidate_rows.append(local + start)
            candidate_scores.append(scores)
        if not candidate_rows:
            return []
        rows = np.concatenate(candidate_rows)
        scores = np.concatenate(candidate_scores)
        if k >= scores.size:
            return rows.tolist()
        kth = np.partition(scores, scores.size - k)[scores.size - k]
        above = rows[scores > kth].tolist()
        tied = rows[scores == kth].tolist()
        return above + heapq.nsmallest(k - len(above), tied, key=self._ids.__getitem__)

    def _entry(self, row: int) -> Entry:
        meta = self._meta[row]
        return dataclasses.replace(meta, vector=self._matrix[row].copy(), tags=dict(meta.tags))

    def _grow(self, capacity: int) -> None:
        """Reallocate every per-row array to `capacity` rows, keeping the first n."""
        capacity = max(capacity, _MIN_CAPACITY)
        n, dim = self._n, self._dim or 0
        matrix = np.zeros((capacity, dim), dtype=np.float32)
        if n:
            matrix[:n] = self._matrix[:n]
        self._matrix = matrix
        self._camera = _resized(self._camera, n, capacity, _NO_CODE)
        self._label = _resized(self._label, n, capacity, _NO_CODE)
        self._timestamp = _resized(self._timestamp, n, capacity, np.nan)
        self._expires = _resized(self._expires, n, capacity, np.inf)

    @staticmethod
    def _code(codes: dict[str, int], value: str | None) -> int:
        if value is None:
            return _NO_CODE
        return codes.setdefault(value, len(codes))


def _resized(array: np.ndarray, n: int, capacity: int, fill: float) -> np.ndarray:
    out = np.full(capacity, fill, dtype=array.dtype)
    out[:n] = array[:n]
    return out
