"""Operating points: which cosine threshold keeps false matches at a chosen rate, and how many true
matches it keeps, measured on cameras the model never saw.

A ranking (CMC, mAP) needs no threshold, but a tracker's match-or-enroll step does: above it a track
takes an enrolled person's id, below it becomes a new person. Where that line lies is a property of
one model's score distribution, so it is measured per file and carried in its metadata
(`reid_contract.Calibration`), never guessed once for all models.

Pairs: every query tracklet against every gallery tracklet of another camera; the same identity is a
genuine pair, another identity an impostor pair. On VIPeR and PRID 2011 (never trained on) that is
832 genuine and about 548,000 impostor pairs: enough for a rate of 1e-4 (about 55 impostors above
the line).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from model_export.data.tracklet import ReIDSplit
from reid_contract import Calibration, OperatingPoint

FALSE_MATCH_RATES = (1e-2, 1e-3, 1e-4)
# thresholds are written rounded up at this step: a rounded threshold must not admit more impostors
STEP = 1e-4


@dataclass(frozen=True)
class Pairs:
    genuine: np.ndarray  # cosine similarities of same-identity, cross-camera pairs
    impostor: np.ndarray  # of different identities, cross-camera

    def __add__(self, other: Pairs) -> Pairs:
        return Pairs(
            np.concatenate([self.genuine, other.genuine]), np.concatenate([self.impostor, other.impostor])
        )


def cross_camera_pairs(split: ReIDSplit, query: np.ndarray, gallery: np.ndarray) -> Pairs:
    """Similarities of every query/gallery pair seen by two different cameras, split by identity."""
    similarity = query @ gallery.T
    q_pids = np.array([t.pid for t in split.query])
    g_pids = np.array([t.pid for t in split.gallery])
    q_cams = np.array([t.camid for t in split.query])
    g_cams = np.array([t.camid for t in split.gallery])
    cross = q_cams[:, None] != g_cams[None, :]
    same = q_pids[:, None] == g_pids[None, :]
    return Pairs(similarity[cross & same].astype(np.float64), similarity[cross & ~same].astype(np.float64))


def measurable(false_match_rate: float, impostor_pairs: int) -> bool:
    """A rate needs at least one impostor pair allowed over its line: 1e-4 needs 10,000 pairs."""
    return math.floor(false_match_rate * impostor_pairs) >= 1


def threshold_for(impostor: np.ndarray, false_match_rate: float) -> float:
    """The lowest threshold (on the STEP grid) at which at most that share of impostor pairs score
    at or above it."""
    if not measurable(false_match_rate, impostor.size):
        raise ValueError(
            f"{impostor.size} impostor pairs cannot measure a false match rate of {false_match_rate:g}"
        )
    allowed = math.floor(false_match_rate * impostor.size)
    ranked = np.sort(impostor)[::-1]
    # strictly above the (allowed + 1)-th highest impostor: at most `allowed` of them remain
    threshold = round(math.floor(ranked[allowed] / STEP) * STEP, 6)
    while threshold < 1.0 and np.count_nonzero(impostor >= threshold) > allowed:
        threshold = round(threshold + STEP, 6)
    return threshold


def operating_points(
    pairs: Pairs, data: str, false_match_rates: Sequence[float] = FALSE_MATCH_RATES
) -> Calibration:
    """The points of every rate the pairs can measure (`measurable`); the others are left out."""
    if pairs.genuine.size == 0:
        raise ValueError("no genuine pairs: the sets hold no identity seen by two cameras")
    rates = [rate for rate in false_match_rates if measurable(rate, pairs.impostor.size)]
    if not rates:
        raise ValueError(
            f"{pairs.impostor.size} impostor pairs measure none of the rates {false_match_rates}"
        )
    points = []
    for rate in rates:
        threshold = threshold_for(pairs.impostor, rate)
        points.append(
            OperatingPoint(
                false_match_rate=rate,
                threshold=threshold,
                true_match_rate=round(float(np.mean(pairs.genuine >= threshold)), 4),
            )
        )
    return Calibration(
        data=data,
        genuine_pairs=int(pairs.genuine.size),
        impostor_pairs=int(pairs.impostor.size),
        points=tuple(points),
    )
