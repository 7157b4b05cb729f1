"""One pass over the video, cutting the planned crops as their frames go by.

Each frame is decoded once whatever the number of tracks; frames without a planned crop are only
grabbed (the codec needs them), not converted. A crop is resized to the model's input at once with the
service's own resize, so what is held is crops x model input, bounded by the plan's limit, never by the
length of the clip; /embed would resize the same crop to the same pixels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from service.core.errors import BadInput
from service.inference.preprocess import resize_frames
from service.media.decode import VideoReader
from service.tracks.plan import CropPlan

# Called (in the decoding thread) with a track's crops as soon as its last planned frame is cut.
TrackDone = Callable[[int, np.ndarray], None]
# Called (in the decoding thread) after each frame with the frames decoded so far and the plan (whose
# last_frame is where decoding stops): progress reports, and the place to stop the pass (an exception
# it raises ends it).
FrameDone = Callable[[int, CropPlan], None]


@dataclass(frozen=True)
class CutResult:
    crops: dict[int, np.ndarray]  # track id -> (crops, height, width, 3) uint8, in frame order
    frames_decoded: int


def cut_crops(
    video: VideoReader,
    plan: CropPlan,
    size: tuple[int, int],
    max_video_frames: int,
    limit_hint: str = "REID_TRACKS_MAX_VIDEO_FRAMES",
    on_track: TrackDone | None = None,
    on_frame: FrameDone | None = None,
) -> CutResult:
    """The planned crops of `plan`, each resized to `size` (height, width); decoding stops after the
    last frame the tracker file names. BadInput when the video ends before that frame.

    With `on_track`, each track's crops are handed over the moment they are complete (so that its
    embedding can start while the rest of the clip decodes) and not kept in the result.
    """
    height, width = size
    crops = {t.track_id: np.empty((len(t.frames), height, width, 3), dtype=np.uint8) for t in plan.used}
    ends = {t.track_id: t.frames[-1] - 1 for t in plan.used}  # 0-based index of each track's last crop
    last_index = plan.last_frame - 1
    decoded = 0
    for index, frame in enumerate(video.frames(max_video_frames, plan.by_frame.__contains__, limit_hint)):
        decoded = index + 1
        if frame is not None:
            for cut in plan.by_frame[index]:
                crops[cut.track_id][cut.slot] = _crop(frame, cut.rect, size, video.label, index)
                if on_track is not None and ends[cut.track_id] == index:
                    on_track(cut.track_id, crops.pop(cut.track_id))
        if on_frame is not None:
            on_frame(decoded, plan)
        if index >= last_index:
            break
    if decoded < plan.last_frame:
        raise BadInput(
            f"the tracker file has boxes up to frame {plan.last_frame} ({plan.last_frame_where}) but "
            f"{video.label} has only {decoded} frames: is it the clip the tracker ran on?"
        )
    return CutResult(crops, decoded)


def _crop(
    frame: np.ndarray, rect: tuple[int, int, int, int], size: tuple[int, int], label: str, index: int
) -> np.ndarray:
    """The rect of a frame, resized. The plan clipped it to the size the container declared; a frame
    of another size (a stream that changes resolution) is clipped again, and an empty crop refused."""
    x0, y0, x1, y1 = rect
    h, w = frame.shape[:2]
    x1, y1 = min(x1, w), min(y1, h)
    if x1 <= x0 or y1 <= y0:
        raise BadInput(f"{label} frame {index + 1}: a box lies outside the {w}x{h} frame")
    return resize_frames([frame[y0:y1, x0:x1]], *size)[0]
