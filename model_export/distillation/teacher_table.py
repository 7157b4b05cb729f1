"""The teachers' vectors of every training crop, looked up by file while training (the cache that
`teaching/teacher_cache.py` writes). Several teachers form an ensemble: their unit vectors
concatenated and scaled by 1/sqrt(k), so the ensemble's cosine similarity is the mean of theirs; or,
given per-site weights (`site_weights.py`), by the square roots of the crop's site's weights."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from model_export.distillation.site_weights import SiteWeights


def teacher_names(files: Sequence[str]) -> list[str]:
    """The teachers a cache holds, from its array names (`teacher:<name>`, as the cache is written)."""
    return [k.removeprefix("teacher:") for k in files if k.startswith("teacher:")]


class TeacherTable:
    """File -> the teachers' ensemble vector of that crop."""

    def __init__(
        self, path: Path, teachers: Sequence[str] | None = None, weights: SiteWeights | None = None
    ) -> None:
        with np.load(path) as data:
            names = teacher_names(data.files)
            chosen = list(teachers) if teachers else names
            missing = sorted(set(chosen) - set(names))
            if missing:
                raise ValueError(f"{path} has no teacher {missing}; it has {names}")
            parts = [data[f"teacher:{n}"].astype(np.float32) for n in chosen]
            stored = data["paths"].tolist()
            # a cache that travels with its frames (a pack) names them relative to its own folder
            base = Path(path).parent
            self.index = {
                (p if Path(p).is_absolute() else str((base / p).resolve())): i for i, p in enumerate(stored)
            }
        self.teachers = chosen
        # no per-site figures: every crop weighs its teachers equally (1/sqrt(k) each)
        scales = (weights or SiteWeights({})).scales(stored, chosen)
        self.vectors = torch.from_numpy(
            np.concatenate([part * scales[:, k : k + 1] for k, part in enumerate(parts)], axis=1).astype(
                np.float32
            )
        )
        self.dim = self.vectors.size(1)

    def rows(self, frames: Sequence[Path]) -> list[int]:
        """Rows of `frames` in `vectors`; a file the cache does not hold is an error, never a silent
        zero target. Resolving paths touches the file system: do it once, not every step."""
        try:
            return [self.index[str(Path(p).resolve())] for p in frames]
        except KeyError as exc:
            raise KeyError(f"{exc.args[0]} is not in the teacher cache: rebuild it for this data") from None

    def lookup(self, frames: Sequence[Path]) -> Tensor:
        """(len(frames), D)."""
        return self.vectors[self.rows(frames)]
