#!/usr/bin/env python3
"""Make two small example clips and their tracker files, for `POST /tracks` and `reid tracks`.

Three real CUHK03 people walk across a plain background, each in a lane of their own: `camA.mp4`
shows them as CUHK03's camera A saw them (images 00-04 of each person), `camB.mp4` as camera B saw
them (images 05-09), in another order. Beside each clip, its tracker file in MOTChallenge form
(`frame,id,x,y,w,h,conf,-1,-1,-1`, 1-based frames), with the exact boxes of the pasted crops, as a
tracker would write them: track ids 1-3 on camera A, 11-13 on camera B.

    .venv/bin/python scripts/make_example_clip.py                 # -> examples/
    .venv/bin/python scripts/make_example_clip.py --out /tmp/ex --people 0000 0003 0005

The crops are read from ../shared/data/cuhk03 (research use only) and never copied into the
repository: the output folder gets a `.gitignore` that ignores everything in it.
Needs only numpy and OpenCV, which `bash scripts/serve.sh` installs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "cuhk03" / "labeled" / "val"

WIDTH, HEIGHT = 640, 320  # the frame
PERSON_HEIGHT = 220  # pixels: every crop is scaled to this height, its aspect kept
FPS = 10
FRAMES = 40  # 4 seconds
FRAMES_PER_IMAGE = 8  # a person's five images, each held this long, in turn
LANE = WIDTH // 3  # each person walks within a third of the frame, so that no two boxes overlap


def read_person(data: Path, person: str, images: range) -> list[np.ndarray]:
    crops = []
    for i in images:
        path = data / f"{person}_{i:02d}.jpg"
        crop = cv2.imread(str(path))
        if crop is None:
            sys.exit(f"cannot read {path}: is the CUHK03 data there (--data)?")
        scale = PERSON_HEIGHT / crop.shape[0]
        crops.append(cv2.resize(crop, (max(1, round(crop.shape[1] * scale)), PERSON_HEIGHT)))
    return crops


def background() -> np.ndarray:
    """A plain wall and floor, with a little fixed noise so that the codec has something to code."""
    frame = np.empty((HEIGHT, WIDTH, 3), np.uint8)
    frame[:] = (150, 155, 160)
    frame[HEIGHT * 3 // 4 :] = (95, 100, 100)
    rng = np.random.default_rng(0)
    noise = rng.integers(-6, 7, frame.shape, dtype=np.int16)
    return np.clip(frame.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def make_clip(data: Path, people: list[str], images: range, first_id: int, video: Path, tracker: Path) -> int:
    """Write one clip and its tracker file; return the number of boxes."""
    crops = {p: read_person(data, p, images) for p in people}
    still = background()
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (WIDTH, HEIGHT))
    if not writer.isOpened():
        sys.exit(f"OpenCV cannot write {video}")
    lines = []
    for t in range(FRAMES):
        frame = still.copy()
        for lane, person in enumerate(people):
            # each person enters a little after the one before and walks right across their lane
            start = 2 * lane
            if t < start:
                continue
            crop = crops[person][((t - start) // FRAMES_PER_IMAGE) % len(images)]
            h, w = crop.shape[:2]
            room = LANE - w - 8
            x = lane * LANE + 4 + round(room * (t - start) / (FRAMES - 1))
            y = (HEIGHT - h) // 2 + 20
            frame[y : y + h, x : x + w] = crop
            lines.append(f"{t + 1},{first_id + lane},{x},{y},{w},{h},1,-1,-1,-1")
        writer.write(frame)
    writer.release()
    tracker.write_text("\n".join(lines) + "\n")
    return len(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("examples"), help="folder to write into")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="CUHK03 labeled/val folder")
    parser.add_argument("--people", nargs=3, default=["0010", "0011", "0012"], help="three CUHK03 ids")
    args = parser.parse_args(argv)

    args.out.mkdir(parents=True, exist_ok=True)
    note = "# made by scripts/make_example_clip.py from CUHK03 crops: never committed\n*\n"
    (args.out / ".gitignore").write_text(note)
    for camera, images, first_id, order in (
        ("camA", range(0, 5), 1, args.people),
        ("camB", range(5, 10), 11, args.people[::-1]),
    ):
        video, tracker = args.out / f"{camera}.mp4", args.out / f"{camera}.txt"
        boxes = make_clip(args.data, order, images, first_id, video, tracker)
        people = " ".join(order)
        print(f"{video} ({FRAMES} frames, {WIDTH}x{HEIGHT}, {FPS} fps), {tracker} ({boxes} boxes): {people}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
