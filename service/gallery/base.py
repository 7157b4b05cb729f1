"""What the service needs of a gallery store, whatever keeps it (process memory or Redis).

Every entry belongs to one model (`model_id` = name@version from the ONNX metadata): all calls are
scoped to a model id, so vectors of two models are never compared or mixed. A query is one matrix
product over the model's in-memory matrix, never one store round trip per entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

EnrollMode = Literal["replace", "add"]


@dataclass
class Entry:
    id: str
    model_id: str
    vector: np.ndarray  # float32 (D,), L2-normalised
    camera: str | None = None
    label: str | None = None
    timestamp: float | None = None  # seconds since the epoch, when the tracklet was seen
    tags: dict[str, str] = field(default_factory=dict)
    created: float = 0.0  # when first enrolled
    updated: float = 0.0  # when last enrolled
    count: int = 1  # embeddings averaged into `vector` ("add" enrolments)
    expires_at: float | None = None  # retention: gone everywhere after this time (None: kept)


@dataclass(frozen=True)
class SearchFilters:
    exclude_camera: str | None = None  # the re-id protocol: no matches from the query's own camera
    label: str | None = None
    time_from: float | None = None
    time_to: float | None = None
    min_similarity: float | None = None


@dataclass(frozen=True)
class Match:
    entry: Entry
    similarity: float  # cosine similarity in [-1, 1]

    @property
    def distance(self) -> float:
        return 1.0 - self.similarity


class GalleryStore(Protocol):
    async def add(self, entry: Entry, mode: EnrollMode = "replace") -> Entry:
        """Store `entry`; with "add" and an existing id, average it with the stored vector (count
        weighted, re-normalised) and keep the first `created`. Returns what is now stored."""
        ...

    async def get(self, model_id: str, entry_id: str) -> Entry | None: ...

    async def delete(self, model_id: str, entry_id: str) -> bool:
        """True when the entry existed."""
        ...

    async def clear(self, model_id: str) -> int:
        """Remove every entry of one model; returns how many there were."""
        ...

    async def list(self, model_id: str, offset: int, limit: int) -> tuple[list[Entry], int]:
        """A page of entries ordered by id, and the total count."""
        ...

    async def count(self, model_id: str) -> int: ...

    async def search(
        self, model_id: str, query: np.ndarray, k: int, filters: SearchFilters | None = None
    ) -> list[Match]:
        """The k most similar entries (best first) that pass the filters."""
        ...

    async def approximate(self, model_id: str) -> bool:
        """Whether searches of this model now go through an approximate index (REID_GALLERY_INDEX)
        and may miss some of the exact top k; as of the last search, no store round trip."""
        ...

    async def expire(self, model_id: str, now: float) -> list[str]:
        """Remove every entry whose retention ended by `now`, everywhere; returns their ids. Reads
        never return an expired entry even before this runs (replicas drop them by time)."""
        ...

    async def put_thumbnail(
        self, model_id: str, entry_id: str, jpeg: bytes, expires_at: float | None
    ) -> None:
        """Keep a small JPEG strip of the entry's tracklet beside it (same retention, same erasure)."""
        ...

    async def get_thumbnail(self, model_id: str, entry_id: str) -> bytes | None: ...

    async def ping(self) -> bool:
        """Whether the store is reachable now (readiness)."""
        ...

    async def close(self) -> None: ...
