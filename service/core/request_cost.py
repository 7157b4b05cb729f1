"""What a request holds in memory at its peak, computed before it holds it: the bytes each kind of
request reserves from the process's memory budget (service/core/budget.py).

The one place these formulas live: the body-size middleware, the tracklet use cases and `/tracks`
call them, so a change to what a request is charged is made here or nowhere.
"""

from __future__ import annotations

# A body is held about twice while it is parsed: the bytes received, and the uploads read from them.
BODY_COPIES = 2
# Bodies under this size reserve nothing: JSON calls and small crops cost less than the bookkeeping.
SMALL_BODY = 256 * 1024
# An RGB frame: three bytes a pixel.
CHANNELS = 3
# Decoded frames of the clip held at once while /tracks cuts crops out of it.
CLIP_FRAMES_HELD = 3


def body_bytes(declared: int) -> int:
    """A request body of `declared` bytes (Content-Length), while it streams in and is parsed; 0 for
    a small one."""
    return BODY_COPIES * declared if declared >= SMALL_BODY else 0


def tracklet_bytes(decoded: int, files: int, max_frames: int, input_size: tuple[int, int]) -> int:
    """An uploaded tracklet: its decoded frames (`decoded`, estimated from the upload before decoding)
    and their copies at the model's input (`input_size`: height, width), at most `max_frames` of them."""
    height, width = input_size
    return decoded + min(max_frames, max(1, files)) * height * width * CHANNELS


def clip_bytes(crops: int, frame_size: tuple[int, int], input_size: tuple[int, int]) -> int:
    """A clip of /tracks once its plan is known: every planned crop at the model's input
    (`input_size`: height, width) and a few decoded frames of the clip (`frame_size`: width, height)."""
    height, width = input_size
    frame_width, frame_height = frame_size
    return crops * height * width * CHANNELS + CLIP_FRAMES_HELD * frame_width * frame_height * CHANNELS


# Decoded frames held at once while /tracks detects people in a clip without a tracker file: the frame
# being detected, and the codec's reference frames (the detector's input buffer is its own, fixed).
FOOTAGE_FRAMES_HELD = 3


def footage_bytes(frame_size: tuple[int, int]) -> int:
    """The detection pass over a clip (`frame_size`: width, height): frames are decoded once and
    dropped as soon as they are detected, so only a few are held, whatever the clip's length. The
    boxes found are bounded by the tracker-file limits, as a tracker file's are."""
    frame_width, frame_height = frame_size
    return FOOTAGE_FRAMES_HELD * frame_width * frame_height * CHANNELS
