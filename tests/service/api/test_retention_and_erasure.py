"""Retention and erasure over real HTTP with a real Redis: gone from the API, from /match, from Redis."""

from __future__ import annotations

import time

import numpy as np
import pytest
import redis

from devtools.harness import ServerFactory

pytestmark = pytest.mark.timeout(60)


def vector(i: int) -> list[float]:
    return list(np.eye(64)[i])


def keys_mentioning(url: str, namespace: str, entry_id: str) -> list[str]:
    """Every key of the namespace whose name or (hash, set, sorted set) content names the id."""
    client = redis.Redis.from_url(url)
    found = []
    for raw in client.scan_iter(match=f"{namespace}:*"):
        key = raw.decode()
        kind = client.type(raw).decode()
        if entry_id in key or (kind == "zset" and client.zscore(raw, entry_id) is not None):
            found.append(key)
    return found


def test_an_entry_with_ttl_is_gone_everywhere_after_it(
    serve: ServerFactory, redis_url: str, namespace: str
) -> None:
    server = serve(redis_url=redis_url, redis_namespace=namespace)
    with server.client() as client:
        short = client.post("/gallery", json={"id": "brief", "embedding": vector(1), "ttl_seconds": 2}).json()
        assert short["expires_at"] == pytest.approx(time.time() + 2, abs=1.0)
        client.post("/gallery", json={"id": "kept", "embedding": vector(2)})
        assert client.get("/gallery/brief").json()["expires_at"] == short["expires_at"]
        assert (
            client.post("/match", json={"embedding": vector(1), "top_k": 1}).json()["matches"][0]["id"]
            == "brief"
        )
        assert keys_mentioning(redis_url, namespace, "brief")
        time.sleep(3.0)
        assert client.get("/gallery/brief").status_code == 404
        assert [m["id"] for m in client.post("/match", json={"embedding": vector(1)}).json()["matches"]] == [
            "kept"
        ]
        assert client.get("/gallery").json()["total"] == 1
    assert keys_mentioning(redis_url, namespace, "brief") == []
    assert keys_mentioning(redis_url, namespace, "kept")


def test_default_retention_from_the_settings_in_memory(serve: ServerFactory) -> None:
    server = serve(gallery_ttl_seconds=1)
    with server.client() as client:
        entry = client.post("/gallery", json={"id": "a", "embedding": vector(3)}).json()
        assert entry["expires_at"] is not None
        time.sleep(1.5)
        assert client.get("/gallery/a").status_code == 404
        assert client.post("/match", json={"embedding": vector(3)}).json()["matches"] == []
        deadline = time.monotonic() + 3  # the sweeper reports within its one-second period
        while not (expired := client.get("/audit", params={"action": "expire"}).json()["items"]):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert expired and expired[0]["ids"] == ["a"] and expired[0]["actor"] == "retention"


def test_deletion_leaves_no_key_behind(serve: ServerFactory, redis_url: str, namespace: str) -> None:
    server = serve(redis_url=redis_url, redis_namespace=namespace)
    with server.client() as client:
        for entry_id, i in (("erase-me", 4), ("other", 5)):
            body = {"id": entry_id, "embedding": vector(i), "ttl_seconds": 3600, "camera": "B"}
            assert client.post("/gallery", json=body).status_code == 201
        assert len(keys_mentioning(redis_url, namespace, "erase-me")) == 3  # hash, ids, expiry
        assert client.delete("/gallery/erase-me").status_code == 200
        assert client.get("/gallery/erase-me").status_code == 404
        assert [m["id"] for m in client.post("/match", json={"embedding": vector(4)}).json()["matches"]] == [
            "other"
        ]
    assert keys_mentioning(redis_url, namespace, "erase-me") == []
