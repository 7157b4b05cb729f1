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
from dataclasses import dataclass
from typing import Any

from reid_client.multipart import MultipartBody

EXIT_OK = 0
EXIT_USAGE = 2  # bad flags or files: fix the command (argparse's own code too)
EXIT_REFUSED = 3  # HTTP 4xx: the service refused this request (bad input, key, limit, rate)
EXIT_SERVER = 4  # HTTP 5xx: the service failed or is not ready (model loading, Redis down)
EXIT_UNREACHABLE = 5  # no answer: connection refused, DNS, timeout

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


def call(server: Server, method: str, path: str, body: MultipartBody | None = None) -> dict[str, Any]:
    """The service's JSON answer; CallFailed for a 4xx, 5xx or no answer at all."""
    url = urllib.parse.urlsplit(server.url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise CallFailed(EXIT_USAGE, _error("bad_url", f"not an http(s) URL: {server.url!r}"))
    kind = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    conn = kind(url.hostname, url.port, timeout=server.timeout)
    try:
        status, raw = _exchange(conn, method, url.path.rstrip("/") + path, server.api_key, body)
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


def _exchange(
    conn: http.client.HTTPConnection, method: str, path: str, api_key: str | None, body: MultipartBody | None
) -> tuple[int, bytes]:
    conn.putrequest(method, path or "/", skip_accept_encoding=True)
    conn.putheader("Accept", "application/json")
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
    response = conn.getresponse()
    return response.status, response.read()


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
