"""GET /model: the model card, read from the ONNX metadata, and what serves it."""

from __future__ import annotations

from fastapi import APIRouter

from service import __version__
from service.api.deps import StateDep
from service.api.errors import ERROR_RESPONSES
from service.schemas import EngineCard, ModelCard, ParityCard, ServedLimits

router = APIRouter(tags=["model"])


@router.get(
    "/model",
    response_model=ModelCard,
    responses=ERROR_RESPONSES,
    summary="Model card: identity, input, output, data, figures; the engine, device and precision it runs at",
)
async def model_card(state: StateDep) -> ModelCard:
    runtime = state.loaded()
    session, settings = runtime.session, state.settings
    parity = session.parity
    engine = EngineCard(
        name=session.engine.name,
        version=session.engine.version,
        precision=session.engine.precision,
        chosen_because=session.plan.reason,
        parity=ParityCard(
            checked=parity.checked,
            worst_cosine=parity.worst if parity.checked else None,
            min_cosine=parity.min_cosine,
            probe_lengths=list(parity.lengths),
        ),
    )
    limits = ServedLimits(
        max_upload_bytes=settings.max_upload_bytes,
        max_frames=settings.max_frames,
        max_frame_pixels=settings.max_frame_pixels,
        max_batch=settings.max_batch,
    )
    return ModelCard(
        **dict(runtime.meta),
        id=runtime.meta.model_id,
        service_version=__version__,
        device=session.device,
        providers=session.providers_in_use,
        engine=engine,
        limits=limits,
    )
