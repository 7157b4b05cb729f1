"""POST /tracks: a camera's clip and its tracker's output in, every track embedded, enrolled or matched."""

from __future__ import annotations

from fastapi import APIRouter, Request

from service.api.deps import Reader, StateDep, authorize
from service.api.errors import ERROR_RESPONSES
from service.api.requests import TracksInputDep, request_body
from service.schemas import TracksForm, TracksResponse
from service.usecases import tracks as usecase

router = APIRouter(tags=["tracks"])


@router.post(
    "/tracks",
    response_model=TracksResponse,
    responses=ERROR_RESPONSES,
    openapi_extra=request_body(TracksForm),
    summary="Cut every track of a tracker file out of its clip; embed, enroll or match each (docs/tracks.md)",
)
async def tracks(request: Request, state: StateDep, caller: Reader, upload: TracksInputDep) -> TracksResponse:
    if upload.options.action in usecase.WRITES:  # enroll, match-or-enroll: the write role, before decoding
        caller = authorize(request, state, "write")
    return await usecase.run_tracks(state, caller, upload)
