"""Faults: Redis stopped and restarted under the service, and the service itself killed with SIGKILL.

Each test runs a redis-server of its own (a free port, `appendfsync always`), so that it can kill it:
- Redis gone: /embed keeps working, every gallery call answers 503 `gallery_unavailable` at once (no
  hang), /readyz says so; Redis back: the same process serves the gallery again, nothing restarted.
- Redis killed (SIGKILL) in the middle of concurrent enrolments and started again from its
  append-only file: every enrolment that got its 201 is there, with its vector.
- The service killed (SIGKILL) in the middle of concurrent enrolments and started again: the gallery
  is intact, every acknowledged enrolment included.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable

import httpx
import numpy as np
from private_redis import PrivateRedis

from devtools.harness import ProcessFactory, ServerFactory
from devtools.synthetic import frames_files, person_frames

DIM = 64
API_KEY = "faults-key"
# Hundreds of enrolments a second from one address, on purpose: no rate limit here.
AUTH = {"Authorization": f"Bearer {API_KEY}"}


def unit(seed: int) -> list[float]:
    v = np.random.default_rng(seed).normal(size=DIM)
    return (v / np.linalg.norm(v)).tolist()


def seed_of(entry_id: str) -> int:
    return zlib.crc32(entry_id.encode())


def enroll(client: httpx.Client, entry_id: str, seed: int) -> int:
    body = {"id": entry_id, "embedding": unit(seed), "camera": "B"}
    return client.post("/gallery", json=body, headers=AUTH).status_code


def gallery_error(response: httpx.Response) -> str:
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "gallery_unavailable", error
    assert "Redis" in error["message"], error
    return error["message"]


def wait_for(condition: Callable[[], bool], timeout_s: float = 15.0) -> float:
    """Seconds until `condition()` held; AssertionError past the timeout."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        try:
            if condition():
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"not so after {timeout_s} s")


def enrol_until(
    client: httpx.Client, stop: threading.Event, prefix: str, acknowledged: list[str], attempted: list[str]
) -> None:
    """Enrol new ids one after another until `stop`; record those that got their 201."""
    i = 0
    while not stop.is_set():
        entry_id = f"{prefix}-{i}"
        attempted.append(entry_id)
        try:
            if enroll(client, entry_id, seed=seed_of(entry_id)) == 201:
                acknowledged.append(entry_id)
        except httpx.TransportError:  # the service itself is being killed
            pass
        i += 1


def run_writers(
    url: str, count: int, fault: Callable[[], None], acknowledged_before_fault: int
) -> tuple[list[str], list[str]]:
    """`count` concurrent writers; `fault()` once `acknowledged_before_fault` enrolments got their
    201, then writers go on a little. Returns (acknowledged, attempted) ids."""
    acknowledged: list[str] = []
    attempted: list[str] = []
    stop = threading.Event()
    clients = [httpx.Client(base_url=url, timeout=30) for _ in range(count)]
    threads = [
        threading.Thread(target=enrol_until, args=(c, stop, f"w{n}", acknowledged, attempted), daemon=True)
        for n, c in enumerate(clients)
    ]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: len(acknowledged) >= acknowledged_before_fault, timeout_s=60)
        fault()
        time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        for c in clients:
            c.close()
    return acknowledged, attempted


def assert_all_there(client: httpx.Client, acknowledged: list[str]) -> None:
    for entry_id in acknowledged:
        response = client.get(f"/gallery/{entry_id}", params={"include_embedding": "true"}, headers=AUTH)
        assert response.status_code == 200, (entry_id, response.text)
        stored = response.json()["embedding"]
        assert np.abs(np.subtract(stored, unit(seed_of(entry_id)))).max() < 1e-6


def test_redis_down_embed_works_gallery_says_503_and_recovers_without_restart(
    serve: ServerFactory, private_redis: PrivateRedis
) -> None:
    server = serve(redis_url=private_redis.url, api_key=API_KEY, rate_limit_per_minute=0)
    with server.client() as client:
        for i in range(3):
            assert enroll(client, f"p{i}", seed=i) == 201
        private_redis.kill()

        assert client.post("/embed", files=frames_files(person_frames(1, 4)), headers=AUTH).status_code == 200
        started = time.monotonic()
        for response in (
            client.get("/gallery", headers=AUTH),
            client.get("/gallery/p1", headers=AUTH),
            client.post("/gallery", json={"id": "p9", "embedding": unit(9)}, headers=AUTH),
            client.post("/match", json={"embedding": unit(1)}, headers=AUTH),
            client.post("/match", files=frames_files(person_frames(1, 4)), headers=AUTH),
            client.delete("/gallery/p1", headers=AUTH),
        ):
            gallery_error(response)
        assert time.monotonic() - started < 15  # clean refusals, no hanging on a dead socket
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["gallery_reachable"] is False
        assert client.get("/healthz").status_code == 200

        private_redis.start()  # same port, same directory: reloads its append-only file
        took = wait_for(lambda: client.get("/gallery", headers=AUTH).status_code == 200)
        assert took < 10
        assert client.get("/gallery", headers=AUTH).json()["total"] == 3
        assert client.get("/readyz").status_code == 200
        # The first write after the restart: stored and audited, not a 503 on a stale connection.
        assert enroll(client, "p3", seed=3) == 201
        trail = client.get("/audit", params={"action": "enroll"}, headers=AUTH).json()["items"]
        assert trail[0]["ids"] == ["p3"] and len(trail) == 4
        found = client.post("/match", json={"embedding": unit(2), "top_k": 1}, headers=AUTH).json()
        assert found["matches"][0]["id"] == "p2"


def test_every_acknowledged_enrolment_survives_redis_killed_and_restarted_from_its_aof(
    serve: ServerFactory, private_redis: PrivateRedis
) -> None:
    server = serve(redis_url=private_redis.url, api_key=API_KEY, rate_limit_per_minute=0)
    acknowledged, attempted = run_writers(server.url, 4, private_redis.kill, acknowledged_before_fault=150)
    assert len(acknowledged) >= 150 and len(attempted) > len(acknowledged)  # some were refused
    private_redis.start()
    with server.client() as client:
        wait_for(lambda: client.get("/gallery", headers=AUTH).status_code == 200)
        total = client.get("/gallery", headers=AUTH).json()["total"]
        # Everything acknowledged is there; an enrolment cut by the kill may or may not have landed.
        assert len(acknowledged) <= total <= len(attempted)
        assert_all_there(client, acknowledged)
    print(f"Redis SIGKILL: {len(acknowledged)} acknowledged, {len(attempted)} attempted, {total} stored")


def test_the_gallery_is_intact_after_the_service_is_killed_with_sigkill(
    service_process: ProcessFactory, private_redis: PrivateRedis
) -> None:
    settings = {"redis_url": private_redis.url, "api_key": API_KEY, "rate_limit_per_minute": 0}
    first = service_process(**settings)
    with first.client() as client:
        assert client.post("/gallery", files=frames_files(person_frames(5, 4)), data={"id": "tracked"},
                           headers=AUTH).status_code == 201  # fmt: skip
        before = client.get("/gallery/tracked", params={"include_embedding": "true"}, headers=AUTH).json()
    acknowledged, _ = run_writers(first.url, 4, first.kill, acknowledged_before_fault=100)
    assert not first.alive()

    second = service_process(**settings)
    with second.client() as client:
        assert (
            client.get("/gallery/tracked", params={"include_embedding": "true"}, headers=AUTH).json()
            == before
        )
        page = client.get("/gallery", params={"limit": 1000}, headers=AUTH).json()
        ids = {item["id"] for item in page["items"]}
        assert set(acknowledged) <= ids
        assert_all_there(client, acknowledged)
    print(f"service SIGKILL: {len(acknowledged)} acknowledged, {page['total']} stored")
