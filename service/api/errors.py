"""Every error leaves the service as `{"error": {"code", "message"}}` with the right status."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from service.core.errors import ServiceError
from service.schemas import ErrorBody

log = logging.getLogger("service.errors")

# What any route may answer besides its success, in the OpenAPI document of every operation.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in {
        401: "API key missing or not valid (when keys are configured)",
        403: "the API key's role does not allow this call",
        404: "unknown gallery id",
        409: "vector of another model version, a clear without its confirmation, or a /tracks id in use",
        413: "upload over a limit (bytes, frames, pixels, archive members)",
        415: "not an image, archive or video, or neither multipart nor JSON",
        422: "bad input: empty, corrupt or truncated file, wrong field, wrong embedding size",
        429: "the client's rate limit (code rate_limited, with Retry-After) or the model's queue is full",
        503: "model not ready, the gallery store (Redis) unreachable, or the memory budget busy "
        "(code memory_busy, with Retry-After)",
    }.items()
}


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def service_error_response(exc: ServiceError) -> JSONResponse:
    """The error's JSON, with Retry-After when the condition is temporary."""
    response = error_response(exc.status, exc.code, exc.message)
    if exc.retry_after is not None:
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


async def _service_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    log.info("%s %s -> %d %s", request.method, request.url.path, exc.status, exc.code)
    return service_error_response(exc)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    parts = []
    for err in exc.errors()[:10]:
        where = ".".join(str(p) for p in err.get("loc", ())) or "request"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return error_response(422, "bad_input", "; ".join(parts))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, f"http_{exc.status_code}")
    return error_response(exc.status_code, code, str(exc.detail))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal", "internal error; it was logged")


def install(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
