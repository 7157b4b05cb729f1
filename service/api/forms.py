"""Reading a request: a multipart tracklet upload with its form fields, or a JSON body.

All three write-or-compute endpoints take the same upload forms (`frames` repeated, `archive`,
`video`; `other_*` for the second tracklet of a pair), parsed here once with the limits applied:
Starlette's parser is told the file and field counts, the body size was capped by the middleware
while it streamed, and decoding runs off the event loop.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from service.core.errors import BadInput, TooLarge, UnsupportedMedia
from service.media.decode import MediaLimits, Upload, decode_upload

UploadKind = Literal["frames", "archive", "video"]
KINDS: tuple[UploadKind, ...] = ("frames", "archive", "video")
MAX_FIELDS = 64

# Starlette spools an uploaded file over 1 MB to a temporary file on disk. Uploads are personal data
# that must not touch a disk; the body-size middleware bounds the memory, so keep them in memory.
MultiPartParser.spool_max_size = 1 << 62


@dataclass
class ParsedForm:
    files: dict[str, list[Upload]] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)

    def reject_unknown(self, allowed_fields: set[str], prefixes: tuple[str, ...] = ("",)) -> None:
        """A misspelt field is an error, not silently ignored: the client would get a wrong answer."""
        allowed_files = {p + kind for p in prefixes for kind in KINDS}
        for name in self.files:
            if name not in allowed_files:
                raise BadInput(f"unknown file field {name!r}; upload as {', '.join(sorted(allowed_files))}")
        for name in self.fields:
            if name not in allowed_fields:
                raise BadInput(f"unknown form field {name!r}; known: {', '.join(sorted(allowed_fields))}")

    def tracklet(self, prefix: str = "") -> tuple[UploadKind, list[Upload]] | None:
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
        return kind, uploads


def is_json(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip().lower() == "application/json"


async def read_json(request: Request, model: type[BaseModel], max_bytes: int) -> Any:
    body = await request.body()
    if len(body) > max_bytes:
        raise TooLarge(f"JSON body of {len(body)} bytes; the limit is {max_bytes}")
    if not body:
        raise BadInput("empty JSON body")
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise BadInput(describe(exc)) from None


def describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts[:10])


async def read_form(request: Request, limits: MediaLimits) -> ParsedForm:
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        raise UnsupportedMedia(
            "expected multipart/form-data (a tracklet upload) or application/json; "
            f"got {content_type or 'none'}"
        )
    try:
        form = await request.form(max_files=limits.max_frames + 2, max_fields=MAX_FIELDS)
    except (MultiPartException, HTTPException) as exc:
        # Inside an app Starlette re-raises its parser's errors as HTTPException(400, detail=message).
        message = exc.message if isinstance(exc, MultiPartException) else str(exc.detail)
        if message.startswith("Too many") or "exceeded maximum size" in message:
            raise TooLarge(f"multipart body over a limit: {message}") from None
        raise BadInput(f"malformed multipart body: {message}") from None
    parsed = ParsedForm()
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


def validate_fields(model: type[BaseModel], fields: dict[str, str], names: tuple[str, ...]) -> Any:
    """Form fields (strings) -> a pydantic model; `tags` may be given as a JSON object."""
    values: dict[str, Any] = {}
    for name in names:
        if name in fields and fields[name] != "":
            value: Any = fields[name]
            if name == "tags":
                try:
                    value = json.loads(value)
                except json.JSONDecodeError:
                    raise BadInput('tags must be a JSON object, e.g. {"zone": "north"}') from None
            values[name] = value
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise BadInput(describe(exc)) from None


async def decode_tracklet(
    kind: UploadKind, uploads: list[Upload], limits: MediaLimits, order: Literal["upload", "name"]
) -> list[np.ndarray]:
    return await asyncio.to_thread(decode_upload, kind, uploads, limits, order)
