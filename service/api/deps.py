"""What route handlers get injected: the process's state, and who the caller is and may do."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from reid_contract import ModelMetadata
from service.audit import Action, AuditEvent, AuditLog
from service.core.config import Settings
from service.core.errors import Forbidden, NotReady, Unauthorized
from service.core.metrics import Metrics
from service.core.security import KeyRing, Principal, Role
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

    async def audit_event(
        self, principal: Principal, action: Action, ids: tuple[str, ...] = (), results: int = 0
    ) -> None:
        event = AuditEvent(time.time(), action, principal.name, self.meta.model_id, ids, results)
        await self.audit.record(event)


def get_state(request: Request) -> AppState:
    return request.app.state.reid


StateDep = Annotated[AppState, Depends(get_state)]


def presented_key(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return request.headers.get("x-api-key")


def authorize(request: Request, state: AppState, role: Role) -> Principal:
    """The caller, checked for `role`: 401 for a missing or wrong key, 403 for a key without the role.

    With no key configured everything is open and the caller is recorded as anonymous with its
    address. Reads need no key unless REID_PROTECT_READS is set; a wrong key is refused everywhere.
    """
    client = request.client.host if request.client else "unknown"
    if state.keys.open:
        return Principal(f"anonymous@{client}", "admin")
    presented = presented_key(request)
    if presented is None:
        caller = Principal(f"anonymous@{client}", "none")
    else:
        found = state.keys.identify(presented)
        if found is None:
            raise Unauthorized("the API key is not valid")
        caller = found
    needed: Role = "none" if role == "read" and not state.settings.protect_reads else role
    if caller.may(needed):
        return caller
    if caller.role == "none":
        raise Unauthorized(
            f"this call needs an API key with the {role} role: send 'Authorization: Bearer <key>'"
        )
    raise Forbidden(f"key {caller.name!r} has the {caller.role} role; this call needs {role}")


class Need:
    """`Depends(Need("write"))`: the authorised caller of a route."""

    def __init__(self, role: Role) -> None:
        self.role = role

    def __call__(self, request: Request, state: StateDep) -> Principal:
        return authorize(request, state, self.role)


Reader = Annotated[Principal, Depends(Need("read"))]
Writer = Annotated[Principal, Depends(Need("write"))]
Admin = Annotated[Principal, Depends(Need("admin"))]
