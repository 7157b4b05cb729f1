"""The request layer: an upload or a JSON body read once, within the limits, into a use case's input.

Everything here runs before any decoding: a request with a wrong field, option or key is refused
before its frames cost any CPU. Field names and the OpenAPI description both come from schemas.py.
"""

from __future__ import annotations

import json
import types
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

import numpy as np
from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import FormParser, MultiPartException, MultiPartParser

from reid_contract import Calibration, ModelMetadata
from service.api.deps import StateDep
from service.core.config import Settings
from service.core.errors import BadInput, Conflict, TooLarge, UnsupportedMedia
from service.detection.detector import DetectOptions
from service.detection.pipeline import FootageOptions
from service.detection.pipeline import check_options as check_footage_options
from service.gallery.base import SearchFilters
from service.media.decode import MediaLimits, Upload
from service.schemas import (
    EnrollForm,
    EnrollJSON,
    EnrollOptions,
    MatchFilters,
    MatchForm,
    MatchJSON,
    ThresholdSource,
    TrackletForm,
    TrackletOptions,
    TracksForm,
    TracksOptions,
)
from service.tracks.associate import check_template
from service.usecases.embed import KINDS, Probe, TrackletUpload
from service.usecases.gallery import EnrollInput
from service.usecases.match import MatchQuery
from service.usecases.tracks import WRITES, TracksInput

M = TypeVar("M", bound=BaseModel)
MAX_FIELDS = 64


class InMemoryMultiPartParser(MultiPartParser):
    """Starlette's parser, keeping every file in memory: uploads are personal data that must not
    touch a disk (Starlette spools a file over 1 MB to one); the body-size middleware bounds them."""

    spool_max_size = 1 << 62


def _is_file(annotation: Any) -> bool:
    """Whether a form model's field is a file (bytes, a list of bytes, or bytes | None)."""
    if annotation is bytes:
        return True
    if get_origin(annotation) in (list, Union, types.UnionType):
        return bytes in get_args(annotation)
    return False


def _form_fields(form: type[BaseModel]) -> tuple[set[str], set[str]]:
    """The file fields and the text fields of a multipart form model."""
    files = {name for name, f in form.model_fields.items() if _is_file(f.annotation)}
    return files, set(form.model_fields) - files


@dataclass
class UploadForm:
    """A multipart body as read: its files (by field, in upload order) and its text fields."""

    files: dict[str, list[Upload]] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)

    def reject_unknown(self, form: type[BaseModel]) -> None:
        """A misspelt field is an error, not silently ignored: the client would get a wrong answer."""
        allowed_files, allowed_fields = _form_fields(form)
        for name in self.files:
            if name not in allowed_files:
                raise BadInput(f"unknown file field {name!r}; upload as {', '.join(sorted(allowed_files))}")
        for name in self.fields:
            if name not in allowed_fields:
                raise BadInput(f"unknown form field {name!r}; known: {', '.join(sorted(allowed_fields))}")

    def parse(self, model: type[M]) -> M:
        """The model's fields from the form's strings (empty ones unset); `tags` is a JSON object."""
        values: dict[str, Any] = {}
        for name in model.model_fields:
            if self.fields.get(name, "") == "":
                continue
            value: Any = self.fields[name]
            if name == "tags":
                try:
                    value = json.loads(value)
                except json.JSONDecodeError:
                    raise BadInput('tags must be a JSON object, e.g. {"zone": "north"}') from None
            values[name] = value
        try:
            return model.model_validate(values)
        except ValidationError as exc:
            raise BadInput(describe(exc, model)) from None

    def tracklet(self, options: TrackletOptions, prefix: str = "") -> TrackletUpload | None:
        """The one upload form used under `prefix` (None when there is none)."""
        given = [(kind, self.files[prefix + kind]) for kind in KINDS if self.files.get(prefix + kind)]
        if len(given) > 1:
            names = ", ".join(prefix + kind for kind, _ in given)
            raise BadInput(f"give one of {prefix}frames, {prefix}archive, {prefix}video; got {names}")
        if not given:
            return None
        kind, uploads = given[0]
        if kind != "frames" and len(uploads) > 1:
            raise BadInput(f"{prefix}{kind} takes one file; got {len(uploads)}")
        return TrackletUpload(kind, uploads, options)

    def require_tracklet(self, options: TrackletOptions, missing: str, prefix: str = "") -> TrackletUpload:
        tracklet = self.tracklet(options, prefix)
        if tracklet is None:
            raise BadInput(missing)
        return tracklet


def describe(exc: ValidationError, model: type[BaseModel] | None = None) -> str:
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in err["loc"]) or "body"
        message = err["msg"]
        # a missing choice (e.g. /tracks' action) says which values it takes, as a wrong one does
        annotation = model.model_fields[where].annotation if model and where in model.model_fields else None
        if err["type"] == "missing" and get_origin(annotation) is Literal:
            message += f"; one of {', '.join(map(str, get_args(annotation)))}"
        parts.append(f"{where}: {message}")
    return "; ".join(parts[:10])


def is_json(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip().lower() == "application/json"


async def read_json(request: Request, model: type[M], max_bytes: int) -> M:
    body = await request.body()
    if len(body) > max_bytes:
        raise TooLarge(f"JSON body of {len(body)} bytes; the limit is {max_bytes}")
    if not body:
        raise BadInput("empty JSON body")
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise BadInput(describe(exc, model)) from None


async def read_form(request: Request, limits: MediaLimits) -> UploadForm:
    """The multipart (or urlencoded) body, its files counted against `limits` as they are read."""
    content_type = request.headers.get("content-type", "")
    kind = content_type.lower()
    if not kind.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        raise UnsupportedMedia(
            "expected multipart/form-data (a tracklet upload) or application/json; "
            f"got {content_type or 'none'}"
        )
    form: FormData
    try:
        async with aclosing(request.stream()) as stream:
            if kind.startswith("multipart/form-data"):
                parser = InMemoryMultiPartParser(
                    request.headers, stream, max_files=limits.max_frames + 2, max_fields=MAX_FIELDS
                )
                form = await parser.parse()
            else:
                form = await FormParser(request.headers, stream, max_fields=MAX_FIELDS).parse()
    except MultiPartException as exc:
        if exc.message.startswith("Too many") or "exceeded maximum size" in exc.message:
            raise TooLarge(f"multipart body over a limit: {exc.message}") from None
        raise BadInput(f"malformed multipart body: {exc.message}") from None
    parsed = UploadForm()
    total = 0
    try:
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                data = await value.read()
                total += len(data)
                if total > limits.max_bytes:
                    raise TooLarge(f"uploads exceed {limits.max_bytes} bytes")
                parsed.files.setdefault(name, []).append(Upload(filename=value.filename or "", data=data))
            else:
                parsed.fields[name] = value
    finally:
        await form.close()
    return parsed


def check_vector(values: list[float], meta: ModelMetadata, what: str = "embedding") -> np.ndarray:
    """An embedding sent as JSON, as float32, refused when the served model could not have made it."""
    if len(values) != meta.embedding_dim:
        raise BadInput(f"{what} has {len(values)} values; model {meta.model_id} makes {meta.embedding_dim}")
    vector = np.asarray(values, dtype=np.float32)
    norm = float(np.linalg.norm(vector))
    if not np.isfinite(norm) or norm == 0.0:
        raise BadInput(f"{what} has no direction (zero, NaN or infinite)")
    return vector


def check_model_id(given: str | None, meta: ModelMetadata) -> None:
    """A vector made by another model is not comparable: refuse it rather than return nonsense."""
    if given is not None and given != meta.model_id:
        raise Conflict(
            f"embedding made by model {given!r}; this service runs {meta.model_id!r} and never compares "
            "vectors of two models: re-embed the tracklet with this model",
            code="model_mismatch",
        )


def request_body(form: type[BaseModel], json_model: type[BaseModel] | None = None) -> dict[str, Any]:
    """`openapi_extra` of a route whose body this module reads: the multipart form and, where the
    route takes one, the JSON body, described by their models (FastAPI cannot see past a Request)."""
    multipart = _inline(form.model_json_schema())
    # unknown fields are refused all the same (422); said in the schema, it trips schemathesis
    multipart.pop("additionalProperties", None)
    content = {"multipart/form-data": {"schema": multipart}}
    if json_model is not None:
        content["application/json"] = {"schema": _inline(json_model.model_json_schema())}
    return {"requestBody": {"required": True, "content": content}}


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with its `$defs` references replaced by what they name, and no null defaults
    (an absent form field is what None means): a schema that stands alone in an operation."""
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {k: resolve(v) for k, v in node.items() if not (k == "default" and v is None)}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return resolve(schema)


# ------------------------------------------------------------------------------------- dependencies


async def tracklet_upload(request: Request, state: StateDep) -> TrackletUpload:
    """POST /embed: one tracklet and its options (TrackletForm)."""
    state.serving()
    form = await read_form(request, state.limits)
    form.reject_unknown(TrackletForm)
    options = form.parse(TrackletOptions)
    return form.require_tracklet(
        options, "upload a tracklet as `frames` (one or more images), `archive` (.zip/.tar) or `video`"
    )


async def enroll_input(request: Request, state: StateDep) -> EnrollInput:
    """POST /gallery: a tracklet (EnrollForm) or an embedding (EnrollJSON), and the entry's fields."""
    meta = state.meta
    if is_json(request):
        body = await read_json(request, EnrollJSON, state.settings.max_json_bytes)
        check_model_id(body.model_id, meta)
        vector = check_vector(body.embedding, meta)
        options = EnrollOptions.model_validate(body.model_dump(include=set(EnrollOptions.model_fields)))
        return EnrollInput(vector, options)
    form = await read_form(request, state.limits)
    form.reject_unknown(EnrollForm)
    options = form.parse(EnrollOptions)
    tracklet = form.require_tracklet(
        form.parse(TrackletOptions),
        "upload the tracklet to enroll as frames, archive or video (or send JSON with `embedding`)",
    )
    return EnrollInput(tracklet, options)


async def match_query(request: Request, state: StateDep) -> MatchQuery:
    """POST /match: a query tracklet (MatchForm) or embedding (MatchJSON), with its filters, an
    optional second tracklet or embedding (pair mode) and an optional enrolment."""
    meta = state.meta
    other: Probe | None = None
    if is_json(request):
        body = await read_json(request, MatchJSON, state.settings.max_json_bytes)
        check_model_id(body.model_id, meta)
        query: Probe = check_vector(body.embedding, meta)
        if body.other_embedding is not None:
            other = check_vector(body.other_embedding, meta, "other_embedding")
        filters: MatchFilters = body
        enroll = body.enroll
    else:
        form = await read_form(request, state.limits)
        form.reject_unknown(MatchForm)
        filters = form.parse(MatchFilters)
        options = form.parse(TrackletOptions)
        enroll = None
        if form.fields.get("enroll", "").lower() in ("1", "true", "yes", "on"):
            enroll = form.parse(EnrollOptions)
        elif any(name in form.fields for name in ("id", "mode")):
            raise BadInput("`id` and `mode` are enrolment fields: set enroll=true to enroll the query")
        query = form.require_tracklet(options, "upload the query tracklet as frames, archive or video")
        other = form.tracklet(options, "other_")
    if other is not None and enroll is not None:
        raise BadInput("enroll works with gallery matching, not with a pair")
    return MatchQuery(query, other, _top_k(filters, state.settings), _search_filters(filters), enroll)


def _top_k(filters: MatchFilters, settings: Settings) -> int:
    top_k = filters.top_k or settings.default_top_k
    if top_k > settings.max_top_k:
        raise BadInput(f"top_k is at most {settings.max_top_k}")
    return top_k


def _search_filters(filters: MatchFilters) -> SearchFilters:
    if filters.time_from is not None and filters.time_to is not None and filters.time_from > filters.time_to:
        raise BadInput("time_from is after time_to")
    return SearchFilters(
        exclude_camera=filters.exclude_camera,
        label=filters.filter_label,
        time_from=filters.time_from,
        time_to=filters.time_to,
        min_similarity=filters.threshold,
    )


async def tracks_input(request: Request, state: StateDep) -> TracksInput:
    """POST /tracks: a clip, its tracker file (or none: the service finds the people), and what to do
    with the tracks (TracksForm)."""
    runtime = state.serving()
    form = await read_form(request, state.limits)
    form.reject_unknown(TracksForm)
    options = form.parse(TracksOptions)
    videos, trackers = form.files.get("video", []), form.files.get("tracks", [])
    if len(videos) != 1:
        raise BadInput(f"upload the camera's clip as one `video` file; got {len(videos)}")
    if len(trackers) > 1:
        raise BadInput(
            f"upload the tracker's output (MOT CSV or JSON) as one `tracks` file; got {len(trackers)}"
        )
    options, threshold_from = resolve_threshold(
        options, state.meta.calibration, state.settings.match_false_match_rate
    )
    check_tracks_options(options, state.settings.max_top_k)
    if trackers:
        given = [name for name in DETECTION_FIELDS if name in form.fields and form.fields[name] != ""]
        if given:
            raise BadInput(
                f"{', '.join(given)}: options of footage without a tracker file; this request sends one "
                "(`tracks`)"
            )
        return TracksInput(videos[0], trackers[0], options, threshold_from)
    if runtime.detector is None:
        raise BadInput(
            "no tracker file (`tracks`) and this service has no person detector (REID_DETECTOR_PATH is "
            "empty): upload the tracker's output (MOT CSV or JSON) as `tracks`"
        )
    return TracksInput(videos[0], None, options, threshold_from, footage_options(options, state.settings))


# The form fields that only footage without a tracker file takes.
DETECTION_FIELDS = (
    "detect_stride",
    "detect_confidence",
    "detect_min_width",
    "detect_min_height",
    "roi",
    "tracker_output",
)


def footage_options(options: TracksOptions, settings: Settings) -> FootageOptions:
    """How to find the people of a clip sent alone: the request's options, else the REID_DETECT_*
    settings; BadInput for a region of interest that is not `x1,y1,x2,y2` (one outside the frame is
    refused once the video is open, its size known)."""

    def pick(value: Any, default: Any) -> Any:
        return default if value is None else value

    footage = FootageOptions(
        stride=pick(options.detect_stride, settings.detect_stride),
        detect=DetectOptions(
            confidence=pick(options.detect_confidence, settings.detect_confidence),
            min_width=pick(options.detect_min_width, settings.detect_min_width),
            min_height=pick(options.detect_min_height, settings.detect_min_height),
            roi=parse_roi(options.roi) if options.roi is not None else None,
        ),
    )
    check_footage_options(footage)
    return footage


def parse_roi(text: str) -> tuple[int, int, int, int]:
    parts = [part.strip() for part in text.split(",")]
    if len(parts) != 4 or not all(part.isdigit() for part in parts):
        raise BadInput(
            f"roi {text!r}: expected x1,y1,x2,y2, four whole pixel coordinates, e.g. 0,200,768,576"
        )
    x1, y1, x2, y2 = (int(part) for part in parts)
    return x1, y1, x2, y2


def resolve_threshold(
    options: TracksOptions, calibration: Calibration | None, false_match_rate: float
) -> tuple[TracksOptions, ThresholdSource | None]:
    """match-or-enroll's threshold: the request's, or else the one the model file was calibrated
    to at `false_match_rate` on cameras it never saw. A cosine means something else for every
    model, so there is no threshold to fall back on when the file carries none."""
    if options.action not in ("match", "match-or-enroll"):
        return options, None  # nothing is decided by a similarity: no threshold to report
    if options.threshold is not None:
        return options, "request"
    if options.action == "match":
        return options, None  # match ranks; a threshold there is only a filter the caller may give
    if calibration is None:
        raise BadInput(
            "match-or-enroll needs a threshold (the minimum cosine similarity of a match): "
            "this model's file carries no calibrated one"
        )
    try:
        threshold = calibration.threshold_at(false_match_rate)
    except KeyError as exc:
        raise BadInput(f"give a threshold: {exc.args[0]}") from None
    return options.model_copy(update={"threshold": threshold}), "model"


def check_tracks_options(options: TracksOptions, max_top_k: int) -> None:
    """Everything about the options that can be refused before the clip is decoded."""
    if options.action == "match-or-enroll" and options.threshold is None:
        raise BadInput("match-or-enroll needs a threshold (the minimum cosine similarity of a match)")
    if options.action in WRITES:
        check_template(options.id_template)
    elif options.mot_output:
        raise BadInput("mot_output needs gallery ids: action enroll or match-or-enroll")
    if options.top_k is not None and options.top_k > max_top_k:
        raise BadInput(f"top_k is at most {max_top_k}")


TrackletUploadDep = Annotated[TrackletUpload, Depends(tracklet_upload)]
TracksInputDep = Annotated[TracksInput, Depends(tracks_input)]
EnrollInputDep = Annotated[EnrollInput, Depends(enroll_input)]
MatchQueryDep = Annotated[MatchQuery, Depends(match_query)]
