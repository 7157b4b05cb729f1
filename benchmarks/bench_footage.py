"""Footage without a tracker file: video frames per second of the whole pipeline, and where the time
goes (decode, detect, track; then the crops and the embedding /tracks adds on top).

    .venv/bin/python -m benchmarks.bench_footage [VIDEO] [--threads 2] [--stride 1] [--frames N]
                                                 [--mot-out tracked.txt] [--gt gt.txt]

VIDEO defaults to OpenCV's `vtest.avi` (Debian's opencv-doc: PETS09-S2L1, 795 frames at 768x576), the
clip of issue 41. Stages, run in this process one after the other on `--threads` threads each:

- detect + track: service.detection.pipeline.track_footage (decode once, the shipped detector on
  every `--stride`-th frame, ByteTrack), with its own split of decode / detect / track seconds;
- crops: the /tracks cut on the tracks found (service.tracks.crops.read_crops over the same video with
  the MOT text: a second decoding pass, grabbing frames without crops);
- embed: every planned crop through the shipped re-id model (service.inference.session), in the
  model's chunks, as /tracks does (gallery matching costs microseconds next to it and is left out).

The pipeline's frames per second is the clip's frames over the sum of the three stages. With `--gt`
(a MOTChallenge gt.txt of the clip), HOTA, IDF1 and MOTA of the tracks are scored with the `trackers`
package's evaluators (TrackEval's definitions): none is shipped, since no PETS09-S2L1 ground truth can
be had from a package registry.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from service.core.config import DEFAULT_MODEL
from service.detection.detector import DetectOptions, PersonDetector
from service.detection.pipeline import FootageOptions, track_footage
from service.inference.session import ModelSession
from service.media.decode import MediaLimits, Upload
from service.tracks.crops import CutJob, FootageLimits, read_crops
from service.tracks.plan import CropRules
from service.tracks.trackfile import TrackFileLimits

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
MEDIA = MediaLimits(1 << 30, max_frames=1_000_000, max_frame_pixels=4096 * 4096, max_archive_members=1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("video", nargs="?", type=Path, default=VTEST)
    parser.add_argument("--threads", type=int, default=2, help="threads of the detector and the re-id model")
    parser.add_argument("--stride", type=int, default=1, help="detect on every n-th frame")
    parser.add_argument("--confidence", type=float, default=0.3)
    parser.add_argument("--frames", type=int, default=100_000, help="stop with an error past this many")
    parser.add_argument("--no-embed", action="store_true", help="detect and track only")
    parser.add_argument("--mot-out", type=Path, help="write the tracks found as MOTChallenge text")
    parser.add_argument("--gt", type=Path, help="a MOTChallenge gt.txt of the clip: score HOTA, IDF1, MOTA")
    args = parser.parse_args()
    if not args.video.is_file():
        raise SystemExit(f"{args.video}: no such file (apt-get install opencv-doc gives vtest.avi)")
    video = Upload(args.video.name, args.video.read_bytes())

    started = time.perf_counter()
    detector = PersonDetector(threads=args.threads)
    print(
        f"detector: {detector.info.name} on {detector.info.engine} {detector.info.device} at "
        f"{detector.info.precision} ({detector.info.reason}); {detector.info.parity}; "
        f"loaded in {time.perf_counter() - started:.1f} s"
    )
    options = FootageOptions(stride=args.stride, detect=DetectOptions(confidence=args.confidence))

    started = time.perf_counter()
    found = track_footage(video, detector, options, MEDIA, TrackFileLimits(), args.frames)
    tracking = time.perf_counter() - started
    n = found.frames_decoded
    t = found.timings
    print(
        f"clip: {args.video.name}, {n} frames {found.width}x{found.height} at {found.fps:g} fps "
        f"(declared: {found.fps_declared}); detected on {found.frames_detected}; {found.detections} boxes "
        f"kept, {len(found.tracker.tracks)} tracks of {found.tracker.boxes} boxes"
    )
    rows = [
        ("decode (+ RGB)", t.decode),
        ("detect", t.detect),
        ("track (ByteTrack)", t.track),
        ("detect + track, whole pass", tracking),
    ]
    total = tracking
    if args.mot_out:
        args.mot_out.write_text(found.mot)
    if not args.no_embed:
        session = ModelSession(DEFAULT_MODEL, intra_op_threads=args.threads)
        meta = session.metadata
        limits = FootageLimits(MEDIA, TrackFileLimits(), args.frames)
        job = CutJob(video, found.mot.encode(), (meta.height, meta.width), meta.frames_per_chunk)
        started = time.perf_counter()
        cut = read_crops(job, limits, CropRules())
        cropping = time.perf_counter() - started
        started = time.perf_counter()
        crops = 0
        for stack in cut.crops.values():
            for first in range(0, len(stack), meta.frames_per_chunk):
                session.run(stack[None, first : first + meta.frames_per_chunk])
            crops += len(stack)
        embedding = time.perf_counter() - started
        print(
            f"re-id: {meta.name} on {session.engine.name} at {session.engine.precision}; "
            f"{len(cut.crops)} tracks embedded from {crops} crops"
        )
        rows += [("crops (second pass)", cropping), ("embed", embedding)]
        total += cropping + embedding
    rows.append(("whole pipeline", total))
    print(f"{'stage':30} {'seconds':>8} {'video frames/s':>15} {'share':>6}")
    for name, seconds in rows:
        share = (
            f"{seconds / total:6.0%}" if name not in ("whole pipeline", "detect + track, whole pass") else ""
        )
        print(f"{name:30} {seconds:8.2f} {n / seconds:15.1f} {share:>6}")
    if args.gt:
        score(found.mot, args.gt)


def score(mot: str, gt: Path) -> None:
    """HOTA, IDF1 and MOTA of the tracks against a MOTChallenge ground truth (IoU 0.5, TrackEval's
    definitions as the `trackers` package implements them). MOT15's ground truth (PETS09-S2L1's) has no
    classes (-1): its rows are read as pedestrians, as TrackEval's MOT15 rules do."""
    import tempfile

    from trackers.eval import evaluate_mot_sequence

    rows = []
    for line in gt.read_text().splitlines():
        parts = line.strip().split(",")
        if len(parts) >= 8 and parts[7].strip() == "-1":
            parts[7] = "1"
        rows.append(",".join(parts))
    with (
        tempfile.NamedTemporaryFile("w", suffix=".txt") as truth,
        tempfile.NamedTemporaryFile("w", suffix=".txt") as tracked,
    ):
        truth.write("\n".join(rows) + "\n")
        tracked.write(mot)
        truth.flush()
        tracked.flush()
        result = evaluate_mot_sequence(truth.name, tracked.name, metrics=["HOTA", "CLEAR", "Identity"])
    print(
        f"against {gt}: HOTA {result.HOTA.HOTA:.3f}, IDF1 {result.Identity.IDF1:.3f}, "
        f"MOTA {result.CLEAR.MOTA:.3f} (IDSW {result.CLEAR.IDSW}, FP {result.CLEAR.CLR_FP}, "
        f"FN {result.CLEAR.CLR_FN})"
    )


if __name__ == "__main__":
    main()
