"""Resizing as the training side resized, and frame selection refusing as the client's error (422)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from service.core.errors import BadInput
from service.inference.preprocess import resize_frames, select_frames


def stripes(height: int, width: int) -> np.ndarray:
    """One-pixel black and white columns: aliases badly under a resize that does not antialias."""
    frame = np.zeros((height, width, 3), dtype=np.uint8)
    frame[:, ::2] = 255
    return frame


def test_resize_stacks_mixed_sizes_to_model_input() -> None:
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, shape, dtype=np.uint8) for shape in [(100, 40, 3), (7, 5, 3), (64, 48, 3)]]
    out = resize_frames(frames, 64, 48)
    assert out.shape == (3, 64, 48, 3)
    assert out.dtype == np.uint8
    assert out.flags.c_contiguous
    np.testing.assert_array_equal(out[2], frames[2])  # already the right size: unchanged


def test_resize_stretches_without_padding() -> None:
    frame = np.full((10, 40, 3), 200, dtype=np.uint8)  # very wide; padding would leave black bands
    out = resize_frames([frame], 64, 32)
    assert (out == 200).all()


def test_shrinking_uses_area_and_antialiases() -> None:
    frame = stripes(128, 100)  # a non-integer factor, where bilinear samples land on either colour
    out = resize_frames([frame], 32, 24)[0]
    np.testing.assert_array_equal(out, cv2.resize(frame, (24, 32), interpolation=cv2.INTER_AREA))
    assert abs(float(out.mean()) - 127.5) < 1 and float(out.std()) < 10  # near-even grey, no moiré
    aliased = cv2.resize(frame, (24, 32), interpolation=cv2.INTER_LINEAR)
    assert float(aliased.std()) > 50  # what a plain bilinear shrink would have given


def test_shrinking_one_side_only_still_uses_area() -> None:
    frame = stripes(32, 96)
    out = resize_frames([frame], 32, 24)[0]
    np.testing.assert_array_equal(out, cv2.resize(frame, (24, 32), interpolation=cv2.INTER_AREA))


@pytest.mark.parametrize("shape", [(16, 12, 3), (16, 96, 3)])  # grows in both / grows in height only
def test_growing_uses_bilinear(shape: tuple[int, int, int]) -> None:
    frame = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    out = resize_frames([frame], 32, 24)[0]
    np.testing.assert_array_equal(out, cv2.resize(frame, (24, 32), interpolation=cv2.INTER_LINEAR))


def test_resize_rejects_what_decode_never_returns() -> None:
    with pytest.raises(ValueError, match=r"expected"):
        resize_frames([np.zeros((4, 4), dtype=np.uint8)], 8, 8)
    assert resize_frames([], 8, 8).shape == (0, 8, 8, 3)


@pytest.mark.parametrize("count", [None, 0, -3])
def test_select_uniform_needs_a_positive_count(count: int | None) -> None:
    with pytest.raises(BadInput, match=r"uniform sampling needs"):
        select_frames(10, "uniform", count)


def test_select_refuses_unknown_mode_and_no_frames() -> None:
    with pytest.raises(BadInput, match=r"unknown sampling mode"):
        select_frames(10, "random", None)  # type: ignore[arg-type]
    with pytest.raises(BadInput, match=r"no frames"):
        select_frames(0, "all", None)
