"""Resizing, frame selection, chunking and combining: what must match the training side's evaluation."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from service.core.errors import BadInput
from service.inference.preprocess import chunk_indices, combine, resize_frames, select_frames


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


def test_select_all_and_chunks_take_every_frame() -> None:
    assert select_frames(5, "all", None) == [0, 1, 2, 3, 4]
    assert select_frames(5, "chunks", 2) == [0, 1, 2, 3, 4]


def test_select_uniform_spreads_from_first_to_last() -> None:
    assert select_frames(100, "uniform", 10) == [0, 11, 22, 33, 44, 55, 66, 77, 88, 99]
    assert select_frames(5, "uniform", 3) == [0, 2, 4]
    assert select_frames(5, "uniform", 1) == [0]


@pytest.mark.parametrize("num_frames", [1, 2, 3, 7, 16, 17, 40, 101])
def test_select_uniform_is_sorted_unique_and_keeps_ends(num_frames: int) -> None:
    for count in range(1, num_frames + 5):
        picked = select_frames(num_frames, "uniform", count)
        assert len(picked) == min(count, num_frames)
        assert picked == sorted(set(picked))
        assert picked[0] == 0
        if count >= 2:
            assert picked[-1] == num_frames - 1
        steps = np.diff(picked)
        assert steps.size == 0 or steps.max() - steps.min() <= 1  # evenly spread


@pytest.mark.parametrize("count", [None, 0, -3])
def test_select_uniform_needs_a_positive_count(count: int | None) -> None:
    with pytest.raises(BadInput, match=r"uniform sampling needs"):
        select_frames(10, "uniform", count)


def test_select_refuses_unknown_mode_and_no_frames() -> None:
    with pytest.raises(BadInput, match=r"unknown sampling mode"):
        select_frames(10, "random", None)  # type: ignore[arg-type]
    with pytest.raises(BadInput, match=r"no frames"):
        select_frames(0, "all", None)


def span(start: int, stop: int) -> list[int]:
    return list(range(start, stop))


@pytest.mark.parametrize(
    ("num_frames", "expected"),
    [
        (1, [span(0, 1)]),
        (15, [span(0, 15)]),
        (16, [span(0, 16)]),
        (17, [span(0, 17)]),  # a tail of 1 joins the chunk before it
        (23, [span(0, 23)]),  # a tail of 7 < 16 // 2 joins too
        (24, [span(0, 16), span(16, 24)]),  # a tail of 8 is a chunk of its own
        (40, [span(0, 16), span(16, 32), span(32, 40)]),
        (0, []),
    ],
)
def test_chunk_indices_with_chunk_16(num_frames: int, expected: list[list[int]]) -> None:
    assert chunk_indices(num_frames, 16) == expected


def test_chunk_indices_cover_every_frame_once() -> None:
    for chunk in range(1, 20):
        for n in range(1, 70):
            parts = chunk_indices(n, chunk)
            assert [i for part in parts for i in part] == list(range(n))
            assert all(len(p) < chunk + max(chunk // 2, 1) for p in parts)


def test_chunk_indices_match_the_training_side() -> None:
    """The service re-implements the evaluation's chunking; the two must never drift apart."""
    sampling = pytest.importorskip("model_export.data.sampling")
    for chunk in (1, 2, 3, 5, 8, 15, 16, 17, 32):
        for n in range(1, 100):  # n = 0 raises there; here it is no chunks
            assert chunk_indices(n, chunk) == sampling.chunk_indices(n, chunk), (n, chunk)


def test_chunk_indices_refuses_empty_chunks() -> None:
    with pytest.raises(ValueError, match=r"chunk"):
        chunk_indices(10, 0)


def test_combine_weights_chunks_by_length() -> None:
    embeddings = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    out = combine(embeddings, [3, 1])
    assert out.dtype == np.float32
    assert out.shape == (2,)
    np.testing.assert_allclose(out, np.array([3.0, 1.0]) / np.sqrt(10.0), rtol=1e-6)
    np.testing.assert_allclose(combine(embeddings, [1, 3]), np.array([1.0, 3.0]) / np.sqrt(10.0), rtol=1e-6)


def test_combine_matches_a_plain_mean_for_equal_lengths_and_is_unit_norm() -> None:
    rng = np.random.default_rng(2)
    embeddings = rng.normal(size=(4, 64)).astype(np.float32)
    out = combine(embeddings, [16, 16, 16, 16])
    mean = embeddings.mean(axis=0)
    np.testing.assert_allclose(out, mean / np.linalg.norm(mean), rtol=1e-5, atol=1e-6)
    assert abs(float(np.linalg.norm(out)) - 1.0) < 1e-6


def test_combine_of_one_chunk_is_that_chunk_normalised() -> None:
    out = combine(np.array([[3.0, 4.0]]), [23])
    np.testing.assert_allclose(out, [0.6, 0.8], rtol=1e-6)


def test_combine_refuses_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match=r"chunk lengths"):
        combine(np.ones((2, 4), dtype=np.float32), [16])
    with pytest.raises(ValueError, match=r"positive"):
        combine(np.ones((2, 4), dtype=np.float32), [16, 0])
