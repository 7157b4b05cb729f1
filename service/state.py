"""What one service process holds, as the composition root (service/build.py) made it from the settings.

Two parts, made once each: `AppState`, everything the settings alone make (built with the app), and
`Runtime`, what exists once the model is loaded and warm (built by the lifespan). Until then
`runtime` is None and whatever needs the model answers 503 (`NotReady`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from reid_contract import ModelMetadata
from service.audit import Action, AuditEvent, AuditLog
from service.core.budget import MemoryBudget
from service.core.config import Settings
from service.core.errors import NotReady
from service.core.metrics import Metrics
from service.core.security import KeyRing, Principal
from service.detection.detector import SharedDetector
from service.gallery.base import GalleryStore
from service.inference.batcher import MicroBatcher
from service.inference.embedder import Embedder
from service.inference.session import ModelSession
from service.media.decode import MediaLimits
from service.tracks.config import TracksConfig


@dataclass(frozen=True)
class Runtime:
    """The loaded model and what serves it; `budget` is sized once the model is loaded (what the
    process then holds is not the requests' to use)."""

    session: ModelSession
    batcher: MicroBatcher
    embedder: Embedder
    budget: MemoryBudget
    # the person detector of footage sent without a tracker file; None where REID_DETECTOR_PATH is empty
    detector: SharedDetector | None = None

    @property
    def meta(self) -> ModelMetadata:
        return self.session.metadata


@dataclass
class AppState:
    settings: Settings
    metrics: Metrics
    store: GalleryStore
    gallery: str  # where the store keeps the gallery: memory, redis
    audit: AuditLog
    keys: KeyRing
    limits: MediaLimits
    tracks: TracksConfig
    runtime: Runtime | None = None  # set once by the lifespan, when the model is loaded and warm
    stopping: bool = False  # set when the process shuts down: no new embeddings

    @property
    def ready(self) -> bool:
        return self.runtime is not None and not self.stopping

    def loaded(self) -> Runtime:
        """The runtime, whether or not it still takes new work (the model's identity, the budget)."""
        if self.runtime is None:
            raise NotReady("the model is still loading")
        return self.runtime

    def serving(self) -> Runtime:
        """The runtime, for new embeddings: refused while the model loads or the process stops."""
        if self.runtime is None or self.stopping:
            raise NotReady("the model is still loading")
        return self.runtime

    def budget(self) -> MemoryBudget | None:
        """The memory budget once the model is loaded; None before (nothing to reserve from yet)."""
        return None if self.runtime is None else self.runtime.budget

    @property
    def meta(self) -> ModelMetadata:
        return self.loaded().meta

    async def audit_event(
        self, principal: Principal, action: Action, ids: tuple[str, ...] = (), results: int = 0
    ) -> None:
        event = AuditEvent(time.time(), action, principal.name, self.meta.model_id, ids, results)
        await self.audit.record(event)

    async def count_gallery(self) -> None:
        """The gallery-size gauge after a change."""
        self.metrics.gallery_size.set(await self.store.count(self.meta.model_id))
