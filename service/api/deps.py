"""What route handlers get injected: the process's state, and who the caller is and may do."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.core.errors import Forbidden, Unauthorized
from service.core.security import NO_KEY_CONFIGURED, Principal, Role, is_local_client
from service.state import AppState


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

    Closed by default. With no key configured, a client on this host (loopback, not relayed by a
    proxy) may do everything, recorded as anonymous with its address, and any other client is refused
    unless REID_ALLOW_OPEN is set. With keys, every role needs one, reads too unless
    REID_PROTECT_READS is false; a wrong key is refused everywhere.
    """
    client = request.client.host if request.client else None
    if state.keys.open:
        if state.settings.allow_open or is_local_client(client, request.headers):
            return Principal(f"anonymous@{client or 'unknown'}", "admin")
        raise Unauthorized(NO_KEY_CONFIGURED)
    presented = presented_key(request)
    if presented is None:
        caller = Principal(f"anonymous@{client or 'unknown'}", "none")
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
