"""POST /embed: one tracklet in, its pooled sequence embedding out."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request

from service.api.deps import Reader, StateDep
from service.api.forms import decode_tracklet, read_form, validate_fields
from service.api.openapi import ERROR_RESPONSES, request_body
from service.api.presenters import model_ref
from service.core.errors import BadInput
from service.schemas import EmbedResponse, TrackletOptions

router = APIRouter(tags=["embed"])

OPTION_FIELDS = ("sampling", "num_frames", "order")


@router.post(
    "/embed",
    response_model=EmbedResponse,
    responses=ERROR_RESPONSES,
    openapi_extra=request_body(),
    summary="Embed one tracklet (frames, an archive of frames, or a video)",
)
async def embed(request: Request, state: StateDep, caller: Reader) -> EmbedResponse:
    started = time.perf_counter()
    embedder = state.require_embedder()
    form = await read_form(request, state.limits)
    form.reject_unknown(set(OPTION_FIELDS))
    tracklet = form.tracklet()
    if tracklet is None:
        raise BadInput("upload a tracklet as `frames` (one or more images), `archive` (.zip/.tar) or `video`")
    options = validate_fields(TrackletOptions, form.fields, OPTION_FIELDS)
    frames = await decode_tracklet(*tracklet, state.limits, options.order)
    state.metrics.frames.inc(len(frames))
    result = await embedder.embed(frames, options.sampling, options.num_frames)
    return EmbedResponse(
        embedding=[float(v) for v in result.vector],
        dim=int(result.vector.shape[0]),
        model=model_ref(state.meta),
        frames_received=result.frames_received,
        frames_used=result.frames_used,
        chunks=result.chunks,
        seconds=round(time.perf_counter() - started, 6),
    )
