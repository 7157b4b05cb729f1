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


class SearchIndex:
    """An IVF-SQ8 faiss index over one GalleryMatrix's rows (`attach`), proposing candidates that
    the matrix re-scores exactly, so that a search need not scan every row.

    From `min_rows` rows it builds in a background thread (with `auto_build`), and again once the
    rows have grown `rebuild_growth`-fold; searches stay exact meanwhile. Rows written during a build
    are re-indexed when it is collected (`sync`, at the next search or write). The matrix stays the
    record: an index that failed to build only means exact searches.
    """

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
        self._rows: GalleryMatrix | None = None
        self._index: Any = None
        self._key_of: dict[str, int] = {}
        self._id_of: dict[int, str] = {}
        self._next_key = 0
        self._indexed_rows = 0  # rows when the current index was built
        self._building: Future[_Built] | None = None
        self._touched: set[str] = set()  # ids written while a build was running

    def attach(self, matrix: GalleryMatrix) -> None:
        if self._rows is not None:
            raise ValueError("an index serves one matrix")
        self._rows = matrix

    @property
    def matrix(self) -> GalleryMatrix:
        if self._rows is None:
            raise ValueError("the index is not attached to a matrix")
        return self._rows

    @property
    def indexed(self) -> bool:
        """Whether searches go through the index now."""
        return self._index is not None and len(self.matrix) >= self.min_rows

    @property
    def building(self) -> bool:
        return self._building is not None

    @property
    def index_lists(self) -> int:
        """Inverted lists of the current index (0 when none)."""
        return 0 if self._index is None else int(self._index.nlist)

    def build(self) -> None:
        """Build (or rebuild) the index now, on this thread, and use it."""
        self._collect(wait=True)
        future: Future[_Built] = Future()
        self._building = future
        self._build_into(future)
        self._collect(wait=True)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a background build to finish and put it in use; True when none is left running."""
        return self._collect(wait=True, timeout=timeout)

    # what the matrix calls

    def sync(self) -> None:
        """Put a finished background build in use (on the thread that writes and searches)."""
        self._collect()

    def grown(self) -> None:
        """After a write or before a search: start a background build when the rows call for one."""
        n = len(self.matrix)
        if not self.auto_build or self._building is not None or n < self.min_rows:
            return
        if self._indexed_rows and n < self.rebuild_growth * self._indexed_rows:
            return  # built (or failed) at a size this one has not yet outgrown
        future: Future[_Built] = Future()
        self._building = future
        thread = threading.Thread(target=self._build_into, args=(future,), name="gallery-index", daemon=True)
        thread.start()
        log.info("building the gallery index over %d rows in the background", n)

    def written(self, entry_id: str) -> None:
        """The row of `entry_id` was inserted or overwritten (under the matrix's lock)."""
        if self._building is not None:
            self._touched.add(entry_id)
        if self._index is not None:
            self._unindex(entry_id)
            self._index_rows([entry_id])

    def removed(self, entry_id: str, moved: str | None) -> None:
        """`entry_id` is gone and `moved` took its row (under the matrix's lock): a build running
        may have copied the moved row twice, or never."""
        if self._building is not None:
            self._touched.update({entry_id} | ({moved} if moved else set()))
        if self._index is not None:
            self._unindex(entry_id)

    def candidates(self, query: np.ndarray, k: int, filtered: bool) -> np.ndarray | None:
        """Rows worth re-scoring for the top k (more when filters will drop some); None when the
        index is not in use and the matrix must scan every row."""
        if not self.indexed:
            return None
        fetch = min(len(self.matrix), k * self.rerank * (4 if filtered else 1))
        self._index.nprobe = min(self.nprobe, self._index.nlist)
        _, keys = self._index.search(query[None, :], fetch)
        rows = [self.matrix.row_of(self._id_of[int(key)]) for key in keys[0] if int(key) in self._id_of]
        return np.array([row for row in rows if row is not None], dtype=np.int64)

    # building

    def _build_into(self, future: Future[_Built]) -> None:
        """Train a quantiser on a sample of the rows and add every row, a block at a time.
        Runs on any thread; the matrix's lock is held only while a block is copied."""
        try:
            future.set_result(self._build())
        except BaseException as exc:  # the matrix stays exact; the error is reported at collection
            future.set_exception(exc)

    def _build(self) -> _Built:
        faiss = require_faiss()
        matrix = self.matrix
        with matrix.lock:
            n, dim = len(matrix), matrix.dim
            if n == 0 or dim is None:
                raise ValueError("nothing to index")
            # 4 sqrt(n) lists, capped at 1024 so that training and adding a million rows stay
            # within a minute on two cores (about 1000 rows a list at 1M)
            nlist = min(n, self.nlist or int(min(1024, max(16, 4 * math.sqrt(n)))))
            if n > 64 * nlist:
                picked = np.random.default_rng(self.seed).choice(n, 64 * nlist, replace=False)
                sample = matrix.vectors(np.sort(picked))  # a copy
            else:
                sample, _ = matrix.rows(0, n)
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFScalarQuantizer(
            quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        )
        index.train(sample)
        del sample
        index.set_direct_map_type(faiss.DirectMap.Hashtable)
        keys: list[int] = []
        ids: list[str] = []
        while (copied := self._copy_block(len(keys))) is not None:
            block, block_ids = copied
            block_keys = np.arange(len(keys), len(keys) + len(block_ids), dtype=np.int64)
            index.add_with_ids(block, block_keys)
            keys.extend(block_keys.tolist())
            ids.extend(block_ids)
        return _Built(index, keys, ids)

    def _copy_block(self, start: int) -> tuple[np.ndarray, list[str]] | None:
        """Rows from `start` on (at most _COPY_BLOCK) and their ids, copied under the matrix's
        lock; None past the last row."""
        with self.matrix.lock:
            if start >= len(self.matrix):
                return None
            return self.matrix.rows(start, start + _COPY_BLOCK)

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
            self._indexed_rows = max(self._indexed_rows, len(self.matrix))  # no retry before more growth
            return True
        with self.matrix.lock:
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
            self._index_rows([entry_id for entry_id in touched if entry_id in self.matrix])
            self._indexed_rows = len(self.matrix)
        log.info("gallery index in use: %d rows, %d lists", len(self.matrix), self.index_lists)
        return True

    def _index_rows(self, entry_ids: list[str]) -> None:
        """Add these (unindexed) ids' rows to the index under fresh keys, in one call."""
        if not entry_ids:
            return
        keys = np.arange(self._next_key, self._next_key + len(entry_ids), dtype=np.int64)
        self._next_key += len(entry_ids)
        rows = np.array([self.matrix.row_of(entry_id) for entry_id in entry_ids], dtype=np.int64)
        self._index.add_with_ids(self.matrix.vectors(rows), keys)
        for key, entry_id in zip(keys.tolist(), entry_ids, strict=True):
            self._key_of[entry_id], self._id_of[key] = key, entry_id

    def _unindex(self, entry_id: str) -> None:
        key = self._key_of.pop(entry_id, None)
        if key is not None:
            del self._id_of[key]
            self._index.remove_ids(np.array([key], dtype=np.int64))
