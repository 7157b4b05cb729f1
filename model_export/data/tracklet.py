"""The one record every dataset reader produces, and the split it belongs to."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Tracklet:
    """One person seen by one camera: an ordered run of frame files.

    `pid` is the identity label (dense 0..N-1 within a training split, the dataset's own number in
    query and gallery, where labels are only compared for equality). No pixels are held: readers
    list files, decoding happens in the data pipeline.
    """

    pid: int
    camid: int
    frames: tuple[Path, ...]

    def __post_init__(self) -> None:
        if not self.frames:
            raise ValueError(f"tracklet of pid {self.pid} camera {self.camid} has no frames")

    def __len__(self) -> int:
        return len(self.frames)


@dataclass(frozen=True)
class ReIDSplit:
    """A train / query / gallery partition in the video re-id protocol.

    Query and gallery are scored with `evaluation.rank.evaluate_rank`: a gallery tracklet of the
    query's identity seen by the query's camera is excluded from that query's ranking.
    """

    name: str
    train: list[Tracklet]
    query: list[Tracklet]
    gallery: list[Tracklet]
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def num_train_pids(self) -> int:
        return len({t.pid for t in self.train})

    def summary(self) -> str:
        def row(name: str, items: list[Tracklet]) -> str:
            pids = len({t.pid for t in items})
            frames = sum(len(t) for t in items)
            return f"  {name:<8}{pids:>7} ids{len(items):>8} tracklets{frames:>9} frames"

        return "\n".join(
            [
                f"{self.name}:",
                row("train", self.train),
                row("query", self.query),
                row("gallery", self.gallery),
            ]
        )


def relabel(tracklets: list[Tracklet]) -> list[Tracklet]:
    """Map identities to 0..N-1 (sorted by original id) so they can index a classifier."""
    mapping = {pid: i for i, pid in enumerate(sorted({t.pid for t in tracklets}))}
    return [Tracklet(pid=mapping[t.pid], camid=t.camid, frames=t.frames) for t in tracklets]
