"""Crops without identities: what a tracker writes on the user's own cameras, for distillation only.

Every folder under the root that holds images is one tracklet (one track of one camera), its frames
in name order. When crops are kept per camera (`root/<camera>/<track>/*.jpg`) the first folder level
is the camera; in a flat tree (`root/<track>/*.jpg`) each track is a camera of its own. No identity
is read or guessed: these tracklets carry only the teachers' similarity structure into training,
which is how a model learns a site's lighting, viewpoints and clothing without anyone labelling it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from model_export.data.readers.splits import is_image, list_images, natural_key, require_dir
from model_export.data.tracklet import Tracklet

UNLABELED = -1  # the pid of every unlabeled tracklet: never an index into a classifier


def read_unlabeled(root: Path) -> list[Tracklet]:
    """All tracklets under `root`, in a stable order (folders sorted by natural name order)."""
    root = require_dir(Path(root))
    folders = {p.parent for p in root.rglob("*") if is_image(p)}
    if not folders:
        raise ValueError(f"no image files under {root}: expected one folder of crops per track")
    order = sorted(folders, key=lambda f: [natural_key(part) for part in f.relative_to(root).parts])
    cameras: dict[str, int] = {}
    tracklets = []
    for folder in order:
        parts = folder.relative_to(root).parts
        camid = cameras.setdefault(parts[0] if parts else "", len(cameras))
        tracklets.append(Tracklet(pid=UNLABELED, camid=camid, frames=list_images(folder)))
    return tracklets


def track_frame(camid: int, track: int, index: int, suffix: str, prefix: str = "") -> Path:
    """Where the `index`-th frame of the `track`-th track of a camera lies in this layout, relative to
    its root: the one naming of the writers of this layout (`write_tracks`, the pack)."""
    return Path(f"{prefix}camera{camid}") / f"track{track:06d}" / f"{index:05d}{suffix}"


def write_tracks(tracklets: Sequence[Tracklet], out: Path, prefix: str = "") -> int:
    """Lay tracklets out as this reader reads them, `<prefix>camera<id>/track<n>/<i>.<ext>`, as links
    to their files (no pixels copied, no ids kept): a labelled set's people turned into a tracker's
    output, to measure what unlabeled crops are worth. Returns how many tracks were written."""
    out = Path(out)
    if out.exists() and any(out.glob(f"{prefix}camera*")):
        raise FileExistsError(f"{out} already holds {prefix}camera* folders: write into a new folder")
    seen: set[tuple[Path, ...]] = set()
    for t in tracklets:
        if t.frames in seen:  # a set whose query and gallery share tracklets
            continue
        for i, frame in enumerate(t.frames):
            link = out / track_frame(t.camid, len(seen), i, frame.suffix, prefix)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(Path(frame).resolve())
        seen.add(t.frames)
    return len(seen)
