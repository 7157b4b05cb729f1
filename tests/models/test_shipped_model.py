"""The model in models/ keeps its contract, and its card's figures are what it really does on CUHK03."""

from __future__ import annotations

from pathlib import Path

import pytest

from model_export.export.runtime import evaluate_onnx, read_metadata
from model_export.export.verify import verify

MODEL = Path(__file__).resolve().parents[2] / "models" / "grurcn-mobilenetv2-cuhk03.onnx"
CARD = MODEL.parent / "README.md"


def test_shipped_model_verifies() -> None:
    report = verify(MODEL)
    assert report.ok, report.table()
    meta = report.metadata
    assert meta is not None and meta.name == MODEL.stem
    assert meta.evaluation is not None and meta.evaluation.dataset == "cuhk03"


def test_model_card_states_the_shipped_version_and_figures() -> None:
    meta = read_metadata(MODEL)
    assert meta.evaluation is not None
    card = CARD.read_text()
    assert meta.version in card
    assert f"{meta.evaluation.rank1:.3f}" in card and f"{meta.evaluation.mAP:.3f}" in card


@pytest.mark.cuhk03
def test_metadata_figures_match_a_fresh_evaluation_on_cuhk03_val(cuhk03_root: Path) -> None:
    meta = read_metadata(MODEL)
    assert meta.evaluation is not None
    fresh = evaluate_onnx(MODEL, "cuhk03", cuhk03_root)
    mean = fresh["mean"]
    assert isinstance(mean, dict)
    for key in ("rank1", "rank5", "rank10", "rank20", "mAP"):
        assert mean[key] == pytest.approx(getattr(meta.evaluation, key), abs=2e-3), key
    for direction, figures in meta.evaluation.directions.items():
        measured = fresh[direction]
        assert isinstance(measured, dict)
        assert float(measured["rank1"]) == pytest.approx(figures["rank1"], abs=2e-3)
