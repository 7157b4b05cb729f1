"""Thumbnails: a small JPEG strip per enrolled tracklet, erased with its entry, off when asked."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import redis

from devtools.harness import ServerFactory
from devtools.synthetic import frames_files, person_frames


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_thumbnail_follows_its_entry(
    serve: ServerFactory, backend: str, request: pytest.FixtureRequest
) -> None:
    overrides: dict[str, object] = {}
    if backend == "redis":
        url, namespace = request.getfixturevalue("redis_url"), request.getfixturevalue("namespace")
        overrides = {"redis_url": url, "redis_namespace": namespace}
    server = serve(**overrides)
    with server.client() as client:
        client.post("/gallery", files=frames_files(person_frames(1, 6)), data={"id": "p1"})
        response = client.get("/gallery/p1/thumbnail")
        assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
        assert len(response.content) < 16_000
        strip = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
        assert strip.shape == (96, 4 * 48, 3)  # four frames side by side
        # enrolled from a vector: there is no picture
        client.post("/gallery", json={"id": "v", "embedding": [1.0] + [0.0] * 63})
        assert client.get("/gallery/v/thumbnail").status_code == 404
        # match-then-enroll keeps the query's strip
        client.post("/match", files=frames_files(person_frames(2, 2)), data={"enroll": "true", "id": "p2"})
        assert client.get("/gallery/p2/thumbnail").status_code == 200
        assert client.delete("/gallery/p1").status_code == 200
        assert client.get("/gallery/p1/thumbnail").status_code == 404
    if backend == "redis":
        keys = [k.decode() for k in redis.Redis.from_url(url).scan_iter(match=f"{namespace}:*thumb*")]
        assert len(keys) == 1 and keys[0].endswith(":thumb:p2")


def test_thumbnails_can_be_turned_off(serve: ServerFactory) -> None:
    server = serve(store_thumbnails=False)
    with server.client() as client:
        client.post("/gallery", files=frames_files(person_frames(1, 3)), data={"id": "p1"})
        assert client.get("/gallery/p1").status_code == 200
        assert client.get("/gallery/p1/thumbnail").status_code == 404
