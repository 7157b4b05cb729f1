"""The audit trail in Redis: one append-only stream per namespace, bounded in length and in age.

XADD with MAXLEN and XTRIM with MINID (exact: audit volume is small) trim in the transaction that
appends, so the trail never outgrows its retention even when nobody reads it. Shared by every
replica of the service on the same Redis.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from service.audit.base import AuditEvent, AuditQuery
from service.core.errors import StoreUnavailable

PAGE = 500  # stream entries read per round trip while filtering


@contextmanager
def _unreachable() -> Iterator[None]:
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        raise StoreUnavailable(f"audit trail (Redis) unreachable: {exc}") from exc


class RedisAuditLog:
    def __init__(
        self, url: str, namespace: str, max_entries: int, retention_seconds: float, timeout_s: float = 2.0
    ) -> None:
        self.key = f"{namespace}:audit"
        self._max = max_entries
        self._retention = retention_seconds
        # As the gallery store's client: one quick retry on a broken connection, so that the first
        # write after a Redis restart reconnects instead of failing an enrolment that was stored.
        self._client: aioredis.Redis = aioredis.Redis.from_url(
            url,
            socket_connect_timeout=timeout_s,
            socket_timeout=timeout_s,
            retry=Retry(ExponentialBackoff(cap=0.2, base=0.05), 1, supported_errors=(RedisConnectionError,)),
        )

    async def record(self, event: AuditEvent) -> None:
        fields = {
            "time": repr(event.time),
            "action": event.action,
            "actor": event.actor,
            "model_id": event.model_id,
            "ids": json.dumps(list(event.ids)),
            "results": str(event.results),
        }
        oldest_ms = int((time.time() - self._retention) * 1000)
        with _unreachable():
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.xadd(self.key, fields, maxlen=self._max, approximate=False)
                pipe.xtrim(self.key, minid=f"{oldest_ms}-0", approximate=False)
                await pipe.execute()

    async def query(self, query: AuditQuery) -> list[AuditEvent]:
        upper = f"({query.before}" if query.before else "+"
        lower = f"{int(query.time_from * 1000)}-0" if query.time_from is not None else "-"
        out: list[AuditEvent] = []
        with _unreachable():
            while len(out) < query.limit:
                rows = await self._client.xrevrange(self.key, max=upper, min=lower, count=PAGE)
                for raw_id, fields in rows:
                    event = _event(raw_id.decode(), fields)
                    if query.accepts(event):
                        out.append(event)
                        if len(out) >= query.limit:
                            break
                if len(rows) < PAGE:
                    break
                upper = f"({rows[-1][0].decode()}"
        return out

    async def close(self) -> None:
        await self._client.aclose()


def _event(event_id: str, fields: dict[bytes, bytes]) -> AuditEvent:
    get = {k.decode(): v.decode() for k, v in fields.items()}
    return AuditEvent(
        time=float(get["time"]),
        action=get["action"],  # type: ignore[arg-type]
        actor=get["actor"],
        model_id=get["model_id"],
        ids=tuple(json.loads(get["ids"])),
        results=int(get["results"]),
        event_id=event_id,
    )
