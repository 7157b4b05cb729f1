"""POST /match: a probe ranked against the gallery (and enrolled after when asked), or scored against
a second probe."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from service.core.security import Principal
from service.gallery.base import SearchFilters
from service.schemas import EnrollOptions, EntryOut, MatchItem, MatchResponse, ModelRef, PairResult
from service.state import AppState
from service.usecases.embed import Probe, embed_probe
from service.usecases.entries import enroll_one


@dataclass(frozen=True)
class MatchQuery:
    probe: Probe
    other: Probe | None = None  # pair mode: score against this instead of the gallery
    top_k: int = 10
    filters: SearchFilters = field(default_factory=SearchFilters)
    enroll: EnrollOptions | None = None  # enrol the query after matching (gallery mode only)


async def match(state: AppState, caller: Principal, query: MatchQuery) -> MatchResponse:
    started = time.perf_counter()
    meta = state.meta
    probe = await embed_probe(state, query.probe)
    response = MatchResponse(
        model=ModelRef.of(meta),
        frames_received=None if probe.result is None else probe.result.frames_received,
        frames_used=None if probe.result is None else probe.result.frames_used,
        seconds=0.0,
    )
    if query.other is not None:
        other = await embed_probe(state, query.other)
        similarity = float(np.dot(probe.vector, other.vector))
        response.pair = PairResult(similarity=round(similarity, 6), distance=round(1.0 - similarity, 6))
    else:
        matches = await state.store.search(meta.model_id, probe.vector, query.top_k, query.filters)
        response.matches = [MatchItem.of(m) for m in matches]
        response.search = "approximate" if await state.store.approximate(meta.model_id) else "exact"
        await state.audit_event(caller, "match", tuple(m.id for m in response.matches), len(matches))
        if query.enroll is not None:
            response.enrolled = EntryOut.of(await enroll_one(state, caller, probe, query.enroll))
    response.seconds = round(time.perf_counter() - started, 6)
    return response
