"""POST /tracks: a camera's clip and its tracker's output (or the clip alone) in, every track embedded,
enrolled or matched.

A request that sends `Accept: application/x-ndjson` is answered as a stream of JSON lines: progress
lines while the clip is worked on (at most two a second), then one `result` line with the answer a
plain request gets, or one `error` line with its status and the error body a plain request would get.
Errors found before the work starts (the key, the options, the limits, a clip that cannot be opened, a
region of interest outside the frame) are plain responses either way. A client that closes the stream
cancels the work: its decoding threads stop at their next frame, its embeddings are cancelled, its
memory is given back and nothing is enrolled (docs/tracks.md, "Progress and cancellation").
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from service.api.deps import Reader, StateDep, authorize
from service.api.errors import ERROR_RESPONSES
from service.api.requests import TracksInputDep, request_body
from service.core.errors import ServiceError
from service.schemas import TracksForm, TracksResponse
from service.usecases import tracks as usecase

router = APIRouter(tags=["tracks"])
log = logging.getLogger("service.errors")

NDJSON = "application/x-ndjson"
PROGRESS_EVERY_S = 0.5  # at most two progress lines a second
QUIET_EVERY_S = 5.0  # a line at least this often, even without news (keeps proxies from timing out)


@router.post(
    "/tracks",
    response_model=TracksResponse,
    responses=ERROR_RESPONSES,
    openapi_extra=request_body(TracksForm),
    summary="Cut every track of a tracker file (or found by the service's detector) out of its clip; "
    "embed, enroll or match each (docs/tracks.md). With `Accept: application/x-ndjson`: progress lines, "
    "then the result, as a stream",
)
async def tracks(request: Request, state: StateDep, caller: Reader, upload: TracksInputDep) -> Any:
    if upload.options.action in usecase.WRITES:  # enroll, match-or-enroll: the write role, before decoding
        caller = authorize(request, state, "write")
    if not wants_stream(request):
        return await usecase.run_tracks(state, caller, upload)
    work = usecase.Work(tracker_file=upload.tracker is not None)
    task = asyncio.create_task(usecase.run_tracks(state, caller, upload, work), name="reid-tracks")
    started = asyncio.create_task(work.started.wait())
    try:
        await asyncio.wait({task, started}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        await _stop(task)
        raise
    finally:
        started.cancel()
    if task.done():  # over before it started: a refusal, answered as a plain request's
        task.result()
    return StreamingResponse(
        _stream(task, work),
        media_type=NDJSON,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def wants_stream(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return any(part.split(";")[0].strip().lower() == NDJSON for part in accept.split(","))


def _line(event: dict[str, Any]) -> bytes:
    return (json.dumps(event, separators=(",", ":")) + "\n").encode()


async def _stream(task: asyncio.Task[TracksResponse], work: usecase.Work) -> AsyncIterator[bytes]:
    """Progress lines until the work ends, then its result or its error. Closed early (the client went
    away: Starlette cancels the stream when it sees the disconnect), it stops the work."""
    try:
        last = work.event()
        last_at = time.monotonic()
        yield _line(last)
        while not task.done():
            await asyncio.wait({task}, timeout=PROGRESS_EVERY_S)
            if task.done():
                break
            event = work.event()
            news = {k: v for k, v in event.items() if k != "seconds_left"} != {
                k: v for k, v in last.items() if k != "seconds_left"
            }
            if news or time.monotonic() - last_at >= QUIET_EVERY_S:
                last, last_at = event, time.monotonic()
                yield _line(event)
        yield _line(_outcome(task))
    finally:
        await _stop(task)


def _outcome(task: asyncio.Task[TracksResponse]) -> dict[str, Any]:
    try:
        result = task.result()
    except ServiceError as exc:
        log.info("POST /tracks (streamed) -> %d %s", exc.status, exc.code)
        body = {"error": {"code": exc.code, "message": exc.message}}
        return {"event": "error", "status": exc.status, "error": body}
    except Exception:
        log.exception("unhandled error on POST /tracks (streamed)")
        body = {"error": {"code": "internal", "message": "internal error; it was logged"}}
        return {"event": "error", "status": 500, "error": body}
    return {"event": "result", "result": result.model_dump(mode="json")}


async def _stop(task: asyncio.Task[TracksResponse]) -> None:
    """Cancel the work if it still runs and wait for it to give back what it holds (shielded: this
    runs while the stream itself is being cancelled)."""
    if task.done():
        return
    task.cancel()
    with anyio.CancelScope(shield=True):
        await asyncio.gather(task, return_exceptions=True)


__all__ = ["NDJSON", "router", "wants_stream"]
