"""Tracking with a maintained tracker from the registry: ByteTrack from roboflow's `trackers`
(Apache-2.0), the tracker issue 41's first measurements on PETS09-S2L1 used.

`trackers` and `supervision` (its box type) are installed without their own requirements
(`pip install --no-deps`, as scripts/setup does for deep-sort-realtime): `trackers` asks for the GUI
build `opencv-python`, which would overwrite the headless OpenCV the service runs on, and
`supervision` for PyAV and matplotlib, which nothing here imports. What they do import is in the
service's dependencies (pyproject.toml). Without them the footage path is refused with the command
that installs them; everything else runs.

The tracker is fed timestamps (frame index / the video's frame rate), so that detecting on every
n-th frame keeps its motion model and its lost-track time in seconds of video, whatever the stride.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from service.inference.engine import EngineUnavailable

INSTALL = "pip install --no-deps trackers==2.6.1 supervision==0.31.2"


@dataclass(frozen=True)
class TrackerOptions:
    """ByteTrack's parameters. The defaults are `trackers`' own (ByteTrack's paper's, with a
    lost-track time of one second), with which the issue measured HOTA 0.49 / IDF1 0.68 / MOTA 0.74
    on PETS09-S2L1 at a detector confidence of 0.3: nothing here was tuned to that clip."""

    # how long a track that lost its person waits for them, in seconds of video: a person hidden for
    # longer comes back under a new track id (re-identification may link the two afterwards)
    lost_seconds: float = 1.0
    # a detection starts a new track only at this confidence or over
    activation_confidence: float = 0.7
    # ByteTrack's two stages: boxes at this confidence or over are matched first; the lower ones
    # (down to the detector's confidence) only continue tracks already there, through occlusions
    high_confidence: float = 0.6
    # the overlap a detection needs with a track's predicted box to continue it
    min_iou: float = 0.1
    # detections in a row before a track gets an id (its boxes before that are not reported)
    min_consecutive: int = 2

    def check(self) -> None:
        """ValueError naming the option out of range."""
        if not (self.lost_seconds >= 0 and np.isfinite(self.lost_seconds)):
            raise ValueError(f"lost_seconds must be a finite number >= 0, got {self.lost_seconds}")
        for name in ("activation_confidence", "high_confidence", "min_iou"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"{name} must lie in [0, 1], got {value}")
        if self.min_consecutive < 1:
            raise ValueError(f"min_consecutive must be at least 1, got {self.min_consecutive}")


class PersonTracker:
    """One video's ByteTrack: `update` with each detected frame's boxes, in frame order."""

    def __init__(self, options: TrackerOptions, fps: float) -> None:
        options.check()
        if not fps > 0:
            raise ValueError(f"the frame rate must be positive, got {fps}")
        try:
            import supervision as sv
            from trackers import ByteTrackTracker
        except ImportError as exc:
            raise EngineUnavailable(
                f"tracking footage needs roboflow's trackers and supervision ({exc}); install them with "
                f"`{INSTALL}`"
            ) from None
        self._sv: Any = sv
        self.fps = fps
        self._tracker = ByteTrackTracker(
            lost_track_buffer=round(options.lost_seconds * 30),  # trackers counts it in 30 fps frames
            frame_rate=fps,
            track_activation_threshold=options.activation_confidence,
            minimum_consecutive_frames=options.min_consecutive,
            minimum_iou_threshold=options.min_iou,
            high_conf_det_threshold=options.high_confidence,
        )

    def update(self, index: int, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The boxes (n, 5) `x1, y1, x2, y2, conf` of 0-based frame `index` -> (ids (m,) int, boxes
        (m, 5)) of the confirmed tracks among them (ids from 1, as MOTChallenge writes them)."""
        detections = self._sv.Detections(
            xyxy=boxes[:, :4].astype(np.float32), confidence=boxes[:, 4].astype(np.float32)
        )
        tracked = self._tracker.update(detections, timestamp=index / self.fps)
        ids = np.asarray(tracked.tracker_id, dtype=np.int64)
        keep = ids >= 0
        out = np.empty((int(keep.sum()), 5), dtype=np.float32)
        out[:, :4] = tracked.xyxy[keep]
        out[:, 4] = tracked.confidence[keep] if tracked.confidence is not None else -1.0
        return ids[keep] + 1, out
