"""What the service does, as plain functions over typed inputs: embed, enroll, match.

Routes translate HTTP into these inputs (service/api/requests.py) and call one function; everything
here runs after the caller and the options were checked, so decoding is the first expensive step.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from service.core.security import Principal
from service.gallery import core
from service.gallery.base import Entry, SearchFilters
from service.gallery.core import unit_vector
from service.inference.embedder import EmbedResult
from service.media.decode import Upload, decode_upload, decoded_bytes
from service.schemas import (
    EmbedResponse,
    EnrollOptions,
    EntryOut,
    MatchItem,
    MatchResponse,
    ModelRef,
    PairResult,
    TrackletOptions,
)
from service.state import AppState

UploadKind = Literal["frames", "archive", "video"]
KINDS: tuple[UploadKind, ...] = ("frames", "archive", "video")


@dataclass(frozen=True)
class TrackletUpload:
    """One uploaded tracklet, read within the limits but not decoded yet, and how to embed it."""

    kind: UploadKind
    files: list[Upload]
    options: TrackletOptions = field(default_factory=TrackletOptions)


# What a use case embeds: an uploaded tracklet, or an embedding sent as is (float32, checked
# against the served model's dimension).
Probe = TrackletUpload | np.ndarray


@dataclass(frozen=True)
class EnrollInput:
    probe: Probe
    options: EnrollOptions


@dataclass(frozen=True)
class MatchQuery:
    probe: Probe
    other: Probe | None = None  # pair mode: score against this instead of the gallery
    top_k: int = 10
    filters: SearchFilters = field(default_factory=SearchFilters)
    enroll: EnrollOptions | None = None  # enrol the query after matching (gallery mode only)


@dataclass(frozen=True)
class Embedded:
    """A probe's unit vector; for a tracklet also its decoded frames and how it was embedded."""

    vector: np.ndarray
    frames: list[np.ndarray] | None = None
    result: EmbedResult | None = None


async def embed_probe(state: AppState, probe: Probe) -> Embedded:
    """Decode (off the event loop) and embed an uploaded tracklet; normalise a given embedding."""
    if isinstance(probe, np.ndarray):
        return Embedded(unit_vector(probe))
    embedder = state.require_embedder()
    options = probe.options
    meta = state.meta
    # the decoded frames, and their copies at the model's input (at most REID_MAX_FRAMES of them)
    nbytes = decoded_bytes(probe.kind, probe.files, state.limits)
    nbytes += min(state.limits.max_frames, max(1, len(probe.files))) * meta.height * meta.width * 3
    with await state.budget.reserve(nbytes, "this tracklet"):
        frames = await asyncio.to_thread(decode_upload, probe.kind, probe.files, state.limits, options.order)
        state.metrics.frames.inc(len(frames))
        result = await embedder.embed(frames, options.sampling, options.num_frames)
    return Embedded(result.vector, frames, result)


async def embed(state: AppState, upload: TrackletUpload) -> EmbedResponse:
    started = time.perf_counter()
    embedded = await embed_probe(state, upload)
    result = embedded.result
    assert result is not None
    return EmbedResponse(
        embedding=[float(v) for v in result.vector],
        dim=int(result.vector.shape[0]),
        model=ModelRef.of(state.meta),
        frames_received=result.frames_received,
        frames_used=result.frames_used,
        chunks=result.chunks,
        seconds=round(time.perf_counter() - started, 6),
    )


async def enroll(state: AppState, caller: Principal, request: EnrollInput) -> EntryOut:
    embedded = await embed_probe(state, request.probe)
    entry = await _store(state, embedded, request.options)
    await state.audit_event(caller, "enroll", (entry.id,), 1)
    return EntryOut.of(entry)


async def match(state: AppState, caller: Principal, query: MatchQuery) -> MatchResponse:
    """Rank the gallery for the probe (and enrol it when asked), or score it against a second probe."""
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
            entry = await _store(state, probe, query.enroll)
            await state.audit_event(caller, "enroll", (entry.id,), 1)
            response.enrolled = EntryOut.of(entry)
    response.seconds = round(time.perf_counter() - started, 6)
    return response


async def _store(state: AppState, embedded: Embedded, options: EnrollOptions) -> Entry:
    """Store the vector under the options' id; with the tracklet's frames, its thumbnail too."""
    now = time.time()
    entry = Entry(
        id=options.id,
        model_id=state.meta.model_id,
        vector=embedded.vector.astype(np.float32),
        camera=options.camera,
        label=options.label,
        timestamp=options.timestamp,
        tags=dict(options.tags),
        created=now,
        updated=now,
        expires_at=core.expiry_time(now, options.ttl_seconds or state.settings.gallery_ttl_seconds),
    )
    thumbnail = state.settings.store_thumbnails
    stored = await core.enroll(state.store, entry, options.mode, embedded.frames, thumbnail)
    state.metrics.gallery_size.set(await state.store.count(state.meta.model_id))
    return stored
