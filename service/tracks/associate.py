"""What each track becomes in the gallery: matched to a person seen before, or a new person.

Decisions are made before anything is written, so that a request stores all of its enrolments or
none. Within one request, a track can also match a track enrolled earlier in the same request (a
person who left and came back, when the own camera is not excluded): those pending entries are
searched alongside the gallery.

One person is in one place at a time: two tracks of one clip that are on screen together are two
people, however alike they look (two men in dark coats). So within a request an id, once given to a
track, is not given to another track whose frames overlap it; the next-best candidate over the
threshold is taken, or a new id. A wrong merge is the costliest error of linking (it joins two people's
movements into one), and this is the one a clip's own timing rules out for free.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import TypeAdapter, ValidationError

from service.core.errors import BadInput
from service.gallery.base import GalleryStore, SearchFilters
from service.schemas import EntryId

PLACEHOLDERS = frozenset({"camera", "track", "start"})
DEFAULT_TEMPLATE = "{camera}:{track}"
_ENTRY_ID: TypeAdapter[str] = TypeAdapter(EntryId)


@dataclass(frozen=True)
class TrackVector:
    track_id: int
    vector: np.ndarray  # (D,) float32, unit length
    first_frame: int = 0  # the frames the track spans in its clip (1-based, inclusive); two tracks
    last_frame: int = -1  # whose spans overlap are two people. The default span overlaps nothing.

    def overlaps(self, other: TrackVector) -> bool:
        return self.first_frame <= other.last_frame and other.first_frame <= self.last_frame


# Gallery candidates looked at per track: the best one may be taken by a track on screen at once.
CANDIDATES = 8


@dataclass
class Decision:
    track_id: int
    result: Literal["matched", "enrolled"]
    gallery_id: str
    similarity: float | None = None  # to the matched entry
    matched_in_request: bool = False  # matched a track enrolled earlier in this request


def check_template(template: str) -> None:
    """Only {camera}, {track} and {start}; {track} is required, or every track would get one id."""
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as err:
        raise BadInput(f"id_template {template!r}: {err}") from None
    unknown = names - PLACEHOLDERS
    if unknown:
        raise BadInput(
            f"id_template: unknown placeholder(s) {sorted(unknown)}; use {{camera}}, {{track}}, {{start}}"
        )
    if "track" not in names:
        raise BadInput("id_template must contain {track}, or every track would get the same gallery id")


def gallery_id(template: str, camera: str, track_id: int, start_time: float | None) -> str:
    """The id of a new entry; BadInput when it is not a valid gallery id (letters, digits, . _ - : @)."""
    made = template.format(camera=camera, track=track_id, start=int(start_time or 0))
    try:
        return _ENTRY_ID.validate_python(made)
    except ValidationError:
        raise BadInput(
            f"id_template makes {made!r}, not a valid gallery id (1-128 letters, digits, . _ - : @)"
        ) from None


async def decide(
    store: GalleryStore,
    model_id: str,
    tracks: list[TrackVector],
    camera: str,
    threshold: float,
    exclude_own_camera: bool,
    new_id: dict[int, str],
) -> list[Decision]:
    """match-or-enroll, in the order given (first seen first): the best entry at or over `threshold`
    (of the gallery, other cameras only unless told otherwise, or of this request's new entries) that
    no track on screen at the same time already took, or a new entry under new_id[track]."""
    filters = SearchFilters(exclude_camera=camera if exclude_own_camera else None, min_similarity=threshold)
    pending: list[tuple[str, np.ndarray]] = []  # this request's new entries (all of this camera)
    given: dict[str, list[TrackVector]] = {}  # id -> the tracks of this request that took it
    decisions = []
    for track in tracks:

        def free(entry_id: str, track: TrackVector = track) -> bool:
            return not any(track.overlaps(other) for other in given.get(entry_id, ()))

        found = await store.search(model_id, track.vector, CANDIDATES, filters)
        best: tuple[str, float, bool] | None = next(
            ((m.entry.id, m.similarity, False) for m in found if free(m.entry.id)), None
        )
        if not exclude_own_camera and pending:
            sims = np.stack([v for _, v in pending]) @ track.vector
            for i in np.argsort(-sims):
                if sims[i] < threshold or (best is not None and sims[i] <= best[1]):
                    break
                if free(pending[i][0]):
                    best = (pending[i][0], float(sims[i]), True)
                    break
        if best is None:
            decisions.append(Decision(track.track_id, "enrolled", new_id[track.track_id]))
            pending.append((new_id[track.track_id], track.vector))
        else:
            decisions.append(Decision(track.track_id, "matched", best[0], round(best[1], 6), best[2]))
        given.setdefault(decisions[-1].gallery_id, []).append(track)
    return decisions
