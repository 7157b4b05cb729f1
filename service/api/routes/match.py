"""POST /match: a query tracklet (or embedding) against the gallery, or against a second tracklet."""

from __future__ import annotations

from fastapi import APIRouter, Request

from service.api.deps import Reader, StateDep, authorize
from service.api.errors import ERROR_RESPONSES
from service.api.requests import MatchQueryDep, request_body
from service.schemas import MatchForm, MatchJSON, MatchResponse
from service.usecases import match as usecase

router = APIRouter(tags=["match"])


@router.post(
    "/match",
    response_model=MatchResponse,
    responses=ERROR_RESPONSES,
    openapi_extra=request_body(MatchForm, MatchJSON),
    summary="Rank gallery entries for a query tracklet or embedding, or score a pair of tracklets",
)
async def match(request: Request, state: StateDep, caller: Reader, query: MatchQueryDep) -> MatchResponse:
    if query.enroll is not None:  # match-and-enroll writes: the caller needs the write role too
        caller = authorize(request, state, "write")
    return await usecase.match(state, caller, query)
