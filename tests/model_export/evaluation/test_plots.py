"""The evaluation pictures must be valid PNGs whose layout and match colours can be trusted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model_export.data.tracklet import Tracklet
from model_export.evaluation.plots import (
    BACKGROUND_COLOUR,
    MATCH_COLOUR,
    MISMATCH_COLOUR,
    RankedListLayout,
    plot_cmc,
    plot_ranked_lists,
    ranked_gallery,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
THUMB = (40, 20)


def _tracklet(root: Path, pid: int, camid: int, colour: tuple[int, int, int], frames: int = 3) -> Tracklet:
    """A tracklet of solid-colour frames of odd sizes, so each thumbnail is identifiable by colour."""
    folder = root / f"p{pid}_c{camid}_{colour[0]}_{colour[1]}_{colour[2]}"
    folder.mkdir(parents=True)
    paths = []
    for f in range(frames):
        path = folder / f"{f}.png"
        Image.new("RGB", (30 + f, 70), colour).save(path)
        paths.append(path)
    return Tracklet(pid=pid, camid=camid, frames=tuple(paths))


def _read(path: Path) -> np.ndarray:
    assert path.read_bytes()[:8] == PNG_MAGIC
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def _centre(pixels: np.ndarray, box: tuple[int, int, int, int]) -> tuple[int, ...]:
    left, top, right, bottom = box
    return tuple(int(v) for v in pixels[(top + bottom) // 2, (left + right) // 2])


def test_plot_cmc_writes_png(tmp_path: Path) -> None:
    ranks = np.arange(1, 51)
    curves = {"model": 1.0 - 0.6 * np.exp(-ranks / 5.0), "baseline": 1.0 - 0.8 * np.exp(-ranks / 10.0)}
    out = plot_cmc(curves, tmp_path / "sub" / "cmc.png", max_rank=20, title="test")
    assert out == tmp_path / "sub" / "cmc.png"
    pixels = _read(out)
    assert 300 <= pixels.shape[0] <= 2000 and 300 <= pixels.shape[1] <= 2000
    assert pixels.std() > 5.0  # not a blank canvas
    assert out.stat().st_size > 5_000


def test_plot_cmc_short_curve(tmp_path: Path) -> None:
    out = plot_cmc({"tiny": np.array([0.5, 0.75, 1.0])}, tmp_path / "cmc.png")
    assert _read(out).ndim == 3


@pytest.fixture()
def scene(tmp_path: Path) -> tuple[list[Tracklet], list[Tracklet], np.ndarray]:
    queries = [
        _tracklet(tmp_path, 1, 0, (200, 200, 40)),
        _tracklet(tmp_path, 2, 0, (40, 200, 200)),
    ]
    gallery = [
        _tracklet(tmp_path, 1, 1, (10, 10, 10)),  # 0: true match
        _tracklet(tmp_path, 2, 1, (60, 60, 60)),  # 1
        _tracklet(tmp_path, 1, 0, (110, 110, 110)),  # 2: query 0's own camera: excluded for it
        _tracklet(tmp_path, 3, 1, (160, 160, 160)),  # 3
        _tracklet(tmp_path, 1, 2, (210, 210, 210)),  # 4: true match, third camera
    ]
    distmat = np.array(
        [
            [0.5, 0.1, 0.0, 0.9, 0.3],
            [0.2, 0.4, 0.1, 0.3, 0.8],
        ]
    )
    return queries, gallery, distmat


def test_ranked_gallery_skips_same_pid_same_camera(
    scene: tuple[list[Tracklet], list[Tracklet], np.ndarray],
) -> None:
    queries, gallery, distmat = scene
    assert ranked_gallery(queries[0], gallery, distmat[0]) == [1, 4, 0, 3]
    # Query 1 (pid 2, camera 0) keeps gallery 2: another identity, even in its camera.
    assert ranked_gallery(queries[1], gallery, distmat[1]) == [2, 0, 3, 1, 4]


def test_ranked_list_colours_and_skipping(
    tmp_path: Path, scene: tuple[list[Tracklet], list[Tracklet], np.ndarray]
) -> None:
    queries, gallery, distmat = scene
    out = plot_ranked_lists(queries, gallery, distmat, tmp_path / "ranked.png", top_k=5, thumb_hw=THUMB)
    pixels = _read(out)
    layout = RankedListLayout(rows=2, top_k=5, frames_shown=1, thumb_hw=THUMB)

    def border(row: int, col: int) -> tuple[int, ...]:
        left, top, _, _ = layout.cell_box(row, col)
        return tuple(int(v) for v in pixels[top + 1, left + 1])

    # Query 0: gallery 1 (red), 4 (green), 0 (green), 3 (red); gallery 2 is skipped, so rank 5 is empty.
    assert _centre(pixels, layout.cell_box(0, 0)) == (200, 200, 40)
    expected = [(1, MISMATCH_COLOUR), (4, MATCH_COLOUR), (0, MATCH_COLOUR), (3, MISMATCH_COLOUR)]
    for rank, (g, colour) in enumerate(expected, start=1):
        assert border(0, rank) == colour
        assert _centre(pixels, layout.cell_box(0, rank)) == (10 + 50 * g,) * 3
    assert border(0, 5) == BACKGROUND_COLOUR
    assert _centre(pixels, layout.cell_box(0, 5)) == BACKGROUND_COLOUR
    row0 = pixels[layout.cell_box(0, 1)[1] : layout.cell_box(0, 1)[3]]
    assert not np.all(row0 == (110, 110, 110), axis=-1).any()

    # Query 1 (pid 2): only gallery 1 matches, at rank 4.
    colours = [border(1, rank) for rank in range(1, 6)]
    assert colours == [MISMATCH_COLOUR] * 3 + [MATCH_COLOUR, MISMATCH_COLOUR]
    assert _centre(pixels, layout.cell_box(1, 1)) == (110, 110, 110)


def test_ranked_list_geometry(
    tmp_path: Path, scene: tuple[list[Tracklet], list[Tracklet], np.ndarray]
) -> None:
    queries, gallery, distmat = scene

    def size(n_queries: int, top_k: int, frames_shown: int) -> tuple[int, int]:
        out = plot_ranked_lists(
            queries[:n_queries],
            gallery,
            distmat[:n_queries],
            tmp_path / f"r{n_queries}_{top_k}_{frames_shown}.png",
            top_k=top_k,
            frames_shown=frames_shown,
            thumb_hw=THUMB,
        )
        h, w = _read(out).shape[:2]
        return w, h

    w1, h1 = size(1, 3, 1)
    w2, h2 = size(2, 3, 1)
    row_h = h2 - h1
    assert w1 == w2
    assert row_h >= THUMB[0]
    assert (h2 - 2 * row_h) == (h1 - row_h) > 0  # height = margin + rows * row height
    w_k4, _ = size(2, 4, 1)
    w_k5, _ = size(2, 5, 1)
    col_w = w_k5 - w_k4
    assert col_w == w_k4 - w2 >= THUMB[1]  # width grows by one gallery column per rank
    w_f3, _ = size(2, 3, 3)
    assert w_f3 - w2 == 2 * THUMB[1]  # a query strip of frames widens only the query column
    assert (w2, h2) == RankedListLayout(2, 3, 1, THUMB).size
    # Default thumbnails: the picture is tall enough for two rows of 96-pixel thumbnails.
    out = plot_ranked_lists(queries, gallery, distmat, tmp_path / "default.png")
    h, w = _read(out).shape[:2]
    assert (w, h) == RankedListLayout(2, 10, 1, (96, 48)).size
    assert h > 2 * 96 and w > 11 * 48


def test_query_strip_shows_frames(tmp_path: Path) -> None:
    folder = tmp_path / "strip"
    folder.mkdir()
    frames = []
    for f, colour in enumerate([(255, 0, 255), (0, 255, 255)]):
        frames.append(folder / f"{f}.png")
        Image.new("RGB", (16, 32), colour).save(frames[-1])
    query = Tracklet(pid=1, camid=0, frames=tuple(frames))
    gallery = [Tracklet(pid=1, camid=1, frames=(frames[0],))]
    out = plot_ranked_lists([query], gallery, np.zeros((1, 1)), tmp_path / "s.png", 2, 2, THUMB)
    pixels = _read(out)
    left, top, _, bottom = RankedListLayout(1, 2, 2, THUMB).cell_box(0, 0)
    mid_y = (top + bottom) // 2
    assert tuple(pixels[mid_y, left + 3 + THUMB[1] // 2]) == (255, 0, 255)
    assert tuple(pixels[mid_y, left + 3 + 3 * THUMB[1] // 2]) == (0, 255, 255)


def test_ranked_list_rejects_bad_distmat(
    tmp_path: Path, scene: tuple[list[Tracklet], list[Tracklet], np.ndarray]
) -> None:
    queries, gallery, distmat = scene
    with pytest.raises(ValueError):
        plot_ranked_lists(queries, gallery, distmat[:, :3], tmp_path / "bad.png")
