"""The JSON the API speaks: request bodies and responses, as they appear in the OpenAPI schema."""

from __future__ import annotations

import math
import unicodedata
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic.json_schema import SkipJsonSchema

from reid_contract import ModelMetadata
from service.audit.base import AuditEvent
from service.gallery.base import Entry, Match


def _unambiguous(entry_id: str) -> str:
    """The pattern's Unicode \\w (Rust regex) also admits joiners (U+200C/D) and combining marks:
    refuse ids that would print the same as another one (invisible format characters, or not NFC)."""
    invisible = any(unicodedata.category(c) == "Cf" for c in entry_id)
    if invisible or not unicodedata.is_normalized("NFC", entry_id):
        raise ValueError("id must be in Unicode NFC form, without invisible (format) characters")
    return entry_id


# Gallery ids: letters (any script), digits and . _ - : @, no spaces, controls or path characters.
EntryId = Annotated[str, StringConstraints(pattern=r"^[\w.:@-]{1,128}$"), AfterValidator(_unambiguous)]
Label = Annotated[str, StringConstraints(min_length=1, max_length=128)]
TagKey = Annotated[str, StringConstraints(pattern=r"^[\w.:@-]{1,64}$")]
Tags = Annotated[dict[TagKey, Annotated[str, StringConstraints(max_length=256)]], Field(max_length=32)]


def _finite(vector: list[float]) -> list[float]:
    if not all(math.isfinite(v) for v in vector):
        raise ValueError("embedding holds NaN or infinite values")
    if not any(vector):
        raise ValueError("embedding is all zeros")
    return vector


Vector = Annotated[list[float], Field(min_length=1, max_length=65536), AfterValidator(_finite)]


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


class ModelRef(BaseModel):
    name: str
    version: str
    id: str = Field(description="name@version: the tag of every gallery vector this model makes")

    @classmethod
    def of(cls, meta: ModelMetadata) -> ModelRef:
        return cls(name=meta.name, version=meta.version, id=meta.model_id)


class EmbedResponse(BaseModel):
    embedding: list[float]
    dim: int
    model: ModelRef
    frames_received: int
    frames_used: int
    chunks: int
    seconds: float


class EntryMetadata(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ttl_seconds: int | None = Field(
        None,
        gt=0,
        le=100 * 365 * 86400,
        description="retention: the entry is erased this long after enrolment",
    )
    camera: Label | None = None
    label: Label | None = None
    timestamp: float | None = Field(None, ge=0, description="seconds since the epoch, when seen")
    tags: Tags = Field(default_factory=dict)


class EnrollJSON(EntryMetadata):
    id: EntryId
    embedding: Vector
    mode: Literal["replace", "add"] = "replace"
    model_id: str | None = Field(None, description="when given, must be the served model's id")


class EnrollOptions(EntryMetadata):
    """`enroll` of a /match request: add the query to the gallery after matching."""

    id: EntryId
    mode: Literal["replace", "add"] = "replace"


class TrackletOptions(BaseModel):
    """How an uploaded tracklet becomes model input."""

    model_config = ConfigDict(extra="forbid")

    sampling: Literal["chunks", "all", "uniform"] = Field(
        "chunks",
        description="chunks: every frame, in chunks of the model's frames_per_chunk whose embeddings are "
        "averaged (the paper's test protocol); all: the same; uniform: num_frames frames spread evenly",
    )
    num_frames: int | None = Field(None, ge=1, description="frames to use with sampling=uniform")
    order: Literal["upload", "name"] = Field(
        "upload", description="frame order: as uploaded, or by file name"
    )


class MatchFilters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    top_k: int | None = Field(None, ge=1)
    exclude_camera: Label | None = Field(None, description="skip entries of this camera (re-id protocol)")
    filter_label: Label | None = Field(None, description="only entries with this label")
    time_from: float | None = None
    time_to: float | None = None
    threshold: float | None = Field(None, ge=-1, le=1, description="minimum cosine similarity")


class MatchJSON(MatchFilters):
    embedding: Vector
    other_embedding: Vector | None = Field(None, description="pair mode: compare with this instead")
    model_id: str | None = Field(None, description="when given, must be the served model's id")
    enroll: EnrollOptions | None = None


# multipart/form-data bodies: what the OpenAPI document says of an upload, and the fields it may
# hold; service/api/requests.py reads them (the files within the limits, the fields as strings).

UploadFile = bytes | SkipJsonSchema[None]
FormTags = str | SkipJsonSchema[None]
_TAGS = 'JSON object of free tags, e.g. {"zone": "north"}'


class TrackletForm(TrackletOptions):
    """One tracklet: frames (repeated), an archive or a video, and how it becomes model input."""

    frames: list[bytes] = Field(default_factory=list, description="person crops (JPEG/PNG/BMP/WebP)")
    archive: UploadFile = Field(None, description=".zip, .tar or .tar.gz of frames")
    video: UploadFile = Field(None, description="short clip (mp4, avi, mkv, webm)")


class EnrollForm(TrackletForm, EnrollOptions):
    tags: FormTags = Field(None, description=_TAGS)  # type: ignore[assignment]


class MatchForm(TrackletForm, MatchFilters, EntryMetadata):
    """A query tracklet; with other_*, a second one to score against it instead of the gallery."""

    other_frames: list[bytes] = Field(default_factory=list, description="pair mode: the second tracklet")
    other_archive: UploadFile = Field(None, description="pair mode: the second tracklet as an archive")
    other_video: UploadFile = Field(None, description="pair mode: the second tracklet as a video")
    enroll: bool = Field(False, description="add the query to the gallery under `id` after matching")
    id: EntryId | SkipJsonSchema[None] = Field(None, description="with enroll: the gallery id")
    mode: Literal["replace", "add"] = "replace"
    tags: FormTags = Field(None, description=_TAGS)  # type: ignore[assignment]


class EntryOut(BaseModel):
    id: str
    model_id: str
    camera: str | None
    label: str | None
    timestamp: float | None
    tags: dict[str, str]
    created: float
    updated: float
    count: int
    expires_at: float | None = Field(
        description="when the entry is erased by itself (None: kept until deleted)"
    )
    embedding: list[float] | None = None

    @classmethod
    def of(cls, entry: Entry, include_embedding: bool = False) -> EntryOut:
        return cls(
            id=entry.id,
            model_id=entry.model_id,
            camera=entry.camera,
            label=entry.label,
            timestamp=entry.timestamp,
            tags=dict(entry.tags),
            created=entry.created,
            updated=entry.updated,
            count=entry.count,
            expires_at=entry.expires_at,
            embedding=[float(v) for v in entry.vector] if include_embedding else None,
        )


class MatchItem(BaseModel):
    id: str
    similarity: float
    distance: float
    camera: str | None
    label: str | None
    timestamp: float | None
    tags: dict[str, str]

    @classmethod
    def of(cls, match: Match) -> MatchItem:
        e = match.entry
        return cls(
            id=e.id,
            similarity=round(match.similarity, 6),
            distance=round(match.distance, 6),
            camera=e.camera,
            label=e.label,
            timestamp=e.timestamp,
            tags=dict(e.tags),
        )


class PairResult(BaseModel):
    similarity: float
    distance: float


class MatchResponse(BaseModel):
    model: ModelRef
    matches: list[MatchItem] = Field(default_factory=list)
    pair: PairResult | None = None
    enrolled: EntryOut | None = None
    search: Literal["exact", "approximate"] | None = Field(
        None,
        description="how the gallery was searched: every entry scored, or through the approximate "
        "index (REID_GALLERY_INDEX=ivf), which may miss some of the exact top k",
    )
    frames_received: int | None = None
    frames_used: int | None = None
    seconds: float


class GalleryPage(BaseModel):
    items: list[EntryOut]
    total: int
    offset: int
    limit: int


class Deleted(BaseModel):
    deleted: str


class Cleared(BaseModel):
    model_id: str
    removed: int


class Health(BaseModel):
    """Alive, and what runs: the service's version (the package's) and, once loaded, the model's (its
    file's). The two move apart: a new model file ships without a new service and the reverse."""

    status: Literal["ok"]
    service_version: str
    model_version: str | None = None


class Readiness(BaseModel):
    ready: bool
    model: str | None
    engine: str | None = Field(None, description="onnxruntime or openvino: what runs the model")
    precision: str | None = Field(None, description="fp32, bf16, fp16 or int8: what the engine computes in")
    providers: list[str]
    gallery: str = Field(description="where the gallery is kept: memory (lost at exit) or redis")
    gallery_reachable: bool


class ParityCard(BaseModel):
    checked: bool = Field(description="whether the engine was held to the file's reference embeddings")
    worst_cosine: float | None = Field(description="the lowest cosine to a reference embedding")
    min_cosine: float = Field(description="the lowest the service accepts")
    probe_lengths: list[int] = Field(description="the tracklet lengths probed")


class EngineCard(BaseModel):
    """What runs the model: the engine chosen at start, the precision it computes in, and why."""

    name: str = Field(description="onnxruntime or openvino")
    version: str = Field(description="the engine's own version")
    precision: str = Field(
        description="what the engine computes in (fp32, bf16, fp16, int8); the card's `precision` "
        "is what the file's weights are stored in"
    )
    chosen_because: str
    parity: ParityCard


class ServedLimits(BaseModel):
    max_upload_bytes: int
    max_frames: int
    max_frame_pixels: int
    max_batch: int


class ModelCard(ModelMetadata):
    """The served model's card from its file's metadata (`version` is the model's, `precision` the
    file's weights'), and what serves it: this service's version, the device, the engine."""

    id: str = Field(description="name@version: the tag of every gallery vector this model makes")
    service_version: str = Field(description="the version of this service (the package's)")
    device: str = Field(description="where the model runs: cpu, cuda or an OpenVINO device such as gpu")
    providers: list[str] = Field(
        description="ONNX Runtime's execution providers in use, or OpenVINO's device"
    )
    engine: EngineCard
    limits: ServedLimits


class AuditRecord(BaseModel):
    event_id: str
    time: float
    action: Literal["enroll", "match", "delete", "clear", "expire"]
    actor: str = Field(description="the API key's name, or anonymous@<address> when no keys are set")
    model_id: str
    ids: list[str] = Field(description="gallery ids touched: enrolled, deleted, or returned by a match")
    results: int

    @classmethod
    def of(cls, event: AuditEvent) -> AuditRecord:
        return cls(
            event_id=event.event_id,
            time=event.time,
            action=event.action,
            actor=event.actor,
            model_id=event.model_id,
            ids=list(event.ids),
            results=event.results,
        )


class AuditPage(BaseModel):
    items: list[AuditRecord]
    next: str | None = Field(description="pass as `before` for the next (older) page")


# POST /tracks: its form (a clip, its tracker file, what to do) and its answer.

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
    # footage without a tracker file: the service detects and tracks the people itself
    detect_stride: int | None = Field(
        None,
        ge=1,
        le=10_000,
        description="no tracker file: detect on every n-th frame (default REID_DETECT_STRIDE)",
    )
    detect_confidence: float | None = Field(
        None,
        ge=0,
        le=1,
        description="no tracker file: the detector's minimum confidence (default REID_DETECT_CONFIDENCE)",
    )
    detect_min_width: int | None = Field(
        None, ge=0, le=100_000, description="no tracker file: narrower boxes are dropped, pixels"
    )
    detect_min_height: int | None = Field(
        None, ge=0, le=100_000, description="no tracker file: shorter boxes are dropped, pixels"
    )
    roi: str | None = Field(
        None,
        max_length=100,
        description="no tracker file: region of interest `x1,y1,x2,y2` in pixels, inside the frame; a "
        "person is kept while the middle of their box's bottom edge lies in it",
    )
    tracker_output: bool = Field(
        False,
        description="no tracker file: also answer the MOTChallenge file the service made (`tracker_file`)",
    )


class TracksForm(TracksOptions):
    video: bytes | SkipJsonSchema[None] = Field(None, description="the camera's clip (mp4, avi, mkv, webm)")
    tracks: bytes | SkipJsonSchema[None] = Field(
        None,
        description="the tracker's output for that clip: MOTChallenge CSV or a JSON list of boxes; "
        "without it the service detects and tracks the people itself (docs/tracks.md)",
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


class DetectionInfo(BaseModel):
    """How the service found the people of a clip sent without a tracker file."""

    detector: str
    precision: str
    tracker: str
    stride: int
    confidence: float
    min_width: int
    min_height: int
    roi: list[int] | None
    frames_detected: int
    detections: int = Field(description="boxes the detector kept, tracked or not")
    tracks: int
    seconds: float = Field(description="the detection and tracking pass")


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
    detection: DetectionInfo | None = Field(None, description="without a tracker file: how people were found")
    tracker_file: str | None = Field(
        None, description="with tracker_output: the MOTChallenge file the service made (its own track ids)"
    )
    seconds: float
