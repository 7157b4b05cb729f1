"""POST /tracks: a camera's clip and its tracker file -> every track embedded, enrolled or matched,
all of a request's enrolments stored together or none.

Order: the options were checked by the request layer (before any decoding); crops are cut in one pass
off the event loop, each track embedded as soon as its crops are cut (service/tracks/embedding.py),
then the gallery: decisions first, writes last, so a failure anywhere before the writes stores
nothing, and a failure during them is undone (service/tracks/enroll.py).
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from dataclasses import dataclass

import numpy as np

from service.core import request_cost
from service.core.budget import Reservation
from service.core.errors import BadInput
from service.core.security import Principal
from service.gallery.base import Entry, SearchFilters
from service.inference.embedder import EmbedResult
from service.media.decode import Upload
from service.schemas import (
    EntryOut,
    MatchItem,
    ModelRef,
    ThresholdSource,
    TrackResult,
    TracksOptions,
    TracksResponse,
    VideoInfo,
)
from service.state import AppState, Runtime
from service.tracks.associate import TrackVector, decide, gallery_id
from service.tracks.crops import Admit, CutJob, TrackCrops, read_crops
from service.tracks.embedding import TrackEmbedder
from service.tracks.enroll import check_free, enroll_all
from service.tracks.mot import relabelled_mot
from service.tracks.plan import TrackPlan
from service.usecases.entries import new_entry

WRITES = frozenset({"enroll", "match-or-enroll"})


@dataclass(frozen=True)
class TracksInput:
    """A request as the request layer checked it: its options final (a threshold resolved)."""

    video: Upload
    tracker: Upload
    options: TracksOptions
    threshold_from: ThresholdSource | None = None


@dataclass
class _Tracks:
    """A request's footage after the model: the tracks by first frame, and the embeddings of those used."""

    crops: TrackCrops
    fps: float
    plans: list[TrackPlan]
    embedded: dict[int, EmbedResult]
    kept: dict[int, np.ndarray]  # crops kept for thumbnails (write actions with thumbnails on)

    @property
    def used(self) -> list[TrackPlan]:
        return [t for t in self.plans if t.skipped is None]


async def run_tracks(state: AppState, caller: Principal, request: TracksInput) -> TracksResponse:
    started = time.perf_counter()
    held = _Held()
    try:
        return await _run(state, caller, request, held, started)
    finally:
        held.close()


class _Held:
    """A request's reservations. The cutting thread may outlive a cancelled request (a thread cannot be
    stopped), so what it reserves after the request ended is given back at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reservations: list[Reservation] = []
        self._closed = False

    def add(self, reservation: Reservation) -> None:
        with self._lock:
            if not self._closed:
                self._reservations.append(reservation)
                return
        reservation.release()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            reservations, self._reservations = self._reservations, []
        for reservation in reservations:
            reservation.release()


async def _run(
    state: AppState, caller: Principal, request: TracksInput, held: _Held, started: float
) -> TracksResponse:
    options = request.options
    tracks = await _embed_footage(state, request, held)
    results = {t.track_id: _result(t, options.start_time, tracks.fps) for t in tracks.plans}
    for track_id, embedded in tracks.embedded.items():
        results[track_id].result = "embedded"
        if options.action == "embed":
            results[track_id].embedding = [float(v) for v in embedded.vector]
    entries: list[EntryOut] = []
    if options.action == "match":
        await _match(state, caller, options, tracks, results)
    elif options.action in WRITES:
        entries = await _enroll(state, caller, options, tracks, results)
    crops = tracks.crops
    response = TracksResponse(
        model=ModelRef.of(state.meta),
        camera=options.camera,
        action=options.action,
        tracker_format=crops.tracker.format,
        boxes=crops.tracker.boxes,
        video=VideoInfo(
            width=crops.width,
            height=crops.height,
            fps=round(tracks.fps, 6),
            fps_from="request" if options.fps else "video",
            frames_decoded=crops.frames_decoded,
        ),
        threshold=options.threshold if request.threshold_from else None,
        threshold_from=request.threshold_from,
        tracks=[results[t.track_id] for t in tracks.plans],
        enrolled=entries,
        seconds=0.0,
    )
    if options.mot_output:
        ids = {r.track_id: r.gallery_id for r in response.tracks if r.gallery_id is not None}
        response.mot = relabelled_mot(crops.tracker, ids)
    response.seconds = round(time.perf_counter() - started, 6)
    return response


def _admit(runtime: Runtime, held: _Held) -> Admit:
    def admit(crops: int, width: int, height: int) -> None:
        """From the cutting thread, once the plan is known: every planned crop at the model's input and
        a few decoded frames, held until the answer is sent (the clip's bytes are the body's, reserved
        as it arrived: api/middleware.py)."""
        meta = runtime.meta
        nbytes = request_cost.clip_bytes(crops, (width, height), (meta.height, meta.width))
        held.add(runtime.budget.acquire(nbytes, f"this clip ({crops} crops of {width}x{height} frames)"))

    return admit


async def _embed_footage(state: AppState, request: TracksInput, held: _Held) -> _Tracks:
    """One pass over the clip off the event loop, each track embedded as soon as its crops are cut."""
    options = request.options
    runtime = state.serving()
    config = state.tracks
    keep = options.action in WRITES and state.settings.store_thumbnails
    embedder = TrackEmbedder(runtime.embedder, config.tracks_in_flight, keep_crops=keep)
    job = CutJob(
        request.video,
        request.tracker.data,
        (runtime.meta.height, runtime.meta.width),
        runtime.meta.frames_per_chunk,
        on_track=embedder.handover,
        admit=_admit(runtime, held),
    )
    try:
        crops = await asyncio.to_thread(read_crops, job, config.limits, config.rules)
        state.metrics.frames.inc(crops.frames_decoded)
        fps = options.fps or crops.fps
        if not (math.isfinite(fps) and 0.01 <= fps <= 1000):
            raise BadInput(f"the video declares no usable frame rate ({fps}): send `fps`")
        embedded = await embedder.results()
    except BaseException:
        await embedder.cancel()
        raise
    plans = sorted(crops.plan.tracks, key=lambda t: (t.first_frame, t.track_id))
    return _Tracks(crops, fps, plans, embedded, embedder.crops)


async def _match(
    state: AppState,
    caller: Principal,
    options: TracksOptions,
    tracks: _Tracks,
    results: dict[int, TrackResult],
) -> None:
    """Each used track's best gallery entries (other cameras only unless told otherwise)."""
    filters = SearchFilters(
        exclude_camera=options.camera if options.exclude_own_camera else None,
        min_similarity=options.threshold,
    )
    top_k = options.top_k or state.settings.default_top_k
    found: list[str] = []
    for track in tracks.used:
        vector = tracks.embedded[track.track_id].vector
        matches = await state.store.search(state.meta.model_id, vector, top_k, filters)
        results[track.track_id].result = "searched"
        results[track.track_id].matches = [MatchItem.of(m) for m in matches]
        found.extend(m.entry.id for m in matches)
    await state.audit_event(caller, "match", tuple(dict.fromkeys(found)), len(found))


async def _enroll(
    state: AppState,
    caller: Principal,
    options: TracksOptions,
    tracks: _Tracks,
    results: dict[int, TrackResult],
) -> list[EntryOut]:
    """enroll: every used track under a new id; match-or-enroll: the tracks that match nobody. All of
    them stored, or none."""
    model_id = state.meta.model_id
    new_ids = {
        t.track_id: gallery_id(options.id_template, options.camera, t.track_id, options.start_time)
        for t in tracks.used
    }
    enrol = list(new_ids)
    if options.action == "match-or-enroll":
        assert options.threshold is not None
        vectors = [TrackVector(t.track_id, tracks.embedded[t.track_id].vector) for t in tracks.used]
        decisions = await decide(
            state.store,
            model_id,
            vectors,
            options.camera,
            options.threshold,
            options.exclude_own_camera,
            new_ids,
        )
        for d in decisions:
            track = results[d.track_id]
            track.result, track.gallery_id, track.similarity = d.result, d.gallery_id, d.similarity
        enrol = [d.track_id for d in decisions if d.result == "enrolled"]
        matched = [d.gallery_id for d in decisions if d.result == "matched" and not d.matched_in_request]
        await state.audit_event(caller, "match", tuple(dict.fromkeys(matched)), len(matched))
    await check_free(state.store, model_id, [new_ids[t] for t in enrol])
    entries = []
    for track_id in enrol:
        track = results[track_id]
        track.result, track.gallery_id = "enrolled", new_ids[track_id]
        entries.append(_entry(state, options, track, new_ids[track_id], tracks.embedded[track_id].vector))
    if not entries:
        return []
    frames = {new_ids[t]: list(crops) for t, crops in tracks.kept.items()}
    stored = await enroll_all(state.store, entries, frames, state.settings.store_thumbnails)
    await state.audit_event(caller, "enroll", tuple(e.id for e in stored), len(stored))
    await state.count_gallery()
    return [EntryOut.of(e) for e in stored]


def _seconds(frame: int, start_time: float | None, fps: float) -> float:
    return round((start_time or 0.0) + (frame - 1) / fps, 3)


def _result(plan: TrackPlan, start_time: float | None, fps: float) -> TrackResult:
    return TrackResult(
        track_id=plan.track_id,
        result="skipped",
        frames_seen=plan.boxes,
        frames_usable=plan.usable,
        frames_used=len(plan.frames),
        chunks=plan.chunks,
        first_frame=plan.first_frame,
        last_frame=plan.last_frame,
        first_seen=_seconds(plan.first_frame, start_time, fps),
        last_seen=_seconds(plan.last_frame, start_time, fps),
        dropped=plan.dropped,
        skipped=plan.skipped,
    )


def _entry(
    state: AppState, options: TracksOptions, track: TrackResult, entry_id: str, vector: np.ndarray
) -> Entry:
    """A new entry with what the track says of the person: camera, when first and last seen, boxes."""
    absolute = options.start_time is not None
    tags = {
        "source": "tracks",
        "track_id": str(track.track_id),
        "first_seen": f"{track.first_seen:.3f}",
        "last_seen": f"{track.last_seen:.3f}",
        "time_base": "epoch" if absolute else "clip",
        "boxes": str(track.frames_seen),
        "frames_used": str(track.frames_used),
    }
    return new_entry(
        state,
        entry_id,
        vector,
        camera=options.camera,
        timestamp=track.first_seen if absolute else None,
        tags=tags,
        ttl_seconds=options.ttl_seconds,
    )
