"""Store objects -> API responses, and API vectors -> checked store vectors."""

from __future__ import annotations

import numpy as np

from reid_contract import ModelMetadata
from service.core.errors import BadInput, Conflict
from service.gallery.base import Entry, Match
from service.schemas import EntryOut, MatchItem, ModelRef


def model_ref(meta: ModelMetadata) -> ModelRef:
    return ModelRef(name=meta.name, version=meta.version, id=meta.model_id)


def entry_out(entry: Entry, include_embedding: bool = False) -> EntryOut:
    return EntryOut(
        id=entry.id,
        model_id=entry.model_id,
        camera=entry.camera,
        label=entry.label,
        timestamp=entry.timestamp,
        tags=dict(entry.tags),
        created=entry.created,
        updated=entry.updated,
        count=entry.count,
        expires_at=entry.expires_at,
        embedding=[float(v) for v in entry.vector] if include_embedding else None,
    )


def match_item(match: Match) -> MatchItem:
    e = match.entry
    return MatchItem(
        id=e.id,
        similarity=round(match.similarity, 6),
        distance=round(match.distance, 6),
        camera=e.camera,
        label=e.label,
        timestamp=e.timestamp,
        tags=dict(e.tags),
    )


def check_model_id(given: str | None, meta: ModelMetadata) -> None:
    """A vector made by another model is not comparable: refuse it rather than return nonsense."""
    if given is not None and given != meta.model_id:
        raise Conflict(
            f"embedding made by model {given!r}; this service runs {meta.model_id!r} and never compares "
            "vectors of two models: re-embed the tracklet with this model",
            code="model_mismatch",
        )


def as_vector(values: list[float], meta: ModelMetadata, what: str = "embedding") -> np.ndarray:
    if len(values) != meta.embedding_dim:
        raise BadInput(f"{what} has {len(values)} values; model {meta.model_id} makes {meta.embedding_dim}")
    vector = np.asarray(values, dtype=np.float32)
    norm = float(np.linalg.norm(vector))
    if not np.isfinite(norm) or norm == 0.0:
        raise BadInput(f"{what} has no direction (zero, NaN or infinite)")
    return vector / norm
