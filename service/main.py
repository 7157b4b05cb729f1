"""The application factory and the `reid-serve` / `python -m service` entry point.

`create_app(settings)` builds everything from one `Settings` object through the composition root
(service/build.py); the model is loaded and warmed in the lifespan (off the event loop), so `/healthz`
answers at once and `/readyz` turns ready when the model can serve.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import uvicorn
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from service import __version__
from service.api import errors
from service.api.middleware import BodyLimit, RequestMetrics
from service.api.ratelimit import RateLimit
from service.api.routes import audit, docs, embed, gallery, health, match, model, tracks, ui
from service.build import build_state, load_runtime
from service.core.config import Settings
from service.core.memory import limit_malloc_arenas
from service.core.metrics import Metrics
from service.core.security import Principal, describe_access
from service.gallery.retention import sweep_forever
from service.state import AppState

log = logging.getLogger("service")

# Multipart framing around the files themselves; the per-file limits are applied after parsing.
BODY_OVERHEAD = 1024 * 1024

DESCRIPTION = (
    "Tracklets, or a camera's clip and its tracker's boxes, in; sequence embeddings, gallery matches "
    "and global ids out. The model served, its version and what runs it: GET /model."
)


def lifespan_of(state: AppState) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Load the model and serve it until the app stops: the runtime is made once, here."""

    async def record_expiry(ids: list[str]) -> None:
        await state.audit_event(Principal("retention", "admin"), "expire", tuple(ids), len(ids))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        log.log(*describe_access(state.keys, state.settings.allow_open, state.settings.protect_reads))
        runtime = await load_runtime(state.settings, state.metrics)
        state.runtime = runtime
        info = runtime.session.engine
        log.info(
            "ready: model %s on %s %s (%s, %s), gallery %s (service %s)",
            runtime.meta.model_id,
            info.name,
            info.version,
            info.device,
            info.precision,
            state.gallery,
            __version__,
        )
        retention = asyncio.create_task(
            sweep_forever(state.store, runtime.meta.model_id, record_expiry), name="reid-retention"
        )
        try:
            yield
        finally:
            retention.cancel()
            state.stopping = True
            await runtime.batcher.close()
            await state.store.close()
            await state.audit.close()

    return lifespan


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    state = build_state(settings, Metrics())
    app = FastAPI(
        title="Video person re-identification",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan_of(state),
        docs_url=None,  # /docs and /redoc with their files served here: docs.install
        redoc_url=None,
    )
    app.state.reid = state
    for router in (embed, match, tracks, gallery, audit, model, health):
        app.include_router(router.router)
    ui.install(app)
    docs.install(app)
    errors.install(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST", "DELETE"]
        )
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_upload_bytes + BODY_OVERHEAD,
        budget=state.budget,
        upload_limit=settings.max_upload_bytes,
    )
    app.add_middleware(RateLimit, per_minute=settings.rate_limit_per_minute, burst=settings.rate_limit_burst)
    app.add_middleware(RequestMetrics, metrics=state.metrics)
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
