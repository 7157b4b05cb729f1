"""POST /tracks throughput against decoding alone: frames decoded per second and tracks per second.

    .venv/bin/python -m benchmarks.bench_tracks [--quick] [--frames N] [--tracks N] [--size WxH]

A synthetic clip (people-sized boxes moving across a noisy scene, written with OpenCV's mp4v) and its
exact MOTChallenge boxes. Measured in this process, interleaved, medians of the repeats:

- decode, every frame converted: the floor of anything that reads every frame as /embed does;
- decode, grab only: what the codec alone costs (the floor of one pass);
- crops: parse + plan + one pass cutting the planned crops (service/tracks, no model);
- /tracks over HTTP (unless --no-http): the whole request on the shipped model, action embed, through
  a real uvicorn on 127.0.0.1 (devtools.harness), the gallery in memory, one ONNX Runtime thread
  per --threads.

Tracks per second count the tracks of the file that got an embedding (or crops, for `crops`).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import httpx
import numpy as np

from devtools.harness import LiveServer
from service.core.config import DEFAULT_MODEL, Settings
from service.media.decode import MediaLimits, Upload, open_video
from service.tracks.crops import CutJob, FootageLimits, read_crops
from service.tracks.plan import CropRules
from service.tracks.trackfile import TrackFileLimits

MODEL = DEFAULT_MODEL
MEDIA = MediaLimits(1 << 30, max_frames=1_000_000, max_frame_pixels=4096 * 4096, max_archive_members=1)


def make_clip(
    folder: Path, frames: int, tracks: int, width: int, height: int, fps: float = 25.0
) -> tuple[bytes, str]:
    """A clip where `tracks` people-shaped boxes cross the frame, each for part of the clip."""
    rng = np.random.default_rng(0)
    scene = rng.integers(60, 160, (height, width, 3), dtype=np.uint8)
    box_h = max(48, height // 3)
    box_w = box_h * 2 // 5
    colours = rng.integers(0, 256, (tracks, 2, 3))
    # people come and go: each crosses the frame during 20-40% of the clip, starting anywhere
    spans = [int(rng.uniform(0.2, 0.4) * frames) for _ in range(tracks)]
    lives = [(start := int(rng.integers(0, frames - span)), start + span) for span in spans]
    lanes = [int(y) for y in rng.integers(0, height - box_h, tracks)]
    path = folder / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    lines = []
    for f in range(frames):
        image = scene.copy()
        for t, ((start, end), y) in enumerate(zip(lives, lanes, strict=True)):
            if not start <= f < end:
                continue
            x = int((f - start) / max(1, end - start - 1) * (width - box_w))
            image[y : y + box_h // 2, x : x + box_w] = colours[t, 0]
            image[y + box_h // 2 : y + box_h, x : x + box_w] = colours[t, 1]
            lines.append(f"{f + 1},{t + 1},{x},{y},{box_w},{box_h},0.9,-1,-1,-1")
        writer.write(image)
    writer.release()
    return path.read_bytes(), "\n".join(lines) + "\n"


def decode_all(video: bytes) -> int:
    with open_video(Upload("clip.mp4", video), MEDIA) as reader:
        return sum(1 for _ in reader.frames(MEDIA.max_frames))


def grab_only(video: bytes) -> int:
    with open_video(Upload("clip.mp4", video), MEDIA) as reader:
        return sum(1 for _ in reader.frames(MEDIA.max_frames, wanted=lambda _: False))


def crops(video: bytes, mot: str) -> tuple[int, int]:
    limits = FootageLimits(MEDIA, TrackFileLimits(), max_video_frames=MEDIA.max_frames)
    job = CutJob(Upload("clip.mp4", video), mot.encode(), size=(160, 64), frames_per_chunk=16)
    result = read_crops(job, limits, CropRules())
    return result.frames_decoded, len(result.crops)


def tracks_request(url: str, video: bytes, mot: str) -> tuple[int, int]:
    """One POST /tracks (action embed): frames the service decoded, tracks it embedded."""
    files = {"video": ("clip.mp4", video, "video/mp4"), "tracks": ("clip.txt", mot.encode(), "text/plain")}
    response = httpx.post(
        f"{url}/tracks", files=files, data={"camera": "bench", "action": "embed"}, timeout=600
    )
    response.raise_for_status()
    answer = response.json()
    embedded = sum(1 for t in answer["tracks"] if t["result"] == "embedded")
    return answer["video"]["frames_decoded"], embedded


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a short clip, one repeat")
    parser.add_argument(
        "--frames", type=int, default=750, help="frames of the clip (default: 30 s at 25 fps)"
    )
    parser.add_argument("--tracks", type=int, default=12)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-http", action="store_true", help="skip the /tracks request through the service")
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads of the served model")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    frames, repeats = (150, 1) if args.quick else (args.frames, args.repeats)
    with tempfile.TemporaryDirectory() as tmp:
        video, mot = make_clip(Path(tmp), frames, args.tracks, width, height)
    print(
        f"clip: {frames} frames {width}x{height} mp4v ({len(video) / 1e6:.1f} MB), {args.tracks} tracks, "
        f"{mot.count(chr(10))} boxes; medians of {repeats}"
    )
    rows: list[tuple[str, float, int, int]] = []
    # interleaved: one repeat of each in turn, so that a noisy neighbour hits all alike
    results: dict[str, list[float]] = {}
    counts: dict[str, tuple[int, int]] = {}
    jobs: dict[str, Callable[[], tuple[int, int]]] = {
        "decode, every frame converted (as /embed)": lambda: (decode_all(video), 0),
        "decode, grab only (codec floor)": lambda: (grab_only(video), 0),
        "crops: parse + plan + one pass": lambda: crops(video, mot),
    }
    server = None
    if not args.no_http:
        server = LiveServer(
            Settings(
                _env_file=None,
                redis_url=None,
                rate_limit_per_minute=0,
                intra_op_threads=args.threads,
                max_upload_bytes=max(64 << 20, 2 * len(video)),
            )
        ).start()
        jobs["/tracks over HTTP, action embed"] = lambda: tracks_request(server.url, video, mot)
    try:
        for _ in range(repeats):
            for name, job in jobs.items():
                seconds, out = timed(job, 1)
                results.setdefault(name, []).append(seconds)
                counts[name] = out  # type: ignore[assignment]
    finally:
        if server is not None:
            server.stop()
    for name in jobs:
        seconds = statistics.median(results[name])
        decoded, tracks = counts[name]
        rows.append((name, seconds, decoded, tracks))
    floor = rows[0][1]
    print(f"{'':44} {'seconds':>8} {'frames/s':>9} {'tracks/s':>9} {'vs decode':>9}")
    for name, seconds, decoded, tracks in rows:
        per_track = f"{tracks / seconds:9.1f}" if tracks else f"{'':>9}"
        print(f"{name:44} {seconds:8.2f} {decoded / seconds:9.0f} {per_track} {seconds / floor:8.2f}x")


if __name__ == "__main__":
    main()
