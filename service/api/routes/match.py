"""POST /match: a query tracklet (or embedding) against the gallery, or against a second tracklet."""

from __future__ import annotations

import time

import numpy as np
from fastapi import APIRouter, Request

from service.api.deps import AppState, Reader, StateDep, authorize
from service.api.forms import (
    ParsedForm,
    decode_tracklet,
    is_json,
    read_form,
    read_json,
    validate_fields,
)
from service.api.openapi import ERROR_RESPONSES, request_body
from service.api.presenters import as_vector, check_model_id, entry_out, match_item, model_ref
from service.api.routes.gallery import enroll_vector
from service.core.errors import BadInput
from service.gallery.base import SearchFilters
from service.schemas import (
    EnrollOptions,
    MatchFilters,
    MatchJSON,
    MatchResponse,
    PairResult,
    TrackletOptions,
)

router = APIRouter(tags=["match"])

FILTER_FIELDS = ("top_k", "exclude_camera", "filter_label", "time_from", "time_to", "threshold")
OPTION_FIELDS = ("sampling", "num_frames", "order")
ENROLL_FIELDS = ("id", "camera", "label", "timestamp", "tags", "mode", "ttl_seconds")


async def _embed_form(
    state: AppState, form: ParsedForm, prefix: str, options: TrackletOptions
) -> tuple[np.ndarray, list[np.ndarray], int]:
    """The embedding of the tracklet under `prefix`, its decoded frames, and how many were used."""
    tracklet = form.tracklet(prefix)
    if tracklet is None:
        raise BadInput(
            f"upload the {'second' if prefix else 'query'} tracklet as "
            f"{prefix}frames, {prefix}archive or {prefix}video"
        )
    frames = await decode_tracklet(*tracklet, state.limits, options.order)
    state.metrics.frames.inc(len(frames))
    result = await state.require_embedder().embed(frames, options.sampling, options.num_frames)
    return result.vector, frames, result.frames_used


@router.post(
    "/match",
    response_model=MatchResponse,
    responses=ERROR_RESPONSES,
    openapi_extra=request_body(
        (MatchFilters, EnrollOptions),
        json_model=MatchJSON,
        pair=True,
        extra={
            "enroll": {
                "type": "boolean",
                "description": "add the query to the gallery under `id` after matching",
            }
        },
    ),
    summary="Rank gallery entries for a query tracklet or embedding, or score a pair of tracklets",
)
async def match(request: Request, state: StateDep, caller: Reader) -> MatchResponse:
    started = time.perf_counter()
    meta = state.meta
    received: int | None = None
    used: int | None = None
    other: np.ndarray | None = None
    query_frames: list[np.ndarray] | None = None
    if is_json(request):
        body: MatchJSON = await read_json(request, MatchJSON, state.settings.max_json_bytes)
        check_model_id(body.model_id, meta)
        query = as_vector(body.embedding, meta)
        if body.other_embedding is not None:
            other = as_vector(body.other_embedding, meta, "other_embedding")
        filters: MatchFilters = body
        enroll = body.enroll
    else:
        form = await read_form(request, state.limits)
        form.reject_unknown(
            set(FILTER_FIELDS + OPTION_FIELDS + ENROLL_FIELDS + ("enroll",)), prefixes=("", "other_")
        )
        filters = validate_fields(MatchFilters, form.fields, FILTER_FIELDS)
        options = validate_fields(TrackletOptions, form.fields, OPTION_FIELDS)
        enroll = None
        if form.fields.get("enroll", "").lower() in ("1", "true", "yes", "on"):
            enroll = validate_fields(EnrollOptions, form.fields, ENROLL_FIELDS)
        elif any(name in form.fields for name in ("id", "mode")):
            raise BadInput("`id` and `mode` are enrolment fields: set enroll=true to enroll the query")
        query, query_frames, used = await _embed_form(state, form, "", options)
        received = len(query_frames)
        if form.tracklet("other_") is not None:
            other, _, _ = await _embed_form(state, form, "other_", options)
    if enroll is not None:
        caller = authorize(request, state, "write")
    response = MatchResponse(model=model_ref(meta), frames_received=received, frames_used=used, seconds=0.0)
    if other is not None:
        if enroll is not None:
            raise BadInput("enroll works with gallery matching, not with a pair")
        similarity = float(np.dot(query, other))
        response.pair = PairResult(similarity=round(similarity, 6), distance=round(1.0 - similarity, 6))
    else:
        top_k = filters.top_k or state.settings.default_top_k
        if top_k > state.settings.max_top_k:
            raise BadInput(f"top_k is at most {state.settings.max_top_k}")
        if (
            filters.time_from is not None
            and filters.time_to is not None
            and filters.time_from > filters.time_to
        ):
            raise BadInput("time_from is after time_to")
        search_filters = SearchFilters(
            exclude_camera=filters.exclude_camera,
            label=filters.filter_label,
            time_from=filters.time_from,
            time_to=filters.time_to,
            min_similarity=filters.threshold,
        )
        matches = await state.store.search(meta.model_id, query, top_k, search_filters)
        response.matches = [match_item(m) for m in matches]
        response.search = "approximate" if await state.store.approximate(meta.model_id) else "exact"
        await state.audit_event(caller, "match", tuple(m.id for m in response.matches), len(matches))
        if enroll is not None:
            entry = await enroll_vector(state, query, enroll, query_frames)
            await state.audit_event(caller, "enroll", (entry.id,), 1)
            response.enrolled = entry_out(entry)
    response.seconds = round(time.perf_counter() - started, 6)
    return response
