"""The composition root: the components the settings choose, made without connecting or loading."""

from __future__ import annotations

import asyncio

from service.build import build_state, build_store
from service.core.config import Settings
from service.core.metrics import Metrics
from service.gallery import MemoryStore
from service.gallery.redis_store import RedisStore


def test_ping_and_open_store() -> None:
    async def body() -> None:
        _, store = build_store(Settings(redis_url=None))
        assert isinstance(store, MemoryStore) and await store.ping()
        await store.close()
        # connects lazily: no error yet
        _, redis_store = build_store(Settings(redis_url="redis://127.0.0.1:1/0"))
        assert isinstance(redis_store, RedisStore)
        await redis_store.close()

    asyncio.run(body())


def test_the_state_is_built_once_from_the_settings_and_waits_for_the_model() -> None:
    settings = Settings(redis_url=None, tracks_max_crops=77, tracks_in_flight=3, max_frames=99)
    state = build_state(settings, Metrics())
    assert state.gallery == "memory" and state.runtime is None and not state.ready
    assert state.tracks.rules.max_crops == 77 and state.tracks.tracks_in_flight == 3
    assert state.tracks.limits.media is state.limits and state.limits.max_frames == 99
    assert state.budget() is None  # no budget to reserve from before the model is loaded
