"""A tracker's output, MOTChallenge CSV or a JSON list of boxes, parsed into tracks within limits.

Trackers (ByteTrack, DeepSORT, BoT-SORT, DeepStream...) mostly write MOTChallenge text:
`frame,id,x,y,w,h,conf,...` with 1-based frames, one box per track per frame. Limits are checked at
the line (or item) that crosses them, so a hostile file costs at most its limit, and every error
names the line or item at fault: a user with 50,000 lines must be able to find the bad one.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from service.core.errors import BadInput, TooLarge

MAX_LINE = 1024  # characters of one MOT line: ten numbers take under 100
MAX_TRACK_ID = 2**31 - 1  # MOTChallenge ids are ints; this also keeps (frame, id) keys compact
MAX_COORDINATE = 1e6  # pixels: far past any frame, and x + w can no longer overflow to infinity


@dataclass(frozen=True)
class TrackFileLimits:
    """Bounds on one tracker file; its parsed boxes take about 250 bytes each in memory."""

    max_bytes: int = 16 * 1024 * 1024  # ~400k MOT lines; JSON parsing holds the whole document
    max_boxes: int = 200_000  # ~50 MB parsed (100 MB peak): 10 minutes of 13 people at 25 fps
    max_tracks: int = 1_000
    max_boxes_per_frame: int = 200  # a dense crowd; more is a detector gone wrong


class Box(NamedTuple):
    """A tuple, not a frozen dataclass: up to 200,000 are built per file, and a tuple is cheapest."""

    frame: int  # 1-based, as in MOTChallenge
    x: float  # top-left corner and size in pixels; may lie partly outside the frame
    y: float
    w: float
    h: float
    conf: float | None  # None: the file gives no score


@dataclass
class TrackerFile:
    format: Literal["mot", "json"]
    tracks: dict[int, list[Box]]  # track id -> its boxes in frame order
    boxes: int
    last_frame: int  # the highest frame of any box (1-based)
    last_frame_where: str  # "line 12" or "item 3": where that box is, for the error when the video is shorter


class JsonBox(BaseModel):
    """One box of the JSON form: `[{"frame": 1, "track_id": 3, "x": 10, "y": 20, "w": 40, "h": 100}]`.

    Frames are 1-based as in MOTChallenge, so that both forms of the same tracker output agree.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    frame: int = Field(ge=1, description="1-based frame number")
    track_id: int = Field(ge=0, le=MAX_TRACK_ID)
    x: float = Field(description="left edge, pixels")
    y: float = Field(description="top edge, pixels")
    w: float = Field(gt=0)
    h: float = Field(gt=0)
    conf: float | None = Field(None, description="the tracker's score; absent: unknown, always kept")


@dataclass
class _Collector:
    """Boxes grouped by track, with the limits and the one-box-per-track-per-frame rule checked per box."""

    limits: TrackFileLimits
    tracks: dict[int, list[Box]] = field(default_factory=dict)
    per_frame: Counter[int] = field(default_factory=Counter)
    seen: set[int] = field(default_factory=set)
    boxes: int = 0
    last_frame: int = 0
    last_frame_where: str = ""

    def add(self, track_id: int, box: Box, where: str) -> None:
        if max(abs(box.x), abs(box.y), box.w, box.h) > MAX_COORDINATE:
            raise BadInput(
                f"tracker file {where}: box {box.x},{box.y},{box.w},{box.h} is beyond {MAX_COORDINATE:.0e} "
                "pixels; not a box of a video frame"
            )
        self.boxes += 1
        if self.boxes > self.limits.max_boxes:
            raise TooLarge(f"tracker file {where}: more than {self.limits.max_boxes} boxes, over the limit")
        if track_id not in self.tracks:
            if len(self.tracks) >= self.limits.max_tracks:
                raise TooLarge(
                    f"tracker file {where}: more than {self.limits.max_tracks} tracks, over the limit"
                )
            self.tracks[track_id] = []
        key = box.frame << 32 | track_id
        if key in self.seen:
            raise BadInput(f"tracker file {where}: track {track_id} has a second box in frame {box.frame}")
        self.seen.add(key)
        self.per_frame[box.frame] += 1
        if self.per_frame[box.frame] > self.limits.max_boxes_per_frame:
            raise TooLarge(
                f"tracker file {where}: more than {self.limits.max_boxes_per_frame} boxes in frame "
                f"{box.frame}, over the limit"
            )
        self.tracks[track_id].append(box)
        if box.frame > self.last_frame:
            self.last_frame, self.last_frame_where = box.frame, where

    def result(self, fmt: Literal["mot", "json"]) -> TrackerFile:
        if not self.boxes:
            raise BadInput("tracker file holds no boxes")
        for boxes in self.tracks.values():
            boxes.sort(key=lambda b: b.frame)
        return TrackerFile(
            fmt, dict(sorted(self.tracks.items())), self.boxes, self.last_frame, self.last_frame_where
        )


def parse_tracker_file(data: bytes, limits: TrackFileLimits) -> TrackerFile:
    """MOTChallenge CSV or a JSON list of boxes, told apart by the first non-blank character."""
    if len(data) > limits.max_bytes:
        raise TooLarge(f"tracker file of {len(data)} bytes, over the limit of {limits.max_bytes}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise BadInput(f"tracker file is not UTF-8 text (byte {err.start})") from None
    if text.lstrip().startswith(("[", "{")):
        return parse_json(text, limits)
    return parse_mot(text, limits)


def parse_mot(text: str, limits: TrackFileLimits) -> TrackerFile:
    """`frame,id,x,y,w,h[,conf[,...]]` per line; blank lines skipped, further columns ignored.

    Whitespace-separated lines are read too (some tools write them). Negative ids are refused: they
    mark untracked detections (MOTChallenge det files), which cannot become tracklets.
    """
    collector = _Collector(limits)
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        where = f"line {number}"
        if len(line) > MAX_LINE:  # before splitting: 16 MB of commas would be a 16-million-item list
            raise BadInput(f"tracker file {where}: over {MAX_LINE} characters; not a MOTChallenge line")
        parts = line.split(",") if "," in line else line.split()
        if len(parts) < 6:
            raise BadInput(
                f"tracker file {where}: expected at least 6 values frame,id,x,y,w,h[,conf,...], "
                f"got {len(parts)}: {line[:80]!r}"
            )
        frame = _integer(parts[0], "frame", where)
        track_id = _integer(parts[1], "track id", where)
        if frame < 1:
            raise BadInput(f"tracker file {where}: frame {frame}; MOTChallenge frames start at 1")
        if track_id < 0:
            raise BadInput(
                f"tracker file {where}: track id {track_id}; untracked detections (id -1) cannot be "
                "cut into tracklets: send the tracker's output"
            )
        if track_id > MAX_TRACK_ID:
            raise BadInput(f"tracker file {where}: track id {track_id} is over {MAX_TRACK_ID}")
        x, y, w, h = (_number(parts[i], name, where) for i, name in enumerate("xywh", start=2))
        if w <= 0 or h <= 0:
            raise BadInput(f"tracker file {where}: box of size {w}x{h}; width and height must be positive")
        conf = _number(parts[6], "conf", where) if len(parts) > 6 and parts[6].strip() else None
        collector.add(track_id, Box(frame, x, y, w, h, conf), where)
    return collector.result("mot")


def parse_json(text: str, limits: TrackFileLimits) -> TrackerFile:
    """A JSON list of `JsonBox` objects; unknown fields are errors (a misspelt `conf` would be lost)."""
    try:
        items = json.loads(text)
    except json.JSONDecodeError as err:
        raise BadInput(
            f"tracker file: invalid JSON at line {err.lineno}, column {err.colno}: {err.msg}"
        ) from None
    except RecursionError:  # "[[[[..." thousands deep: a crafted file, not a list of boxes
        raise BadInput("tracker file: JSON nested too deeply; expected a flat list of boxes") from None
    if not isinstance(items, list):
        raise BadInput('tracker file: JSON must be a list of boxes, e.g. [{"frame": 1, "track_id": 3, ...}]')
    if len(items) > limits.max_boxes:
        raise TooLarge(f"tracker file: {len(items)} boxes, over the limit of {limits.max_boxes}")
    collector = _Collector(limits)
    for index, item in enumerate(items):
        where = f"item {index}"
        try:
            box = JsonBox.model_validate(item)
        except ValidationError as exc:
            raise BadInput(f"tracker file {where}: {_describe(exc)}") from None
        collector.add(box.track_id, Box(box.frame, box.x, box.y, box.w, box.h, box.conf), where)
    return collector.result("json")


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        name = ".".join(str(p) for p in err["loc"]) or "box"
        parts.append(f"{name}: {err['msg']}")
    return "; ".join(parts[:5])


def _number(text: str, name: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise BadInput(f"tracker file {where}: {name} {text.strip()[:20]!r} is not a number") from None
    if not math.isfinite(value):
        raise BadInput(f"tracker file {where}: {name} is {text.strip()}")
    return value


def _integer(text: str, name: str, where: str) -> int:
    """An integer, also when written as 12.0 (some trackers format every column as a float)."""
    value = _number(text, name, where)
    if not value.is_integer():
        raise BadInput(f"tracker file {where}: {name} {text.strip()!r} is not a whole number")
    return int(value)
