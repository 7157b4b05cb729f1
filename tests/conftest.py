"""Shared fixtures: the real CUHK03 folder (skipped where absent) and a synthetic set made once."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from model_export.data.synthetic import make_synthetic
from model_export.data.tracklet import ReIDSplit

REPO = Path(__file__).resolve().parents[1]
CUHK03 = REPO.parent / "shared" / "data" / "cuhk03"

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def cuhk03_root() -> Path:
    if not (CUHK03 / "labeled").is_dir():
        pytest.skip(f"real CUHK03 data not found at {CUHK03}")
    return CUHK03


@pytest.fixture(scope="session")
def synthetic_split(tmp_path_factory: pytest.TempPathFactory) -> ReIDSplit:
    return make_synthetic(
        tmp_path_factory.mktemp("synthetic"), num_ids=80, frames=6, height=64, width=48, seed=3
    )
