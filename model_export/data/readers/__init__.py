"""Dataset readers: each turns a dataset's folder layout into a `ReIDSplit` of `Tracklet`s.

Readers only list files (sorted, so frame order is deterministic); they never decode images.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path

from model_export.data.pack import read_pack
from model_export.data.readers.cuhk03 import read_cuhk03
from model_export.data.readers.ilidsvid import read_ilidsvid
from model_export.data.readers.mars import read_mars
from model_export.data.readers.multisite import read_multisite
from model_export.data.readers.peta import read_prid_single_shot, read_viper
from model_export.data.readers.prid2011 import read_prid2011
from model_export.data.synthetic import make_synthetic
from model_export.data.tracklet import ReIDSplit

READERS: dict[str, Callable[..., ReIDSplit]] = {
    "ilidsvid": read_ilidsvid,
    "prid2011": read_prid2011,
    "mars": read_mars,
    "cuhk03": read_cuhk03,
    # CUHK03 labeled + detected and five PETA sites; evaluated on CUHK03 val.
    "multisite": read_multisite,
    # Test sets only (no training tracklets): cameras the models never saw.
    "viper": read_viper,
    "prid": read_prid_single_shot,
    # Any split written by `model_export pack`: the datasets' frames in one portable folder.
    "pack": read_pack,
    # Renders its tree under root on first use (tests and smoke runs).
    "synthetic": make_synthetic,
}


def get_reader(name: str) -> Callable[..., ReIDSplit]:
    """Look a reader up by its config name, failing with the valid names rather than a bare KeyError."""
    try:
        return READERS[name]
    except KeyError:
        valid = ", ".join(sorted(READERS))
        raise ValueError(f"unknown dataset {name!r}; valid names: {valid}") from None


def open_split(name: str, root: Path, split_id: int = 0, held_out_site: str | None = None) -> ReIDSplit:
    """Read a dataset by name; `split_id` goes to the readers that have random splits, and
    `held_out_site` to the ones made of several sites."""
    reader = get_reader(name)
    parameters = inspect.signature(reader).parameters
    options: dict[str, object] = {}
    if "split_id" in parameters:
        options["split_id"] = split_id
    if held_out_site is not None:
        if "held_out" not in parameters:
            raise ValueError(f"dataset {name!r} has no sites to hold out; multisite has")
        options["held_out"] = held_out_site
    return reader(root, **options)


__all__ = [
    "READERS",
    "get_reader",
    "open_split",
    "read_cuhk03",
    "read_ilidsvid",
    "read_mars",
    "read_multisite",
    "read_prid2011",
    "read_prid_single_shot",
    "read_viper",
]
