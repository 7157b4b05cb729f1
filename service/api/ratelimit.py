"""Per-client rate limits, so that one client cannot starve the others: a token bucket per address and
one per API key presented; the rules are in docs/api.md.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from service.api.deps import presented_key
from service.api.errors import error_response

EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
MAX_BUCKETS = 100_000
_EVICT_PER_CALL = 16  # idle buckets dropped per request at most: constant work, and enough


class TokenBuckets:
    """Named token buckets of one rate and capacity; `take` is all-or-nothing over several names."""

    def __init__(
        self,
        per_minute: float,
        burst: int,
        *,
        max_buckets: int = MAX_BUCKETS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_minute <= 0 or burst < 1 or max_buckets < 1:
            raise ValueError("per_minute must be > 0, burst and max_buckets >= 1")
        self.rate = per_minute / 60.0  # tokens a second
        self.burst = float(burst)
        self.max_buckets = max_buckets
        self._clock = clock
        self._refill_s = self.burst / self.rate  # an idle bucket is full again after this long
        # name -> (tokens, time of that count), least recently used first
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def _level(self, name: str, now: float) -> float:
        held = self._buckets.get(name)
        if held is None:
            return self.burst
        tokens, then = held
        return min(self.burst, tokens + (now - then) * self.rate)

    def take(self, names: Sequence[str]) -> tuple[float, str | None]:
        """One token from every named bucket: (0.0, None), or, when one is empty, nothing is taken
        and (seconds until it holds a token, its name)."""
        now = self._clock()
        self._evict(now)
        levels = [self._level(name, now) for name in names]
        for name, level in zip(names, levels, strict=True):
            if level < 1.0:
                return (1.0 - level) / self.rate, name
        for name, level in zip(names, levels, strict=True):
            self._buckets[name] = (level - 1.0, now)
            self._buckets.move_to_end(name)
        while len(self._buckets) > self.max_buckets:
            self._buckets.popitem(last=False)
        return 0.0, None

    def _evict(self, now: float) -> None:
        """Drop buckets that have refilled while idle; the oldest are first in line."""
        for _ in range(_EVICT_PER_CALL):
            oldest = next(iter(self._buckets.items()), None)
            if oldest is None or now - oldest[1][1] < self._refill_s:
                return
            del self._buckets[oldest[0]]


def key_bucket(key: str) -> str:
    return "key:" + hashlib.sha256(key.encode()).hexdigest()[:32]


class RateLimit:
    """ASGI middleware: 429 `rate_limited` with `Retry-After` over the per-client limits."""

    def __init__(
        self,
        app: ASGIApp,
        per_minute: int,
        burst: int,
        *,
        exempt: Iterable[str] = EXEMPT_PATHS,
        max_buckets: int = MAX_BUCKETS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.per_minute = per_minute
        self.exempt = frozenset(exempt)
        self.buckets = (
            TokenBuckets(per_minute, burst, max_buckets=max_buckets, clock=clock) if per_minute > 0 else None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.buckets is None or scope["type"] != "http" or scope.get("path") in self.exempt:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        names = [f"ip:{client[0] if client else 'unknown'}"]
        key = presented_key(Request(scope))
        if key:
            names.append(key_bucket(key))
        wait, empty = self.buckets.take(names)
        if empty is None:
            await self.app(scope, receive, send)
            return
        retry_after = max(1, math.ceil(wait))
        who = "this API key" if empty.startswith("key:") else "this client address"
        response = error_response(
            429,
            "rate_limited",
            f"too many requests from {who}: the limit is {self.per_minute} a minute "
            f"(bursts of {int(self.buckets.burst)}); retry in {retry_after} s",
        )
        response.headers["Retry-After"] = str(retry_after)
        await response(scope, receive, send)
