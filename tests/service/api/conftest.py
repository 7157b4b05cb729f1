"""Fixtures: services on real HTTP with the tiny test model, stopped at the end of each test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from live_server import LiveServer, ServerFactory

from service.core.config import Settings


@pytest.fixture
def serve(tiny_model_path: Path) -> Iterator[ServerFactory]:
    """Start servers with the tiny test model and any setting overridden; all stopped at the end."""
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
def server(serve: ServerFactory) -> LiveServer:
    return serve()
