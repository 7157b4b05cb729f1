"""An approximate faiss index for galleries of millions of entries (optional: `pip install '.[index]'`),
a cache of the exact rows that it only ever proposes candidates from (docs/gallery.md).
"""

from __future__ import annotations

import logging
import math
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import numpy as np

from service.gallery.base import Entry, Match, SearchFilters
from service.gallery.matrix import GalleryMatrix

log = logging.getLogger(__name__)

# Rows copied per lock hold while a background build reads the matrix (8 MiB at 512 dimensions).
_COPY_BLOCK = 4096


def require_faiss() -> Any:
    """The faiss module, or an ImportError that says how to install it."""
    try:
        import faiss
    except ImportError as exc:
        raise ImportError("the gallery index needs faiss: pip install '.[index]' (faiss-cpu)") from exc
    return faiss


@dataclass
class _Built:
    """What a build hands back: the index and, for every row it copied, its key and id."""

    index: Any
    keys: list[int]
    ids: list[str]
    generation: int


class IndexedGalleryMatrix(GalleryMatrix):
    """GalleryMatrix with an IVF-SQ8 faiss index for searches that do not scan every row."""

    def __init__(
        self,
        *,
        min_rows: int = 500_000,
        nlist: int | None = None,
        nprobe: int = 128,
        rerank: int = 4,
        auto_build: bool = True,
        rebuild_growth: float = 2.0,
        seed: int = 0,
    ) -> None:
        if min_rows < 1 or nprobe < 1 or rerank < 1 or (nlist is not None and nlist < 1):
            raise ValueError("min_rows, nlist, nprobe and rerank must be >= 1")
        if rebuild_growth <= 1:
            raise ValueError("rebuild_growth must be > 1")
        require_faiss()
        self.min_rows = min_rows
        self.nlist = nlist
        self.nprobe = nprobe
        self.rerank = rerank
        self.auto_build = auto_build
        self.rebuild_growth = rebuild_growth
        self.seed = seed
        # Held by writes, and by a background build while it copies a block of rows.
        self._lock = threading.Lock()
        self._generation = 0  # bumped by clear(): a build of an older generation is discarded
        super().__init__()

    # the index's lifecycle

    def _reset(self) -> None:
        super()._reset()
        self._generation += 1
        self._index: Any = None
        self._key_of: dict[str, int] = {}
        self._id_of: dict[int, str] = {}
        self._next_key = 0
        self._indexed_rows = 0  # rows when the current index was built
        self._building: Future[_Built] | None = None
        self._touched: set[str] = set()  # ids written while a build was running

    @property
    def indexed(self) -> bool:
        """Whether searches go through the index now."""
        return self._index is not None and len(self) >= self.min_rows

    @property
    def approximate(self) -> bool:
        return self.indexed

    @property
    def building(self) -> bool:
        return self._building is not None

    @property
    def index_lists(self) -> int:
        """Inverted lists of the current index (0 when none)."""
        return 0 if self._index is None else int(self._index.nlist)

    def build_index(self) -> None:
        """Build (or rebuild) the index now, on this thread, and use it."""
        self._collect(wait=True)
        future: Future[_Built] = Future()
        self._building = future
        self._build_into(future, self._generation)
        self._collect(wait=True)

    def wait_for_index(self, timeout: float | None = None) -> bool:
        """Wait for a background build to finish and put it in use; True when none is left running."""
        return self._collect(wait=True, timeout=timeout)

    def _maybe_start_build(self) -> None:
        n = len(self)
        if not self.auto_build or self._building is not None or n < self.min_rows:
            return
        if self._indexed_rows and n < self.rebuild_growth * self._indexed_rows:
            return  # built (or failed) at a size this one has not yet outgrown
        future: Future[_Built] = Future()
        self._building = future
        thread = threading.Thread(
            target=self._build_into, args=(future, self._generation), name="gallery-index", daemon=True
        )
        thread.start()
        log.info("building the gallery index over %d rows in the background", n)

    def _build_into(self, future: Future[_Built], generation: int) -> None:
        """Train a quantiser on a sample of the rows and add every row, a block at a time.
        Runs on any thread; the lock is held only while a block is copied."""
        try:
            future.set_result(self._build(generation))
        except BaseException as exc:  # the matrix stays exact; the error is reported at collection
            future.set_exception(exc)

    def _build(self, generation: int) -> _Built:
        faiss = require_faiss()
        with self._lock:
            n, dim = len(self), self.dim
            if n == 0 or dim is None:
                raise ValueError("nothing to index")
            # 4 sqrt(n) lists, capped at 1024 so that training and adding a million rows stay
            # within a minute on two cores (about 1000 rows a list at 1M)
            nlist = min(n, self.nlist or int(min(1024, max(16, 4 * math.sqrt(n)))))
            if n > 64 * nlist:
                picked = np.random.default_rng(self.seed).choice(n, 64 * nlist, replace=False)
                sample = self._matrix[np.sort(picked)]  # a copy
            else:
                sample = self._matrix[:n].copy()
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFScalarQuantizer(
            quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        )
        index.train(sample)
        del sample
        index.set_direct_map_type(faiss.DirectMap.Hashtable)
        keys: list[int] = []
        ids: list[str] = []
        while (copied := self._copy_block(len(keys), generation)) is not None:
            block, block_ids = copied
            block_keys = np.arange(len(keys), len(keys) + len(block_ids), dtype=np.int64)
            index.add_with_ids(block, block_keys)
            keys.extend(block_keys.tolist())
            ids.extend(block_ids)
        return _Built(index, keys, ids, generation)

    def _copy_block(self, start: int, generation: int) -> tuple[np.ndarray, list[str]] | None:
        """Rows from `start` on (at most _COPY_BLOCK) and their ids, copied under the lock; None
        past the last row."""
        with self._lock:
            if generation != self._generation:
                raise RuntimeError("the gallery was cleared during the build")
            stop = min(len(self), start + _COPY_BLOCK)
            if start >= stop:
                return None
            return self._matrix[start:stop].copy(), self._ids[start:stop]

    def _collect(self, *, wait: bool = False, timeout: float | None = None) -> bool:
        """Put a finished build in use, re-indexing what was written meanwhile; True when no build
        is left running. Called on the thread that writes and searches."""
        future = self._building
        if future is None:
            return True
        if not future.done():
            if not wait:
                return False
            try:
                future.exception(timeout)
            except TimeoutError:
                return False
        self._building = None
        touched, self._touched = self._touched, set()
        try:
            built = future.result()
        except Exception as exc:
            log.warning("the gallery index was not built (searches stay exact): %s", exc)
            self._indexed_rows = max(self._indexed_rows, len(self))  # no retry before more growth
            return True
        if built.generation != self._generation:
            return True
        with self._lock:
            key_of: dict[str, int] = {}
            stale: list[int] = []
            for key, entry_id in zip(built.keys, built.ids, strict=True):
                # an id copied twice was moved by a removal during the build: it is in `touched`
                if entry_id in touched:
                    stale.append(key)
                else:
                    key_of[entry_id] = key
            if stale:
                built.index.remove_ids(np.array(stale, dtype=np.int64))
            self._index = built.index
            self._key_of = key_of
            self._id_of = {key: entry_id for entry_id, key in key_of.items()}
            self._next_key = len(built.keys)
            self._index_rows([entry_id for entry_id in touched if entry_id in self._row])
            self._indexed_rows = len(self)
        log.info("gallery index in use: %d rows, %d lists", len(self), self.index_lists)
        return True

    # writes keep the index in step

    def upsert(self, entry: Entry) -> None:
        self._collect()
        with self._lock:
            super().upsert(entry)
            if self._building is not None:
                self._touched.add(entry.id)
            if self._index is not None:
                self._unindex(entry.id)
                self._index_rows([entry.id])
        self._maybe_start_build()

    def remove(self, entry_id: str) -> bool:
        self._collect()
        with self._lock:
            if self._building is not None and entry_id in self._row:
                # the last row moves into the freed one: a build may copy it twice, or never
                self._touched.update((entry_id, self._ids[-1]))
            removed = super().remove(entry_id)
            if removed and self._index is not None:
                self._unindex(entry_id)
        return removed

    def clear(self) -> None:
        with self._lock:
            self._reset()

    def _index_rows(self, entry_ids: list[str]) -> None:
        """Add these (unindexed) ids' rows to the index under fresh keys, in one call."""
        if not entry_ids:
            return
        keys = np.arange(self._next_key, self._next_key + len(entry_ids), dtype=np.int64)
        self._next_key += len(entry_ids)
        rows = np.array([self._row[entry_id] for entry_id in entry_ids], dtype=np.int64)
        self._index.add_with_ids(self._matrix[rows], keys)
        for key, entry_id in zip(keys.tolist(), entry_ids, strict=True):
            self._key_of[entry_id], self._id_of[key] = key, entry_id

    def _unindex(self, entry_id: str) -> None:
        key = self._key_of.pop(entry_id, None)
        if key is not None:
            del self._id_of[key]
            self._index.remove_ids(np.array([key], dtype=np.int64))

    # searching

    def search_exact(self, query: np.ndarray, k: int, filters: SearchFilters | None = None) -> list[Match]:
        """The brute force of GalleryMatrix, whatever the index: the reference for recall."""
        return super().search(query, k, filters)

    def search(self, query: np.ndarray, k: int, filters: SearchFilters | None = None) -> list[Match]:
        self._collect()
        self._maybe_start_build()
        if not self.indexed or k <= 0:
            return super().search(query, k, filters)
        query = np.asarray(query, dtype=np.float32)
        filters = filters or SearchFilters()
        filtered = filters != SearchFilters()
        fetch = min(len(self), k * self.rerank * (4 if filtered else 1))
        self._index.nprobe = min(self.nprobe, self._index.nlist)
        _, keys = self._index.search(query[None, :], fetch)
        rows = np.array(
            [self._row[self._id_of[int(key)]] for key in keys[0] if key >= 0 and int(key) in self._id_of],
            dtype=np.int64,
        )
        if rows.size == 0:
            return super().search(query, k, filters)
        scores = self._matrix[rows] @ query  # exact float32 similarities of the candidates
        mask = self._mask(scores, filters, rows)
        if mask is not None:
            rows, scores = rows[mask], scores[mask]
        if rows.size < k:  # the index saw too few that pass: the exact answer is cheap to be sure of
            return super().search(query, k, filters)
        return self._ranked(rows, scores, k)
