"""Teachers' embeddings of every training crop, computed once and looked up by file during training.

Running the teachers inside the training loop would cost more than the student itself on two cores;
their embeddings of the clean (unaugmented) crop are fixed targets, so they are computed in one pass
and kept in an `.npz` beside the run: the file list, and one (N, D) float16 matrix per teacher.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from model_export.data.dataset import FrameStore
from model_export.distillation.teacher_table import teacher_names

CropEmbedFn = Callable[[np.ndarray], np.ndarray]  # uint8 RGB (N, 3, H, W) -> unit vectors (N, D)


def build_teacher_cache(
    frames: Sequence[Path],
    teachers: dict[str, CropEmbedFn],
    out: Path,
    input_size: tuple[int, int] = (256, 128),
    batch: int = 64,
) -> Path:
    """Embed every file with every teacher (each image decoded once) and write `out` atomically.

    Where `out` already holds these teachers, the crops it has are kept and only new ones are
    embedded: adding a folder of unlabeled crops costs those crops, not the whole training set again."""
    unique = sorted({str(Path(p).resolve()) for p in frames})
    kept_rows, kept = _existing(out, list(teachers))
    todo = [p for p in unique if p not in kept_rows]
    store = FrameStore(input_size, cache_limit=0)
    fresh: dict[str, list[np.ndarray]] = {name: [] for name in teachers}
    for start in tqdm(range(0, len(todo), batch), desc="teachers", mininterval=10):
        crops = store.load_many([Path(p) for p in todo[start : start + batch]]).numpy()
        for name, embed in teachers.items():
            fresh[name].append(embed(crops).astype(np.float16))
    # rows of [kept table; new vectors] in the order of `unique`
    new_row = {p: len(kept_rows) + i for i, p in enumerate(todo)}
    index = [kept_rows[p] if p in kept_rows else new_row[p] for p in unique]
    vectors = {
        f"teacher:{n}": np.concatenate(([kept[n]] if n in kept else []) + fresh[n])[index] for n in teachers
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.npz")
    np.savez(tmp, paths=np.array(unique), **vectors)
    tmp.replace(out)
    return out


def _existing(out: Path, teachers: list[str]) -> tuple[dict[str, int], dict[str, np.ndarray]]:
    """The rows (path -> row) and tables (teacher -> vectors) of a cache already at `out` made by the
    same teachers; empty where there is none."""
    if not out.exists():
        return {}, {}
    with np.load(out) as data:
        if sorted(teacher_names(data.files)) != sorted(teachers):
            return {}, {}
        rows = {str(p): i for i, p in enumerate(data["paths"].tolist())}
        return rows, {name: data[f"teacher:{name}"] for name in teachers}
