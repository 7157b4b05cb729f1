"""Synthetic footage of two cameras, rendered once per session (about a second)."""

from __future__ import annotations

import pytest
from footage import Footage, two_cameras


@pytest.fixture(scope="session")
def cameras(tmp_path_factory: pytest.TempPathFactory) -> tuple[Footage, Footage]:
    return two_cameras(tmp_path_factory.mktemp("footage"), count=3, frames=36, seed=0)
