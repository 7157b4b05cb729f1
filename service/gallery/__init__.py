"""Gallery stores: the interface, the in-memory matrix searches run on, and its keepers (which one
serves is chosen by `service.build.build_store`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from service.gallery.base import EnrollMode, Entry, GalleryStore, Match, SearchFilters
from service.gallery.matrix import GalleryMatrix
from service.gallery.memory_store import MemoryStore
from service.gallery.redis_store import RedisStore

__all__ = [
    "EnrollMode",
    "Entry",
    "GalleryMatrix",
    "GalleryStore",
    "Match",
    "MatrixFactory",
    "MemoryStore",
    "RedisStore",
    "SearchFilters",
    "matrix_factory",
]

MatrixFactory = Callable[[], GalleryMatrix]


def matrix_factory(
    index: Literal["exact", "ivf"] = "exact", *, min_rows: int = 500_000, nprobe: int = 128
) -> MatrixFactory:
    """What each model's in-memory gallery is: the exact GalleryMatrix, or one composed with a faiss
    IVF SearchIndex used from `min_rows` entries. Asking for `ivf` without faiss fails here, at start."""
    if index == "exact":
        return GalleryMatrix
    from service.gallery.faiss_index import SearchIndex, require_faiss

    require_faiss()
    return lambda: GalleryMatrix(SearchIndex(min_rows=min_rows, nprobe=nprobe))
