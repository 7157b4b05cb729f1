"""POST /embed, and what every use case that takes a tracklet shares: an uploaded tracklet (or an
embedding sent as is) made into a unit vector, within the memory budget."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from service.core import request_cost
from service.gallery.enrolment import unit_vector
from service.inference.embedder import EmbedResult
from service.media.decode import Upload, decode_upload, decoded_bytes
from service.schemas import EmbedResponse, ModelRef, TrackletOptions
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
class Embedded:
    """A probe's unit vector; for a tracklet also its decoded frames and how it was embedded."""

    vector: np.ndarray
    frames: list[np.ndarray] | None = None
    result: EmbedResult | None = None


async def embed_probe(state: AppState, probe: Probe) -> Embedded:
    """Decode (off the event loop) and embed an uploaded tracklet; normalise a given embedding."""
    if isinstance(probe, np.ndarray):
        return Embedded(unit_vector(probe))
    runtime = state.serving()
    options = probe.options
    meta = runtime.meta
    nbytes = request_cost.tracklet_bytes(
        decoded_bytes(probe.kind, probe.files, state.limits),
        len(probe.files),
        state.limits.max_frames,
        (meta.height, meta.width),
    )
    with await runtime.budget.reserve(nbytes, "this tracklet"):
        frames = await asyncio.to_thread(decode_upload, probe.kind, probe.files, state.limits, options.order)
        state.metrics.frames.inc(len(frames))
        result = await runtime.embedder.embed(frames, options.sampling, options.num_frames)
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
