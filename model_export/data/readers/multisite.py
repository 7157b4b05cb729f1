"""The multi-site training mix: CUHK03 labeled and detected, and the five PETA training sites.

A model that has only seen CUHK03's two cameras learns those cameras, not people; more sites, more
people and a detector's sloppier boxes are what carry it to cameras it never saw. VIPeR and PRID are
never read here: they are the tests of unseen cameras. Periodic evaluation is on CUHK03 `val`.
"""

from __future__ import annotations

from pathlib import Path

from model_export.data.readers.cuhk03 import read_cuhk03, read_cuhk03_train
from model_export.data.readers.peta import TRAINING_SITES, read_site
from model_export.data.tracklet import ReIDSplit, Tracklet, relabel

# Sites' own person numbers overlap: each site's pids are moved into a block of its own.
_SITE_BLOCK = 100_000


def read_multisite(root: Path, sites: tuple[str, ...] = TRAINING_SITES, detected: bool = True) -> ReIDSplit:
    """`root` holds `cuhk03/` and `peta/` (as ../shared/data does)."""
    root = Path(root)
    cuhk03 = read_cuhk03(root / "cuhk03")
    train = read_cuhk03_train(root / "cuhk03", "labeled")
    if detected:
        train += read_cuhk03_train(root / "cuhk03", "detected")
    for i, site in enumerate(sites, start=1):
        train += [
            Tracklet(pid=i * _SITE_BLOCK + t.pid, camid=t.camid, frames=t.frames)
            for t in read_site(root / "peta", site)
        ]
    return ReIDSplit(
        name="multisite", train=relabel(train), query=cuhk03.query, gallery=cuhk03.gallery, extra=cuhk03.extra
    )
