"""The audit trail of enrolments, searches, deletions and clears (never images or vectors)."""

from __future__ import annotations

from service.audit.base import Action, AuditEvent, AuditLog, AuditQuery
from service.audit.memory_log import MemoryAuditLog
from service.audit.redis_log import RedisAuditLog

__all__ = ["Action", "AuditEvent", "AuditLog", "AuditQuery", "MemoryAuditLog", "RedisAuditLog", "open_audit"]


def open_audit(redis_url: str | None, namespace: str, max_entries: int, retention_seconds: float) -> AuditLog:
    """Where the gallery lives, the trail lives: Redis when configured, else process memory."""
    if redis_url is None:
        return MemoryAuditLog(max_entries, retention_seconds)
    return RedisAuditLog(redis_url, namespace, max_entries, retention_seconds)
