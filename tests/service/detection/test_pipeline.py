"""Footage -> tracks on real frames: the same structure a parsed tracker file gives, its MOTChallenge
text, the stride and the region of interest, progress, and bad input refused before any work."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
from vtest_clip import MEDIA

from service.core.errors import BadInput, TooLarge
from service.detection.detector import DetectOptions
from service.detection.pipeline import FootageOptions, FootageProgress, track_footage
from service.detection.tracker import TrackerOptions
from service.media.decode import Upload
from service.tracks.plan import CropRules, plan_crops
from service.tracks.trackfile import TrackerFile, TrackFileLimits, parse_tracker_file

LIMITS = TrackFileLimits()


def run(clip: Upload, detector, options: FootageOptions | None = None, **kw):
    return track_footage(
        clip,
        detector,
        options or FootageOptions(),
        MEDIA,
        kw.pop("limits", LIMITS),
        kw.pop("frames", 1000),
        **kw,
    )


def test_the_clip_becomes_what_its_tracker_file_would_parse_to(clip, detector) -> None:
    result = run(clip, detector)
    assert isinstance(result.tracker, TrackerFile)
    assert (result.width, result.height, result.fps, result.fps_declared) == (768, 576, 10.0, True)
    assert result.frames_decoded == result.frames_detected == 12
    # four of the five people in full view stay in view through the twelve frames, each one track (the
    # fifth walks behind her neighbour from the fourth frame on)
    long_tracks = [boxes for boxes in result.tracker.tracks.values() if len(boxes) >= 8]
    assert len(long_tracks) >= 4
    # the MOT text parses back to the very same tracks: /tracks can run unchanged on either
    parsed = parse_tracker_file(result.mot.encode(), LIMITS)
    assert parsed.tracks == result.tracker.tracks
    assert (parsed.boxes, parsed.last_frame) == (result.tracker.boxes, result.tracker.last_frame)
    first = result.mot.splitlines()[0].split(",")
    assert len(first) == 10 and first[-3:] == ["-1", "-1", "-1"]
    # and the crop plan takes them as it takes a tracker file's
    plan = plan_crops(result.tracker, result.width, result.height, CropRules(), 16)
    assert len(plan.used) >= 4


def test_a_track_follows_one_person(clip, detector) -> None:
    result = run(clip, detector)
    for boxes in result.tracker.tracks.values():
        frames = [b.frame for b in boxes]
        assert frames == sorted(set(frames))
        centres = np.array([[b.x + b.w / 2, b.y + b.h / 2] for b in boxes])
        # people walk slowly at 10 fps: a track never jumps across the frame between two boxes
        assert np.all(np.linalg.norm(np.diff(centres, axis=0), axis=1) < 30)


def test_a_stride_detects_every_nth_frame_only(clip, detector) -> None:
    result = run(clip, detector, FootageOptions(stride=3))
    assert (result.frames_decoded, result.frames_detected) == (12, 4)
    frames = {b.frame for boxes in result.tracker.tracks.values() for b in boxes}
    assert frames <= {1, 4, 7, 10}
    assert len([t for t in result.tracker.tracks.values() if len(t) == 3]) >= 3  # across the gaps


def test_the_region_of_interest_keeps_the_people_inside_it(clip, detector) -> None:
    roi = (0, 0, 450, 576)
    result = run(clip, detector, FootageOptions(detect=DetectOptions(roi=roi)))
    for boxes in result.tracker.tracks.values():
        for b in boxes:
            assert b.x + b.w / 2 <= 450
    assert 1 <= len(result.tracker.tracks) < len(run(clip, detector).tracker.tracks)


def test_progress_is_reported_and_can_stop_the_pass(clip, detector) -> None:
    seen: list[FootageProgress] = []
    run(clip, detector, progress=seen.append)
    assert seen[-1].frames_done == 12 and seen[-1].tracks >= 4

    class Gone(Exception):
        pass

    def leave(_: FootageProgress) -> None:
        raise Gone

    with pytest.raises(Gone):
        run(clip, detector, progress=leave)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (FootageOptions(stride=0), "detection stride 0"),
        (FootageOptions(detect=DetectOptions(roi=(700, 0, 900, 100))), "outside the 768x576 frames"),
        (FootageOptions(detect=DetectOptions(roi=(-5, 0, 100, 100))), "outside the 768x576 frames"),
        (FootageOptions(detect=DetectOptions(roi=(100, 100, 100, 200))), "x1 < x2"),
        (FootageOptions(detect=DetectOptions(confidence=1.5)), "confidence 1.5"),
        (FootageOptions(tracker=TrackerOptions(min_consecutive=0)), "min_consecutive"),
    ],
)
def test_options_that_cannot_be_used_are_refused(clip, detector, options, message) -> None:
    with pytest.raises(BadInput, match=message):
        run(clip, detector, options)


def test_a_corrupt_or_truncated_video_is_refused(clip, detector) -> None:
    garbage = Upload("broken.mp4", clip.data[:64] + bytes(4096))
    with pytest.raises(BadInput):
        run(garbage, detector)
    cut = Upload("cut.mp4", clip.data[: len(clip.data) // 3])  # the index at the end is gone
    with pytest.raises(BadInput):
        run(cut, detector)


def test_a_video_without_people_is_refused_with_what_was_tried(detector, tmp_path) -> None:
    path = tmp_path / "empty.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (320, 240))
    for i in range(8):
        writer.write(np.full((240, 320, 3), 60 + 10 * i, dtype=np.uint8))
    writer.release()
    with pytest.raises(BadInput, match="no person tracked in 8 frames"):
        run(Upload("empty.mp4", path.read_bytes()), detector)


def test_the_limits_hold(clip, detector) -> None:
    with pytest.raises(TooLarge, match="REID_TRACKS_MAX_VIDEO_FRAMES"):
        run(clip, detector, frames=5)
    with pytest.raises(TooLarge, match="tracks"):
        run(clip, detector, limits=dataclasses.replace(LIMITS, max_tracks=2))
    with pytest.raises(TooLarge, match="per frame"):
        run(clip, detector, limits=dataclasses.replace(LIMITS, max_boxes_per_frame=2))
