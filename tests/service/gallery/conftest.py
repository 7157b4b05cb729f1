"""Fixtures of the gallery tests: random unit vectors. The stores' shared contract runs on every store
through test_store_contract.py's own `backend` fixture."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest


def unit_vectors(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """(n, dim) float32 rows of unit length, reproducible from `seed`."""
    rows = np.random.default_rng(seed).standard_normal((n, dim))
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture
def units() -> Callable[..., np.ndarray]:
    return unit_vectors
