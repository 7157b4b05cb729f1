"""What route handlers get injected: the process's state and the write-key check."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from reid_contract import ModelMetadata
from service.core.config import Settings
from service.core.errors import NotReady, Unauthorized
from service.core.metrics import Metrics
from service.gallery.base import GalleryStore
from service.inference.embedder import Embedder
from service.inference.session import ModelSession
from service.media.decode import MediaLimits


@dataclass
class AppState:
    settings: Settings
    metrics: Metrics
    store: GalleryStore
    limits: MediaLimits
    session: ModelSession | None = None
    embedder: Embedder | None = None
    ready: bool = False
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def meta(self) -> ModelMetadata:
        if self.session is None:
            raise NotReady("the model is still loading")
        return self.session.metadata

    def require_embedder(self) -> Embedder:
        if self.embedder is None or not self.ready:
            raise NotReady("the model is still loading")
        return self.embedder


def get_state(request: Request) -> AppState:
    return request.app.state.reid


StateDep = Annotated[AppState, Depends(get_state)]


def presented_key(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return request.headers.get("x-api-key")


def require_write_key(request: Request, state: StateDep) -> None:
    """Writes (enroll, delete, clear) need the API key when one is configured; compared in constant time."""
    expected = state.settings.api_key
    if expected is None:
        return
    given = presented_key(request)
    if given is None or not hmac.compare_digest(given.encode(), expected.get_secret_value().encode()):
        raise Unauthorized("this endpoint needs the API key: send 'Authorization: Bearer <key>'")


WriteKey = Depends(require_write_key)
