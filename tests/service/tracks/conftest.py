"""Synthetic footage of two cameras, made once per session (about a second), and the shipped model served."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from footage import Footage, two_cameras

from devtools.harness import ServerFactory, live_servers


@pytest.fixture(scope="session")
def cameras(tmp_path_factory: pytest.TempPathFactory) -> tuple[Footage, Footage]:
    return two_cameras(tmp_path_factory.mktemp("footage"), count=3, frames=36, seed=0)


@pytest.fixture
def serve_shipped() -> Iterator[ServerFactory]:
    """In-thread servers on the shipped model, which tells the synthetic people apart (the tiny random
    test model does not, reliably): the cross-camera test must be able to fail for the right reason."""
    with live_servers(intra_op_threads=1, redis_url=None, rate_limit_per_minute=0) as start:
        yield start
