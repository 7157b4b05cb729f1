"""POST /tracks and /embed under the process's memory budget, over real HTTP: a request that cannot
fit answers 503 with Retry-After (or 413 when it alone is larger than the budget), never takes the
process down, and gives back all it reserved."""

from __future__ import annotations

import cv2
import numpy as np
from footage import Footage

from devtools.harness import LiveServer, ServerFactory
from service.state import Runtime

MIB = 1024 * 1024


def state_of(server: LiveServer) -> Runtime:
    return server.server.config.app.state.reid.runtime


def tracks_upload(footage: Footage) -> dict:
    return {
        "files": {
            "video": (f"{footage.camera}.mp4", footage.video, "video/mp4"),
            "tracks": (f"{footage.camera}.txt", footage.mot().encode(), "text/plain"),
        },
        "data": {"camera": footage.camera, "action": "embed"},
    }


def test_a_clip_larger_than_the_whole_budget_is_413_and_the_service_goes_on(
    serve: ServerFactory, cameras: tuple[Footage, Footage]
) -> None:
    server = serve(memory_budget_bytes=64 * 1024)
    with server.client() as client:
        answer = client.post("/tracks", **tracks_upload(cameras[0]))
        assert answer.status_code == 413, answer.text
        assert "REID_MEMORY_BUDGET_BYTES" in answer.json()["error"]["message"]
        assert client.get("/readyz").status_code == 200
    assert state_of(server).budget.in_use == 0


def test_a_clip_that_does_not_fit_beside_others_waits_then_is_503_with_retry_after(
    serve: ServerFactory, cameras: tuple[Footage, Footage]
) -> None:
    server = serve(memory_budget_bytes=256 * MIB, memory_budget_wait_s=0.3)
    budget = state_of(server).budget
    others = budget.acquire(budget.limit - 1024, "other requests")
    with server.client() as client:
        busy = client.post("/tracks", **tracks_upload(cameras[0]))
        assert busy.status_code == 503, busy.text
        assert busy.json()["error"]["code"] == "memory_busy" and int(busy.headers["Retry-After"]) >= 1
        png = cv2.imencode(".png", np.full((64, 32, 3), 128, np.uint8))[1].tobytes()
        frame = {"files": [("frames", ("f.png", png, "image/png"))]}
        embed_busy = client.post("/embed", **frame)
        assert embed_busy.status_code == 503 and "Retry-After" in embed_busy.headers
        others.release()
        done = client.post("/tracks", **tracks_upload(cameras[0]))
        assert done.status_code == 200, done.text
        assert any(t["result"] == "embedded" for t in done.json()["tracks"])
        assert client.post("/embed", **frame).status_code == 200
    assert budget.in_use == 0 and budget.peak > 0  # everything reserved was given back
