"""The application factory and the `reid-serve` / `python -m service` entry point.

`create_app(settings)` builds everything from one `Settings` object; the model is loaded and warmed
in the lifespan (off the event loop), so `/healthz` answers at once and `/readyz` turns ready when
the model can serve.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from service.api import errors
from service.api.middleware import BodyLimit, RequestMetrics
from service.api.ratelimit import RateLimit
from service.api.routes import audit, embed, gallery, health, match, model, tracks, ui
from service.audit import open_audit
from service.core.budget import MIB, MemoryBudget, budget_from_limit, cgroup_memory_limit, physical_memory
from service.core.config import Settings
from service.core.memory import limit_malloc_arenas, resident_bytes, trim_heap
from service.core.metrics import Metrics
from service.core.security import KeyRing, Principal
from service.gallery import matrix_factory, open_store
from service.gallery.retention import sweep_forever
from service.inference.batcher import MicroBatcher
from service.inference.embedder import Embedder
from service.inference.session import ModelSession
from service.media.decode import MediaLimits
from service.state import AppState

log = logging.getLogger("service")

# Multipart framing around the files themselves; the per-file limits are applied after parsing.
BODY_OVERHEAD = 1024 * 1024


def memory_budget(settings: Settings) -> MemoryBudget:
    """The requests' memory budget, once the model is loaded (what the process then holds is not the
    requests' to use)."""
    limit = settings.memory_limit_bytes or cgroup_memory_limit() or physical_memory()
    resident = resident_bytes()
    size = settings.memory_budget_bytes or budget_from_limit(limit, settings.memory_budget_fraction, resident)
    log.info(
        "memory budget for requests: %d MiB (limit %d MiB, %d MiB resident at start)",
        size // MIB,
        limit // MIB,
        resident // MIB,
    )
    return MemoryBudget(size, settings.memory_budget_wait_s, on_idle=trim_heap)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    metrics = Metrics()
    state = AppState(
        settings=settings,
        metrics=metrics,
        store=open_store(
            settings.redis_url,
            settings.redis_namespace,
            matrix_factory(
                settings.gallery_index,
                min_rows=settings.gallery_index_min_rows,
                nprobe=settings.gallery_index_nprobe,
            ),
        ),
        audit=open_audit(
            settings.redis_url,
            settings.redis_namespace,
            settings.audit_max_entries,
            settings.audit_retention_days * 86400,
        ),
        keys=KeyRing.from_settings(
            [k.get_secret_value() for k in settings.api_keys],
            settings.api_key.get_secret_value() if settings.api_key else None,
        ),
        limits=MediaLimits(
            max_bytes=settings.max_upload_bytes,
            max_frames=settings.max_frames,
            max_frame_pixels=settings.max_frame_pixels,
            max_archive_members=settings.max_archive_members,
        ),
    )

    async def record_expiry(ids: list[str]) -> None:
        await state.audit_event(Principal("retention", "admin"), "expire", tuple(ids), len(ids))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if state.keys.open:
            log.warning("no API key is set: anyone who reaches the service can change the gallery")
        session = await asyncio.to_thread(ModelSession.from_settings, settings)
        await asyncio.to_thread(session.warmup)
        state.budget = memory_budget(settings)
        metrics.track_budget(state.budget)
        batcher = MicroBatcher.from_settings(
            session.run,
            settings,
            on_batch=metrics.observe_batch,
            engine_frames_per_call=session.engine.frames_per_call,
        )
        batcher.start()
        metrics.track_queue(lambda: batcher.queue_depth)
        info = session.engine
        metrics.describe_engine(info.engine, info.version, info.device, info.precision, session.parity.worst)
        state.session, state.embedder = session, Embedder(session, batcher)
        state.ready = True
        log.info(
            "ready: model %s on %s %s (%s, %s), gallery %s",
            session.metadata.model_id,
            info.engine,
            info.version,
            info.device,
            info.precision,
            "redis" if settings.redis_url else "in-process memory",
        )
        retention = asyncio.create_task(
            sweep_forever(state.store, session.metadata.model_id, record_expiry), name="reid-retention"
        )
        try:
            yield
        finally:
            retention.cancel()
            state.ready = False
            await batcher.close()
            await state.store.close()
            await state.audit.close()

    app = FastAPI(
        title="Video person re-identification",
        version="1.0.0",
        description="Tracklets in, sequence embeddings and gallery matches out (GRU-RCN, Wu et al. 2016).",
        lifespan=lifespan,
    )
    app.state.reid = state
    routers = (embed, match, tracks, gallery, audit, model, health)
    for router in (r.router for r in routers):
        app.include_router(router)
    ui.install(app)
    errors.install(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST", "DELETE"]
        )
    app.add_middleware(
        BodyLimit, max_bytes=settings.max_upload_bytes + BODY_OVERHEAD, budget=lambda: state.budget
    )
    app.add_middleware(RateLimit, per_minute=settings.rate_limit_per_minute, burst=settings.rate_limit_burst)
    app.add_middleware(RequestMetrics, metrics=metrics)
    return app


def run(settings: Settings | None = None) -> None:
    settings = settings or Settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Before any thread: arenas made earlier are not bounded.
    limit_malloc_arenas(settings.malloc_arena_max)
    if settings.workers > 1:
        # Spawned workers start a fresh C library, which reads the same bound from its environment.
        if settings.malloc_arena_max > 0:
            os.environ["MALLOC_ARENA_MAX"] = str(settings.malloc_arena_max)
        # Each worker builds its own app (own model session, own gallery replica) from the environment.
        uvicorn.run(
            "service.main:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_level=settings.log_level,
        )
    else:
        uvicorn.run(
            create_app(settings), host=settings.host, port=settings.port, log_level=settings.log_level
        )
