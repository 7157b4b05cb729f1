"""The models in models/ keep their contract, and the card's figures are what they really do on CUHK03.

The default (the service's `DEFAULT_MODEL`), the GRU-RCN model of the same release (for tracklets of
real video, one setting away), and the previous release, kept so that a gallery filled by it can
still be served until its people are enrolled again."""

from __future__ import annotations

from pathlib import Path

import pytest

from model_export.export.runtime import evaluate_onnx, read_metadata
from model_export.export.verify import verify

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
MODELS = [
    MODELS_DIR / "osnet-pool-multisite.onnx",
    MODELS_DIR / "grurcn-osnet-multisite.onnx",
    MODELS_DIR / "grurcn-mobilenetv2-cuhk03.onnx",
]
CARD = MODELS_DIR / "README.md"
shipped = pytest.mark.parametrize("model", MODELS, ids=[m.stem for m in MODELS])


def test_the_default_model_is_the_first_shipped() -> None:
    from service.core.config import DEFAULT_MODEL

    assert MODELS[0] == DEFAULT_MODEL


@shipped
def test_shipped_model_verifies(model: Path) -> None:
    report = verify(model)
    assert report.ok, report.table()
    meta = report.metadata
    assert meta is not None and meta.name == model.stem
    assert meta.evaluation is not None and meta.evaluation.dataset == "cuhk03"


@shipped
def test_model_card_states_the_shipped_version_and_figures(model: Path) -> None:
    meta = read_metadata(model)
    assert meta.evaluation is not None
    card = CARD.read_text()
    assert meta.version in card
    assert f"{meta.evaluation.rank1:.3f}" in card and f"{meta.evaluation.mAP:.3f}" in card


@pytest.mark.cuhk03
@shipped
def test_metadata_figures_match_a_fresh_evaluation_on_cuhk03_val(model: Path, cuhk03_root: Path) -> None:
    meta = read_metadata(model)
    assert meta.evaluation is not None
    fresh = evaluate_onnx(model, "cuhk03", cuhk03_root)
    mean = fresh["mean"]
    assert isinstance(mean, dict)
    for key in ("rank1", "rank5", "rank10", "rank20", "mAP"):
        assert mean[key] == pytest.approx(getattr(meta.evaluation, key), abs=2e-3), key
    for direction, figures in meta.evaluation.directions.items():
        measured = fresh[direction]
        assert isinstance(measured, dict)
        assert float(measured["rank1"]) == pytest.approx(figures["rank1"], abs=2e-3)
