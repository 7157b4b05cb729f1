"""Closed by default (docs/security.md): who is served with no key, with keys, and what stays open.

The app runs in this test's event loop (its lifespan loads the tiny model) behind httpx's ASGI
transport, which sets the client's address: a camera network's host, the Docker bridge's gateway, a
loopback peer, a loopback peer relayed by a proxy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from devtools.synthetic import frames_files, person_frames
from service.core.config import Settings
from service.main import create_app

DIM = 64
Calls = Callable[[httpx.AsyncClient], Awaitable[Any]]
LOOPBACK = ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"]
# a camera network's host, the Docker bridge's gateway (the host, as a container sees it), IPv6, and
# what Starlette's TestClient says (not an address)
REMOTE = ["10.1.2.3", "172.17.0.1", "2001:db8::7", "testclient"]
OPEN_ROUTES = ["/healthz", "/readyz", "/metrics", "/model", "/ui/", "/docs", "/openapi.json"]
WRITE_KEY, READ_KEY = "w-key-0123456789", "r-key-0123456789"
KEYS = f"tracker:write:{WRITE_KEY},viewer:read:{READ_KEY}"


def vector(i: int = 0) -> list[float]:
    return list(np.eye(DIM)[i])


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def run(tiny_model_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """run(calls, client=host, **settings): `calls(client)` against a started app, as that host."""
    for name in (
        "REID_API_KEY",
        "REID_API_KEYS",
        "REID_API_KEY_FILE",
        "REID_ALLOW_OPEN",
        "REID_PROTECT_READS",
    ):
        monkeypatch.delenv(name, raising=False)

    def run(calls: Calls, client: str = "127.0.0.1", **overrides: object) -> Any:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            **{"model_path": tiny_model_path, "intra_op_threads": 1, "redis_url": None, **overrides},
        )
        app = create_app(settings)

        async def go() -> Any:
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app, client=(client, 40000))
                async with httpx.AsyncClient(transport=transport, base_url="http://reid") as http:
                    return await calls(http)

        return asyncio.run(go())

    return run


async def story(http: httpx.AsyncClient, headers: dict[str, str] | None = None) -> dict[str, int]:
    """Every route that touches people's data, once each: {call: status}."""
    h = headers or {}
    statuses = {}
    enrolled = await http.post(
        "/gallery", files=frames_files(person_frames(1, 3)), data={"id": "p1"}, headers=h
    )
    statuses["enroll"] = enrolled.status_code
    statuses["list"] = (await http.get("/gallery", headers=h)).status_code
    one = await http.get("/gallery/p1", params={"include_embedding": "true"}, headers=h)
    statuses["entry+embedding"] = one.status_code
    statuses["thumbnail"] = (await http.get("/gallery/p1/thumbnail", headers=h)).status_code
    statuses["match"] = (await http.post("/match", json={"embedding": vector()}, headers=h)).status_code
    embedded = await http.post("/embed", files=frames_files(person_frames(2, 2)), headers=h)
    statuses["embed"] = embedded.status_code
    statuses["audit"] = (await http.get("/audit", headers=h)).status_code
    statuses["delete"] = (await http.delete("/gallery/p1", headers=h)).status_code
    return statuses


SERVED = {
    "enroll": 201,
    "list": 200,
    "entry+embedding": 200,
    "thumbnail": 200,
    "match": 200,
    "embed": 200,
    "audit": 200,
    "delete": 200,
}


async def open_routes(http: httpx.AsyncClient) -> dict[str, int]:
    return {path: (await http.get(path)).status_code for path in OPEN_ROUTES}


# ------------------------------------------------------------------------------------- no key set


@pytest.mark.parametrize("host", LOOPBACK)
def test_no_key_serves_a_client_on_the_same_host(run: Callable[..., Any], host: str) -> None:
    assert run(story, client=host) == SERVED


@pytest.mark.parametrize("host", REMOTE)
def test_no_key_refuses_any_other_client_and_says_how_to_set_one(run: Callable[..., Any], host: str) -> None:
    async def calls(http: httpx.AsyncClient) -> tuple[dict[str, int], httpx.Response, dict[str, int]]:
        statuses = await story(http)
        refused = await http.get("/gallery")
        return statuses, refused, await open_routes(http)

    statuses, refused, open_statuses = run(calls, client=host)
    assert statuses == dict.fromkeys(SERVED, 401)
    error = refused.json()["error"]
    assert error["code"] == "unauthorized"
    for name in ("REID_API_KEY", "REID_API_KEYS", "REID_ALLOW_OPEN=true"):
        assert name in error["message"], error["message"]
    # probes, metrics, the model card, the page and the docs stay open
    assert open_statuses == dict.fromkeys(OPEN_ROUTES, 200)


@pytest.mark.parametrize(
    "header",
    [
        {"X-Forwarded-For": "127.0.0.1"},  # uvicorn trusted it (FORWARDED_ALLOW_IPS), or a spoof under "*"
        {"X-Forwarded-For": "203.0.113.9"},
        {"Forwarded": "for=203.0.113.9"},
        {"X-Real-IP": "203.0.113.9"},
    ],
    ids=["xff-loopback", "xff", "forwarded", "x-real-ip"],
)
def test_a_request_relayed_by_a_proxy_on_the_host_is_not_local(
    run: Callable[..., Any], header: dict[str, str]
) -> None:
    async def calls(http: httpx.AsyncClient) -> tuple[int, int]:
        relayed = await http.get("/gallery", headers=header)
        direct = await http.get("/gallery")
        return relayed.status_code, direct.status_code

    assert run(calls, client="127.0.0.1") == (401, 200)


@pytest.mark.parametrize("host", REMOTE[:2])
def test_allow_open_serves_every_client_without_a_key(run: Callable[..., Any], host: str) -> None:
    assert run(story, client=host, allow_open=True) == SERVED


# ------------------------------------------------------------------------------------ keys set


def test_with_only_a_write_key_reads_need_a_key_by_default(run: Callable[..., Any]) -> None:
    """A new user's trial: only a write key set, then a caller with no key lists the gallery and fetches
    a thumbnail strip and an embedding. Refused, from loopback too: keys apply to every client."""

    async def calls(http: httpx.AsyncClient) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
        enrolled = await http.post(
            "/gallery", files=frames_files(person_frames(1, 3)), data={"id": "p0"}, headers=bearer(WRITE_KEY)
        )
        assert enrolled.status_code == 201, enrolled.text
        anonymous = {
            "list": (await http.get("/gallery")).status_code,
            "entry+embedding": (
                await http.get("/gallery/p0", params={"include_embedding": "true"})
            ).status_code,
            "thumbnail": (await http.get("/gallery/p0/thumbnail")).status_code,
            "match": (await http.post("/match", json={"embedding": vector()})).status_code,
            "embed": (await http.post("/embed", files=frames_files(person_frames(2, 2)))).status_code,
        }
        keyed = {
            "list": (await http.get("/gallery", headers=bearer(WRITE_KEY))).status_code,
            "thumbnail": (await http.get("/gallery/p0/thumbnail", headers=bearer(WRITE_KEY))).status_code,
        }
        return anonymous, keyed, await open_routes(http)

    anonymous, keyed, open_statuses = run(calls, api_keys=f"tracker:write:{WRITE_KEY}")
    assert anonymous == dict.fromkeys(anonymous, 401)
    assert keyed == {"list": 200, "thumbnail": 200}
    assert open_statuses == dict.fromkeys(OPEN_ROUTES, 200)


def test_protect_reads_false_opens_reads_only(run: Callable[..., Any]) -> None:
    async def calls(http: httpx.AsyncClient) -> dict[str, int]:
        await http.post("/gallery", json={"id": "p0", "embedding": vector()}, headers=bearer(WRITE_KEY))
        return {
            "list": (await http.get("/gallery")).status_code,
            "entry+embedding": (
                await http.get("/gallery/p0", params={"include_embedding": "true"})
            ).status_code,
            "match": (await http.post("/match", json={"embedding": vector()})).status_code,
            "enroll": (await http.post("/gallery", json={"id": "p1", "embedding": vector(1)})).status_code,
            "match+enroll": (
                await http.post("/match", json={"embedding": vector(2), "enroll": {"id": "p2"}})
            ).status_code,
            "delete": (await http.delete("/gallery/p0")).status_code,
            "audit": (await http.get("/audit")).status_code,
        }

    statuses = run(calls, client="10.1.2.3", api_keys=KEYS, protect_reads=False)
    assert statuses == {
        "list": 200,
        "entry+embedding": 200,
        "match": 200,
        "enroll": 401,
        "match+enroll": 401,
        "delete": 401,
        "audit": 401,
    }


def test_a_read_key_reads_from_anywhere_and_allow_open_does_not_override_keys(
    run: Callable[..., Any],
) -> None:
    async def calls(http: httpx.AsyncClient) -> tuple[int, int, int]:
        return (
            (await http.get("/gallery", headers=bearer(READ_KEY))).status_code,
            (await http.get("/gallery")).status_code,
            (await http.post("/gallery", json={"id": "x", "embedding": vector()})).status_code,
        )

    assert run(calls, client="10.1.2.3", api_keys=KEYS, allow_open=True) == (200, 401, 401)


# ------------------------------------------------------------------------ the key made at first start


def test_a_generated_key_is_kept_and_used_at_the_next_start(
    run: Callable[..., Any], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """As in the container: no key set, REID_API_KEY_FILE on a volume. The bridge's gateway is refused
    without the key and served with it; the next start reads the same key and does not log it."""
    key_file = tmp_path / "keys" / "api-key"
    key_file.parent.mkdir()

    async def calls(http: httpx.AsyncClient) -> tuple[int, int, int]:
        key = key_file.read_text().strip()
        return (
            (await http.get("/gallery")).status_code,
            (await http.get("/gallery", headers=bearer(key))).status_code,
            (await http.get("/readyz")).status_code,
        )

    with caplog.at_level("INFO", logger="service"):
        assert run(calls, client="172.17.0.1", api_key_file=key_file) == (401, 200, 200)
    key = key_file.read_text().strip()
    assert len(key) >= 40 and (key_file.stat().st_mode & 0o777) == 0o600
    assert sum(key in r.getMessage() for r in caplog.records) == 1  # printed once, at generation
    caplog.clear()
    with caplog.at_level("INFO", logger="service"):
        assert run(calls, client="172.17.0.1", api_key_file=key_file) == (401, 200, 200)
    assert key_file.read_text().strip() == key
    assert not any(key in r.getMessage() for r in caplog.records)


def test_a_key_from_the_settings_wins_over_the_key_file(run: Callable[..., Any], tmp_path: Path) -> None:
    key_file = tmp_path / "api-key"

    async def calls(http: httpx.AsyncClient) -> int:
        return (await http.get("/gallery", headers=bearer("set-by-operator"))).status_code

    assert run(calls, client="10.1.2.3", api_key="set-by-operator", api_key_file=key_file) == 200
    assert not key_file.exists()
