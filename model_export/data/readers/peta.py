"""The re-id subsets of PETA: two classic test sets of unseen cameras and five training sites.

Every subset keeps the person id first in its file names; the camera, where there is one, is named
differently in each. Test sets are single-shot: every image is a one-frame tracklet. Training sites
group a person's images of one camera (or view) into short tracklets, as CUHK03's five images are.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from model_export.data.readers.splits import is_image, natural_key, require_dir
from model_export.data.tracklet import ReIDSplit, Tracklet

TRAINING_SITES: tuple[str, ...] = ("i-LID", "3DPeS", "CAVIAR4REID", "TownCentre", "SARC3D")
TEST_SITES: tuple[str, ...] = ("VIPeR", "PRID")
FRAMES_PER_TRACKLET = 8

# file stem -> (person, camera or view); None skips the file.
_Parse = Callable[[str], tuple[int, int] | None]
_VIPER = re.compile(r"(\d+)_\d+_([12])")
_PRID = re.compile(r"(\d+)_([ab])")


def _by_number(pattern: str, camera: Callable[[re.Match[str]], int]) -> _Parse:
    compiled = re.compile(pattern)

    def parse(stem: str) -> tuple[int, int] | None:
        match = compiled.fullmatch(stem)
        return None if match is None else (int(match.group(1)), camera(match))

    return parse


# SARC3D names its four views in mixed case (`001_front`, `001_Right`): one camera id per view.
_SARC3D_VIEWS: dict[str, int] = {"front": 0, "back": 1, "left": 2, "right": 3}


def _view(match: re.Match[str]) -> int:
    return _SARC3D_VIEWS.get(match.group(2).lower(), len(_SARC3D_VIEWS))


# Where a site does not name its cameras (i-LID, TownCentre), all its images are one camera for
# training; held out, they are split in time instead (`read_held_out_site`).
_SITE_PARSERS: dict[str, _Parse] = {
    "i-LID": _by_number(r"(\d+)_(\d+)", lambda m: 0),
    # 3DPeS numbers sightings (sequences, 484 of them), not its 8 cameras: a sighting stands in for
    # the camera, so a person's two sightings (two cameras, or two passes of one) are two "cameras".
    "3DPeS": _by_number(r"(\d+)_(\d+)_FRAME_\d+_RGB", lambda m: int(m.group(2))),
    # 10 images per camera: 001-010 the first camera, 011-020 the second.
    "CAVIAR4REID": _by_number(r"(\d+)_(\d+)", lambda m: (int(m.group(2)) - 1) // 10),
    "TownCentre": _by_number(r"(\d+)_(\d+)", lambda m: 0),
    "SARC3D": _by_number(r"(\d+)_([A-Za-z]+)", _view),
}


def _images(folder: Path) -> list[Path]:
    return sorted(
        (p for p in require_dir(folder).iterdir() if is_image(p)), key=lambda p: natural_key(p.name)
    )


def read_site(root: Path, site: str) -> list[Tracklet]:
    """One training site as tracklets of at most `FRAMES_PER_TRACKLET` images of one person and camera,
    in file order; pids are the site's own numbers (the caller makes them unique across sites)."""
    try:
        parse = _SITE_PARSERS[site]
    except KeyError:
        raise ValueError(f"unknown PETA site {site!r}; training sites: {', '.join(TRAINING_SITES)}") from None
    groups: dict[tuple[int, int], list[Path]] = defaultdict(list)
    for path in _images(Path(root) / site):
        parsed = parse(path.stem)
        if parsed is not None:
            groups[parsed].append(path)
    tracklets = []
    for (pid, camid), paths in sorted(groups.items()):
        for start in range(0, len(paths), FRAMES_PER_TRACKLET):
            tracklets.append(
                Tracklet(pid=pid, camid=camid, frames=tuple(paths[start : start + FRAMES_PER_TRACKLET]))
            )
    return tracklets


def read_held_out_site(root: Path, site: str) -> list[Tracklet]:
    """A training site as the query and gallery of a model that did not train on it.

    The protocol drops a query's matches from its own camera, so a site read with one camera (i-LID,
    TownCentre) would leave no query a match. There each person's images in file (time) order are
    cut into an earlier and a later half, two stand-in cameras matched against each other: across
    time (and, in i-LID's airport hall, across the cameras it does not name), among every other
    person of the site. Sites read with cameras are read as for training: 3DPeS across sightings,
    CAVIAR4REID across its two cameras, SARC3D across views."""
    tracklets = read_site(root, site)
    if len({t.camid for t in tracklets}) > 1:
        return tracklets
    images: dict[int, list[Path]] = defaultdict(list)
    for t in tracklets:  # read_site keeps file order within a person
        images[t.pid].extend(t.frames)
    out = []
    for pid, paths in sorted(images.items()):
        half = (len(paths) + 1) // 2
        for camid, part in enumerate((paths[:half], paths[half:])):
            for start in range(0, len(part), FRAMES_PER_TRACKLET):
                out.append(
                    Tracklet(pid=pid, camid=camid, frames=tuple(part[start : start + FRAMES_PER_TRACKLET]))
                )
    return out


def _single_shot(folder: Path, pattern: re.Pattern[str], camera: Callable[[str], int]) -> list[Tracklet]:
    out = []
    for path in _images(folder):
        match = pattern.fullmatch(path.stem)
        if match is not None:
            out.append(Tracklet(pid=int(match.group(1)), camid=camera(match.group(2)), frames=(path,)))
    return out


def read_viper(root: Path) -> ReIDSplit:
    """VIPeR, all 632 people: camera 1 queries against camera 2, and the reverse (two_camera)."""
    images = _single_shot(Path(root) / "VIPeR", _VIPER, lambda c: int(c) - 1)
    query = [t for t in images if t.camid == 0]
    gallery = [t for t in images if t.camid == 1]
    return ReIDSplit(name="viper", train=[], query=query, gallery=gallery, extra={"two_camera": True})


def read_prid_single_shot(root: Path, shared: int = 200) -> ReIDSplit:
    """PRID 2011 single-shot, the harder protocol of no training on PRID: the `shared` persons seen by
    both cameras as queries from camera a, against every one of camera b's 749 people."""
    images = _single_shot(Path(root) / "PRID", _PRID, lambda c: 0 if c == "a" else 1)
    query = [t for t in images if t.camid == 0 and t.pid <= shared]
    gallery = [t for t in images if t.camid == 1]
    return ReIDSplit(name="prid", train=[], query=query, gallery=gallery)
