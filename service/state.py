"""What one service process holds: its settings, stores, keys and, once loaded, the model."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from reid_contract import ModelMetadata
from service.audit import Action, AuditEvent, AuditLog
from service.core.budget import MemoryBudget
from service.core.config import Settings
from service.core.errors import NotReady
from service.core.metrics import Metrics
from service.core.security import KeyRing, Principal
from service.gallery.base import GalleryStore
from service.inference.embedder import Embedder
from service.inference.session import ModelSession
from service.media.decode import MediaLimits


@dataclass
class AppState:
    settings: Settings
    metrics: Metrics
    store: GalleryStore
    audit: AuditLog
    keys: KeyRing
    limits: MediaLimits
    session: ModelSession | None = None
    embedder: Embedder | None = None
    ready: bool = False
    # set at start from the settings and the pod's limit (main.py); unbounded until then
    budget: MemoryBudget = field(default_factory=lambda: MemoryBudget(1 << 62))

    @property
    def meta(self) -> ModelMetadata:
        if self.session is None:
            raise NotReady("the model is still loading")
        return self.session.metadata

    def require_embedder(self) -> Embedder:
        if self.embedder is None or not self.ready:
            raise NotReady("the model is still loading")
        return self.embedder

    async def audit_event(
        self, principal: Principal, action: Action, ids: tuple[str, ...] = (), results: int = 0
    ) -> None:
        event = AuditEvent(time.time(), action, principal.name, self.meta.model_id, ids, results)
        await self.audit.record(event)
