"""Gallery stores: the interface, the in-memory matrix searches run on, and its two keepers."""

from __future__ import annotations

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
    "MemoryStore",
    "RedisStore",
    "SearchFilters",
    "open_store",
]


def open_store(redis_url: str | None, namespace: str = "reid") -> GalleryStore:
    """The store the settings ask for: Redis at `redis_url`, or process memory when it is None.
    Nothing connects here; the Redis client connects on first use."""
    if redis_url is None:
        return MemoryStore()
    return RedisStore(redis_url, namespace)
