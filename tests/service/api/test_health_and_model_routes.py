"""Health, readiness, metrics, the model card and the OpenAPI schema."""

from __future__ import annotations

from devtools.harness import LiveServer
from devtools.synthetic import frames_files, person_frames


def test_health_ready_model_and_docs(server: LiveServer) -> None:
    with server.client() as client:
        health = client.get("/healthz").json()
        ready = client.get("/readyz").json()
        card = client.get("/model").json()
        assert health == {
            "status": "ok",
            "service_version": card["service_version"],
            "model_version": card["version"],
        }
        assert ready["ready"] is True and ready["gallery"] == "memory"
        assert ready["providers"] == ["CPUExecutionProvider"]
        assert card["id"] == ready["model"] and card["embedding_dim"] == 64
        assert card["height"] == 64 and card["width"] == 48 and card["device"] == "cpu"
        schema = client.get("/openapi.json").json()
        assert {"/embed", "/match", "/gallery", "/gallery/{entry_id}", "/model", "/readyz"} <= set(
            schema["paths"]
        )
        body = schema["paths"]["/match"]["post"]["requestBody"]["content"]
        assert {"multipart/form-data", "application/json"} <= set(body)
        assert client.get("/docs").status_code == 200


def test_metrics_count_requests_batches_and_gallery(server: LiveServer) -> None:
    with server.client() as client:
        client.post("/embed", files=frames_files(person_frames(1, 3)))
        client.post("/gallery", json={"id": "x", "embedding": [1.0] + [0.0] * 63})
        client.get("/gallery/unknown")
        text = client.get("/metrics").text
    assert 'reid_requests_total{method="POST",route="/embed",status="200"} 1.0' in text
    assert 'reid_requests_total{method="GET",route="/gallery/{entry_id}",status="404"} 1.0' in text
    assert "reid_request_seconds_bucket" in text and "reid_inference_seconds_count" in text
    assert "reid_batch_size_count" in text and "reid_queue_depth 0.0" in text
    assert "reid_gallery_size 1.0" in text
