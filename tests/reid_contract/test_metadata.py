"""The metadata schema: what the exporter writes is what the service reads, and a broken file says why."""

from __future__ import annotations

import json

import pytest

from reid_contract import Calibration, ContractError, Evaluation, ModelMetadata, OperatingPoint

SHA = "3f2a9c1e" + "0" * 56


def metadata(**overrides: object) -> ModelMetadata:
    values: dict[str, object] = {
        "name": "grurcn-test",
        "version": f"1.2.3+{SHA[:8]}",
        "weights_sha256": SHA,
        "architecture": "test",
        "height": 160,
        "width": 64,
        "pixel_scale": 1 / 255,
        "mean": (0.485, 0.456, 0.406),
        "std": (0.229, 0.224, 0.225),
        "embedding_dim": 512,
        "frames_per_chunk": 16,
        "training_data": "synthetic",
        "evaluation": Evaluation(
            dataset="cuhk03", protocol="p", rank1=0.7, rank5=0.9, rank10=0.95, rank20=0.98, mAP=0.8
        ),
        "license": "MIT",
        "intended_use": "tests",
        "created": "2026-11-25T00:00:00Z",
        "exporter": "test",
    }
    values.update(overrides)
    return ModelMetadata(**values)  # type: ignore[arg-type]


def test_props_round_trip_and_every_value_is_json() -> None:
    meta = metadata()
    props = meta.to_props()
    assert all(key.startswith("reid.") for key in props)
    assert json.loads(props["reid.height"]) == 160
    assert ModelMetadata.from_props({**props, "other.tool": "x"}) == meta
    assert meta.model_id == f"grurcn-test@1.2.3+{SHA[:8]}"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("reid.height", None, "reid.height: Field required"),
        ("reid.height", "-4", "reid.height"),
        ("reid.std", "[0.2, 0.0, 0.2]", "std must be positive"),
        ("reid.version", '"1.0.0"', "MAJOR.MINOR.PATCH+<weights hash>"),
        ("reid.version", '"1.0.0+deadbeef"', "not the start of reid.weights_sha256"),
        ("reid.input_layout", '"BTCHW"', "reid.input_layout"),
        ("reid.similarity", '"euclidean"', "reid.similarity"),
        ("reid.schema_version", "2", "schema_version 2"),
        ("reid.embedding_dim", "five", "not JSON"),
        ("reid.surprise", "1", "reid.surprise"),
        (
            "reid.calibration",
            '{"data": "d", "genuine_pairs": 1, "impostor_pairs": 9, "points": '
            '[{"false_match_rate": 0.01, "threshold": 1.5, "true_match_rate": 0.5}]}',
            "reid.calibration.points.0.threshold",
        ),
        (
            "reid.calibration",
            '{"data": "d", "genuine_pairs": 1, "impostor_pairs": 9, "points": []}',
            "points",
        ),
    ],
)
def test_a_broken_key_is_named(key: str, value: str | None, message: str) -> None:
    props = metadata().to_props()
    if value is None:
        del props[key]
    else:
        props[key] = value
    with pytest.raises(ContractError, match=message.replace("+", r"\+").replace("[", r"\[")):
        ModelMetadata.from_props(props)


def test_a_file_without_reid_metadata_is_refused() -> None:
    with pytest.raises(ContractError, match="no reid"):
        ModelMetadata.from_props({"producer": "someone else"})


def test_a_calibration_travels_in_the_file_and_an_old_file_has_none() -> None:
    calibration = Calibration(
        data="VIPeR",
        genuine_pairs=632,
        impostor_pairs=398_792,
        points=(OperatingPoint(false_match_rate=1e-3, threshold=0.674, true_match_rate=0.086),),
    )
    meta = metadata(calibration=calibration)
    read = ModelMetadata.from_props(meta.to_props())
    assert read.calibration == calibration and read.calibration.threshold_at(0.001) == 0.674
    props = metadata().to_props()
    del props["reid.calibration"]  # written before calibration existed
    assert ModelMetadata.from_props(props).calibration is None
