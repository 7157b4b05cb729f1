"""The one place a gallery entry is made from a request, and where a single enrolment is stored."""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np

from service.core.security import Principal
from service.gallery import enrolment
from service.gallery.base import Entry
from service.schemas import EnrollOptions
from service.state import AppState
from service.usecases.embed import Embedded


def new_entry(
    state: AppState,
    entry_id: str,
    vector: np.ndarray,
    *,
    camera: str | None = None,
    label: str | None = None,
    timestamp: float | None = None,
    tags: Mapping[str, str] | None = None,
    ttl_seconds: int | None = None,
) -> Entry:
    """An entry of the served model, created now, kept for `ttl_seconds` (default: the gallery's
    retention, REID_GALLERY_TTL_SECONDS)."""
    now = time.time()
    return Entry(
        id=entry_id,
        model_id=state.meta.model_id,
        vector=vector.astype(np.float32),
        camera=camera,
        label=label,
        timestamp=timestamp,
        tags=dict(tags or {}),
        created=now,
        updated=now,
        expires_at=enrolment.expiry_time(now, ttl_seconds or state.settings.gallery_ttl_seconds),
    )


async def enroll_one(state: AppState, caller: Principal, embedded: Embedded, options: EnrollOptions) -> Entry:
    """Store the vector under the options' id (with the tracklet's frames, its thumbnail too), and
    record it in the audit trail."""
    entry = new_entry(
        state,
        options.id,
        embedded.vector,
        camera=options.camera,
        label=options.label,
        timestamp=options.timestamp,
        tags=options.tags,
        ttl_seconds=options.ttl_seconds,
    )
    stored = await enrolment.enroll(
        state.store, entry, options.mode, embedded.frames, state.settings.store_thumbnails
    )
    await state.count_gallery()
    await state.audit_event(caller, "enroll", (stored.id,), 1)
    return stored
