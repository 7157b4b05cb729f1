"""POST /tracks: a camera's clip and its tracker's output in, every track embedded, enrolled or matched."""

from __future__ import annotations

from fastapi import APIRouter, Request

from service.api.deps import Reader, StateDep, authorize
from service.api.errors import ERROR_RESPONSES
from service.api.requests import TracksInputDep, request_body
from service.core.config import Settings
from service.media.decode import MediaLimits
from service.tracks.crops import FootageLimits
from service.tracks.plan import CropRules
from service.tracks.schemas import TracksForm, TracksResponse
from service.tracks.trackfile import TrackFileLimits
from service.tracks.usecase import WRITES, TracksConfig, run_tracks

router = APIRouter(tags=["tracks"])


@router.post(
    "/tracks",
    response_model=TracksResponse,
    responses=ERROR_RESPONSES,
    openapi_extra=request_body(TracksForm),
    summary="Cut every track of a tracker file out of its clip; embed, enroll or match each (docs/tracks.md)",
)
async def tracks(request: Request, state: StateDep, caller: Reader, upload: TracksInputDep) -> TracksResponse:
    if upload.options.action in WRITES:  # enroll, match-or-enroll: the write role, before any decoding
        caller = authorize(request, state, "write")
    return await run_tracks(state, caller, upload, tracks_config(state.settings, state.limits))


def tracks_config(settings: Settings, media: MediaLimits) -> TracksConfig:
    """The REID_TRACKS_* settings as the use case's limits and crop rules."""
    tracker = TrackFileLimits(
        max_bytes=settings.tracks_max_file_bytes,
        max_boxes=settings.tracks_max_boxes,
        max_tracks=settings.tracks_max_tracks,
        max_boxes_per_frame=settings.tracks_max_boxes_per_frame,
    )
    rules = CropRules(
        min_confidence=settings.tracks_min_confidence,
        min_height=settings.tracks_min_height,
        min_width=settings.tracks_min_width,
        min_aspect=settings.tracks_min_aspect,
        max_aspect=settings.tracks_max_aspect,
        min_visible=settings.tracks_min_visible,
        min_boxes=settings.tracks_min_boxes,
        frames_per_track=settings.tracks_frames_per_track,
        max_crops=settings.tracks_max_crops,
    )
    return TracksConfig(
        FootageLimits(media, tracker, settings.tracks_max_video_frames), rules, settings.tracks_in_flight
    )
