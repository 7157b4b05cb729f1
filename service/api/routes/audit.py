"""GET /audit: the trail of enrolments, searches, deletions and clears (admin keys only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from service.api.deps import Admin, StateDep
from service.api.errors import ERROR_RESPONSES
from service.audit import Action, AuditQuery
from service.schemas import AuditPage, AuditRecord

router = APIRouter(tags=["audit"])


@router.get(
    "/audit", response_model=AuditPage, responses=ERROR_RESPONSES, summary="Audit trail, newest first"
)
async def read_audit(
    state: StateDep,
    caller: Admin,
    action: Action | None = None,
    entry_id: Annotated[str | None, Query(alias="id", max_length=128)] = None,
    time_from: float | None = None,
    time_to: float | None = None,
    before: Annotated[str | None, Query(max_length=64, description="`next` of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditPage:
    query = AuditQuery(
        action=action, entry_id=entry_id, time_from=time_from, time_to=time_to, before=before, limit=limit
    )
    events = await state.audit.query(query)
    items = [AuditRecord.of(e) for e in events]
    return AuditPage(items=items, next=items[-1].event_id if len(items) == limit else None)
