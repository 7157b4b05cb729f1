"""GET /model: the model card, read from the ONNX metadata, and where the model runs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from service.api.deps import StateDep
from service.api.errors import ERROR_RESPONSES

router = APIRouter(tags=["model"])


@router.get("/model", responses=ERROR_RESPONSES, summary="Model card: identity, input, output, data, figures")
async def model_card(state: StateDep) -> dict[str, Any]:
    meta = state.meta
    session = state.session
    assert session is not None
    return {
        "id": meta.model_id,
        **meta.model_dump(mode="json"),
        "providers": session.providers_in_use,
        "device": session.device,
        "engine": {
            "name": session.engine.engine,
            "version": session.engine.version,
            "device": session.engine.device,
            "precision": session.engine.precision,
            "chosen_because": session.plan.reason,
            "parity": {
                "checked": session.parity.checked,
                "worst_cosine": session.parity.worst if session.parity.checked else None,
                "min_cosine": session.parity.min_cosine,
                "probe_lengths": list(session.parity.lengths),
            },
        },
        "limits": {
            "max_upload_bytes": state.settings.max_upload_bytes,
            "max_frames": state.settings.max_frames,
            "max_frame_pixels": state.settings.max_frame_pixels,
            "max_batch": state.settings.max_batch,
        },
    }
