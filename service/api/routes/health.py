"""Liveness, readiness and metrics, apart as Kubernetes, Triton and TEI users expect them."""

from __future__ import annotations

import contextlib

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from service import __version__
from service.api.deps import StateDep
from service.core.errors import ServiceError
from service.schemas import Health, Readiness

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    response_model=Health,
    summary="The process is alive; the service's version and, once loaded, the model's",
)
async def healthz(state: StateDep) -> Health:
    model_version = state.runtime.meta.version if state.runtime is not None else None
    return Health(status="ok", service_version=__version__, model_version=model_version)


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "model not loaded or gallery unreachable"}},
    summary="Model loaded and warmed, gallery store reachable",
)
async def readyz(state: StateDep) -> JSONResponse:
    reachable = await state.store.ping()
    session = state.runtime.session if state.runtime is not None else None
    body = Readiness(
        ready=state.ready and reachable,
        model=session.metadata.model_id if session is not None else None,
        engine=session.engine.name if session is not None else None,
        precision=session.engine.precision if session is not None else None,
        providers=session.providers_in_use if session is not None else [],
        gallery=state.gallery,
        gallery_reachable=reachable,
    )
    return JSONResponse(body.model_dump(), status_code=200 if body.ready else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(state: StateDep) -> Response:
    if state.runtime is not None:
        with contextlib.suppress(ServiceError):  # an unreachable store must not break the scrape
            model_id = state.runtime.meta.model_id
            state.metrics.gallery_size.set(await state.store.count(model_id))
            state.metrics.gallery_indexed.set(1.0 if await state.store.approximate(model_id) else 0.0)
    return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
