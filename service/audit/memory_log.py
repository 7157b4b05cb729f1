"""The in-process audit trail: a bounded ring, newest events kept, with the same retention by age."""

from __future__ import annotations

import collections
import dataclasses
import itertools
import time

from service.audit.base import AuditEvent, AuditQuery


class MemoryAuditLog:
    def __init__(self, max_entries: int, retention_seconds: float) -> None:
        self._events: collections.deque[AuditEvent] = collections.deque(maxlen=max_entries)
        self._retention = retention_seconds
        self._counter = itertools.count(1)

    async def record(self, event: AuditEvent) -> None:
        self._events.append(dataclasses.replace(event, event_id=f"{next(self._counter):012d}"))
        cutoff = time.time() - self._retention
        while self._events and self._events[0].time < cutoff:
            self._events.popleft()

    async def query(self, query: AuditQuery) -> list[AuditEvent]:
        cutoff = time.time() - self._retention
        out: list[AuditEvent] = []
        for event in reversed(self._events):
            if query.before is not None and event.event_id >= query.before:
                continue
            if event.time < cutoff:
                break
            if query.accepts(event):
                out.append(event)
                if len(out) >= query.limit:
                    break
        return out

    async def close(self) -> None:
        return None
