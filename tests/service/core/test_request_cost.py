"""What each kind of request reserves from the memory budget."""

from __future__ import annotations

from service.core import request_cost


def test_small_bodies_reserve_nothing_and_large_ones_twice_their_size() -> None:
    assert request_cost.body_bytes(request_cost.SMALL_BODY - 1) == 0
    assert request_cost.body_bytes(1 << 20) == 2 << 20


def test_a_tracklet_costs_its_decoded_frames_and_their_copies_at_the_models_input() -> None:
    assert request_cost.tracklet_bytes(1000, 4, 512, (64, 48)) == 1000 + 4 * 64 * 48 * 3
    assert request_cost.tracklet_bytes(0, 0, 512, (64, 48)) == 64 * 48 * 3  # an archive: one at least
    assert request_cost.tracklet_bytes(0, 900, 512, (64, 48)) == 512 * 64 * 48 * 3  # at most max_frames


def test_a_clip_costs_its_crops_and_three_decoded_frames() -> None:
    assert request_cost.clip_bytes(10, (640, 480), (256, 128)) == 10 * 256 * 128 * 3 + 3 * 640 * 480 * 3
