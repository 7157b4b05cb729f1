"""Synthetic camera footage with exact tracker output: people of the training side's generator walking
across two cameras, written to mp4 with OpenCV, with their true boxes as MOTChallenge lines.

Each person is rendered by model_export.data.synthetic.render_person at crop size (the person on the
camera's own backdrop, as in training data) and pasted into the frame at its box, so the box is exact
and the crop the service cuts should be that rendering up to mp4 compression. People walk in their own
lane (no overlaps), enter and leave at different frames, and carry different track ids on each camera,
so that only their appearance can tell which tracks are the same person.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from model_export.data.synthetic import IdentityStyle, render_person, sample_camera, sample_identity

CROP = (128, 64)  # height, width of a rendered person: the training side's default crop
LANE = CROP[0] + 8


@dataclass(frozen=True)
class TrueBox:
    frame: int  # 1-based
    track_id: int
    x: int
    y: int
    w: int
    h: int


@dataclass
class Footage:
    camera: str
    video: bytes  # mp4 (MPEG-4 part 2)
    width: int
    height: int
    frames: int
    fps: float
    boxes: list[TrueBox]
    person_of_track: dict[int, int]  # track id -> person index
    crops: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)  # (track, frame) -> RGB render

    def mot(self, conf: float = 1.0) -> str:
        """The boxes as a tracker would write them: frame,id,x,y,w,h,conf,-1,-1,-1 by frame."""
        lines = [
            f"{b.frame},{b.track_id},{b.x},{b.y},{b.w},{b.h},{conf:g},-1,-1,-1"
            for b in sorted(self.boxes, key=lambda b: (b.frame, b.track_id))
        ]
        return "\n".join(lines) + "\n"


def people(count: int, seed: int = 0) -> list[IdentityStyle]:
    return [sample_identity(np.random.default_rng([seed, 1, pid])) for pid in range(count)]


def render_camera(
    camera: str,
    persons: list[IdentityStyle],
    track_ids: list[int],
    *,
    frames: int = 36,
    width: int = 320,
    fps: float = 12.0,
    seed: int = 0,
    camera_seed: int = 0,
    folder: Path,
) -> Footage:
    """One camera's clip: person i walks in lane i from frame start_i to end_i, left to right or back."""
    height = LANE * len(persons)
    style = sample_camera(np.random.default_rng([seed, 2, camera_seed]), *CROP)
    rng = np.random.default_rng([seed, 5, camera_seed])
    scene = np.clip(
        rng.normal(110, 25, (height, width, 3)) * np.linspace(0.7, 1.1, width)[None, :, None], 0, 255
    ).astype(np.uint8)
    footage = Footage(camera, b"", width, height, frames, fps, [], {})
    lives = []
    for _ in persons:
        start = int(rng.integers(0, frames // 4))
        end = frames - int(rng.integers(0, frames // 4))
        lives.append((start, end, bool(rng.random() < 0.5)))
    path = folder / f"{camera}.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    assert writer.isOpened(), "OpenCV cannot write mp4v here"
    try:
        for f in range(frames):
            image = scene.copy()
            for i, (person, track) in enumerate(zip(persons, track_ids, strict=True)):
                start, end, backwards = lives[i]
                if not start <= f < end:
                    continue
                progress = (f - start) / max(1, end - start - 1)
                x = round((1 - progress if backwards else progress) * (width - CROP[1]))
                y = LANE * i + 4
                pixels = render_person(person, style, f, np.random.default_rng([seed, 3, camera_seed, i, f]))
                image[y : y + CROP[0], x : x + CROP[1]] = pixels
                footage.boxes.append(TrueBox(f + 1, track, x, y, CROP[1], CROP[0]))
                footage.person_of_track[track] = i
                footage.crops[(track, f + 1)] = pixels
            writer.write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    footage.video = path.read_bytes()
    return footage


def two_cameras(folder: Path, count: int = 3, frames: int = 36, seed: int = 0) -> tuple[Footage, Footage]:
    """The same `count` people on camera A (track ids 1..count) and camera B (other ids, other order)."""
    persons = people(count, seed)
    a = render_camera(
        "camA", persons, list(range(1, count + 1)), frames=frames, seed=seed, camera_seed=0, folder=folder
    )
    order = list(np.random.default_rng([seed, 6]).permutation(count))
    b_ids = [100 + 7 * k for k in range(count)]
    b_persons = [persons[j] for j in order]
    b = render_camera("camB", b_persons, b_ids, frames=frames, seed=seed, camera_seed=1, folder=folder)
    b.person_of_track = {track: int(order[i]) for track, i in b.person_of_track.items()}
    return a, b
