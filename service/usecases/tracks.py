"""POST /tracks: a camera's clip and its tracker file (or the clip alone, whose people the service
detects and tracks itself) -> every track embedded, enrolled or matched, all of a request's enrolments
stored together or none.

Order: the options were checked by the request layer (before any decoding); without a tracker file,
one pass off the event loop detects and tracks the people (service/detection), its frames dropped as
they are detected; then crops are cut in one pass off the event loop, each track embedded as soon as
its crops are cut (service/tracks/embedding.py), then the gallery: decisions first, writes last, so a
failure anywhere before the writes stores nothing, and a failure during them is undone
(service/tracks/enroll.py).

The passes report their progress to the request's `Work` (frames done, people found), which a
streamed answer turns into progress lines; `Work.stop` stops them at their next frame (a client gone).
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from service.core import request_cost
from service.core.budget import Reservation
from service.core.errors import BadInput
from service.core.security import Principal
from service.detection.pipeline import FootageOptions, FootageProgress, FootageTracks, track_footage
from service.gallery.base import Entry, SearchFilters
from service.inference.embedder import EmbedResult
from service.media.decode import Upload
from service.schemas import (
    DetectionInfo,
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
from service.tracks.plan import CropPlan, TrackPlan
from service.usecases.entries import new_entry

WRITES = frozenset({"enroll", "match-or-enroll"})


@dataclass(frozen=True)
class TracksInput:
    """A request as the request layer checked it: its options final (a threshold resolved). Without
    a tracker file (`tracker` None), `footage` says how to find the people."""

    video: Upload
    tracker: Upload | None
    options: TracksOptions
    threshold_from: ThresholdSource | None = None
    footage: FootageOptions | None = None


@dataclass
class _Tracks:
    """A request's footage after the model: the tracks by first frame, and the embeddings of those used."""

    crops: TrackCrops
    fps: float
    plans: list[TrackPlan]
    embedded: dict[int, EmbedResult]
    kept: dict[int, np.ndarray]  # crops kept for thumbnails (write actions with thumbnails on)
    found: FootageTracks | None  # without a tracker file: what the detection pass found
    found_seconds: float

    @property
    def used(self) -> list[TrackPlan]:
        return [t for t in self.plans if t.skipped is None]


Stage = Literal["tracking", "embedding"]


class Stopped(Exception):
    """Raised in a decoding thread at its next frame once its request has ended (a client gone)."""


class Work:
    """A request's progress as its decoding threads report it, and the switch that stops them.

    `stage` is `tracking` during the detection pass (footage without a tracker file), then `embedding`
    during the crops pass and the model; `frames_done` / `frames_total` count the stage's frames
    (the total is the container's declared count while tracking, which may be missing: None, and the
    tracker file's last frame while cutting); `people` the tracks found so far. `started` is set once
    the clip is open, its options checked and its memory reserved: errors before that are the
    request's own (a plain 4xx), errors after it arrive in the progress stream. Made on the loop."""

    def __init__(self, tracker_file: bool) -> None:
        self.stop = threading.Event()
        self.started = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self.stage: Stage = "embedding" if tracker_file else "tracking"
        self.frames_done = 0
        self.frames_total: int | None = None
        self.people = 0
        self._since = time.monotonic()

    def begin(self) -> None:
        """From a decoding thread: the work has started."""
        self._loop.call_soon_threadsafe(self.started.set)

    def report(self, stage: Stage, frames_done: int, frames_total: int, people: int) -> None:
        """From a decoding thread; raises Stopped once the request has ended."""
        if self.stop.is_set():
            raise Stopped("the request ended")
        if stage != self.stage:
            self.stage, self._since = stage, time.monotonic()
        self.frames_done = frames_done
        self.frames_total = frames_total if frames_total >= max(frames_done, 1) else None
        self.people = people

    def event(self) -> dict[str, Any]:
        """The progress line of a streamed answer; `seconds_left` from the stage's pace so far."""
        left = None
        done, total = self.frames_done, self.frames_total
        elapsed = time.monotonic() - self._since
        if total is not None and done > 0:
            left = round((total - done) * elapsed / done, 1)
        return {
            "event": "progress",
            "stage": self.stage,
            "frames_done": done,
            "frames_total": total,
            "people": self.people,
            "seconds_left": left,
        }


async def run_tracks(
    state: AppState, caller: Principal, request: TracksInput, work: Work | None = None
) -> TracksResponse:
    """The request's answer. Cancelling the task that awaits this stops its decoding threads at their
    next frame, cancels its embeddings, gives its memory back and stores nothing."""
    started = time.perf_counter()
    held = _Held()
    work = work or Work(request.tracker is not None)
    try:
        return await _run(state, caller, request, held, started, work)
    finally:
        work.stop.set()
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
    state: AppState, caller: Principal, request: TracksInput, held: _Held, started: float, work: Work
) -> TracksResponse:
    options = request.options
    tracks = await _embed_footage(state, request, held, work)
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
    if tracks.found is not None:
        response.detection = _detection_info(state, request, tracks)
        if options.tracker_output:
            response.tracker_file = tracks.found.mot
    response.seconds = round(time.perf_counter() - started, 6)
    return response


def _admit(runtime: Runtime, held: _Held, work: Work) -> Admit:
    def admit(crops: int, width: int, height: int) -> None:
        """From the cutting thread, once the plan is known: every planned crop at the model's input and
        a few decoded frames, held until the answer is sent (the clip's bytes are the body's, reserved
        as it arrived: api/middleware.py)."""
        meta = runtime.meta
        nbytes = request_cost.clip_bytes(crops, (width, height), (meta.height, meta.width))
        held.add(runtime.budget.acquire(nbytes, f"this clip ({crops} crops of {width}x{height} frames)"))
        work.begin()

    return admit


def _find_people(runtime: Runtime, state: AppState, request: TracksInput, work: Work) -> FootageTracks:
    """The detection pass, in a worker thread: a few frames reserved while it runs (request_cost)."""
    assert request.footage is not None
    detector = runtime.detector
    if detector is None:  # the request layer refuses this first; kept for direct callers
        raise BadInput("this service has no person detector (REID_DETECTOR_PATH is empty): send `tracks`")

    @contextmanager
    def admit(width: int, height: int) -> Iterator[None]:
        nbytes = request_cost.footage_bytes((width, height))
        with runtime.budget.acquire(nbytes, f"this clip's detection ({width}x{height} frames)"):
            work.begin()
            yield

    def progress(done: FootageProgress) -> None:
        work.report("tracking", done.frames_done, done.frames_hint, done.tracks)

    limits = state.tracks.limits
    return track_footage(
        request.video,
        detector,
        request.footage,
        limits.media,
        limits.tracker,
        limits.max_video_frames,
        progress=progress,
        admit=admit,
    )


async def _embed_footage(state: AppState, request: TracksInput, held: _Held, work: Work) -> _Tracks:
    """Without a tracker file, one detection pass first; then one pass over the clip off the event
    loop, each track embedded as soon as its crops are cut."""
    options = request.options
    runtime = state.serving()
    config = state.tracks
    found, found_seconds = None, 0.0
    if request.tracker is None:
        clock = time.perf_counter()
        found = await asyncio.to_thread(_find_people, runtime, state, request, work)
        found_seconds = time.perf_counter() - clock
        state.metrics.frames.inc(found.frames_decoded)
    keep = options.action in WRITES and state.settings.store_thumbnails
    embedder = TrackEmbedder(runtime.embedder, config.tracks_in_flight, keep_crops=keep)

    def on_frame(decoded: int, plan: CropPlan) -> None:
        work.report("embedding", decoded, plan.last_frame, len(plan.tracks))

    job = CutJob(
        request.video,
        request.tracker.data if request.tracker is not None else b"",
        (runtime.meta.height, runtime.meta.width),
        runtime.meta.frames_per_chunk,
        on_track=embedder.handover,
        admit=_admit(runtime, held, work),
        on_frame=on_frame,
        tracker=found.tracker if found is not None else None,
    )
    try:
        crops = await asyncio.to_thread(read_crops, job, config.limits, config.rules)
        state.metrics.frames.inc(crops.frames_decoded)
        fps = options.fps or (found.fps if found is not None else crops.fps)
        if not (math.isfinite(fps) and 0.01 <= fps <= 1000):
            raise BadInput(f"the video declares no usable frame rate ({fps}): send `fps`")
        embedded = await embedder.results()
    except BaseException:
        work.stop.set()
        await embedder.cancel()
        raise
    plans = sorted(crops.plan.tracks, key=lambda t: (t.first_frame, t.track_id))
    return _Tracks(crops, fps, plans, embedded, embedder.crops, found, found_seconds)


def _detection_info(state: AppState, request: TracksInput, tracks: _Tracks) -> DetectionInfo:
    found, footage, detector = tracks.found, request.footage, state.loaded().detector
    assert found is not None and footage is not None and detector is not None
    d = footage.detect
    return DetectionInfo(
        detector=detector.info.name,
        precision=detector.info.precision,
        tracker="bytetrack (roboflow trackers)",
        stride=footage.stride,
        confidence=d.confidence,
        min_width=d.min_width,
        min_height=d.min_height,
        roi=list(d.roi) if d.roi is not None else None,
        frames_detected=found.frames_detected,
        detections=found.detections,
        tracks=len(found.tracker.tracks),
        seconds=round(tracks.found_seconds, 6),
    )


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
        vectors = [
            TrackVector(t.track_id, tracks.embedded[t.track_id].vector, t.first_frame, t.last_frame)
            for t in tracks.used
        ]
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
