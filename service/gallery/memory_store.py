"""The gallery kept in process memory: no Redis needed, lost at exit, one process only.

Every method runs without awaiting anything, so each call is atomic within the event loop and two
concurrent "add" enrolments of one id cannot lose one another.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable

import numpy as np

from service.gallery.base import EnrollMode, Entry, Match, SearchFilters
from service.gallery.enrolment import check_mode, enrolled, unit_vector
from service.gallery.matrix import GalleryMatrix


class MemoryStore:
    """GalleryStore on one GalleryMatrix per model id."""

    def __init__(self, matrices: Callable[[], GalleryMatrix] = GalleryMatrix) -> None:
        self._new_matrix = matrices
        self._models: dict[str, GalleryMatrix] = {}
        self._expired: dict[str, list[str]] = {}  # dropped by a read, not yet reported by expire()
        self._thumbnails: dict[tuple[str, str], bytes] = {}

    async def add(self, entry: Entry, mode: EnrollMode = "replace") -> Entry:
        return self._add(entry, mode, time.time())

    async def enroll_many(self, entries: Iterable[Entry], mode: EnrollMode = "replace") -> int:
        """Enroll many entries at once (bulk loading, benchmarks); returns how many were stored."""
        now = time.time()
        stored = 0
        for entry in entries:
            self._add(entry, mode, now)
            stored += 1
        return stored

    def _matrix(self, model_id: str) -> GalleryMatrix | None:
        """The model's rows, with those whose retention ended already gone."""
        matrix = self._models.get(model_id)
        if matrix is not None:
            self._expired.setdefault(model_id, []).extend(matrix.purge_expired(time.time()))
        return matrix

    async def expire(self, model_id: str, now: float) -> list[str]:
        matrix = self._models.get(model_id)
        gone = self._expired.pop(model_id, []) + ([] if matrix is None else matrix.purge_expired(now))
        for entry_id in gone:
            self._thumbnails.pop((model_id, entry_id), None)
        return gone

    async def get(self, model_id: str, entry_id: str) -> Entry | None:
        matrix = self._matrix(model_id)
        return None if matrix is None else matrix.get(entry_id)

    async def put_thumbnail(
        self, model_id: str, entry_id: str, jpeg: bytes, expires_at: float | None
    ) -> None:
        matrix = self._matrix(model_id)
        if matrix is not None and entry_id in matrix:  # retention follows the entry's
            self._thumbnails[model_id, entry_id] = bytes(jpeg)

    async def get_thumbnail(self, model_id: str, entry_id: str) -> bytes | None:
        matrix = self._matrix(model_id)
        if matrix is None or entry_id not in matrix:
            self._thumbnails.pop((model_id, entry_id), None)
            return None
        return self._thumbnails.get((model_id, entry_id))

    async def delete(self, model_id: str, entry_id: str) -> bool:
        matrix = self._models.get(model_id)
        self._thumbnails.pop((model_id, entry_id), None)
        return matrix is not None and matrix.remove(entry_id)

    async def clear(self, model_id: str) -> int:
        matrix = self._models.pop(model_id, None)
        self._expired.pop(model_id, None)
        for key in [k for k in self._thumbnails if k[0] == model_id]:
            del self._thumbnails[key]
        return 0 if matrix is None else len(matrix)

    async def list(self, model_id: str, offset: int, limit: int) -> tuple[list[Entry], int]:
        matrix = self._matrix(model_id)
        if matrix is None:
            return [], 0
        return matrix.page(offset, limit), len(matrix)

    async def count(self, model_id: str) -> int:
        matrix = self._matrix(model_id)
        return 0 if matrix is None else len(matrix)

    async def search(
        self, model_id: str, query: np.ndarray, k: int, filters: SearchFilters | None = None
    ) -> list[Match]:
        query = unit_vector(query)
        matrix = self._matrix(model_id)
        return [] if matrix is None else matrix.search(query, k, filters)

    async def approximate(self, model_id: str) -> bool:
        matrix = self._models.get(model_id)
        return matrix is not None and matrix.approximate

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        """Nothing to release; the entries stay until the store is dropped."""

    def _add(self, entry: Entry, mode: EnrollMode, now: float) -> Entry:
        check_mode(mode)
        matrix = self._models.get(entry.model_id)
        if matrix is None:
            matrix = self._models[entry.model_id] = self._new_matrix()
        if matrix.has_expired(entry.id, now):
            # an expired entry is not averaged into a new enrolment; only this id is checked, as
            # purging the whole matrix on every enrolment made bulk loading quadratic
            matrix.remove(entry.id)
            self._expired.setdefault(entry.model_id, []).append(entry.id)
        stored = enrolled(matrix.get(entry.id) if mode == "add" else None, entry, mode, now)
        matrix.upsert(stored)  # copies the vector in
        return dataclasses.replace(stored, vector=stored.vector.copy(), tags=dict(stored.tags))
