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

CropEmbedFn = Callable[[np.ndarray], np.ndarray]  # uint8 RGB (N, 3, H, W) -> unit vectors (N, D)


def build_teacher_cache(
    frames: Sequence[Path],
    teachers: dict[str, CropEmbedFn],
    out: Path,
    input_size: tuple[int, int] = (256, 128),
    batch: int = 64,
) -> Path:
    """Embed every file with every teacher (each image decoded once) and write `out` atomically."""
    unique = sorted({str(Path(p).resolve()) for p in frames})
    store = FrameStore(input_size, cache_limit=0)
    vectors: dict[str, list[np.ndarray]] = {name: [] for name in teachers}
    for start in tqdm(range(0, len(unique), batch), desc="teachers", mininterval=10):
        crops = store.load_many([Path(p) for p in unique[start : start + batch]]).numpy()
        for name, embed in teachers.items():
            vectors[name].append(embed(crops).astype(np.float16))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.npz")
    np.savez(tmp, paths=np.array(unique), **{f"teacher:{n}": np.concatenate(v) for n, v in vectors.items()})
    tmp.replace(out)
    return out
