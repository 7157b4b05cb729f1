"""The audit trail: who enrolled, searched, deleted or cleared what, and when; never an image or a vector.

Operators must be able to show who searched for whom. Each event records the time, the action, the
client (its key's name, or "anonymous" with its address when no keys are configured), the gallery ids
touched and the number of results. The trail is append-only and bounded (entries and age).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

Action = Literal["enroll", "match", "delete", "clear", "expire"]


@dataclass(frozen=True)
class AuditEvent:
    time: float
    action: Action
    actor: str
    model_id: str
    ids: tuple[str, ...] = ()
    results: int = 0
    event_id: str = ""  # assigned by the log: ordered, used as the paging cursor


@dataclass(frozen=True)
class AuditQuery:
    action: Action | None = None
    entry_id: str | None = None
    time_from: float | None = None
    time_to: float | None = None
    before: str | None = None  # event_id cursor: events strictly older than this one
    limit: int = 100
    extra: dict[str, str] = field(default_factory=dict)

    def accepts(self, event: AuditEvent) -> bool:
        return (
            (self.action is None or event.action == self.action)
            and (self.entry_id is None or self.entry_id in event.ids)
            and (self.time_from is None or event.time >= self.time_from)
            and (self.time_to is None or event.time <= self.time_to)
        )


class AuditLog(Protocol):
    async def record(self, event: AuditEvent) -> None:
        """Append; an event that cannot be recorded fails the request that caused it."""
        ...

    async def query(self, query: AuditQuery) -> list[AuditEvent]:
        """Newest first, filtered, at most `query.limit`."""
        ...

    async def close(self) -> None: ...
