"""The tracker file written back with each track id replaced by the gallery id it became.

With match-or-enroll that id is the person's global id: the same on every camera where the person was
matched, so that a multi-camera tracker can join its per-camera tracks by reading one column. Lines are
MOTChallenge's `frame,id,x,y,w,h,conf,-1,-1,-1` in frame order, the id now a gallery id (text); tracks
without one (skipped) are left out, the response says why.
"""

from __future__ import annotations

from collections.abc import Mapping

from service.tracks.trackfile import TrackerFile


def relabelled_mot(tracker: TrackerFile, gallery_ids: Mapping[int, str]) -> str:
    """Every box of the tracks in `gallery_ids`, under that id; floats written as compactly as exact."""
    rows = [
        (box.frame, gallery_ids[track_id], box)
        for track_id, boxes in tracker.tracks.items()
        if track_id in gallery_ids
        for box in boxes
    ]
    rows.sort(key=lambda row: (row[0], row[1]))
    lines = [
        ",".join(
            [str(frame), gid, *(_num(v) for v in (box.x, box.y, box.w, box.h)), _num(box.conf), "-1,-1,-1"]
        )
        for frame, gid, box in rows
    ]
    return "".join(line + "\n" for line in lines)


def _num(value: float | None) -> str:
    """12.0 -> "12", 12.5 -> "12.5"; None (no score) -> "-1" as MOTChallenge writes it."""
    return "-1" if value is None else format(value, ".10g")
