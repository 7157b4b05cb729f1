"""The multi-site training mix: CUHK03 labeled and detected, and the five PETA training sites.

A model that has only seen CUHK03's two cameras learns those cameras, not people; more sites, more
people and a detector's sloppier boxes are what carry it to cameras it never saw. VIPeR and PRID are
never read here: they are the tests of unseen cameras. Periodic evaluation is on CUHK03 `val`, or,
with a site held out, on that site: cameras the run never trained on, to choose an epoch or a recipe
by without looking at VIPeR or PRID (whose figures would then flatter the model).
"""

from __future__ import annotations

from pathlib import Path

from model_export.data.readers.cuhk03 import read_cuhk03, read_cuhk03_train
from model_export.data.readers.peta import TRAINING_SITES, read_held_out_site, read_site
from model_export.data.tracklet import ReIDSplit, Tracklet, relabel

# Sites' own person numbers overlap: each site's pids are moved into a block of its own.
_SITE_BLOCK = 100_000


def read_multisite(
    root: Path, sites: tuple[str, ...] = TRAINING_SITES, detected: bool = True, held_out: str | None = None
) -> ReIDSplit:
    """`root` holds `cuhk03/` and `peta/` (as ../shared/data does). `held_out` names a site left out
    of training whose tracklets are then both query and gallery: each is ranked against the site's
    other cameras (a same-camera match is excluded by the protocol; `read_held_out_site` says how
    the sites that name no camera are read). 3DPeS, whose 164 people seen more than once make it the
    best of the five for this, is ranked across sightings."""
    root = Path(root)
    if held_out is not None:
        if held_out not in sites:
            raise ValueError(f"cannot hold out {held_out!r}: the training sites are {', '.join(sites)}")
        sites = tuple(s for s in sites if s != held_out)
    cuhk03 = read_cuhk03(root / "cuhk03")
    train = read_cuhk03_train(root / "cuhk03", "labeled")
    if detected:
        train += read_cuhk03_train(root / "cuhk03", "detected")
    for i, site in enumerate(sites, start=1):
        train += [
            Tracklet(pid=i * _SITE_BLOCK + t.pid, camid=t.camid, frames=t.frames)
            for t in read_site(root / "peta", site)
        ]
    if held_out is None:
        return ReIDSplit(
            name="multisite",
            train=relabel(train),
            query=cuhk03.query,
            gallery=cuhk03.gallery,
            extra=cuhk03.extra,
        )
    site = read_held_out_site(root / "peta", held_out)
    return ReIDSplit(name=f"multisite-without-{held_out}", train=relabel(train), query=site, gallery=site)
