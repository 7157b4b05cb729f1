"""ASGI middleware: the body-size cap applied while the body streams in, and request metrics."""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.errors import error_response, service_error_response
from service.core.budget import MemoryBudget
from service.core.errors import ServiceError, TooLarge
from service.core.metrics import Metrics

# A body is held about twice while it is parsed: the bytes received, and the uploads read from them.
BODY_COPIES = 2
# Bodies under this size reserve nothing: JSON calls and small crops cost less than the bookkeeping.
SMALL_BODY = 256 * 1024


class BodyLimit:
    """Refuse a body over `max_bytes`: at once from Content-Length, or as soon as the stream passes it.
    A declared body also reserves its bytes from the process's memory budget before a byte of it is
    read, held until the response is sent: many large uploads at once wait for each other, then get
    503 with Retry-After, instead of together outgrowing the pod's memory.

    The handler is still parsing when the stream passes the limit, so the error is raised from
    `receive` into it and leaves as a 413 through the normal error handlers.
    """

    def __init__(
        self, app: ASGIApp, max_bytes: int, budget: Callable[[], MemoryBudget] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.budget = budget

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            response = error_response(413, TooLarge.code, f"request body over {self.max_bytes} bytes")
            await response(scope, receive, send)
            return
        reservation = None
        if self.budget is not None and declared is not None and declared.isdigit():
            size = int(declared)
            if size >= SMALL_BODY:
                try:
                    reservation = await self.budget().reserve(BODY_COPIES * size, "this upload")
                except ServiceError as exc:
                    await service_error_response(exc)(scope, receive, send)
                    return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise TooLarge(f"request body over {self.max_bytes} bytes")
            return message

        async def sending(message: Message) -> None:
            # given back before the last of the response leaves: a client that has its answer never
            # sees its upload still holding the budget (release is idempotent)
            if (
                reservation is not None
                and message["type"] == "http.response.body"
                and not message.get("more_body")
            ):
                reservation.release()
            await send(message)

        try:
            await self.app(scope, limited, sending if reservation is not None else send)
        finally:
            if reservation is not None:
                reservation.release()


class RequestMetrics:
    """Count and time every request by its route template (never by raw path: ids would explode it)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            method = scope.get("method", "")
            self.metrics.requests.labels(template, method, str(status)).inc()
            self.metrics.latency.labels(template, method).observe(time.perf_counter() - started)
