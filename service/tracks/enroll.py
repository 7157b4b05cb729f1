"""A request's new gallery entries stored all together, or none of them.

The gallery has no transactions across entries (Redis scripts are per entry), so this compensates:
entries are only ever new ids (a track never overwrites an entry: the ids are checked free first),
and when one write fails the ones already made are deleted again. Only if that deletion fails too
(Redis gone mid-request) can some remain, and the error names them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import numpy as np

from service.core.errors import Conflict, ServiceError, StoreUnavailable
from service.gallery import enrolment
from service.gallery.base import Entry, GalleryStore


async def check_free(store: GalleryStore, model_id: str, ids: list[str]) -> None:
    """409 when an id is taken: tracker ids restart with every clip, so `camA:3` of today's clip must
    not silently replace yesterday's `camA:3`, another person."""
    taken = [i for i in ids if await store.get(model_id, i) is not None]
    if taken:
        shown = ", ".join(taken[:10]) + (f" and {len(taken) - 10} more" if len(taken) > 10 else "")
        raise Conflict(
            f"gallery id(s) already in use: {shown}. Tracker ids restart with each clip: give an "
            "id_template that differs per clip, e.g. '{camera}:{start}:{track}' with start_time",
            code="id_in_use",
        )


async def enroll_all(
    store: GalleryStore, entries: list[Entry], frames: Mapping[str, list[np.ndarray]], thumbnails: bool
) -> list[Entry]:
    """Store every entry by the gallery's enrolment rules ("replace" of a free id), with its
    thumbnail strip from `frames[id]` when thumbnails are on. On any failure, the entries stored so
    far are deleted and the error re-raised."""
    stored: list[Entry] = []
    try:
        for entry in entries:
            stored.append(await enrolment.enroll(store, entry, "replace", frames.get(entry.id), thumbnails))
    except BaseException as exc:
        left = await _undo(store, entries[: len(stored) + 1])
        if left:
            detail = exc.message if isinstance(exc, ServiceError) else type(exc).__name__
            raise StoreUnavailable(
                f"enrolment failed ({detail}) after {len(stored)} of {len(entries)} entries, and these may "
                f"remain (their removal failed too): {', '.join(left)}"
            ) from exc
        raise
    return stored


async def _undo(store: GalleryStore, written: list[Entry]) -> list[str]:
    """Delete what may have been written (the failing entry included: its write may have landed);
    returns the ids whose deletion failed."""
    left = []
    for entry in written:
        try:
            await asyncio.shield(store.delete(entry.model_id, entry.id))
        except Exception:  # reported by id; the original error is the one raised
            left.append(entry.id)
    return left
