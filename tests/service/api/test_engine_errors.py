"""An engine that fails during a request costs that request only: a 500 JSON error, then service as usual."""

from __future__ import annotations

import cv2
import numpy as np

from devtools.harness import ServerFactory


def test_an_engine_error_is_a_500_for_that_request_and_the_service_goes_on(serve: ServerFactory) -> None:
    server = serve()
    session = server.server.config.app.state.reid.runtime.session
    engine = session._engine
    real_run = engine.run
    failures = [RuntimeError("the engine's device went away")]

    def flaky(frames: np.ndarray) -> np.ndarray:
        if failures:
            raise failures.pop()
        return real_run(frames)

    engine.run = flaky
    png = cv2.imencode(".png", np.full((64, 32, 3), 90, np.uint8))[1].tobytes()
    files = {"files": [("frames", ("a.png", png, "image/png"))]}
    with server.client() as client:
        failed = client.post("/embed", **files)
        assert failed.status_code == 500
        assert failed.json()["error"]["code"] == "engine_error"
        assert "device went away" not in failed.text  # internals stay in the log
        ok = client.post("/embed", **files)
        assert ok.status_code == 200 and len(ok.json()["embedding"]) == session.metadata.embedding_dim
        assert client.get("/readyz").json()["ready"] is True
