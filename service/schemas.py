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
    status: Literal["ok"]


class Readiness(BaseModel):
    ready: bool
    model: str | None
    engine: str | None = Field(None, description="onnxruntime or openvino: what runs the model")
    precision: str | None = Field(None, description="fp32, bf16, fp16 or int8: what the engine computes in")
    providers: list[str]
    gallery: Literal["memory", "redis"]
    gallery_reachable: bool


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
