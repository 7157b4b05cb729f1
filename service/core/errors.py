"""Every error a client can cause, as one exception type with a status and a machine-readable code.

Handlers turn them into `{"error": {"code", "message"}}`; anything else that escapes is a bug and
answers 500 with the same shape (and is logged with its traceback).
"""

from __future__ import annotations


class ServiceError(Exception):
    status: int = 400
    code: str = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after  # seconds, sent as Retry-After: the condition is temporary
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status


class BadInput(ServiceError):
    """The upload or body cannot be used: empty, not an image, corrupt, wrong shape or size."""

    status, code = 422, "bad_input"


class UnsupportedMedia(ServiceError):
    status, code = 415, "unsupported_media"


class TooLarge(ServiceError):
    """Over a configured limit (bytes, frames, pixels, archive members); checked while streaming."""

    status, code = 413, "too_large"


class NotFound(ServiceError):
    status, code = 404, "not_found"


class Unauthorized(ServiceError):
    status, code = 401, "unauthorized"


class Forbidden(ServiceError):
    status, code = 403, "forbidden"


class Conflict(ServiceError):
    """E.g. a vector of another model version, or a clear without its confirmation."""

    status, code = 409, "conflict"


class StoreUnavailable(ServiceError):
    """The gallery store (Redis or Milvus) cannot be reached; embedding still works. Temporary by
    nature (a store restarting, a network blip): a client is told when to try again."""

    status, code = 503, "gallery_unavailable"
    RETRY_AFTER_S = 2

    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message, retry_after=self.RETRY_AFTER_S if retry_after is None else retry_after)


class Overloaded(ServiceError):
    status, code = 429, "overloaded"


class MemoryBusy(ServiceError):
    """The process's memory budget is held by other requests: retry after Retry-After seconds."""

    status, code = 503, "memory_busy"


class EngineFailed(ServiceError):
    """The engine raised while running one request's batch: that request fails, the service goes on."""

    status, code = 500, "engine_error"


class NotReady(ServiceError):
    status, code = 503, "not_ready"
