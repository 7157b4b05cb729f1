"""One HTTP call to the service, its outcome mapped to the exit codes a script can act on.

Uploads announce themselves with `Expect: 100-continue` and send their body only once the service
says go on: a refusal that needs no body (a missing key, a body over the limit) then arrives as its
own 401 or 413 instead of a connection reset half way through a 200 MB clip, which would read as
"unreachable". A server or proxy that ignores the header gets the body after a short wait anyway.
"""

from __future__ import annotations

import http.client
import json
import select
import socket
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reid_client.multipart import MultipartBody

EXIT_OK = 0
EXIT_USAGE = 2  # bad flags or files: fix the command (argparse's own code too)
EXIT_REFUSED = 3  # HTTP 4xx: the service refused this request (bad input, key, limit, rate)
EXIT_SERVER = 4  # HTTP 5xx: the service failed or is not ready (model loading, Redis down)
EXIT_UNREACHABLE = 5  # no answer: connection refused, DNS, timeout

NDJSON = "application/x-ndjson"  # a streamed answer: JSON lines of progress, then the result
CONTINUE_WAIT_S = 1.0  # how long to wait for "100 Continue" before sending the body regardless


@dataclass(frozen=True)
class Server:
    url: str  # e.g. http://127.0.0.1:8000
    api_key: str | None
    timeout: float


class CallFailed(Exception):
    """A call that did not succeed: its exit code and a JSON body to print (the service's own error)."""

    def __init__(self, exit_code: int, body: dict[str, Any], status: int | None = None) -> None:
        super().__init__(body.get("error", {}).get("message", "request failed"))
        self.exit_code = exit_code
        self.body = body
        self.status = status


def call(
    server: Server,
    method: str,
    path: str,
    body: MultipartBody | None = None,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """The service's JSON answer; CallFailed for a 4xx, 5xx or no answer at all.

    With `on_progress`, the answer is asked for as a stream of JSON lines (`Accept:
    application/x-ndjson`, POST /tracks): each progress line is given to it as it arrives, and the
    last line's result (or error) is the answer. A service that answers plain JSON is read as usual.
    Interrupted (Ctrl-C), the connection is closed, which cancels the work on the service."""
    url = urllib.parse.urlsplit(server.url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise CallFailed(EXIT_USAGE, _error("bad_url", f"not an http(s) URL: {server.url!r}"))
    kind = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    conn = kind(url.hostname, url.port, timeout=server.timeout)
    accept = NDJSON if on_progress is not None else "application/json"
    try:
        response = _exchange(conn, method, url.path.rstrip("/") + path, server.api_key, body, accept)
        status = response.status
        streamed = response.getheader("Content-Type", "").split(";")[0].strip() == NDJSON
        if on_progress is not None and status == 200 and streamed:
            return _read_stream(response, on_progress, server.url)
        raw = response.read()
    except (OSError, http.client.HTTPException) as err:
        raise CallFailed(
            EXIT_UNREACHABLE, _error("unreachable", f"no answer from {server.url}: {err}")
        ) from None
    finally:
        conn.close()
    payload = _json(raw, status)
    if status >= 500:
        raise CallFailed(EXIT_SERVER, payload, status)
    if status >= 400:
        raise CallFailed(EXIT_REFUSED, payload, status)
    return payload


def _read_stream(
    response: http.client.HTTPResponse, on_progress: Callable[[dict[str, Any]], None], url: str
) -> dict[str, Any]:
    """Progress lines to `on_progress`, then the `result` line's answer; CallFailed for an `error`
    line (with the status and error body a plain request would have got) or a stream cut short."""
    for raw in iter(response.readline, b""):
        if not raw.strip():
            continue
        try:
            event = json.loads(raw)
        except json.JSONDecodeError:
            text = raw[:200].decode("utf-8", "replace")
            raise CallFailed(EXIT_SERVER, _error("bad_stream", f"not a JSON line: {text}")) from None
        kind = event.get("event")
        if kind == "progress":
            on_progress(event)
        elif kind == "result":
            return event["result"]
        elif kind == "error":
            status = int(event.get("status", 500))
            raise CallFailed(EXIT_SERVER if status >= 500 else EXIT_REFUSED, event["error"], status)
    raise CallFailed(EXIT_UNREACHABLE, _error("unreachable", f"{url} closed the answer before its result"))


def _exchange(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    api_key: str | None,
    body: MultipartBody | None,
    accept: str = "application/json",
) -> http.client.HTTPResponse:
    conn.putrequest(method, path or "/", skip_accept_encoding=True)
    conn.putheader("Accept", accept)
    conn.putheader("User-Agent", "reid-client")
    if api_key:
        conn.putheader("Authorization", f"Bearer {api_key}")
    # over TLS the socket cannot be peeked at: the body goes at once
    expect = body is not None and not isinstance(conn, http.client.HTTPSConnection)
    if body is not None:
        conn.putheader("Content-Type", body.content_type)
        conn.putheader("Content-Length", str(body.length))
    if expect:
        conn.putheader("Expect", "100-continue")
    conn.endheaders()
    if body is not None and (not expect or _go_on(conn)):
        try:
            for block in body:
                conn.send(block)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the service stopped reading: its answer, if it sent one, says why
    return conn.getresponse()


def _go_on(conn: http.client.HTTPConnection) -> bool:
    """Whether to send the body: yes after "100 Continue" or no answer yet; no when the service has
    already answered (a refusal), which getresponse() then reads."""
    sock = conn.sock
    assert sock is not None
    ready, _, _ = select.select([sock], [], [], CONTINUE_WAIT_S)
    if not ready:
        return True
    head = sock.recv(12, socket.MSG_PEEK)
    if not head.startswith(b"HTTP/1.1 100") and not head.startswith(b"HTTP/1.0 100"):
        return False
    seen = b""
    while not seen.endswith(b"\r\n\r\n"):  # consume the interim response, one byte at a time (tiny)
        byte = sock.recv(1)
        if not byte:
            return False
        seen += byte
    return True


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def _json(raw: bytes, status: int) -> dict[str, Any]:
    try:
        value = json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        text = raw[:200].decode("utf-8", "replace")
        return _error(f"http_{status}", f"not a JSON answer: {text}")
    return value if isinstance(value, dict) else {"result": value}
