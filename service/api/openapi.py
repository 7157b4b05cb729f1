"""OpenAPI pieces for bodies the handlers parse themselves (multipart uploads, or JSON alternatives)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from service.schemas import ErrorBody

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in {
        401: "API key missing or not valid (when keys are configured)",
        403: "the API key's role does not allow this call",
        404: "unknown gallery id",
        409: "vector of another model version, or a clear without its confirmation",
        413: "upload over a limit (bytes, frames, pixels, archive members)",
        415: "not an image, archive or video, or neither multipart nor JSON",
        422: "bad input: empty, corrupt or truncated file, wrong field, wrong embedding size",
        429: "the client's rate limit (code rate_limited, with Retry-After) or the model's queue is full",
        503: "model not ready, or the gallery store (Redis) unreachable",
    }.items()
}

_COMPONENTS: dict[str, Any] = {}
_BINARY = {"type": "string", "format": "binary"}
_TRACKLET = {
    "frames": {"type": "array", "items": _BINARY, "description": "person crops (JPEG/PNG/BMP/WebP)"},
    "archive": {**_BINARY, "description": ".zip, .tar or .tar.gz of frames"},
    "video": {**_BINARY, "description": "short clip (mp4, avi, mkv, webm)"},
}
_OPTIONS = {
    "sampling": {"type": "string", "enum": ["chunks", "all", "uniform"], "default": "chunks"},
    "num_frames": {"type": "integer", "minimum": 1},
    "order": {"type": "string", "enum": ["upload", "name"], "default": "upload"},
}


def _fields(model: type[BaseModel], skip: tuple[str, ...] = ()) -> dict[str, Any]:
    schema = model.model_json_schema()
    props = {k: v for k, v in schema.get("properties", {}).items() if k not in skip}
    for value in props.values():
        value.pop("title", None)
    return props


def request_body(
    form_models: tuple[type[BaseModel], ...] = (),
    json_model: type[BaseModel] | None = None,
    pair: bool = False,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    properties: dict[str, Any] = {**_TRACKLET, **_OPTIONS}
    if pair:
        properties.update({f"other_{k}": v for k, v in _TRACKLET.items()})
    for model in form_models:
        properties.update(_fields(model, skip=("embedding", "other_embedding", "model_id", "enroll")))
    if "tags" in properties:
        properties["tags"] = {
            "type": "string",
            "description": 'JSON object of free tags, e.g. {"zone": "north"}',
        }
    properties.update(extra or {})
    content: dict[str, Any] = {
        "multipart/form-data": {"schema": {"type": "object", "properties": properties}}
    }
    if json_model is not None:
        schema = json_model.model_json_schema(ref_template="#/components/schemas/{model}")
        _COMPONENTS.update(schema.pop("$defs", {}))
        _COMPONENTS[json_model.__name__] = schema
        content["application/json"] = {"schema": {"$ref": f"#/components/schemas/{json_model.__name__}"}}
    return {"requestBody": {"required": True, "content": content}}


def install(app: FastAPI) -> None:
    """Add the JSON bodies referenced above to the app's schema components."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            schema.setdefault("components", {}).setdefault("schemas", {}).update(_COMPONENTS)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
