"""One HTTP call to the service, its outcome mapped to the exit codes a script can act on."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from reid_client.multipart import MultipartBody

EXIT_OK = 0
EXIT_USAGE = 2  # bad flags or files: fix the command (argparse's own code too)
EXIT_REFUSED = 3  # HTTP 4xx: the service refused this request (bad input, key, limit, rate)
EXIT_SERVER = 4  # HTTP 5xx: the service failed or is not ready (model loading, Redis down)
EXIT_UNREACHABLE = 5  # no answer: connection refused, DNS, timeout


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
    headers = {"Accept": "application/json", "User-Agent": "reid-client"}
    if server.api_key:
        headers["Authorization"] = f"Bearer {server.api_key}"
    data = None
    if body is not None:
        headers["Content-Type"] = body.content_type
        headers["Content-Length"] = str(body.length)
        data = body
    request = urllib.request.Request(
        server.url.rstrip("/") + path,
        data=data,  # type: ignore[arg-type]  # an iterable of bytes with Content-Length is streamed
        headers=headers,
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=server.timeout) as response:
            return _json(response.read(), response.status)
    except urllib.error.HTTPError as err:
        payload = _json(err.read(), err.code)
        code = EXIT_REFUSED if 400 <= err.code < 500 else EXIT_SERVER
        raise CallFailed(code, payload, err.code) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
        reason = getattr(err, "reason", err)
        message = f"no answer from {server.url}: {reason}"
        if isinstance(reason, ConnectionError) and body is not None:
            # The service may have answered 413 and closed while the body was still streaming.
            message += " (closed during the upload: is it over the service's REID_MAX_UPLOAD_BYTES?)"
        raise CallFailed(EXIT_UNREACHABLE, {"error": {"code": "unreachable", "message": message}}) from None


def _json(raw: bytes, status: int) -> dict[str, Any]:
    try:
        value = json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        text = raw[:200].decode("utf-8", "replace")
        return {"error": {"code": f"http_{status}", "message": f"not a JSON answer: {text}"}}
    return value if isinstance(value, dict) else {"result": value}
