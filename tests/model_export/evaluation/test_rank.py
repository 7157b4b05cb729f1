from __future__ import annotations

import numpy as np
import pytest

from model_export.evaluation.rank import evaluate_rank


def test_hand_computed_cmc_and_map() -> None:
    # gallery: g0 pid 1, g1 pid 2, g2 pid 1, g3 pid 3 (all camera 1); queries in camera 0.
    g_pids, g_cams = np.array([1, 2, 1, 3]), np.array([1, 1, 1, 1])
    q_pids, q_cams = np.array([1, 2]), np.array([0, 0])
    dist = np.array(
        [
            [0.5, 0.1, 0.9, 0.3],  # q pid 1: order g1 g3 g0 g2 -> hits at ranks 3 and 4
            [0.2, 0.1, 0.3, 0.4],  # q pid 2: order g1 ... -> hit at rank 1
        ]
    )
    r = evaluate_rank(dist, q_pids, g_pids, q_cams, g_cams, max_rank=4)
    np.testing.assert_allclose(r.cmc, [0.5, 0.5, 1.0, 1.0])
    ap_q0 = (1 / 3 + 2 / 4) / 2
    assert r.mAP == pytest.approx((ap_q0 + 1.0) / 2)
    assert r.rank(1) == 0.5


def test_same_camera_same_identity_is_excluded() -> None:
    g_pids, g_cams = np.array([1, 1, 2]), np.array([0, 1, 1])
    dist = np.array([[0.0, 0.5, 0.3]])  # nearest is the query's own camera: must not count
    r = evaluate_rank(dist, np.array([1]), g_pids, np.array([0]), g_cams, max_rank=3)
    np.testing.assert_allclose(r.cmc, [0.0, 1.0, 1.0])  # order after exclusion: g2 (wrong), g1 (right)
    assert r.mAP == pytest.approx(0.5)


def test_same_identity_other_camera_entries_are_kept_and_other_ids_same_camera_too() -> None:
    g_pids, g_cams = np.array([2, 1]), np.array([0, 1])
    dist = np.array([[0.1, 0.2]])  # g0 is another person in the query's camera: a valid distractor
    r = evaluate_rank(dist, np.array([1]), g_pids, np.array([0]), g_cams, max_rank=2)
    np.testing.assert_allclose(r.cmc, [0.0, 1.0])


def test_ties_are_broken_by_gallery_order() -> None:
    g_pids, g_cams = np.array([5, 1]), np.array([1, 1])
    dist = np.array([[0.3, 0.3]])
    r = evaluate_rank(dist, np.array([1]), g_pids, np.array([0]), g_cams, max_rank=2)
    np.testing.assert_allclose(r.cmc, [0.0, 1.0])  # stable: g0 first, the correct g1 second
    r2 = evaluate_rank(
        dist[:, ::-1].copy(), np.array([1]), g_pids[::-1].copy(), np.array([0]), g_cams, max_rank=2
    )
    np.testing.assert_allclose(r2.cmc, [1.0, 1.0])


def test_query_without_gallery_identity_is_skipped_and_counted() -> None:
    g_pids, g_cams = np.array([1, 2]), np.array([1, 1])
    dist = np.array([[0.1, 0.2], [0.1, 0.2]])
    r = evaluate_rank(dist, np.array([1, 9]), g_pids, np.array([0, 0]), g_cams, max_rank=2)
    assert (r.num_valid_queries, r.num_skipped_queries) == (1, 1)
    np.testing.assert_allclose(r.cmc, [1.0, 1.0])
    assert r.as_dict()["skipped_queries"] == 1


def test_match_beyond_max_rank_counts_as_miss_in_cmc_but_not_in_map() -> None:
    g_pids, g_cams = np.array([2, 3, 1]), np.array([1, 1, 1])
    dist = np.array([[0.1, 0.2, 0.3]])
    r = evaluate_rank(dist, np.array([1]), g_pids, np.array([0]), g_cams, max_rank=2)
    np.testing.assert_allclose(r.cmc, [0.0, 0.0])
    assert r.mAP == pytest.approx(1 / 3)


def test_errors() -> None:
    with pytest.raises(ValueError, match="does not match"):
        evaluate_rank(np.zeros((2, 2)), np.array([1]), np.array([1, 2]), np.array([0]), np.array([1, 1]))
    with pytest.raises(ValueError, match="no query"):
        evaluate_rank(np.zeros((1, 1)), np.array([1]), np.array([2]), np.array([0]), np.array([1]))
