"""Footage -> tracks: one pass over a video, detecting people on every `stride`-th frame and tracking
them, into the same `TrackerFile` a parsed tracker file gives (so /tracks plans, cuts, embeds and
enrolls them unchanged), with the MOTChallenge text of what was tracked.

Frames are decoded once and dropped as soon as they are detected: what is held is one frame and the
boxes (about 250 bytes each, bounded by the tracker-file limits), never the clip. Frames between two
detected ones are only grabbed (the codec needs them), not converted. A track's boxes are those of
the frames it was detected on; with a stride over 1 the frames between carry none (the crop plan
samples from the frames that have boxes).

Everything is checked before the first frame is detected: the stride, the region of interest against
the frame's size, the options. Errors are the service's BadInput (422) or TooLarge (413) and name the
setting or the video; nothing here touches the gallery.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from service.core.errors import BadInput, TooLarge
from service.detection.detector import DetectOptions
from service.detection.tracker import PersonTracker, TrackerOptions
from service.media.decode import MediaLimits, Upload, VideoReader, open_video
from service.tracks.trackfile import Box, TrackerFile, TrackFileLimits

# When the container does not say its frame rate (some raw streams): assumed, and said in the result.
FALLBACK_FPS = 25.0
PROGRESS_EVERY = 25  # frames between two progress reports


@dataclass(frozen=True)
class FootageOptions:
    """What a user sets for footage without a tracker file (POST /tracks' form fields)."""

    stride: int = 1  # detect on frames 0, stride, 2 * stride, ...
    detect: DetectOptions = field(default_factory=DetectOptions)
    tracker: TrackerOptions = field(default_factory=TrackerOptions)


@dataclass(frozen=True)
class FootageProgress:
    frames_done: int  # decoded so far
    frames_hint: int  # what the container declares (0: unknown; often approximate)
    tracks: int  # confirmed tracks so far


@dataclass
class FootageTimings:
    """Seconds spent in each stage of the pass (decode includes the RGB conversion)."""

    decode: float = 0.0
    detect: float = 0.0
    track: float = 0.0


@dataclass
class FootageTracks:
    tracker: TrackerFile  # as parse_tracker_file would give for `mot`
    mot: str  # MOTChallenge lines `frame,id,x,y,w,h,conf,-1,-1,-1`, frame order, 1-based frames
    width: int
    height: int
    fps: float  # the container's, or FALLBACK_FPS when it says none (then fps_declared is False)
    fps_declared: bool
    frames_decoded: int
    frames_detected: int
    detections: int  # boxes the detector kept, tracked or not
    timings: FootageTimings = field(default_factory=FootageTimings)


Progress = Callable[[FootageProgress], None]
# Called (in the decoding thread) with the frame's width and height once the video is open and the
# options checked, before any frame is detected: what it returns is held until the pass ends (the
# service reserves the frames the pass holds from its memory budget there).
Admit = Callable[[int, int], AbstractContextManager[object]]


class Detects(Protocol):
    """What the pass needs of a detector (PersonDetector, or the service's SharedDetector)."""

    def detect(
        self, frames: Sequence[np.ndarray], options: DetectOptions | None = None
    ) -> list[np.ndarray]: ...


def check_options(options: FootageOptions) -> None:
    """BadInput naming the option that cannot be used; the region of interest is checked against the
    frame once the video is open (check_roi)."""
    if options.stride < 1:
        raise BadInput(f"detection stride {options.stride}: detect on every n-th frame, n at least 1")
    d = options.detect
    if not (0 <= d.confidence <= 1):
        raise BadInput(f"detection confidence {d.confidence}: must lie in [0, 1]")
    if d.min_width < 0 or d.min_height < 0:
        raise BadInput(f"minimum box size {d.min_width}x{d.min_height}: must not be negative")
    try:
        options.tracker.check()
    except ValueError as err:
        raise BadInput(f"tracker option: {err}") from None


def check_roi(roi: tuple[int, int, int, int] | None, width: int, height: int, label: str) -> None:
    """BadInput when the region of interest is empty or does not lie inside the width x height frame."""
    if roi is None:
        return
    x1, y1, x2, y2 = roi
    if not (x1 < x2 and y1 < y2):
        raise BadInput(
            f"region of interest {x1},{y1},{x2},{y2}: expected x1,y1,x2,y2 with x1 < x2 and y1 < y2"
        )
    if x1 < 0 or y1 < 0 or x2 > width or y2 > height:
        raise BadInput(
            f"region of interest {x1},{y1},{x2},{y2} lies outside the {width}x{height} frames of {label}: "
            f"its corners must lie within 0,0,{width},{height}"
        )


def track_footage(
    video: Upload,
    detector: Detects,
    options: FootageOptions,
    media: MediaLimits,
    tracker_limits: TrackFileLimits,
    max_video_frames: int,
    progress: Progress | None = None,
    admit: Admit | None = None,
) -> FootageTracks:
    """Detect and track the people of `video`; BadInput for a video that cannot be decoded, has no
    frame, or in which no person was tracked; TooLarge past the frame or tracker-file limits. Blocking:
    run it off the event loop. `progress` is called from this thread every PROGRESS_EVERY frames and
    at the end; an exception it raises (a client gone) stops the pass. `admit` as above."""
    check_options(options)
    with open_video(video, media) as reader:
        check_roi(options.detect.roi, reader.width, reader.height, reader.label)
        with admit(reader.width, reader.height) if admit is not None else nullcontext():
            return _track(reader, detector, options, tracker_limits, max_video_frames, progress)


def _track(
    reader: VideoReader,
    detector: Detects,
    options: FootageOptions,
    tracker_limits: TrackFileLimits,
    max_video_frames: int,
    progress: Progress | None,
) -> FootageTracks:
    fps_declared = math.isfinite(reader.fps) and reader.fps > 0
    fps = reader.fps if fps_declared else FALLBACK_FPS
    tracker = PersonTracker(options.tracker, fps)
    collector = _Tracks(tracker_limits, reader.label)
    timings = FootageTimings()
    stride = options.stride
    decoded = detected = detections = 0
    frames = reader.frames(max_video_frames, lambda i: i % stride == 0, "REID_TRACKS_MAX_VIDEO_FRAMES")
    clock = time.perf_counter()
    for index, frame in enumerate(frames):
        now = time.perf_counter()
        timings.decode += now - clock
        decoded = index + 1
        if frame is not None:
            boxes = detector.detect([frame], options.detect)[0]
            del frame  # the only frame held
            after_detect = time.perf_counter()
            timings.detect += after_detect - now
            detections += len(boxes)
            ids, tracked = tracker.update(index, boxes)
            collector.add(index + 1, ids, tracked)
            detected += 1
            timings.track += time.perf_counter() - after_detect
        if progress is not None and decoded % PROGRESS_EVERY == 0:
            progress(FootageProgress(decoded, reader.declared_frames, len(collector.tracks)))
        clock = time.perf_counter()
    if decoded == 0:
        raise BadInput(f"{reader.label}: no frame could be decoded (corrupt, truncated or empty video)")
    if progress is not None:
        progress(FootageProgress(decoded, reader.declared_frames, len(collector.tracks)))
    if not collector.boxes:
        d = options.detect
        raise BadInput(
            f"{reader.label}: no person tracked in {decoded} frames (detected every {stride} frame"
            f"{'s' if stride > 1 else ''} at confidence {d.confidence}"
            + (f", minimum box {d.min_width}x{d.min_height}" if d.min_width or d.min_height else "")
            + (f", region of interest {','.join(map(str, d.roi))}" if d.roi else "")
            + ")"
        )
    result = collector.result()
    return FootageTracks(
        tracker=result,
        mot=mot_text(result),
        width=reader.width,
        height=reader.height,
        fps=fps,
        fps_declared=fps_declared,
        frames_decoded=decoded,
        frames_detected=detected,
        detections=detections,
        timings=timings,
    )


class _Tracks:
    """Tracked boxes grouped by track under the tracker-file limits, worded for footage."""

    def __init__(self, limits: TrackFileLimits, label: str) -> None:
        self.limits = limits
        self.label = label
        self.tracks: dict[int, list[Box]] = {}
        self.boxes = 0
        self.last_frame = 0

    def add(self, frame: int, ids: np.ndarray, boxes: np.ndarray) -> None:
        if len(ids) > self.limits.max_boxes_per_frame:
            raise TooLarge(
                f"{self.label} frame {frame}: {len(ids)} people tracked, over the limit of "
                f"{self.limits.max_boxes_per_frame} per frame"
            )
        for track_id, (x1, y1, x2, y2, conf) in zip(ids.tolist(), boxes.tolist(), strict=True):
            self.boxes += 1
            if self.boxes > self.limits.max_boxes:
                raise TooLarge(
                    f"{self.label}: more than {self.limits.max_boxes} tracked boxes by frame {frame}, over "
                    "the limit: send a shorter clip or a larger detection stride"
                )
            boxes_of = self.tracks.get(track_id)
            if boxes_of is None:
                if len(self.tracks) >= self.limits.max_tracks:
                    raise TooLarge(
                        f"{self.label}: more than {self.limits.max_tracks} tracks by frame {frame}, over the "
                        "limit: send a shorter clip"
                    )
                boxes_of = self.tracks[track_id] = []
            boxes_of.append(
                Box(frame, round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2), round(conf, 4))
            )
            self.last_frame = frame

    def result(self) -> TrackerFile:
        last = max((boxes[-1].frame, track_id) for track_id, boxes in self.tracks.items())
        return TrackerFile(
            "mot", dict(sorted(self.tracks.items())), self.boxes, last[0], f"track {last[1]} frame {last[0]}"
        )


def mot_text(tracker: TrackerFile) -> str:
    """MOTChallenge lines in frame order, then track id: `frame,id,x,y,w,h,conf,-1,-1,-1`."""
    rows = sorted((box.frame, track_id, box) for track_id, boxes in tracker.tracks.items() for box in boxes)
    return "".join(
        f"{frame},{track_id},{_num(b.x)},{_num(b.y)},{_num(b.w)},{_num(b.h)},{_num(b.conf)},-1,-1,-1\n"
        for frame, track_id, b in rows
    )


def _num(value: float | None) -> str:
    return "-1" if value is None else format(value, ".10g")
