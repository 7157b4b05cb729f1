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
from service.tracks.cut import TrackDone, cut_crops
from service.tracks.plan import CropPlan, CropRules, plan_crops
from service.tracks.trackfile import TrackerFile, TrackFileLimits, parse_tracker_file


@dataclass(frozen=True)
class FootageLimits:
    media: MediaLimits  # bytes and pixels of the video (its frame count is max_video_frames below)
    tracker: TrackFileLimits
    max_video_frames: int  # frames decoded per request: CPU time, not memory (crops bound that)


@dataclass(frozen=True)
class TrackCrops:
    tracker: TrackerFile
    plan: CropPlan
    crops: dict[int, np.ndarray]  # track id -> (n, h, w, 3) uint8 at the model's input; none with on_track
    width: int
    height: int
    fps: float  # as the container declares it; 0 when it does not
    frames_decoded: int


def read_crops(
    video: Upload,
    tracker_data: bytes,
    limits: FootageLimits,
    rules: CropRules,
    size: tuple[int, int],
    frames_per_chunk: int,
    on_track: TrackDone | None = None,
    admit: Callable[[int, int, int], None] | None = None,
) -> TrackCrops:
    """Parse the tracker file first (cheap, and its errors are the likeliest), then one pass over the
    video. `size` is the model's (height, width); `on_track` as in cut_crops. `admit(crops, width,
    height)` is called once the plan is known and before any frame is decoded: the place to wait for,
    or refuse, the memory the crops and frames will take."""
    if not tracker_data:
        raise BadInput("the tracker file is empty")
    tracker = parse_tracker_file(tracker_data, limits.tracker)
    if tracker.last_frame > limits.max_video_frames:  # known before decoding: say so now
        raise TooLarge(
            f"the tracker file names frame {tracker.last_frame} ({tracker.last_frame_where}), over the "
            f"limit of {limits.max_video_frames} frames decoded per request (REID_TRACKS_MAX_VIDEO_FRAMES)"
        )
    with open_video(video, limits.media) as reader:
        plan = plan_crops(tracker, reader.width, reader.height, rules, frames_per_chunk)
        if admit is not None:
            admit(plan.crops, reader.width, reader.height)
        cut = cut_crops(reader, plan, size, limits.max_video_frames, on_track=on_track)
        return TrackCrops(
            tracker, plan, cut.crops, reader.width, reader.height, reader.fps, cut.frames_decoded
        )
