"""The gallery of the served model: enroll, list, read, delete, clear."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Path, Query, Request, Response

from service.api.deps import Admin, AppState, Reader, StateDep, Writer
from service.api.forms import decode_tracklet, is_json, read_form, read_json, validate_fields
from service.api.openapi import ERROR_RESPONSES, request_body
from service.api.presenters import as_vector, check_model_id, entry_out
from service.core.errors import BadInput, Conflict, NotFound
from service.gallery.base import Entry
from service.media.thumbnail import make_strip
from service.schemas import (
    Cleared,
    Deleted,
    EnrollJSON,
    EnrollOptions,
    EntryOut,
    GalleryPage,
    TrackletOptions,
)

router = APIRouter(prefix="/gallery", tags=["gallery"])

ENROLL_FIELDS = ("id", "camera", "label", "timestamp", "tags", "mode", "ttl_seconds")
OPTION_FIELDS = ("sampling", "num_frames", "order")
IdPath = Annotated[str, Path(pattern=r"^[\w.:@-]{1,128}$", description="gallery id")]


async def enroll_vector(
    state: AppState, vector: np.ndarray, options: EnrollOptions, frames: list[np.ndarray] | None = None
) -> Entry:
    """Store the vector; with the tracklet's frames, also its thumbnail strip (unless turned off)."""
    now = time.time()
    ttl = options.ttl_seconds or state.settings.gallery_ttl_seconds
    entry = Entry(
        id=options.id,
        model_id=state.meta.model_id,
        vector=vector.astype(np.float32),
        camera=options.camera,
        label=options.label,
        timestamp=options.timestamp,
        tags=dict(options.tags),
        created=now,
        updated=now,
        expires_at=None if ttl is None else now + ttl,
    )
    stored = await state.store.add(entry, options.mode)
    if frames and state.settings.store_thumbnails:
        jpeg = await asyncio.to_thread(make_strip, frames)
        await state.store.put_thumbnail(stored.model_id, stored.id, jpeg, stored.expires_at)
    state.metrics.gallery_size.set(await state.store.count(state.meta.model_id))
    return stored


@router.post(
    "",
    response_model=EntryOut,
    status_code=201,
    responses=ERROR_RESPONSES,
    openapi_extra=request_body((EnrollOptions,), json_model=EnrollJSON),
    summary="Enroll a tracklet or an embedding under an id (mode add: average with what is stored)",
)
async def enroll(request: Request, state: StateDep, caller: Writer) -> EntryOut:
    meta = state.meta
    if is_json(request):
        body: EnrollJSON = await read_json(request, EnrollJSON, state.settings.max_json_bytes)
        check_model_id(body.model_id, meta)
        vector = as_vector(body.embedding, meta)
        frames = None
        options = EnrollOptions.model_validate(body.model_dump(include=set(EnrollOptions.model_fields)))
    else:
        form = await read_form(request, state.limits)
        form.reject_unknown(set(ENROLL_FIELDS + OPTION_FIELDS))
        options = validate_fields(EnrollOptions, form.fields, ENROLL_FIELDS)
        tracklet_options = validate_fields(TrackletOptions, form.fields, OPTION_FIELDS)
        tracklet = form.tracklet()
        if tracklet is None:
            raise BadInput(
                "upload the tracklet to enroll as frames, archive or video (or send JSON with `embedding`)"
            )
        frames = await decode_tracklet(*tracklet, state.limits, tracklet_options.order)
        state.metrics.frames.inc(len(frames))
        result = await state.require_embedder().embed(
            frames, tracklet_options.sampling, tracklet_options.num_frames
        )
        vector = result.vector
    entry = await enroll_vector(state, vector, options, frames)
    await state.audit_event(caller, "enroll", (entry.id,), 1)
    return entry_out(entry)


@router.get(
    "", response_model=GalleryPage, responses=ERROR_RESPONSES, summary="List entries, by id, a page at a time"
)
async def list_entries(
    state: StateDep,
    caller: Reader,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> GalleryPage:
    items, total = await state.store.list(state.meta.model_id, offset, limit)
    return GalleryPage(items=[entry_out(e) for e in items], total=total, offset=offset, limit=limit)


@router.get("/{entry_id}", response_model=EntryOut, responses=ERROR_RESPONSES, summary="One entry")
async def get_entry(
    entry_id: IdPath, state: StateDep, caller: Reader, include_embedding: Annotated[bool, Query()] = False
) -> EntryOut:
    entry = await state.store.get(state.meta.model_id, entry_id)
    if entry is None:
        raise NotFound(f"no gallery entry {entry_id!r} for model {state.meta.model_id}")
    return entry_out(entry, include_embedding)


@router.get(
    "/{entry_id}/thumbnail",
    responses={**ERROR_RESPONSES, 200: {"content": {"image/jpeg": {}}, "description": "a JPEG strip"}},
    response_class=Response,
    summary="The entry's thumbnail: a strip of a few frames of the enrolled tracklet",
)
async def get_thumbnail(entry_id: IdPath, state: StateDep, caller: Reader) -> Response:
    jpeg = await state.store.get_thumbnail(state.meta.model_id, entry_id)
    if jpeg is None:
        raise NotFound(
            f"no thumbnail for gallery entry {entry_id!r} (unknown id, or enrolled from an embedding)"
        )
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=60"})


@router.delete(
    "/{entry_id}",
    response_model=Deleted,
    responses=ERROR_RESPONSES,
    summary="Delete one entry, every trace of it",
)
async def delete_entry(entry_id: IdPath, state: StateDep, caller: Writer) -> Deleted:
    if not await state.store.delete(state.meta.model_id, entry_id):
        raise NotFound(f"no gallery entry {entry_id!r} for model {state.meta.model_id}")
    await state.audit_event(caller, "delete", (entry_id,), 1)
    state.metrics.gallery_size.set(await state.store.count(state.meta.model_id))
    return Deleted(deleted=entry_id)


@router.delete(
    "",
    response_model=Cleared,
    responses=ERROR_RESPONSES,
    summary="Clear the served model's gallery (admin); `confirm` must be the model id",
)
async def clear(
    state: StateDep, caller: Admin, confirm: Annotated[str | None, Query(max_length=256)] = None
) -> Cleared:
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
