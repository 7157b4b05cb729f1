"""The service on a real Redis: a restart keeps the gallery, replicas share it, an outage is a clean 503."""

from __future__ import annotations

import concurrent.futures

import numpy as np
import redis

from devtools.harness import ServerFactory
from devtools.synthetic import frames_files, person_frames


def test_gallery_survives_a_restart_and_is_shared_by_replicas(
    serve: ServerFactory, redis_url: str, namespace: str
) -> None:
    first = serve(redis_url=redis_url, redis_namespace=namespace)
    with first.client() as client:
        for person in range(4):
            data = {"id": f"p{person}", "camera": "B"}
            response = client.post("/gallery", files=frames_files(person_frames(person, 4)), data=data)
            assert response.status_code == 201, response.text
        model_id = client.get("/model").json()["id"]
        ready = client.get("/readyz").json()
        assert ready["gallery"] == "redis" and ready["gallery_reachable"] is True
    keys = {k.decode() for k in redis.Redis.from_url(redis_url).scan_iter(match=f"{namespace}:*")}
    assert f"{namespace}:{model_id}:entry:p2" in keys  # keyed by the model that made the vectors

    replica = serve(redis_url=redis_url, redis_namespace=namespace)
    with replica.client() as client:
        client.post("/gallery", files=frames_files(person_frames(9, 4)), data={"id": "p9"})
    first.stop()

    restarted = serve(redis_url=redis_url, redis_namespace=namespace)
    with restarted.client() as client:
        assert client.get("/gallery").json()["total"] == 5
        found = client.post("/match", files=frames_files(person_frames(2, 3)), data={"top_k": "1"}).json()
        assert found["matches"][0]["id"] == "p2"
        assert client.delete("/gallery/p9").status_code == 200
    with replica.client() as client:  # the replica sees the deletion made through another process
        assert client.get("/gallery/p9").status_code == 404


def test_redis_down_embedding_works_and_gallery_calls_say_503(serve: ServerFactory) -> None:
    server = serve(redis_url="redis://127.0.0.1:1/0")
    with server.client() as client:
        assert client.post("/embed", files=frames_files(person_frames(1, 3))).status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["gallery_reachable"] is False
        for response in (
            client.get("/gallery"),
            client.post("/match", files=frames_files(person_frames(1, 3))),
            client.post("/gallery", json={"id": "x", "embedding": [1.0] + [0.0] * 63}),
        ):
            assert response.status_code == 503, response.text
            assert response.json()["error"]["code"] == "gallery_unavailable"
            assert response.headers["Retry-After"] == "2"  # temporary: the client is told when to retry
        assert client.get("/healthz").status_code == 200


def test_concurrent_requests_get_the_embeddings_of_sequential_ones(serve: ServerFactory) -> None:
    server = serve(batch_wait_ms=200.0, max_batch=16)
    tracklets = [frames_files(person_frames(seed, 4)) for seed in range(8)]
    with server.client() as client:
        sequential = [client.post("/embed", files=t).json()["embedding"] for t in tracklets]
        calls_before = _model_calls(client.get("/metrics").text)

        def post(files: list) -> list[float]:
            with server.client() as own:
                return own.post("/embed", files=files).json()["embedding"]

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            concurrent_results = list(pool.map(post, tracklets))
        calls = _model_calls(client.get("/metrics").text) - calls_before
    assert np.abs(np.array(concurrent_results) - np.array(sequential)).max() < 1e-5
    assert calls < len(tracklets)  # requests shared model calls


def _model_calls(metrics: str) -> float:
    line = next(x for x in metrics.splitlines() if x.startswith("reid_batch_size_count"))
    return float(line.split()[-1])
