"""Pictures of a re-id evaluation: CMC curves and ranked gallery lists, written as PNG files.

Rendering goes through matplotlib's Agg canvas directly (never pyplot), so it works headless and
leaves the process-wide backend alone; ranked lists are composed with PIL for exact pixel layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from PIL import Image, ImageDraw, ImageFont

from model_export.data.tracklet import Tracklet

MATCH_COLOUR = (0, 170, 0)
MISMATCH_COLOUR = (220, 0, 0)
QUERY_COLOUR = (40, 90, 220)
BACKGROUND_COLOUR = (255, 255, 255)
BORDER = 3  # frame thickness around each thumbnail
PAD = 6  # outer margin and space between cells
QUERY_GAP = 18  # extra space separating the query from its gallery list
CAPTION_H = 14


def plot_cmc(curves: dict[str, np.ndarray], path: Path, max_rank: int = 20, title: str = "CMC") -> Path:
    """Plot cumulative matching characteristics; `curve[k]` is the matching rate at rank k + 1."""
    if max_rank < 1:
        raise ValueError(f"max_rank must be >= 1, got {max_rank}")
    fig = Figure(figsize=(6.0, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for name, curve in curves.items():
        values = np.asarray(curve, dtype=np.float64).ravel()[:max_rank]
        if values.size == 0:
            continue
        ranks = np.arange(1, values.size + 1)
        marker = "o" if values.size <= 30 else None
        ax.plot(ranks, values, marker=marker, markersize=3, label=f"{name} (rank-1 {100.0 * values[0]:.1f}%)")
    ax.set_xlim(1, max(max_rank, 2))
    ax.set_ylim(0.0, 1.0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("rank")
    ax.set_ylabel("matching rate")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if curves:
        ax.legend(loc="lower right")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


@dataclass(frozen=True)
class RankedListLayout:
    """Pixel geometry of a ranked-list picture, shared by the renderer and anyone reading it back."""

    rows: int
    top_k: int
    frames_shown: int
    thumb_hw: tuple[int, int]

    @property
    def cell_h(self) -> int:
        return self.thumb_hw[0] + 2 * BORDER + CAPTION_H

    @property
    def query_w(self) -> int:
        return self.frames_shown * self.thumb_hw[1] + 2 * BORDER

    @property
    def gallery_w(self) -> int:
        return self.thumb_hw[1] + 2 * BORDER

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the whole picture."""
        width = PAD + self.query_w + QUERY_GAP + self.top_k * (self.gallery_w + PAD)
        return width, PAD + self.rows * (self.cell_h + PAD)

    def cell_box(self, row: int, col: int) -> tuple[int, int, int, int]:
        """Exclusive (left, top, right, bottom) of a framed thumbnail: col 0 the query, 1..top_k ranks."""
        top = PAD + row * (self.cell_h + PAD)
        bottom = top + self.thumb_hw[0] + 2 * BORDER
        if col == 0:
            return PAD, top, PAD + self.query_w, bottom
        left = PAD + self.query_w + QUERY_GAP + (col - 1) * (self.gallery_w + PAD)
        return left, top, left + self.gallery_w, bottom


def ranked_gallery(query: Tracklet, gallery: list[Tracklet], distances: np.ndarray) -> list[int]:
    """Gallery indices by ascending distance, without the query identity's own-camera tracklets."""
    order = np.argsort(distances, kind="stable")
    return [int(i) for i in order if not (gallery[i].pid == query.pid and gallery[i].camid == query.camid)]


def _framed(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], colour: tuple[int, int, int]) -> None:
    left, top, right, bottom = box
    draw.rectangle((left, top, right - 1, bottom - 1), fill=colour)


def plot_ranked_lists(
    queries: list[Tracklet],
    gallery: list[Tracklet],
    distmat: np.ndarray,
    path: Path,
    top_k: int = 10,
    frames_shown: int = 1,
    thumb_hw: tuple[int, int] = (96, 48),
) -> Path:
    """Draw each query next to its top-k gallery tracklets, framed green for a true match, red otherwise."""
    distmat = np.asarray(distmat)
    if distmat.shape != (len(queries), len(gallery)):
        raise ValueError(f"distmat shape {distmat.shape} != ({len(queries)}, {len(gallery)})")
    if top_k < 1 or frames_shown < 1 or not queries:
        raise ValueError("need top_k >= 1, frames_shown >= 1 and at least one query")
    layout = RankedListLayout(len(queries), top_k, frames_shown, thumb_hw)
    th, tw = thumb_hw
    canvas = Image.new("RGB", layout.size, BACKGROUND_COLOUR)
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    cache: dict[Path, Image.Image] = {}

    def thumb(frame: Path) -> Image.Image:
        if frame not in cache:
            with Image.open(frame) as img:
                cache[frame] = img.convert("RGB").resize((tw, th), Image.Resampling.BILINEAR)
        return cache[frame]

    for row, query in enumerate(queries):
        box = layout.cell_box(row, 0)
        _framed(draw, box, QUERY_COLOUR)
        for j, frame in enumerate(query.frames[:frames_shown]):
            canvas.paste(thumb(frame), (box[0] + BORDER + j * tw, box[1] + BORDER))
        draw.text((box[0], box[3] + 1), f"q id{query.pid} c{query.camid}", fill=(0, 0, 0), font=font)
        for rank, g in enumerate(ranked_gallery(query, gallery, distmat[row])[:top_k], start=1):
            box = layout.cell_box(row, rank)
            match = gallery[g].pid == query.pid
            _framed(draw, box, MATCH_COLOUR if match else MISMATCH_COLOUR)
            canvas.paste(thumb(gallery[g].frames[0]), (box[0] + BORDER, box[1] + BORDER))
            draw.text((box[0], box[3] + 1), f"{rank}: {distmat[row, g]:.2f}", fill=(0, 0, 0), font=font)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path, format="PNG")
    return path


__all__ = ["RankedListLayout", "plot_cmc", "plot_ranked_lists", "ranked_gallery"]
