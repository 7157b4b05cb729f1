"""The gallery's rules in one place, whatever store keeps it: what a vector must be, how an entry is
made, how `add` merges into `replace`, when an entry expires, and its thumbnail.

The stores only persist and search; the Redis store runs the `add` merge as a Lua script (atomic
across replicas), the one other copy of `merge_enrolment`.
"""

from __future__ import annotations

import asyncio
import dataclasses

import numpy as np

from service.core.errors import BadInput, Conflict
from service.gallery.base import EnrollMode, Entry, GalleryStore
from service.media.thumbnail import make_strip


def unit_vector(vector: np.ndarray) -> np.ndarray:
    """A float32 L2-normalised copy of `vector`; rejects what could never be compared."""
    array = np.asarray(vector, dtype=np.float32)
    if array.ndim != 1 or array.size == 0:
        raise BadInput(f"a vector must be one-dimensional and non-empty, not of shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise BadInput("a vector must hold finite numbers only")
    norm = float(np.linalg.norm(array.astype(np.float64)))
    if norm == 0.0:
        raise BadInput("a zero vector has no direction to compare")
    return (array.astype(np.float64) / norm).astype(np.float32)


def weighted_mean(old: np.ndarray, old_count: int, new: np.ndarray, new_count: int) -> np.ndarray:
    """normalize(old * old_count + new * new_count), in float64 so the order of enrolments hardly
    matters; a zero mean (exactly opposite vectors) stays zero rather than dividing by zero."""
    total = old.astype(np.float64) * old_count + new.astype(np.float64) * new_count
    norm = float(np.linalg.norm(total))
    if norm > 0.0:
        total /= norm
    return total.astype(np.float32)


def expiry_time(now: float, ttl_seconds: float | None) -> float | None:
    """When an entry enrolled `now` with this retention is erased (None: kept until deleted)."""
    return None if ttl_seconds is None else now + ttl_seconds


def check_mode(mode: EnrollMode) -> None:
    if mode not in ("replace", "add"):
        raise ValueError(f"unknown enrol mode {mode!r}")


def fresh_entry(entry: Entry, now: float) -> Entry:
    """What a "replace" enrolment stores: a normalised copy of `entry`, created and updated now."""
    if entry.count < 1:
        raise ValueError(f"an entry averages at least one embedding, not {entry.count}")
    return dataclasses.replace(
        entry, vector=unit_vector(entry.vector), tags=dict(entry.tags), created=now, updated=now
    )


def merge_enrolment(old: Entry, new: Entry, now: float) -> Entry:
    """An "add" enrolment of `new` onto the stored `old`: count-weighted mean of the vectors,
    the new metadata where given, tags merged, `created` of the first enrolment."""
    if old.vector.shape != new.vector.shape:
        raise Conflict(f"vector of dimension {new.vector.size} for a gallery of dimension {old.vector.size}")
    return Entry(
        id=old.id,
        model_id=old.model_id,
        vector=weighted_mean(old.vector, old.count, new.vector, new.count),
        camera=new.camera if new.camera is not None else old.camera,
        label=new.label if new.label is not None else old.label,
        timestamp=new.timestamp if new.timestamp is not None else old.timestamp,
        tags={**old.tags, **new.tags},
        created=old.created,
        updated=now,
        count=old.count + new.count,
        expires_at=new.expires_at if new.expires_at is not None else old.expires_at,
    )


def enrolled(old: Entry | None, entry: Entry, mode: EnrollMode, now: float) -> Entry:
    """What an enrolment of `entry` stores, given what the id holds now (None: nothing, or expired)."""
    check_mode(mode)
    new = fresh_entry(entry, now)
    return new if old is None or mode == "replace" else merge_enrolment(old, new, now)


async def enroll(
    store: GalleryStore, entry: Entry, mode: EnrollMode, frames: list[np.ndarray] | None, thumbnail: bool
) -> Entry:
    """Store `entry`; with the tracklet's frames (and thumbnails on), also its thumbnail strip, which
    follows the entry's retention."""
    stored = await store.add(entry, mode)
    if frames and thumbnail:
        jpeg = await asyncio.to_thread(make_strip, frames)
        await store.put_thumbnail(stored.model_id, stored.id, jpeg, stored.expires_at)
    return stored
