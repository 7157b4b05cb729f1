"""Shared fixtures: the real CUHK03 and PETA folders (skipped where absent) and a synthetic set made once."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from model_export.data.synthetic import make_synthetic
from model_export.data.tracklet import ReIDSplit

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
CUHK03 = DATA / "cuhk03"

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def cuhk03_root() -> Path:
    if not (CUHK03 / "labeled").is_dir():
        pytest.skip(f"real CUHK03 data not found at {CUHK03}")
    return CUHK03


@pytest.fixture(scope="session")
def real_data_root() -> Path:
    """The real data folder with VIPeR and PRID (PETA): cameras no shipped model was trained on."""
    if not all((DATA / "peta" / name).is_dir() for name in ("VIPeR", "PRID")):
        pytest.skip(f"real VIPeR and PRID data not found under {DATA / 'peta'}")
    return DATA


@pytest.fixture(scope="session")
def synthetic_split(tmp_path_factory: pytest.TempPathFactory) -> ReIDSplit:
    return make_synthetic(
        tmp_path_factory.mktemp("synthetic"), num_ids=80, frames=6, height=64, width=48, seed=3
    )
