"""Crop planning: clipping, the drop rules one by one, even sampling over a track's life, skip reasons."""

from __future__ import annotations

import pytest

from service.core.errors import TooLarge
from service.tracks.plan import CropRules, clip_box, judge, plan_crops
from service.tracks.trackfile import Box, TrackerFile

RULES = CropRules()


def tracker(tracks: dict[int, list[Box]]) -> TrackerFile:
    last = max(b.frame for boxes in tracks.values() for b in boxes)
    return TrackerFile("mot", tracks, sum(map(len, tracks.values())), last, "line 1")


def walk(frames: range, x: float = 10, h: float = 100, conf: float | None = 0.9) -> list[Box]:
    return [Box(f, x, 5, h * 0.4, h, conf) for f in frames]


def test_clip_box_to_the_frame_and_fraction_inside() -> None:
    rect, visible = clip_box(Box(1, -20, 10.4, 40, 100, None), 640, 480)
    assert rect == (0, 10, 20, 111) and visible == pytest.approx(0.5)
    assert clip_box(Box(1, 700, 0, 40, 100, None), 640, 480) == ((640, 0, 640, 100), 0.0)


@pytest.mark.parametrize(
    ("box", "reason"),
    [
        (Box(1, 10, 10, 40, 100, 0.9), None),
        (Box(1, 10, 10, 40, 100, None), None),  # no score: unknown, kept
        (Box(1, 10, 10, 40, 100, -1.0), None),  # -1: many trackers' "no score"
        (Box(1, 10, 10, 40, 100, 0.3), "low_confidence"),
        (Box(1, -30, 10, 40, 100, 0.9), "mostly_outside"),
        (Box(1, 10, 10, 15, 39, 0.9), "too_small"),
        (Box(1, 10, 10, 11, 100, 0.9), "too_small"),
        (Box(1, 10, 10, 15, 100, 0.9), "too_thin"),
        (Box(1, 10, 10, 160, 100, 0.9), "too_wide"),
    ],
)
def test_each_rule(box: Box, reason: str | None) -> None:
    rect, visible = clip_box(box, 640, 480)
    assert judge(box, rect, visible, RULES) == reason


def test_frames_are_sampled_evenly_over_the_whole_life_and_chunked_like_embed() -> None:
    plan = plan_crops(tracker({1: walk(range(1, 101))}), 640, 480, RULES, frames_per_chunk=16)
    track = plan.tracks[0]
    assert track.usable == 100 and len(track.frames) == 32
    assert track.frames[0] == 1 and track.frames[-1] == 100  # the life's both ends, not the first 32
    gaps = {b - a for a, b in zip(track.frames, track.frames[1:], strict=False)}
    assert gaps <= {3, 4}
    assert track.chunks == 2 and plan.crops == 32
    assert sorted(plan.by_frame) == [f - 1 for f in track.frames]  # 0-based video frame indices
    assert [c.slot for f in sorted(plan.by_frame) for c in plan.by_frame[f]] == list(range(32))


def test_short_track_keeps_all_frames_and_a_tail_joins_its_chunk() -> None:
    plan = plan_crops(tracker({1: walk(range(1, 21))}), 640, 480, RULES, frames_per_chunk=16)
    assert plan.tracks[0].frames == list(range(1, 21)) and plan.tracks[0].chunks == 1  # 4 < 16 // 2


def test_dropped_boxes_are_not_sampled_and_skipped_tracks_say_why() -> None:
    mixed = walk(range(1, 11)) + walk(range(11, 21), conf=0.1) + walk(range(21, 26), h=20)
    plan = plan_crops(
        tracker({1: mixed, 2: walk(range(1, 3)), 3: walk(range(1, 10), x=-60)}), 640, 480, RULES, 16
    )
    one, two, three = plan.tracks
    assert one.skipped is None and one.frames == list(range(1, 11))
    assert one.dropped == {"low_confidence": 10, "too_small": 5}
    assert (one.first_frame, one.last_frame, one.boxes, one.usable) == (1, 25, 25, 10)
    assert two.skipped == "2 usable boxes of the 3 needed" and two.frames == []
    assert three.skipped == "0 usable boxes of the 3 needed (dropped: 9 mostly outside)"
    assert [t.track_id for t in plan.used] == [1]
    assert all(c.track_id == 1 for cuts in plan.by_frame.values() for c in cuts)


def test_the_crop_limit_is_checked_while_planning() -> None:
    rules = CropRules(frames_per_track=10, max_crops=25)
    with pytest.raises(TooLarge, match="more than 25 crops"):
        plan_crops(tracker({t: walk(range(1, 50)) for t in range(3)}), 640, 480, rules, 16)
