"""The gallery of the served model: enroll, list, read, delete, clear."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from service.api.deps import Admin, Reader, StateDep, Writer
from service.api.errors import ERROR_RESPONSES
from service.api.requests import EnrollInputDep, request_body
from service.schemas import Cleared, Deleted, EnrollForm, EnrollJSON, EntryOut, GalleryPage
from service.usecases import gallery as usecase

router = APIRouter(prefix="/gallery", tags=["gallery"])

IdPath = Annotated[str, Path(pattern=r"^[\w.:@-]{1,128}$", description="gallery id")]


@router.post(
    "",
    response_model=EntryOut,
    status_code=201,
    responses=ERROR_RESPONSES,
    openapi_extra=request_body(EnrollForm, EnrollJSON),
    summary="Enroll a tracklet or an embedding under an id (mode add: average with what is stored)",
)
async def enroll(state: StateDep, caller: Writer, request: EnrollInputDep) -> EntryOut:
    return await usecase.enroll(state, caller, request)


@router.get(
    "", response_model=GalleryPage, responses=ERROR_RESPONSES, summary="List entries, by id, a page at a time"
)
async def list_entries(
    state: StateDep,
    caller: Reader,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> GalleryPage:
    return await usecase.list_entries(state, offset, limit)


@router.get("/{entry_id}", response_model=EntryOut, responses=ERROR_RESPONSES, summary="One entry")
async def get_entry(
    entry_id: IdPath, state: StateDep, caller: Reader, include_embedding: Annotated[bool, Query()] = False
) -> EntryOut:
    return await usecase.get_entry(state, entry_id, include_embedding)


@router.get(
    "/{entry_id}/thumbnail",
    responses={**ERROR_RESPONSES, 200: {"content": {"image/jpeg": {}}, "description": "a JPEG strip"}},
    response_class=Response,
    summary="The entry's thumbnail: a strip of a few frames of the enrolled tracklet",
)
async def get_thumbnail(entry_id: IdPath, state: StateDep, caller: Reader) -> Response:
    jpeg = await usecase.get_thumbnail(state, entry_id)
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=60"})


@router.delete(
    "/{entry_id}",
    response_model=Deleted,
    responses=ERROR_RESPONSES,
    summary="Delete one entry, every trace of it",
)
async def delete_entry(entry_id: IdPath, state: StateDep, caller: Writer) -> Deleted:
    return await usecase.delete(state, caller, entry_id)


@router.delete(
    "",
    response_model=Cleared,
    responses=ERROR_RESPONSES,
    summary="Clear the served model's gallery (admin); `confirm` must be the model id",
)
async def clear(
    state: StateDep, caller: Admin, confirm: Annotated[str | None, Query(max_length=256)] = None
) -> Cleared:
    return await usecase.clear(state, caller, confirm)
