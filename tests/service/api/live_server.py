"""A real uvicorn server on 127.0.0.1 in a thread, and synthetic uploads for it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import cv2
import httpx
import numpy as np
import uvicorn

from service.core.config import Settings
from service.main import create_app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> LiveServer:
        """Return once the model serves (`/model` answers); the gallery may still be unreachable."""
        self.thread.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/model", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("the service did not become ready in 60 s")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60, **kwargs)  # type: ignore[arg-type]


ServerFactory = Callable[..., LiveServer]


def person_frames(seed: int, count: int = 6, size: tuple[int, int] = (128, 64)) -> list[bytes]:
    """JPEG crops of one synthetic 'person': fixed clothing colours, a little motion and noise."""
    rng = np.random.default_rng(seed)
    top, bottom = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    h, w = size
    frames = []
    for t in range(count):
        img = np.full((h, w, 3), 90, np.uint8)
        x0 = 12 + (t % 3)
        img[h // 8 : h // 2, x0 : w - 12] = top
        img[h // 2 : h - 8, x0 + 4 : w - 16] = bottom
        img = np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)
        ok, buf = cv2.imencode(".jpg", img)
        assert ok
        frames.append(buf.tobytes())
    return frames


def frames_files(frames: list[bytes], field: str = "frames") -> list[tuple[str, tuple[str, bytes, str]]]:
    return [(field, (f"f{i:03d}.jpg", data, "image/jpeg")) for i, data in enumerate(frames)]
