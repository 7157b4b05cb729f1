"""Large upload bodies reserve their bytes from the memory budget before they are read."""

from __future__ import annotations

import numpy as np

from devtools.harness import ServerFactory

KIB = 1024


def big_png() -> bytes:
    """A PNG of noise (incompressible): about 600 KiB, over the size from which bodies reserve."""
    import cv2

    noise = np.random.default_rng(0).integers(0, 256, (460, 440, 3), dtype=np.uint8)
    return cv2.imencode(".png", noise)[1].tobytes()


def test_a_body_waits_for_the_budget_then_is_refused_with_retry_after(serve: ServerFactory) -> None:
    server = serve(memory_budget_bytes=64 * 1024 * KIB, memory_budget_wait_s=0.2)
    budget = server.server.config.app.state.reid.runtime.budget
    png = big_png()
    assert len(png) > 256 * KIB
    files = {"files": [("frames", ("big.png", png, "image/png"))]}
    with server.client() as client:
        held = budget.acquire(budget.limit - 256 * KIB, "others")
        busy = client.post("/embed", **files)
        assert busy.status_code == 503 and busy.json()["error"]["code"] == "memory_busy"
        assert int(busy.headers["Retry-After"]) >= 1
        held.release()
        assert client.post("/embed", **files).status_code == 200
    assert budget.in_use == 0


def test_a_body_larger_than_the_whole_budget_is_413(serve: ServerFactory) -> None:
    server = serve(memory_budget_bytes=512 * KIB)
    files = {"files": [("frames", ("big.png", big_png(), "image/png"))]}
    with server.client() as client:
        answer = client.post("/embed", **files)
        message = answer.json()["error"]["message"]
        assert answer.status_code == 413 and "REID_MEMORY_BUDGET_BYTES" in message
        assert message.startswith("this upload needs")  # refused before its body was read
        assert client.get("/readyz").status_code == 200
