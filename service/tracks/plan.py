"""Which boxes of each track become crops, before any frame is decoded.

A re-id embedding is only as good as its crops: a box clipped to a sliver by the frame edge, a
20-pixel figure upscaled 8x or an occluded low-score box pull the track's mean embedding towards
nothing in particular. So boxes are clipped to the frame, the unusable ones dropped by rules whose
defaults are argued below, and each track's usable boxes sampled evenly over its whole life (not its
first frames, which are often the entry at the image edge). The embedding itself then chunks those
crops exactly as /embed does (the model's `frames_per_chunk`), so a track and the same crops sent
to /embed give the same vector.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from reid_contract import chunk_indices
from service.core.errors import TooLarge
from service.inference.preprocess import select_frames
from service.tracks.trackfile import Box, TrackerFile

Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels, x1 and y1 exclusive

LOW_CONFIDENCE = "low_confidence"
MOSTLY_OUTSIDE = "mostly_outside"
TOO_SMALL = "too_small"
TOO_THIN = "too_thin"
TOO_WIDE = "too_wide"


@dataclass(frozen=True)
class CropRules:
    """What makes a box a usable crop, and how many crops a track gets."""

    # ByteTrack keeps boxes down to a 0.1 score to bridge occlusions but only trusts those over 0.5
    # (its high threshold): the low ones are the occluded, blurred views that make poor crops. A
    # missing score (no column, or -1 as many trackers write) counts as unknown and is kept.
    min_confidence: float = 0.5
    # 40 px is a quarter of the shipped model's 160 px input height: smaller boxes are upscaled over
    # 4x and carry more interpolation than appearance (MOTChallenge ignores people under ~25 px).
    min_height: int = 40
    min_width: int = 12
    # width / height of the clipped box. Pedestrians are ~0.4 (the model's 64/160); under 0.2 the
    # crop is stretched over 2x sideways (a box cut by the image edge or a pole-thin false positive);
    # over 1.5 it is a sitting, lying or merged group box, squashed 4x into a standing person's shape.
    min_aspect: float = 0.2
    max_aspect: float = 1.5
    # A box with under 60% of its area inside the frame shows part of a body stretched to a whole one.
    min_visible: float = 0.6
    # DeepSORT confirms a track after 3 hits: a shorter one is most often a detector's false positive.
    min_boxes: int = 3
    # Sampled evenly over the track's life: two chunks of the shipped model's 16 frames. More frames
    # of one walk add little to a mean embedding and cost model time linearly.
    frames_per_track: int = 32
    # Crops held at once, at the model's input size (160x64x3 = 30 KB each: 4096 -> 126 MB).
    max_crops: int = 4096


@dataclass
class TrackPlan:
    track_id: int
    boxes: int  # boxes the tracker gave
    first_frame: int  # 1-based, over all its boxes
    last_frame: int
    usable: int = 0  # boxes that passed the rules
    frames: list[int] = field(default_factory=list)  # 1-based frames chosen for crops, in order
    rects: list[Rect] = field(default_factory=list)  # the clipped box of each chosen frame
    chunks: int = 0  # model chunks the crops make (frames_per_chunk of the model)
    dropped: dict[str, int] = field(default_factory=dict)  # boxes dropped, by rule
    skipped: str | None = None  # why no embedding is made for this track, in words


@dataclass(frozen=True)
class Cut:
    track_id: int
    slot: int  # index of this crop among the track's planned crops
    rect: Rect


@dataclass
class CropPlan:
    tracks: list[TrackPlan]  # every track of the file, by id
    by_frame: dict[int, list[Cut]]  # 0-based video frame index -> the crops to cut from it
    crops: int  # crops planned in all
    last_frame: int  # 1-based: the video must have at least this many frames
    last_frame_where: str  # where in the tracker file that frame is named

    @property
    def used(self) -> list[TrackPlan]:
        return [t for t in self.tracks if t.skipped is None]


def clip_box(box: Box, width: int, height: int) -> tuple[Rect, float]:
    """The box as whole pixels inside a width x height frame, and the fraction of its area inside."""
    x0 = min(width, max(0, math.floor(box.x)))
    y0 = min(height, max(0, math.floor(box.y)))
    x1, y1 = min(width, math.ceil(box.x + box.w)), min(height, math.ceil(box.y + box.h))
    inside = max(0.0, min(box.x + box.w, width) - max(box.x, 0.0)) * max(
        0.0, min(box.y + box.h, height) - max(box.y, 0.0)
    )
    return (x0, y0, max(x0, x1), max(y0, y1)), inside / (box.w * box.h)


def judge(box: Box, rect: Rect, visible: float, rules: CropRules) -> str | None:
    """The rule a box breaks (None: usable); cheapest and most telling first."""
    if box.conf is not None and 0 <= box.conf < rules.min_confidence:
        return LOW_CONFIDENCE
    if visible < rules.min_visible:
        return MOSTLY_OUTSIDE
    w, h = rect[2] - rect[0], rect[3] - rect[1]
    if h < rules.min_height or w < rules.min_width:
        return TOO_SMALL
    if w < rules.min_aspect * h:
        return TOO_THIN
    if w > rules.max_aspect * h:
        return TOO_WIDE
    return None


def plan_crops(
    tracker: TrackerFile, width: int, height: int, rules: CropRules, frames_per_chunk: int
) -> CropPlan:
    """Every track's usable boxes and the frames sampled from them, for a width x height video."""
    plans: list[TrackPlan] = []
    by_frame: dict[int, list[Cut]] = {}
    total = 0
    for track_id, boxes in tracker.tracks.items():
        plan = TrackPlan(track_id, len(boxes), boxes[0].frame, boxes[-1].frame)
        usable: list[tuple[int, Rect]] = []
        dropped: Counter[str] = Counter()
        for box in boxes:
            rect, visible = clip_box(box, width, height)
            reason = judge(box, rect, visible, rules)
            if reason is None:
                usable.append((box.frame, rect))
            else:
                dropped[reason] += 1
        plan.usable = len(usable)
        plan.dropped = dict(sorted(dropped.items()))
        if len(usable) < rules.min_boxes:
            plan.skipped = _why_skipped(len(usable), rules.min_boxes, dropped)
        else:
            chosen = select_frames(len(usable), "uniform", rules.frames_per_track)
            plan.frames = [usable[i][0] for i in chosen]
            plan.rects = [usable[i][1] for i in chosen]
            plan.chunks = len(chunk_indices(len(chosen), frames_per_chunk))
            total += len(chosen)
            if total > rules.max_crops:
                raise TooLarge(
                    f"the tracks need more than {rules.max_crops} crops, the limit on crops held at once: "
                    "send a shorter clip, or raise REID_TRACKS_MAX_CROPS or lower "
                    "REID_TRACKS_FRAMES_PER_TRACK"
                )
            for slot, (frame, rect) in enumerate(zip(plan.frames, plan.rects, strict=True)):
                by_frame.setdefault(frame - 1, []).append(Cut(track_id, slot, rect))
        plans.append(plan)
    return CropPlan(plans, by_frame, total, tracker.last_frame, tracker.last_frame_where)


def _why_skipped(usable: int, needed: int, dropped: Counter[str]) -> str:
    reasons = ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in dropped.most_common())
    found = f"{usable} usable box{'es' if usable != 1 else ''}"
    return f"{found} of the {needed} needed" + (f" (dropped: {reasons})" if reasons else "")
