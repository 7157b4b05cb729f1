"""The service on a free port of 127.0.0.1, started and stopped for tests, benchmarks and scripts.

`ServiceProcess` runs it as deployed, a child process with REID_* settings (to measure, kill or
restart it); `LiveServer` runs `create_app` under uvicorn in a thread (cheaper, same HTTP path).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import uvicorn

from service.core.config import Settings

REPO = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int | str = "self") -> float | None:
    """Resident set size of a process in MiB, from /proc (Linux); None when it cannot be read."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def drop_namespace(redis_url: str, namespace: str) -> None:
    """Delete every Redis key of a service's namespace (`REID_REDIS_NAMESPACE`) after a run."""
    import redis  # a dependency of the service itself

    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{namespace}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def status_of(port: int, path: str, timeout: float = 2.0) -> int | None:
    """The HTTP status of GET `path`, or None when nothing answers."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError:
        return None
    finally:
        conn.close()


def setting_env(settings: Mapping[str, object]) -> dict[str, str]:
    """`model_path=...` -> `REID_MODEL_PATH=...`: how the service reads its settings."""
    return {f"REID_{name.upper()}": str(value) for name, value in settings.items()}


class ServiceProcess:
    """`python -m service` (or `command`) as a child process, with its log in `workdir`.

    The environment is this process's without any REID_* variable (unless `inherit_settings`), then
    `env`, then `settings` as REID_* variables; the working directory holds no .env file unless
    given one.
    """

    def __init__(
        self,
        settings: Mapping[str, object] | None = None,
        *,
        command: Sequence[str] = ("-m", "service"),
        workdir: Path | None = None,
        ready_path: str = "/readyz",
        inherit_settings: bool = False,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="reid-service-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log = self.workdir / f"service-{self.port}.log"
        self.ready_path = ready_path
        merged = {k: v for k, v in os.environ.items() if inherit_settings or not k.startswith("REID_")}
        merged["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), merged.get("PYTHONPATH")]))
        merged.update(setting_env({"host": HOST, "port": self.port, "log_level": "warning"}))
        merged.update(env or {})
        merged.update(setting_env(settings or {}))
        self.env = {k: v for k, v in merged.items() if v != ""}  # an empty setting is an unset one
        self.args = [sys.executable, *command]
        self.process: subprocess.Popen[bytes] | None = None
        self.alive_seconds = float("nan")  # launch -> /healthz answers (server up, model loading)
        self.ready_seconds = float("nan")  # launch -> `ready_path` answers 200

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout_s: float = 120.0) -> ServiceProcess:
        """Launch it and return once `ready_path` answers 200; raise with the log's tail otherwise."""
        started = time.perf_counter()
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.args, cwd=self.workdir, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the service exited with {self.process.returncode}:\n{self.log_tail()}")
            if self.alive_seconds != self.alive_seconds and status_of(self.port, "/healthz") == 200:
                self.alive_seconds = time.perf_counter() - started
            if status_of(self.port, self.ready_path) == 200:
                self.ready_seconds = time.perf_counter() - started
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"the service was not ready within {timeout_s} s:\n{self.log_tail()}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def rss_mb(self) -> float:
        value = rss_mb(self.pid)
        if value is None:
            raise RuntimeError(f"no VmRSS for process {self.pid}")
        return value

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash or an OOM kill."""
        if self.alive():
            assert self.process is not None
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM (a graceful shutdown), then SIGKILL after `timeout_s`."""
        if not self.alive():
            return
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def client(self, **kwargs: Any) -> Any:
        """An httpx.Client on this service (httpx is a development dependency)."""
        import httpx

        return httpx.Client(base_url=self.url, timeout=60, **kwargs)

    def __enter__(self) -> ServiceProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


ProcessFactory = Callable[..., ServiceProcess]


class LiveServer:
    """`create_app(settings)` under uvicorn in a daemon thread of this process."""

    def __init__(self, settings: Settings) -> None:
        from service.main import create_app

        self.settings = settings
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        config = uvicorn.Config(create_app(settings), host=HOST, port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self, timeout_s: float = 60.0) -> LiveServer:
        """Return once the model serves (`/model` answers); the gallery may still be unreachable."""
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if status_of(self.port, "/model") == 200:
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the service did not become ready in {timeout_s} s")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    def client(self, **kwargs: Any) -> Any:
        """An httpx.Client on this server (httpx is a development dependency)."""
        import httpx

        return httpx.Client(base_url=self.url, timeout=60, **kwargs)


ServerFactory = Callable[..., LiveServer]


@contextlib.contextmanager
def live_servers(**defaults: object) -> Iterator[ServerFactory]:
    """A factory of in-thread servers, each on `defaults` with any setting overridden; every server it
    started is stopped on exit (what the tests' `serve` fixtures yield)."""
    started: list[LiveServer] = []

    def start(**overrides: object) -> LiveServer:
        server = LiveServer(Settings(_env_file=None, **{**defaults, **overrides})).start()  # type: ignore[call-arg]
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()
