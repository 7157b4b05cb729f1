"""Synthetic footage of two cameras, made once per session (about a second), and the shipped model served."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from footage import Footage, two_cameras

from devtools.harness import LiveServer, ServerFactory
from service.core.config import Settings


@pytest.fixture(scope="session")
def cameras(tmp_path_factory: pytest.TempPathFactory) -> tuple[Footage, Footage]:
    return two_cameras(tmp_path_factory.mktemp("footage"), count=3, frames=36, seed=0)


@pytest.fixture
def serve_shipped() -> Iterator[ServerFactory]:
    """In-thread servers on the shipped model, which tells the synthetic people apart (the tiny random
    test model does not, reliably): the cross-camera test must be able to fail for the right reason."""
    started: list[LiveServer] = []

    def start(**overrides: object) -> LiveServer:
        values: dict[str, object] = {"intra_op_threads": 1, "redis_url": None, "rate_limit_per_minute": 0}
        values.update(overrides)
        server = LiveServer(Settings(_env_file=None, **values)).start()  # type: ignore[call-arg]
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
