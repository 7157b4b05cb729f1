"""/gallery: enrol a tracklet or an embedding under an id; list, read, delete and clear entries of the
served model."""

from __future__ import annotations

from dataclasses import dataclass

from service.core.errors import Conflict, NotFound
from service.core.security import Principal
from service.schemas import Cleared, Deleted, EnrollOptions, EntryOut, GalleryPage
from service.state import AppState
from service.usecases.embed import Probe, embed_probe
from service.usecases.entries import enroll_one


@dataclass(frozen=True)
class EnrollInput:
    probe: Probe
    options: EnrollOptions


async def enroll(state: AppState, caller: Principal, request: EnrollInput) -> EntryOut:
    embedded = await embed_probe(state, request.probe)
    return EntryOut.of(await enroll_one(state, caller, embedded, request.options))


async def list_entries(state: AppState, offset: int, limit: int) -> GalleryPage:
    items, total = await state.store.list(state.meta.model_id, offset, limit)
    return GalleryPage(items=[EntryOut.of(e) for e in items], total=total, offset=offset, limit=limit)


async def get_entry(state: AppState, entry_id: str, include_embedding: bool) -> EntryOut:
    entry = await state.store.get(state.meta.model_id, entry_id)
    if entry is None:
        raise NotFound(f"no gallery entry {entry_id!r} for model {state.meta.model_id}")
    return EntryOut.of(entry, include_embedding)


async def get_thumbnail(state: AppState, entry_id: str) -> bytes:
    """The entry's JPEG strip."""
    jpeg = await state.store.get_thumbnail(state.meta.model_id, entry_id)
    if jpeg is None:
        raise NotFound(
            f"no thumbnail for gallery entry {entry_id!r} (unknown id, or enrolled from an embedding)"
        )
    return jpeg


async def delete(state: AppState, caller: Principal, entry_id: str) -> Deleted:
    if not await state.store.delete(state.meta.model_id, entry_id):
        raise NotFound(f"no gallery entry {entry_id!r} for model {state.meta.model_id}")
    await state.audit_event(caller, "delete", (entry_id,), 1)
    await state.count_gallery()
    return Deleted(deleted=entry_id)


async def clear(state: AppState, caller: Principal, confirm: str | None) -> Cleared:
    """Every entry of the served model; `confirm` must be its id."""
    model_id = state.meta.model_id
    # A "+" left unencoded in a query string arrives as a space; model ids never hold spaces.
    if confirm is None or confirm.replace(" ", "+") != model_id:
        raise Conflict(
            f"clearing removes every entry of {model_id}: repeat the request with ?confirm={model_id}",
            code="confirmation_required",
        )
    removed = await state.store.clear(model_id)
    await state.audit_event(caller, "clear", (), removed)
    state.metrics.gallery_size.set(0)
    return Cleared(model_id=model_id, removed=removed)
