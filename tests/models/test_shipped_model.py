"""The models in models/ keep their contract, and the card's figures are what they really do on CUHK03.

The default (the service's `DEFAULT_MODEL`, one Intel network: the mean of two fine-tuned runs) and
1.0.0, the paper's GRU-RCN network, kept so that galleries it filled can still be served and the
recurrence is one setting away. Files of other releases are served from the release that shipped them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from model_export.export.runtime import calibrate_onnx, evaluate_onnx, read_metadata
from model_export.export.verify import open_session, sample_frames, verify

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
MODELS = [
    MODELS_DIR / "osnet-ain-multisite.onnx",
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


@shipped
def test_every_shipped_model_carries_its_thresholds_and_the_card_states_them(model: Path) -> None:
    """match-or-enroll without a threshold reads them: each file its own, never another model's."""
    calibration = read_metadata(model).calibration
    assert calibration is not None and calibration.impostor_pairs > 500_000
    assert [p.false_match_rate for p in calibration.points] == [1e-2, 1e-3, 1e-4]
    card = CARD.read_text()
    meta = read_metadata(model)
    section = card[card.index(f"# `{meta.name}` {meta.version}") :]  # its heading, not a mention
    section = section.split("\n# ", 1)[0]  # this model's card only
    for point in calibration.points:
        assert f"{point.threshold:.4f}" in section and f"{point.true_match_rate:.3f}" in section


@pytest.mark.cuhk03
def test_the_default_models_thresholds_match_a_fresh_calibration(real_data_root: Path) -> None:
    stored = read_metadata(MODELS[0]).calibration
    fresh = calibrate_onnx(MODELS[0], real_data_root)
    assert stored is not None and len(fresh.points) == len(stored.points)
    for old, new in zip(stored.points, fresh.points, strict=True):
        assert new.threshold == pytest.approx(old.threshold, abs=2e-4)
        assert new.true_match_rate == pytest.approx(old.true_match_rate, abs=3e-3)


def test_the_default_is_one_intel_network_the_mean_of_two_fine_tuned_runs() -> None:
    """2.1.0: one network of 2.0.0's member 1's cost (one 256-d unit vector, no ensemble), its
    weights a soup of two runs from Intel 0277, and the licence of weights derived from Apache-2.0 ones."""
    meta = read_metadata(MODELS[0])
    assert meta.name == "osnet-ain-multisite" and meta.version.startswith("2.1.0+")
    assert meta.architecture.startswith("person-reidentification-retail-0277 ")
    assert "the mean of 2 networks fine-tuned here from Intel's person-reidentification-retail-0277" in (
        meta.training_data
    )
    assert "person-reidentification-retail-0277" in meta.license and "Apache-2.0" in meta.license
    got = open_session(MODELS[0]).run(
        [meta.output_name], {meta.input_name: sample_frames(meta, (2, 3), seed=7)}
    )[0]
    assert got.shape == (2, 256)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


@shipped
def test_every_shipped_model_carries_its_parity_probe(model: Path) -> None:
    probe = read_metadata(model).probe
    assert probe is not None and probe.lengths == (1, 5, 16) and "fp32" in probe.computed_with


def _engines_here() -> list[tuple[str, str]]:
    """Every engine and precision this host can run, as `auto` would try them, and the reference."""
    from service.inference.engine import plan
    from service.inference.hardware import detect

    found = [(p.engine, p.precision) for p in plan("auto", "auto", detect(), "fp32")]
    return list(dict.fromkeys([("onnxruntime", "fp32"), *found]))


@pytest.mark.parametrize(("engine", "precision"), _engines_here(), ids=lambda v: str(v))
def test_the_default_passes_the_parity_gate_on_every_engine_this_host_runs(
    engine: str, precision: str
) -> None:
    """The gate the service applies at start, in CI on this machine's engines: a runtime or
    precision that drifts from the file's references fails here before it fails a deployment."""
    from service.inference.session import ModelSession

    session = ModelSession(MODELS[0], engine=engine, precision=precision, intra_op_threads=2)  # type: ignore[arg-type]
    assert (session.engine.name, session.engine.precision) == (engine, precision)
    assert session.parity.checked and session.parity.passed, session.parity.describe()
