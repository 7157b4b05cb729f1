"""A split and its frames in one portable folder, for training where the datasets are not.

A borrowed GPU machine, a cloud job or a colleague's laptop has none of the dataset trees that the
readers know. `write_pack` stores a split as it was read: `split.json` (every tracklet's identity,
camera and frame files, relative to the pack), the frames themselves under `frames/`, and where the
run distils, `teachers.npz` with the teachers' vectors of those frames keyed by the same relative
names. `read_pack` gives back the same `ReIDSplit`, so a run on a pack is the run on the datasets.
Unlabeled crops (a tracker's output, `data/readers/unlabeled.py`) travel under `unlabeled/` in the
layout that reader reads, their teachers' vectors beside the training frames': on the other machine,
`--unlabeled-root <pack>/unlabeled`.

JPEG files are copied byte for byte (no second round of compression); other images (the PETA
sites' bitmaps) are stored as high-quality JPEG, which keeps a pack of all eight sites small enough
to move.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from model_export.data.tracklet import ReIDSplit, Tracklet
from model_export.distillation.teacher_table import TeacherTable

FORMAT = "reid-pack/1"
SPLIT_FILE = "split.json"
TEACHERS_FILE = "teachers.npz"
UNLABELED_DIR = Path("unlabeled")
_JPEG = {".jpg", ".jpeg"}


def _store_frame(src: Path, dst: Path, quality: int) -> None:
    if src.suffix.lower() in _JPEG:
        shutil.copyfile(src, dst)
        return
    with Image.open(src) as image:
        image.convert("RGB").save(dst, "JPEG", quality=quality)


def write_pack(
    split: ReIDSplit,
    out: Path,
    teacher_cache: Path | None = None,
    quality: int = 95,
    unlabeled: Sequence[Tracklet] = (),
) -> Path:
    """Write `split`, any `unlabeled` tracklets and, given a teacher cache, the vectors of every frame
    a run learns from (training and unlabeled) under `out`."""
    # imported here: the readers' package imports this module (a pack is one of the datasets it reads)
    from model_export.data.readers.unlabeled import track_frame

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty: a pack is written once, into a new folder")
    if unlabeled and teacher_cache is None:
        raise ValueError("unlabeled crops are learned from the teachers only: pack them with a teacher cache")
    (out / "frames").mkdir(parents=True, exist_ok=True)
    names: dict[Path, str] = {}

    def name_of(frame: Path) -> str:
        key = Path(frame).resolve()
        if key not in names:
            names[key] = f"frames/{len(names):06d}.jpg"
            _store_frame(key, out / names[key], quality)
        return names[key]

    def rows(tracklets: Sequence[Tracklet]) -> list[dict[str, object]]:
        return [{"pid": t.pid, "camid": t.camid, "frames": [name_of(f) for f in t.frames]} for t in tracklets]

    doc = {
        "format": FORMAT,
        "name": split.name,
        "train": rows(split.train),
        "query": rows(split.query),
        "gallery": rows(split.gallery),
        "extra": split.extra,
    }
    (out / SPLIT_FILE).write_text(json.dumps(doc))
    # where each frame a run learns from is stored -> its source file (an unlabeled crop is stored in
    # its track's folder, as the unlabeled reader reads it)
    learned = {names[f.resolve()]: f.resolve() for t in split.train for f in t.frames}
    for n, t in enumerate(unlabeled):
        for i, frame in enumerate(t.frames):
            stored = str(UNLABELED_DIR / track_frame(t.camid, n, i, ".jpg"))
            learned[stored] = Path(frame).resolve()
            (out / stored).parent.mkdir(parents=True, exist_ok=True)
            _store_frame(learned[stored], out / stored, quality)
    if teacher_cache is not None:
        stored_names = sorted(learned)
        # the table's own lookup (and its refusal of a frame it does not hold); each teacher's
        # float16 vectors are then copied as stored, not as the table's scaled ensemble
        picked = TeacherTable(teacher_cache).rows([learned[n] for n in stored_names])
        with np.load(teacher_cache) as data:
            teachers = {k: data[k][picked] for k in data.files if k.startswith("teacher:")}
        np.savez(out / TEACHERS_FILE, paths=np.array(stored_names), **teachers)
    return out


def read_pack(root: Path) -> ReIDSplit:
    """The split a pack holds, with frame paths under `root`."""
    root = Path(root)
    try:
        doc = json.loads((root / SPLIT_FILE).read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{root} is not a pack: it has no {SPLIT_FILE}") from None
    if doc.get("format") != FORMAT:
        raise ValueError(f"{root / SPLIT_FILE} is {doc.get('format')!r}, not {FORMAT}")

    def tracklets(key: str) -> list[Tracklet]:
        return [
            Tracklet(pid=r["pid"], camid=r["camid"], frames=tuple(root / f for f in r["frames"]))
            for r in doc[key]
        ]

    return ReIDSplit(
        name=doc["name"],
        train=tracklets("train"),
        query=tracklets("query"),
        gallery=tracklets("gallery"),
        extra=doc.get("extra", {}),
    )
