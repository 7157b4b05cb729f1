"""ASGI middleware: the body-size cap applied while the body streams in, and request metrics."""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.errors import error_response, service_error_response
from service.core import request_cost
from service.core.budget import MemoryBudget
from service.core.errors import ServiceError, TooLarge
from service.core.metrics import Metrics


class BodyLimit:
    """Refuse a body over `max_bytes`: at once from Content-Length, or as soon as the stream passes it.
    A declared body also reserves its bytes from the process's memory budget before a byte of it is
    read, held until the response is sent: many large uploads at once wait for each other, then get
    503 with Retry-After, instead of together outgrowing the pod's memory.

    The handler is still parsing when the stream passes the limit, so the error is raised from
    `receive` into it and leaves as a 413 through the normal error handlers.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        budget: Callable[[], MemoryBudget | None] = lambda: None,
        upload_limit: int | None = None,
    ) -> None:
        """`budget()`: the process's memory budget, None until the model is loaded (until then no
        request can be served, so there is nothing to reserve for). `upload_limit`: the setting
        (REID_MAX_UPLOAD_BYTES) that `max_bytes` allows for, named in the refusal."""
        self.app = app
        self.max_bytes = max_bytes
        self.budget = budget
        self.refusal = (
            f"request body over {max_bytes} bytes"
            if upload_limit is None
            else f"request body over the upload limit, REID_MAX_UPLOAD_BYTES={upload_limit} bytes "
            f"(and {max_bytes - upload_limit} bytes of multipart framing)"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            response = error_response(413, TooLarge.code, self.refusal)
            await response(scope, receive, send)
            return
        reservation = None
        budget = self.budget()
        nbytes = request_cost.body_bytes(int(declared)) if declared is not None and declared.isdigit() else 0
        if budget is not None and nbytes:
            try:
                reservation = await budget.reserve(nbytes, "this upload")
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
                    raise TooLarge(self.refusal)
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
