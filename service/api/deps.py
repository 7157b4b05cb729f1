"""What route handlers get injected: the process's state, and who the caller is and may do."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.core.errors import Forbidden, Unauthorized
from service.core.security import Principal, Role
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
