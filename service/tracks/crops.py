"""A clip and its tracker file -> the crops of every usable track, in one synchronous pass.

This is the CPU-bound half of POST /tracks (parse, plan, decode, cut), run off the event loop; the
other half (embedding, gallery) is async. Nothing here touches the gallery, so a failure here stores
nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from service.core.errors import BadInput, TooLarge
from service.media.decode import MediaLimits, Upload, open_video
from service.tracks.cut import FrameDone, TrackDone, cut_crops
from service.tracks.plan import CropPlan, CropRules, plan_crops
from service.tracks.trackfile import TrackerFile, TrackFileLimits, parse_tracker_file

# Called (in the decoding thread) with (crops, frame width, frame height) once the plan is known.
Admit = Callable[[int, int, int], None]


@dataclass(frozen=True)
class FootageLimits:
    media: MediaLimits  # bytes and pixels of the video (its frame count is max_video_frames below)
    tracker: TrackFileLimits
    max_video_frames: int  # frames decoded per request: CPU time, not memory (crops bound that)


@dataclass(frozen=True)
class CutJob:
    """What the cutting thread is given: a clip, its tracker file, the model's input, and whom to tell.

    `on_track` as in cut_crops (each track's crops handed over as soon as they are cut); `admit(crops,
    width, height)` is called once the plan is known and before any frame is decoded: the place to
    wait for, or refuse, the memory the crops and frames will take; `on_frame` as in cut_crops.
    `tracker`, when given, is used as it is instead of parsing `tracker_data` (footage whose tracks
    the service found itself, service/detection)."""

    video: Upload
    tracker_data: bytes
    size: tuple[int, int]  # the model's input: (height, width)
    frames_per_chunk: int
    on_track: TrackDone | None = None
    admit: Admit | None = None
    on_frame: FrameDone | None = None
    tracker: TrackerFile | None = None


@dataclass(frozen=True)
class TrackCrops:
    tracker: TrackerFile
    plan: CropPlan
    crops: dict[int, np.ndarray]  # track id -> (n, h, w, 3) uint8 at the model's input; none with on_track
    width: int
    height: int
    fps: float  # as the container declares it; 0 when it does not
    frames_decoded: int


def read_crops(job: CutJob, limits: FootageLimits, rules: CropRules) -> TrackCrops:
    """Parse the tracker file first (cheap, and its errors are the likeliest), then one pass over the
    video."""
    tracker = job.tracker
    if tracker is None:
        if not job.tracker_data:
            raise BadInput("the tracker file is empty")
        tracker = parse_tracker_file(job.tracker_data, limits.tracker)
    if tracker.last_frame > limits.max_video_frames:  # known before decoding: say so now
        raise TooLarge(
            f"the tracker file names frame {tracker.last_frame} ({tracker.last_frame_where}), over the "
            f"limit of {limits.max_video_frames} frames decoded per request (REID_TRACKS_MAX_VIDEO_FRAMES)"
        )
    with open_video(job.video, limits.media) as reader:
        plan = plan_crops(tracker, reader.width, reader.height, rules, job.frames_per_chunk)
        if job.admit is not None:
            job.admit(plan.crops, reader.width, reader.height)
        cut = cut_crops(
            reader, plan, job.size, limits.max_video_frames, on_track=job.on_track, on_frame=job.on_frame
        )
        return TrackCrops(
            tracker, plan, cut.crops, reader.width, reader.height, reader.fps, cut.frames_decoded
        )
