"""The service with its gallery in Milvus (Milvus Lite here; the real server in
tests/service/gallery/test_milvus_server.py): chosen by REID_MILVUS_URI, kept across a restart,
thumbnails beside it in Redis, an unreachable Milvus a clean 503 that says which store."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.harness import ServerFactory
from devtools.synthetic import frames_files, person_frames

pytest.importorskip("pymilvus", reason="the `milvus` extra (pymilvus with Milvus Lite)")


def test_the_gallery_lives_in_milvus_and_survives_a_restart(
    serve: ServerFactory, tmp_path: Path, redis_url: str, namespace: str
) -> None:
    gallery = str(tmp_path / "gallery.db")
    settings = {"milvus_uri": gallery, "redis_url": redis_url, "redis_namespace": namespace}
    first = serve(**settings)
    with first.client() as client:
        ready = client.get("/readyz").json()
        assert ready["gallery"] == "milvus" and ready["gallery_reachable"] is True
        for person in range(3):
            data = {"id": f"p{person}", "camera": "B"}
            response = client.post("/gallery", files=frames_files(person_frames(person, 4)), data=data)
            assert response.status_code == 201, response.text
        assert client.get("/gallery/p1/thumbnail").status_code == 200
        assert client.delete("/gallery/p0").status_code == 200
    first.stop()

    restarted = serve(**settings)
    with restarted.client() as client:
        listed = client.get("/gallery").json()
        assert listed["total"] == 2 and [e["id"] for e in listed["items"]] == ["p1", "p2"]
        query = frames_files(person_frames(2, 3))
        found = client.post("/match", files=query, data={"top_k": "1", "exclude_camera": "A"}).json()
        assert found["matches"][0]["id"] == "p2" and found["search"] in ("exact", "approximate")
        assert client.post("/match", files=query, data={"exclude_camera": "B"}).json()["matches"] == []


def test_an_unreachable_milvus_is_not_ready_and_gallery_calls_say_503(serve: ServerFactory) -> None:
    server = serve(milvus_uri="http://127.0.0.1:1", milvus_timeout_s=1.0, redis_url=None)
    with server.client() as client:
        assert client.post("/embed", files=frames_files(person_frames(1, 3))).status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["gallery"] == "milvus" and ready.json()["gallery_reachable"] is False
        response = client.post("/gallery", json={"id": "x", "embedding": [1.0] + [0.0] * 63})
        assert response.status_code == 503 and response.json()["error"]["code"] == "gallery_unavailable"
        assert "Retry-After" in response.headers
