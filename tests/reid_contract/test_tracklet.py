"""A tracklet's frames to one embedding, as the evaluation scored the model and the service serves it:
frame selection, chunking and the length-weighted combination of the chunks."""

from __future__ import annotations

import numpy as np
import pytest

from reid_contract import chunk_indices, combine, select_frames


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


@pytest.mark.parametrize(
    ("n", "chunk", "expected"),
    [
        (5, 16, [5]),
        (32, 16, [16, 16]),
        (35, 16, [16, 19]),  # short tail merged
        (44, 16, [16, 16, 12]),  # long enough tail kept
        (1, 4, [1]),
    ],
)
def test_chunks_cover_every_frame_once(n: int, chunk: int, expected: list[int]) -> None:
    chunks = chunk_indices(n, chunk)
    assert [len(c) for c in chunks] == expected
    assert [i for c in chunks for i in c] == list(range(n))


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        ((10, "uniform", None), r"uniform sampling needs"),
        ((10, "uniform", 0), r"uniform sampling needs"),
        ((10, "random", None), r"unknown sampling mode"),
        ((0, "all", None), r"no frames"),
    ],
)
def test_select_refuses_what_it_cannot_meet_with_a_value_error(
    args: tuple[int, str, int | None], problem: str
) -> None:
    """Plain ValueError here: the service turns it into its client error, the training side never asks."""
    with pytest.raises(ValueError, match=problem):
        select_frames(*args)  # type: ignore[arg-type]
