"""One pass over synthetic footage: the crops are the people drawn at their boxes, each frame decoded
once whatever the number of tracks, decoding stops at the tracker's last frame, short videos refused."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import pytest
from footage import Footage, people, render_camera

from service.core.errors import BadInput, TooLarge
from service.inference.preprocess import resize_frames
from service.media import decode as decode_module
from service.media.decode import MediaLimits, Upload, decode_video, open_video
from service.tracks.cut import cut_crops
from service.tracks.plan import CropRules, plan_crops
from service.tracks.trackfile import TrackFileLimits, parse_tracker_file

MEDIA = MediaLimits(1 << 26, max_frames=512, max_frame_pixels=4096 * 4096, max_archive_members=10)
SIZE = (160, 64)
RULES = CropRules()
REAL_CAPTURE = cv2.VideoCapture


def run(footage: Footage, mot: str, rules: CropRules = RULES, max_video_frames: int = 10_000):
    tracker = parse_tracker_file(mot.encode(), TrackFileLimits())
    with open_video(Upload("cam.mp4", footage.video), MEDIA) as video:
        assert (video.width, video.height) == (footage.width, footage.height)
        plan = plan_crops(tracker, video.width, video.height, rules, frames_per_chunk=16)
        return plan, cut_crops(video, plan, SIZE, max_video_frames)


def test_crops_are_the_people_at_their_boxes(cameras: tuple[Footage, Footage]) -> None:
    footage = cameras[0]
    plan, result = run(footage, footage.mot())
    decoded = decode_video(Upload("cam.mp4", footage.video), MEDIA)
    assert {t.track_id for t in plan.used} == set(footage.person_of_track)
    for track in plan.used:
        crops = result.crops[track.track_id]
        assert crops.shape == (len(track.frames), *SIZE, 3)
        for slot, frame in enumerate(track.frames):
            truth = resize_frames([footage.crops[(track.track_id, frame)]], *SIZE)[0].astype(float)
            error = np.abs(crops[slot] - truth).mean()
            assert error < 12, (track.track_id, frame, error)  # mp4v compression only
            # the same box one frame later (an off-by-one frame number) is much further away
            if frame < len(decoded):
                x0, y0, x1, y1 = track.rects[slot]
                shifted = resize_frames([decoded[frame][y0:y1, x0:x1]], *SIZE)[0].astype(float)
                assert np.abs(shifted - truth).mean() > 2 * error


class CountingCapture:
    """cv2.VideoCapture that counts full decodes (read) and grabs."""

    reads = 0
    grabs = 0

    def __init__(self, *args: object) -> None:
        self._capture = REAL_CAPTURE(*args)

    def __getattr__(self, name: str) -> object:
        return getattr(self._capture, name)

    def read(self) -> tuple[bool, np.ndarray | None]:
        CountingCapture.reads += 1
        return self._capture.read()

    def grab(self) -> bool:
        CountingCapture.grabs += 1
        return self._capture.grab()


def test_each_frame_is_decoded_once_and_only_planned_ones_converted(
    cameras: tuple[Footage, Footage], monkeypatch: pytest.MonkeyPatch
) -> None:
    footage = cameras[0]
    monkeypatch.setattr(decode_module.cv2, "VideoCapture", CountingCapture)
    CountingCapture.reads = CountingCapture.grabs = 0
    plan, result = run(footage, footage.mot(), CropRules(frames_per_track=4))
    assert result.frames_decoded == plan.last_frame == max(b.frame for b in footage.boxes)
    assert CountingCapture.reads == len(plan.by_frame) <= 12  # 3 tracks x 4 frames, some shared
    assert CountingCapture.reads + CountingCapture.grabs == result.frames_decoded


def test_decoding_stops_at_the_last_frame_of_the_tracker_file(cameras: tuple[Footage, Footage]) -> None:
    footage = cameras[0]
    early = "\n".join(line for line in footage.mot().splitlines() if int(line.split(",")[0]) <= 10)
    _, result = run(footage, early)
    assert result.frames_decoded == 10 < footage.frames


def test_boxes_past_the_end_of_the_video_are_refused_with_their_line(
    cameras: tuple[Footage, Footage],
) -> None:
    footage = cameras[0]
    mot = footage.mot() + f"{footage.frames + 5},1,10,10,64,128,1\n"
    line = mot.count("\n")
    with pytest.raises(
        BadInput,
        match=rf"boxes up to frame {footage.frames + 5} \(line {line}\).*only {footage.frames} frames",
    ):
        run(footage, mot)


def test_the_video_frame_limit_applies_to_this_pass(cameras: tuple[Footage, Footage]) -> None:
    footage = cameras[0]
    with pytest.raises(
        TooLarge, match=r"more than 5 frames; trim the clip or raise REID_TRACKS_MAX_VIDEO_FRAMES"
    ):
        run(footage, footage.mot(), max_video_frames=5)


def test_a_box_clipped_by_the_edge_is_cut_from_inside_the_frame(cameras: tuple[Footage, Footage]) -> None:
    footage = cameras[0]
    # 70% inside on the right edge: kept, clipped to the frame.
    x = footage.width - 45
    mot = "".join(f"{f},9,{x},0,64,128,1\n" for f in range(1, 6))
    plan, result = run(footage, mot)
    assert plan.tracks[0].rects[0] == (x, 0, footage.width, 128)
    assert result.crops[9].shape == (5, *SIZE, 3)


def test_memory_is_bounded_by_the_crops_not_by_the_length_of_the_clip(tmp_path: Path) -> None:
    """The peak of Python/numpy allocations while cutting a clip 3x as long stays that of the short one
    (the same people and crops per track), far below what holding its decoded frames would take."""
    persons = people(2, seed=1)
    peaks, frame_bytes = [], 0
    for frames in (32, 96):
        footage = render_camera("cam", persons, [1, 2], frames=frames, seed=1, folder=tmp_path)
        tracker = parse_tracker_file(footage.mot().encode(), TrackFileLimits())
        tracemalloc.start()
        try:
            with open_video(Upload("cam.mp4", footage.video), MEDIA) as video:
                plan = plan_crops(tracker, video.width, video.height, RULES, frames_per_chunk=16)
                cut_crops(video, plan, SIZE, 10_000)
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
        frame_bytes = footage.width * footage.height * 3 * frames
    assert peaks[1] < 1.3 * peaks[0], peaks
    assert peaks[1] < frame_bytes / 4, (peaks, frame_bytes)


def test_each_track_is_handed_over_when_its_last_crop_is_cut(cameras: tuple[Footage, Footage]) -> None:
    footage = cameras[0]
    _, kept = run(footage, footage.mot())
    tracker = parse_tracker_file(footage.mot().encode(), TrackFileLimits())
    handed: list[tuple[int, np.ndarray]] = []
    with open_video(Upload("cam.mp4", footage.video), MEDIA) as video:
        plan = plan_crops(tracker, video.width, video.height, RULES, frames_per_chunk=16)
        result = cut_crops(video, plan, SIZE, 10_000, on_track=lambda t, crops: handed.append((t, crops)))
    assert result.crops == {}  # handed over, not kept
    by_end = sorted(plan.used, key=lambda t: t.frames[-1])
    assert len({t.frames[-1] for t in by_end}) == len(by_end)  # the tracks end at different frames
    assert [t for t, _ in handed] == [t.track_id for t in by_end]  # each as it ends
    for track_id, crops in handed:
        assert np.array_equal(crops, kept.crops[track_id])
