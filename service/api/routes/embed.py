"""POST /embed: one tracklet in, its pooled sequence embedding out."""

from __future__ import annotations

from fastapi import APIRouter

from service.api.deps import Reader, StateDep
from service.api.errors import ERROR_RESPONSES
from service.api.requests import TrackletUploadDep, request_body
from service.schemas import EmbedResponse, TrackletForm
from service.usecases import embed as usecase

router = APIRouter(tags=["embed"])


@router.post(
    "/embed",
    response_model=EmbedResponse,
    responses=ERROR_RESPONSES,
    openapi_extra=request_body(TrackletForm),
    summary="Embed one tracklet (frames, an archive of frames, or a video)",
)
async def embed(state: StateDep, caller: Reader, upload: TrackletUploadDep) -> EmbedResponse:
    return await usecase.embed(state, upload)
