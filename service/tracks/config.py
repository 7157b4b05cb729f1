"""What POST /tracks is allowed and told, as the composition root makes it once from the settings."""

from __future__ import annotations

from dataclasses import dataclass

from service.tracks.crops import FootageLimits
from service.tracks.plan import CropRules


@dataclass(frozen=True)
class TracksConfig:
    limits: FootageLimits
    rules: CropRules
    # tracks embedding at once: enough to fill batches, few enough not to flood the queue
    tracks_in_flight: int
