"""A minimal HTTP/1.1 load generator on asyncio streams, and the service it loads as a child process.

The load generator shares the machine with the service, so it must cost next to nothing: request
bodies are built once as bytes, each client keeps one connection alive, and responses are only read
(status and Content-Length), never parsed, while the clock runs.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from devtools.harness import ServiceProcess


def multipart(files: list[bytes], field_name: str = "frames") -> tuple[bytes, str]:
    """A multipart/form-data body of JPEG files, and its Content-Type."""
    boundary = uuid.uuid4().hex
    parts = []
    for i, data in enumerate(files):
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field_name}"; '
            f'filename="f{i:03d}.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n".encode()
            + data
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def request_bytes(method: str, path: str, body: bytes, content_type: str) -> bytes:
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    return status, await reader.readexactly(length)


@dataclass
class LoadResult:
    latencies: list[float] = field(default_factory=list)
    errors: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0


async def closed_loop(
    port: int, requests: list[bytes], clients: int, warmup_s: float, measure_s: float
) -> LoadResult:
    """`clients` connections, each sending its next request as soon as the previous one answered;
    latencies of the requests that started and ended inside the measuring window."""
    result = LoadResult()
    loop = asyncio.get_running_loop()
    start = loop.time() + warmup_s
    stop = start + measure_s

    async def client(index: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = index
        try:
            while (now := loop.time()) < stop:
                writer.write(requests[i % len(requests)])
                i += clients
                status, _ = await read_response(reader)
                end = loop.time()
                if now >= start and end <= stop:
                    if status == 200:
                        result.latencies.append(end - now)
                    else:
                        result.errors[status] = result.errors.get(status, 0) + 1
        finally:
            writer.close()

    await asyncio.gather(*(client(i) for i in range(clients)))
    result.seconds = measure_s
    return result


def get_json(port: int, path: str, method: str = "GET", body: Any = None, timeout: float = 600) -> Any:
    """One request with the standard library (setup and control calls, outside any timing)."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = None if body is None else json.dumps(body).encode()
        headers = {} if body is None else {"Content-Type": "application/json"}
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        if response.status != 200:
            raise RuntimeError(f"{method} {path}: {response.status} {payload[:300]!r}")
        return json.loads(payload)
    finally:
        conn.close()


def service_process(
    env: dict[str, str] | None = None,
    *,
    profile: bool = False,
    extra_args: tuple[str, ...] = (),
    module: str = "benchmarks._bench_server",
) -> ServiceProcess:
    """The service (by default with the benchmark routes of `_bench_server`) as the harness starts it,
    on the CPU, with the in-process gallery and the rate limits off (the load generator is one address
    sending thousands of requests a minute); `env` (REID_* variables) overrides."""
    command = ["-m", module]
    if module == "benchmarks._bench_server":
        command += (["--profile"] if profile else []) + list(extra_args)
    settings = {
        "REID_REDIS_URL": "",
        "REID_RATE_LIMIT_PER_MINUTE": "0",
        "REID_PROVIDERS": '["CPUExecutionProvider"]',
        **(env or {}),
    }
    return ServiceProcess(command=command, inherit_settings=True, env=settings)
