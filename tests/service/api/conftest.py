"""Fixtures: services on real HTTP with the tiny test model, stopped at the end of each test."""

from __future__ import annotations

import pytest

from devtools.harness import LiveServer, ServerFactory


@pytest.fixture
def server(serve: ServerFactory) -> LiveServer:
    return serve()
