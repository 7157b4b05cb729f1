"""Fixtures of the reliability tests: in-thread servers (as in tests/service/api), the service as a
child process (to measure its memory and kill it), and a private Redis (to stop and restart it)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))

from live_server import LiveServer, ServerFactory
from service_process import PrivateRedis, ProcessFactory, ServiceProcess

from service.core.config import Settings


@pytest.fixture
def serve(tiny_model_path: Path) -> Iterator[ServerFactory]:
    """In-thread servers on the tiny model with any setting overridden; all stopped at the end."""
    started: list[LiveServer] = []

    def start(**overrides: object) -> LiveServer:
        values: dict[str, object] = {"model_path": tiny_model_path, "intra_op_threads": 1, "redis_url": None}
        values.update(overrides)
        server = LiveServer(Settings(_env_file=None, **values)).start()  # type: ignore[call-arg]
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def service_process(tiny_model_path: Path, tmp_path: Path) -> Iterator[ProcessFactory]:
    """`python -m service` child processes on the tiny model; all stopped at the end."""
    started: list[ServiceProcess] = []

    def start(**settings: object) -> ServiceProcess:
        values: dict[str, object] = {"model_path": tiny_model_path}
        values.update(settings)
        process = ServiceProcess(tmp_path / "service", **values).start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    try:
        server = PrivateRedis(tmp_path / "redis")
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    yield server.start()
    server.kill()
