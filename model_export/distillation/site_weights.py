"""How much each teacher is trusted on each training site, from its own figures on that site.

The teachers never trained on PETA's sites, so their rank-1 there is a held-out figure: a teacher
that re-identifies a site's people better is the one whose similarities the student should copy
on that site's crops. Each teacher's weight on a site is a softmax of its rank-1 there at a
temperature (0.05: a teacher 0.1 ahead counts about 7 times as much); the ensemble vector of a crop
is its teachers' unit vectors scaled by the square roots of their weights and concatenated, so its
cosine similarity is the weighted mean of theirs and stays in [-1, 1]. A crop of a site without
figures for every teacher (CUHK03, whose scored split is a test set) weighs its teachers equally.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class SiteWeights:
    """Each teacher's rank-1 per site (site: lower-case folder name), and the softmax temperature."""

    rank1: Mapping[str, Mapping[str, float]]  # site -> teacher -> rank-1
    temperature: float = 0.05

    def __post_init__(self) -> None:
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")

    @classmethod
    def from_rows(cls, rows: Sequence[Mapping[str, object]], temperature: float = 0.05) -> SiteWeights:
        """From `compare`'s rows of the teachers (`--peers ... --sets <sites>`)."""
        rank1: dict[str, dict[str, float]] = {}
        for row in rows:
            for site, figures in row.items():
                if isinstance(figures, Mapping) and "rank1" in figures:
                    rank1.setdefault(site.lower(), {})[str(row["name"])] = float(figures["rank1"])
        return cls(rank1, temperature)

    @classmethod
    def from_file(cls, path: Path, temperature: float = 0.05) -> SiteWeights:
        return cls.from_rows(json.loads(Path(path).read_text()), temperature)

    def weights(self, site: str, teachers: Sequence[str]) -> np.ndarray:
        """The teachers' weights on `site` (summing to 1); equal where any of them has no figure."""
        scored = self.rank1.get(site.lower(), {})
        if not teachers or not all(t in scored for t in teachers):
            return np.full(len(teachers), 1.0 / max(1, len(teachers)))
        r = np.array([scored[t] for t in teachers])
        raw = np.exp((r - r.max()) / self.temperature)
        return raw / raw.sum()

    def scales(self, paths: Sequence[str], teachers: Sequence[str]) -> np.ndarray:
        """(len(paths), len(teachers)) square roots of each crop's teacher weights; a crop's site is
        the folder its file lies in (PETA's layout: `peta/<site>/<file>`)."""
        by_folder: dict[str, np.ndarray] = {}
        out = np.empty((len(paths), len(teachers)), np.float32)
        for i, p in enumerate(paths):
            folder = Path(p).parent.name
            if folder not in by_folder:
                by_folder[folder] = np.sqrt(self.weights(folder, teachers))
            out[i] = by_folder[folder]
        return out
