"""`reid`: embed, enroll and match tracklets (folders of crops, archives, clips), and send a camera's
video with its tracker's output to POST /tracks, from a shell or a script.

The server's URL and API key come from --url / --api-key or REID_URL / REID_API_KEY, read here once.
Every answer is printed as JSON on stdout (the service's error body too); the exit code says what
happened, so that a script can branch on it without parsing anything.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from reid_client.http import (
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_SERVER,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    CallFailed,
    Server,
    call,
)
from reid_client.multipart import FilePart, MultipartBody
from reid_client.progress import ProgressBar, WorkBar

DEFAULT_URL = "http://127.0.0.1:8000"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm")
PROGRESS_FROM_BYTES = 1 << 20  # smaller uploads finish before a bar would be worth drawing
EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell reports it

EXIT_CODES = f"""exit codes:
  {EXIT_OK}  the call succeeded (its JSON answer is on stdout)
  {EXIT_USAGE}  usage error: bad flags, missing or unreadable files (nothing was sent)
  {EXIT_REFUSED}  the service refused the request, HTTP 4xx (bad input, API key, limit, rate); its JSON
     error is on stdout
  {EXIT_SERVER}  the service failed or is not ready, HTTP 5xx (model loading, gallery unreachable)
  {EXIT_UNREACHABLE}  no answer: connection refused, unknown host, timeout
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C): the connection was closed, which stops the work on the service

environment: REID_URL (for --url), REID_API_KEY (for --api-key, sent as 'Authorization: Bearer ...')"""


class UsageError(Exception):
    pass


def _natural(name: str) -> list[Any]:
    return [int(p) if p.isdigit() else p.casefold() for p in re.split(r"(\d+)", name)]


def tracklet_parts(paths: Sequence[Path], prefix: str = "") -> list[FilePart]:
    """A folder of crops or image files -> `frames` in natural name order; one archive or one video."""
    if len(paths) == 1 and paths[0].is_dir():
        images = [p for p in paths[0].iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
        if not images:
            raise UsageError(f"{paths[0]}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
        return [FilePart(prefix + "frames", p) for p in sorted(images, key=lambda p: _natural(p.name))]
    for path in paths:
        if not path.is_file():
            raise UsageError(f"{path}: no such file or folder")
    names = [p.name.lower() for p in paths]
    if len(paths) == 1 and names[0].endswith(ARCHIVE_SUFFIXES):
        return [FilePart(prefix + "archive", paths[0])]
    if len(paths) == 1 and names[0].endswith(VIDEO_SUFFIXES):
        return [FilePart(prefix + "video", paths[0])]
    if all(n.endswith(IMAGE_SUFFIXES) for n in names):
        return [FilePart(prefix + "frames", p) for p in paths]
    raise UsageError(
        "give one folder of crops, image files, one archive (.zip/.tar/.tar.gz) or one video "
        f"({', '.join(VIDEO_SUFFIXES)})"
    )


def _fields(**values: object) -> dict[str, str]:
    """Form fields of the options that were given; booleans as true/false."""
    out: dict[str, str] = {}
    for name, value in values.items():
        if value is None:
            continue
        out[name] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reid",
        description="Client of the video person re-identification service.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--url", help=f"the service's base URL (default: $REID_URL, else {DEFAULT_URL})")
    parser.add_argument("--api-key", help="API key (default: $REID_API_KEY)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait (default %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="never draw the upload progress bar")
    parser.add_argument("--compact", action="store_true", help="JSON on one line")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def tracklet_command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=EXIT_CODES,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.add_argument(
            "paths",
            nargs="+",
            type=Path,
            metavar="PATH",
            help="a folder of crops, image files, one .zip/.tar archive, or one video",
        )
        sub.add_argument("--sampling", choices=["chunks", "all", "uniform"])
        sub.add_argument("--num-frames", type=int, help="frames to use with --sampling uniform")
        return sub

    tracklet_command("embed", "Embed one tracklet (POST /embed).")
    enroll = tracklet_command("enroll", "Enroll one tracklet in the gallery (POST /gallery).")
    enroll.add_argument("--id", required=True, help="gallery id")
    enroll.add_argument("--camera")
    enroll.add_argument("--label")
    enroll.add_argument("--timestamp", type=float, help="when seen, seconds since the epoch")
    enroll.add_argument("--tags", help='a JSON object, e.g. \'{"zone": "north"}\'')
    enroll.add_argument("--mode", choices=["replace", "add"])
    enroll.add_argument("--ttl-seconds", type=int, help="erase the entry this long after enrolment")
    match = tracklet_command("match", "Rank gallery entries for one tracklet (POST /match).")
    match.add_argument("--top-k", type=int)
    match.add_argument("--exclude-camera", help="skip entries of this camera")
    match.add_argument("--filter-label")
    match.add_argument("--threshold", type=float, help="minimum cosine similarity")

    tracks = commands.add_parser(
        "tracks",
        help="Send a camera's video, with or without its tracker output (POST /tracks).",
        description="Cut every track of a tracker file (MOTChallenge CSV or JSON boxes) out of the video "
        "and embed, enroll or match it; without a tracker file the service detects and tracks the people "
        "itself (--stride, --confidence, --roi, --tracker-out). With --mot-out, write the tracker file "
        "back with each track id replaced by its gallery id (action match-or-enroll). The service's "
        "progress is drawn on stderr; Ctrl-C closes the connection, which stops the work there.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    tracks.add_argument("video", type=Path)
    tracks.add_argument(
        "tracker_file",
        type=Path,
        nargs="?",
        help="MOTChallenge CSV (frame,id,x,y,w,h,conf,...) or JSON; leave out to have the service find "
        "the people",
    )
    tracks.add_argument("--camera", required=True)
    tracks.add_argument(
        "--action", choices=["embed", "enroll", "match", "match-or-enroll"], default="match-or-enroll"
    )
    tracks.add_argument(
        "--threshold",
        type=float,
        help="match-or-enroll: minimum similarity to match (default: the model's own)",
    )
    tracks.add_argument("--start-time", type=float, help="the clip's first frame, seconds since the epoch")
    tracks.add_argument("--fps", type=float, help="frame rate (default: the video's own)")
    tracks.add_argument("--id-template", help="gallery ids of new tracks, e.g. '{camera}:{track}'")
    tracks.add_argument("--top-k", type=int)
    tracks.add_argument(
        "--include-own-camera",
        action="store_true",
        help="let tracks match entries of their own camera (excluded by default)",
    )
    tracks.add_argument(
        "--mot-out",
        type=Path,
        help="write the MOTChallenge file with gallery ids here (match-or-enroll); it is then left out "
        "of the JSON printed",
    )
    footage = tracks.add_argument_group("without a tracker file")
    footage.add_argument("--stride", type=int, help="detect on every n-th frame (default: the service's, 1)")
    footage.add_argument("--confidence", type=float, help="the detector's minimum confidence (default 0.3)")
    footage.add_argument("--min-width", type=int, help="drop narrower boxes, pixels")
    footage.add_argument("--min-height", type=int, help="drop shorter boxes, pixels")
    footage.add_argument("--roi", help="region of interest x1,y1,x2,y2 in pixels, inside the frame")
    footage.add_argument(
        "--tracker-out",
        type=Path,
        help="write the MOTChallenge file the service made here (its own track ids); left out of the JSON",
    )
    return parser


def request_for(args: argparse.Namespace) -> tuple[str, MultipartBody, str]:
    """The path, the body and a label for the progress bar of one parsed command."""
    tracklet = _fields(sampling=args.sampling, num_frames=args.num_frames) if args.command != "tracks" else {}
    if args.command == "embed":
        return "/embed", MultipartBody(tracklet, tracklet_parts(args.paths)), "embed"
    if args.command == "enroll":
        if args.tags is not None:
            try:
                json.loads(args.tags)
            except json.JSONDecodeError:
                raise UsageError('--tags must be a JSON object, e.g. \'{"zone": "north"}\'') from None
        fields = _fields(
            id=args.id,
            camera=args.camera,
            label=args.label,
            timestamp=args.timestamp,
            tags=args.tags,
            mode=args.mode,
            ttl_seconds=args.ttl_seconds,
        )
        return "/gallery", MultipartBody({**fields, **tracklet}, tracklet_parts(args.paths)), "enroll"
    if args.command == "match":
        fields = _fields(
            top_k=args.top_k,
            exclude_camera=args.exclude_camera,
            filter_label=args.filter_label,
            threshold=args.threshold,
        )
        return "/match", MultipartBody({**fields, **tracklet}, tracklet_parts(args.paths)), "match"
    for path in (args.video, args.tracker_file):
        if path is not None and not path.is_file():
            raise UsageError(f"{path}: no such file")
    detection = _fields(
        detect_stride=args.stride,
        detect_confidence=args.confidence,
        detect_min_width=args.min_width,
        detect_min_height=args.min_height,
        roi=args.roi,
        tracker_output=True if args.tracker_out is not None else None,
    )
    if args.tracker_file is not None and detection:
        raise UsageError(
            "--stride, --confidence, --min-width, --min-height, --roi and --tracker-out are for a video "
            "without a tracker file"
        )
    fields = _fields(
        camera=args.camera,
        action=args.action,
        threshold=args.threshold,
        start_time=args.start_time,
        fps=args.fps,
        id_template=args.id_template,
        top_k=args.top_k,
        exclude_own_camera=not args.include_own_camera,
        mot_output=True if args.mot_out is not None else None,
    )
    files = [FilePart("video", args.video)]
    if args.tracker_file is not None:
        files.append(FilePart("tracks", args.tracker_file))
    return "/tracks", MultipartBody({**fields, **detection}, files), "tracks"


def main(
    argv: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run one command; returns the exit code (the `reid` console script exits with it)."""
    env = os.environ if env is None else env
    stdout = sys.stdout if stdout is None else stdout
    stderr = sys.stderr if stderr is None else stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed by argparse
        return int(exc.code or 0)
    server = Server(
        url=args.url or env.get("REID_URL") or DEFAULT_URL,
        api_key=args.api_key or env.get("REID_API_KEY") or None,
        timeout=args.timeout,
    )
    indent = None if args.compact else 2
    try:
        path, body, label = request_for(args)
    except (UsageError, OSError) as exc:
        stderr.write(f"reid: {exc}\n")
        return EXIT_USAGE
    bar = ProgressBar(
        stderr, label, enabled=not args.no_progress and stderr.isatty() and body.length >= PROGRESS_FROM_BYTES
    )
    body.on_sent = bar.update
    # /tracks is asked for its progress stream: drawn where a person watches, read through otherwise
    work = WorkBar(stderr, enabled=not args.no_progress and stderr.isatty())
    try:
        answer = call(
            server, "POST", path, body, on_progress=work.update if args.command == "tracks" else None
        )
    except CallFailed as failed:
        work.close()
        stdout.write(json.dumps(failed.body, indent=indent) + "\n")
        status = f"HTTP {failed.status}: " if failed.status else ""
        stderr.write(f"reid: {status}{failed}\n")
        return failed.exit_code
    except KeyboardInterrupt:  # the connection is closed on the way out: the service stops the work
        work.close()
        stderr.write("\nreid: interrupted; the connection is closed, which stops the work on the service\n")
        return EXIT_INTERRUPTED
    work.close()
    if args.command == "tracks" and args.tracker_out is not None:
        made = answer.pop("tracker_file", None)
        if not isinstance(made, str):
            stderr.write("reid: the answer holds no tracker file (was a tracker file sent?)\n")
        else:
            args.tracker_out.write_text(made)
            stderr.write(f"reid: MOT file the service made written to {args.tracker_out}\n")
    if args.command == "tracks" and args.mot_out is not None:
        mot = answer.get("mot")
        if not isinstance(mot, str):
            stderr.write("reid: the answer holds no MOT file (is the action match-or-enroll?)\n")
        else:
            args.mot_out.write_text(mot)
            # written to its file: not repeated, a whole tracker file long, inside the JSON
            answer = {key: value for key, value in answer.items() if key != "mot"}
            stderr.write(f"reid: MOT file with gallery ids written to {args.mot_out}\n")
    stdout.write(json.dumps(answer, indent=indent) + "\n")
    return EXIT_OK


__all__ = ["EXIT_OK", "EXIT_REFUSED", "EXIT_SERVER", "EXIT_UNREACHABLE", "EXIT_USAGE", "main"]
