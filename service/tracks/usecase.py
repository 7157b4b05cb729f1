"""POST /tracks as a plain function: a camera's clip and its tracker file -> every track embedded,
enrolled or matched, all of a request's enrolments stored together or none.

Order: options checked (before any decoding), crops cut in one pass off the event loop, tracks
embedded a few at a time (their chunks batched with other requests'), then the gallery: decisions
first, writes last, so a failure anywhere before the writes stores nothing, and a failure during
them is undone (service/tracks/enroll.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np

from service.core.errors import BadInput
from service.core.security import Principal
from service.gallery.base import Entry, SearchFilters
from service.inference.embedder import Embedder, EmbedResult
from service.media.decode import Upload
from service.media.thumbnail import make_strip
from service.schemas import EntryOut, MatchItem, ModelRef
from service.state import AppState
from service.tracks.associate import TrackVector, check_template, decide, gallery_id
from service.tracks.crops import FootageLimits, TrackCrops, read_crops
from service.tracks.enroll import check_free, enroll_all
from service.tracks.mot import relabelled_mot
from service.tracks.plan import CropRules, TrackPlan
from service.tracks.schemas import TrackResult, TracksOptions, TracksResponse, VideoInfo

WRITES = frozenset({"enroll", "match-or-enroll"})


@dataclass(frozen=True)
class TracksConfig:
    limits: FootageLimits
    rules: CropRules
    tracks_in_flight: (
        int  # tracks embedding at once: enough to fill batches, few enough not to flood the queue
    )


@dataclass(frozen=True)
class TracksInput:
    video: Upload
    tracker: Upload
    options: TracksOptions


def check_options(options: TracksOptions, max_top_k: int) -> None:
    """Everything about the options that can be refused before the clip is decoded."""
    if options.action == "match-or-enroll" and options.threshold is None:
        raise BadInput("match-or-enroll needs a threshold (the minimum cosine similarity of a match)")
    if options.action in WRITES:
        check_template(options.id_template)
    elif options.mot_output:
        raise BadInput("mot_output needs gallery ids: action enroll or match-or-enroll")
    if options.top_k is not None and options.top_k > max_top_k:
        raise BadInput(f"top_k is at most {max_top_k}")


async def run_tracks(
    state: AppState, caller: Principal, request: TracksInput, config: TracksConfig
) -> TracksResponse:
    started = time.perf_counter()
    options = request.options
    check_options(options, state.settings.max_top_k)
    embedder = state.require_embedder()
    meta = state.meta
    crops = await asyncio.to_thread(
        read_crops,
        request.video,
        request.tracker.data,
        config.limits,
        config.rules,
        (meta.height, meta.width),
        meta.frames_per_chunk,
    )
    state.metrics.frames.inc(crops.frames_decoded)
    fps = options.fps or crops.fps
    if not fps or fps <= 0:
        raise BadInput("the video does not declare its frame rate: send `fps`")
    plans = sorted(crops.plan.tracks, key=lambda t: (t.first_frame, t.track_id))
    used = [t for t in plans if t.skipped is None]
    new_ids: dict[int, str] = {}
    if options.action in WRITES:
        new_ids = {
            t.track_id: gallery_id(options.id_template, options.camera, t.track_id, options.start_time)
            for t in used
        }
        if options.action == "enroll":
            await check_free(state.store, meta.model_id, list(new_ids.values()))
    embedded = await _embed_all(embedder, crops, [t.track_id for t in used], config.tracks_in_flight)

    results = {t.track_id: _result(t, options.start_time, fps) for t in plans}
    entries: list[Entry] = []
    if options.action == "embed":
        for tid, emb in embedded.items():
            results[tid].result, results[tid].embedding = "embedded", [float(v) for v in emb.vector]
    elif options.action == "match":
        filters = SearchFilters(
            exclude_camera=options.camera if options.exclude_own_camera else None,
            min_similarity=options.threshold,
        )
        top_k = options.top_k or state.settings.default_top_k
        found: list[str] = []
        for tid, emb in embedded.items():
            matches = await state.store.search(meta.model_id, emb.vector, top_k, filters)
            results[tid].result, results[tid].matches = "searched", [MatchItem.of(m) for m in matches]
            found.extend(m.entry.id for m in matches)
        await state.audit_event(caller, "match", tuple(dict.fromkeys(found)), len(found))
    else:
        enrol = set(new_ids)
        if options.action == "match-or-enroll":
            assert options.threshold is not None
            vectors = [TrackVector(t.track_id, embedded[t.track_id].vector) for t in used]
            decisions = await decide(
                state.store,
                meta.model_id,
                vectors,
                options.camera,
                options.threshold,
                options.exclude_own_camera,
                new_ids,
            )
            enrol = {d.track_id for d in decisions if d.result == "enrolled"}
            matched = [d for d in decisions if d.result == "matched"]
            for d in decisions:
                results[d.track_id].result, results[d.track_id].gallery_id = d.result, d.gallery_id
                results[d.track_id].similarity = d.similarity
            await check_free(state.store, meta.model_id, [new_ids[t] for t in sorted(enrol)])
            await state.audit_event(
                caller,
                "match",
                tuple(d.gallery_id for d in matched if not d.matched_in_request),
                len(matched),
            )
        for t in used:
            if t.track_id in enrol:
                track, new_id = results[t.track_id], new_ids[t.track_id]
                track.result, track.gallery_id = "enrolled", new_id
                entries.append(_entry(state, options, track, new_id, embedded[t.track_id].vector))

    response = TracksResponse(
        model=ModelRef.of(meta),
        camera=options.camera,
        action=options.action,
        tracker_format=crops.tracker.format,
        boxes=crops.tracker.boxes,
        video=VideoInfo(
            width=crops.width,
            height=crops.height,
            fps=round(fps, 6),
            fps_from="request" if options.fps else "video",
            frames_decoded=crops.frames_decoded,
        ),
        tracks=[results[t.track_id] for t in plans],
        seconds=0.0,
    )
    if entries:
        stored = await enroll_all(state.store, entries, _thumbnail_writer(state, crops, new_ids))
        response.enrolled = [EntryOut.of(e) for e in stored]
        await state.audit_event(caller, "enroll", tuple(e.id for e in stored), len(stored))
        state.metrics.gallery_size.set(await state.store.count(meta.model_id))
    if options.mot_output:
        ids = {r.track_id: r.gallery_id for r in response.tracks if r.gallery_id is not None}
        response.mot = relabelled_mot(crops.tracker, ids)
    response.seconds = round(time.perf_counter() - started, 6)
    return response


async def _embed_all(
    embedder: Embedder, crops: TrackCrops, order: list[int], in_flight: int
) -> dict[int, EmbedResult]:
    """Each track's crops embedded as /embed would (chunks of the model's frames_per_chunk), at most
    `in_flight` tracks at a time so that one long file does not fill the model's queue alone."""
    gate = asyncio.Semaphore(in_flight)

    async def one(track_id: int) -> EmbedResult:
        async with gate:
            return await embedder.embed(list(crops.crops[track_id]), "chunks")

    try:
        async with asyncio.TaskGroup() as group:
            tasks = {tid: group.create_task(one(tid)) for tid in order}
    except ExceptionGroup as failed:  # the first failure is the answer (a 429, a model error...)
        raise _first(failed) from None
    return {tid: task.result() for tid, task in tasks.items()}


def _first(group: BaseExceptionGroup) -> BaseException:
    first = group.exceptions[0]
    return _first(first) if isinstance(first, BaseExceptionGroup) else first


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
    now = time.time()
    ttl = options.ttl_seconds or state.settings.gallery_ttl_seconds
    absolute = options.start_time is not None
    return Entry(
        id=entry_id,
        model_id=state.meta.model_id,
        vector=vector.astype(np.float32),
        camera=options.camera,
        timestamp=track.first_seen if absolute else None,
        tags={
            "source": "tracks",
            "track_id": str(track.track_id),
            "first_seen": f"{track.first_seen:.3f}",
            "last_seen": f"{track.last_seen:.3f}",
            "time_base": "epoch" if absolute else "clip",
            "boxes": str(track.frames_seen),
            "frames_used": str(track.frames_used),
        },
        created=now,
        updated=now,
        expires_at=None if ttl is None else now + ttl,
    )


def _thumbnail_writer(
    state: AppState, crops: TrackCrops, new_ids: dict[int, str]
) -> Callable[[Entry], Awaitable[None]]:
    """After each stored entry, its thumbnail strip from the track's crops (unless turned off)."""
    track_of = {gid: tid for tid, gid in new_ids.items()}

    async def write(entry: Entry) -> None:
        if not state.settings.store_thumbnails:
            return
        jpeg = await asyncio.to_thread(make_strip, list(crops.crops[track_of[entry.id]]))
        await state.store.put_thumbnail(entry.model_id, entry.id, jpeg, entry.expires_at)

    return write
