"""Operating points: a threshold keeps false matches at or under its rate, on pairs of two cameras only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from model_export.data.tracklet import ReIDSplit, Tracklet
from model_export.evaluation.operating_points import (
    Pairs,
    cross_camera_pairs,
    operating_points,
    threshold_for,
)


def _split(query: list[tuple[int, int]], gallery: list[tuple[int, int]]) -> ReIDSplit:
    def tracklets(items: list[tuple[int, int]]) -> list[Tracklet]:
        return [
            Tracklet(pid=p, camid=c, frames=(Path(f"{p}_{c}_{i}.jpg"),)) for i, (p, c) in enumerate(items)
        ]

    return ReIDSplit(name="toy", train=[], query=tracklets(query), gallery=tracklets(gallery))


def test_pairs_are_cross_camera_and_split_by_identity() -> None:
    split = _split([(1, 0), (2, 0)], [(1, 1), (2, 1), (3, 1), (1, 0)])
    q = np.eye(4, dtype=np.float32)[:2]
    g = np.array([[0.9, 0.1, 0, 0], [0.2, 0.8, 0, 0], [0.3, 0.3, 0, 0], [1.0, 0, 0, 0]], np.float32)
    pairs = cross_camera_pairs(split, q, g)
    # person 1 seen by camera 0 in the gallery is the same camera as its query: not a pair at all
    assert sorted(pairs.genuine.round(3)) == [0.8, 0.9]
    assert sorted(pairs.impostor.round(3)) == [0.1, 0.2, 0.3, 0.3]


@pytest.mark.parametrize("rate", [0.1, 0.01, 0.001])
def test_a_threshold_admits_at_most_its_rate_of_impostors_and_is_the_lowest_that_does(rate: float) -> None:
    impostor = np.random.default_rng(0).normal(0.2, 0.15, 20_000)
    threshold = threshold_for(impostor, rate)
    assert np.count_nonzero(impostor >= threshold) <= rate * impostor.size
    assert np.count_nonzero(impostor >= threshold - 1e-4) > rate * impostor.size  # one step lower admits more
    assert threshold == round(threshold, 4)  # written on the grid


def test_ties_at_the_line_are_never_admitted_beyond_the_rate() -> None:
    impostor = np.array([0.5] * 50 + [0.1] * 950)
    threshold = threshold_for(impostor, 0.01)  # 10 allowed, 50 tied at 0.5: the line goes above them
    assert threshold == 0.5001 and np.count_nonzero(impostor >= threshold) == 0


def test_too_few_impostors_cannot_measure_a_rate() -> None:
    with pytest.raises(ValueError, match=r"999 impostor pairs cannot measure a false match rate of 0\.0001"):
        threshold_for(np.zeros(999), 1e-4)


def test_calibration_reports_the_true_matches_each_threshold_keeps() -> None:
    rng = np.random.default_rng(1)
    pairs = Pairs(genuine=rng.normal(0.7, 0.1, 1000), impostor=rng.normal(0.2, 0.1, 100_000))
    calibration = operating_points(pairs, "toy", (1e-2, 1e-3))
    strict, loose = calibration.points[1], calibration.points[0]
    assert strict.threshold > loose.threshold and strict.true_match_rate < loose.true_match_rate
    assert loose.true_match_rate == pytest.approx(np.mean(pairs.genuine >= loose.threshold), abs=1e-4)
    assert (calibration.genuine_pairs, calibration.impostor_pairs) == (1000, 100_000)
    assert calibration.threshold_at(1e-3) == strict.threshold
    with pytest.raises(
        KeyError, match=r"no operating point at false match rate 0.05 \(calibrated: 0.01, 0.001\)"
    ):
        calibration.threshold_at(0.05)


def test_rates_the_pairs_cannot_measure_are_left_out() -> None:
    pairs = Pairs(genuine=np.array([0.9, 0.8]), impostor=np.linspace(-0.5, 0.5, 500))
    assert [p.false_match_rate for p in operating_points(pairs, "toy").points] == [1e-2]
    with pytest.raises(ValueError, match="measure none of the rates"):
        operating_points(Pairs(np.array([0.9]), np.zeros(50)), "toy")
