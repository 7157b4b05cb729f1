"""The retention sweeper: erases entries whose time is up, once a second, and reports what it erased.

Reads never return an expired entry anyway (each replica drops them by time); the sweep is what
removes them from the store for good (in Redis: the id from the ids and expiry sets, and a delete in
the change stream), so that they are gone everywhere without anyone asking.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from service.core.errors import ServiceError
from service.gallery.base import GalleryStore

log = logging.getLogger("service.retention")


async def sweep_forever(
    store: GalleryStore,
    model_id: str,
    on_expired: Callable[[list[str]], Awaitable[None]],
    interval_s: float = 1.0,
) -> None:
    failing = False
    while True:
        try:
            gone = await store.expire(model_id, time.time())
            if gone:
                log.info("retention: %d entries expired", len(gone))
                await on_expired(gone)
            failing = False
        except ServiceError as exc:  # Redis away: try again next time, say so once
            if not failing:
                log.warning("retention sweep failed (%s); retrying every %.0f s", exc.code, interval_s)
            failing = True
        await asyncio.sleep(interval_s)
