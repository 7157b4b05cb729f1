"""The JSON of POST /tracks: its form (a clip, its tracker file, what to do) and its answer."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from service.schemas import EntryOut, Label, MatchItem, ModelRef

TrackAction = Literal["embed", "enroll", "match", "match-or-enroll"]
ThresholdSource = Literal["request", "model"]


class TracksOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    camera: Label = Field(description="the camera the clip comes from; stored with enrolled tracks")
    action: TrackAction = Field(
        description="embed: return each track's embedding; enroll: add each track to the gallery; "
        "match: rank the gallery for each track; match-or-enroll: each track takes the id of its best "
        "match at or over `threshold`, or is enrolled as a new person"
    )
    threshold: float | None = Field(
        None,
        ge=-1,
        le=1,
        description="minimum cosine similarity of a match; match-or-enroll without one uses the "
        "model's own, calibrated at REID_MATCH_FALSE_MATCH_RATE on cameras it never saw (GET /model: "
        "calibration). A cosine means something else for every model: never reuse another model's",
    )
    start_time: float | None = Field(
        None,
        ge=0,
        le=1e11,
        description="seconds since the epoch of the clip's first frame (times are then absolute)",
    )
    fps: float | None = Field(None, ge=0.01, le=1000, description="frame rate; default: the video's own")
    id_template: str = Field(
        "{camera}:{track}",
        min_length=1,
        max_length=200,
        description="gallery id of a new entry, from {camera}, {track} (the tracker's id) and {start} "
        "(start_time in whole seconds): tracker ids restart with each clip, so use {start} for a "
        "camera's later clips; ids in use are refused (409)",
    )
    exclude_own_camera: bool = Field(True, description="never match entries of this camera (re-id protocol)")
    top_k: int | None = Field(None, ge=1, description="match: entries returned per track")
    ttl_seconds: int | None = Field(None, gt=0, le=100 * 365 * 86400, description="retention of new entries")
    mot_output: bool = Field(
        False, description="enroll / match-or-enroll: also answer the tracker file with gallery ids (`mot`)"
    )


class TracksForm(TracksOptions):
    video: bytes | SkipJsonSchema[None] = Field(None, description="the camera's clip (mp4, avi, mkv, webm)")
    tracks: bytes | SkipJsonSchema[None] = Field(
        None, description="the tracker's output for that clip: MOTChallenge CSV or a JSON list of boxes"
    )


class TrackResult(BaseModel):
    track_id: int
    result: Literal["skipped", "embedded", "enrolled", "matched", "searched"]
    gallery_id: str | None = Field(None, description="enrolled as, or matched to (match-or-enroll)")
    similarity: float | None = Field(None, description="match-or-enroll: to the entry matched")
    frames_seen: int = Field(description="boxes the tracker gave for this track")
    frames_usable: int = Field(description="boxes that passed the crop rules")
    frames_used: int = Field(description="crops embedded, sampled evenly over the track's life")
    chunks: int
    first_frame: int
    last_frame: int
    first_seen: float = Field(
        description="seconds: since the epoch with start_time, else since the clip's start"
    )
    last_seen: float
    dropped: dict[str, int] = Field(description="boxes dropped, by rule")
    skipped: str | None = Field(None, description="why no embedding was made")
    matches: list[MatchItem] | None = Field(None, description="match: the best gallery entries")
    embedding: list[float] | None = Field(None, description="embed: the track's embedding")


class VideoInfo(BaseModel):
    width: int
    height: int
    fps: float
    fps_from: Literal["request", "video"]
    frames_decoded: int


class TracksResponse(BaseModel):
    model: ModelRef
    camera: str
    action: TrackAction
    tracker_format: Literal["mot", "json"]
    boxes: int
    video: VideoInfo
    threshold: float | None = Field(None, description="the minimum similarity of a match, where one applied")
    threshold_from: ThresholdSource | None = Field(
        None, description="request: given with it; model: the model file's calibrated threshold"
    )
    tracks: list[TrackResult] = Field(description="every track of the tracker file, by first frame")
    enrolled: list[EntryOut] = Field(default_factory=list)
    mot: str | None = Field(None, description="with mot_output: the tracker file under gallery ids")
    seconds: float
