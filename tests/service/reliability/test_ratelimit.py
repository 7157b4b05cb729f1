"""Rate limits per client: token buckets per address and per API key, 429 with Retry-After, probes
exempt, memory bounded by dropping idle buckets."""

from __future__ import annotations

import pytest

from devtools.harness import ServerFactory
from service.api.ratelimit import TokenBuckets, key_bucket


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_its_burst_then_refills_at_the_rate() -> None:
    clock = Clock()
    buckets = TokenBuckets(per_minute=60, burst=3, clock=clock)  # one token a second
    assert [buckets.take(["ip:a"])[0] for _ in range(3)] == [0.0, 0.0, 0.0]
    wait, empty = buckets.take(["ip:a"])
    assert empty == "ip:a" and wait == pytest.approx(1.0)
    clock.now += 0.5
    assert buckets.take(["ip:a"])[0] == pytest.approx(0.5)
    clock.now += 0.5
    assert buckets.take(["ip:a"]) == (0.0, None)
    assert buckets.take(["ip:b"]) == (0.0, None)  # another client has its own bucket
    clock.now += 3600  # a long pause refills to the burst, not beyond
    assert [buckets.take(["ip:a"])[1] for _ in range(4)] == [None, None, None, "ip:a"]


def test_taking_from_several_buckets_is_all_or_nothing() -> None:
    clock = Clock()
    buckets = TokenBuckets(per_minute=60, burst=2, clock=clock)
    key = key_bucket("secret")
    assert key.startswith("key:") and "secret" not in key
    for address in ("ip:a", "ip:b"):
        assert buckets.take([address, key]) == (0.0, None)
    # The key is spent (two addresses used it): a third address is refused on the key...
    assert buckets.take(["ip:c", key])[1] == key
    # ...and that refusal took nothing from the third address's own bucket.
    assert buckets.take(["ip:c"]) == (0.0, None)
    assert buckets.take(["ip:c"]) == (0.0, None)
    assert buckets.take(["ip:c"])[1] == "ip:c"


def test_idle_buckets_are_dropped_and_the_count_is_capped() -> None:
    clock = Clock()
    buckets = TokenBuckets(per_minute=600, burst=10, clock=clock, max_buckets=1000)  # full again in 1 s
    for i in range(5000):  # a flood of addresses: never more than max_buckets are kept
        buckets.take([f"ip:{i}"])
        assert len(buckets) <= 1000
    clock.now += 1.0
    for _ in range(200):  # every request drops a few of the idle ones
        buckets.take(["ip:busy"])
    assert len(buckets) == 1  # only the busy client is left
    with pytest.raises(ValueError):
        TokenBuckets(per_minute=0, burst=1)


def _error(response) -> dict:  # type: ignore[no-untyped-def]
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    return body["error"]


def test_the_service_answers_429_with_retry_after_per_address_and_per_key(serve: ServerFactory) -> None:
    server = serve(rate_limit_per_minute=6, rate_limit_burst=3)  # one token every 10 s
    # The server's own start-up polling spent tokens of 127.0.0.1: this client comes from elsewhere.
    with server.client(headers={"X-Forwarded-For": "192.0.2.1"}) as client:
        for _ in range(3):
            assert client.get("/model").status_code == 200
        refused = client.post("/embed", files={"frames": ("a.jpg", b"x")})  # before any parsing
        assert refused.status_code == 429
        error = _error(refused)
        assert error["code"] == "rate_limited" and "client address" in error["message"]
        assert 1 <= int(refused.headers["Retry-After"]) <= 10
        # Probes and scrapes are never limited.
        for _ in range(10):
            for path in ("/healthz", "/readyz", "/metrics"):
                assert client.get(path).status_code == 200
        # A made-up key does not get around the address's limit.
        assert client.get("/model", headers={"X-API-Key": "made-up"}).status_code == 429

        # Other addresses (as a trusted proxy in front would report them) have buckets of their own;
        # one key used from three of them spends the key's bucket.
        def from_address(address: str, key: str | None = None) -> int:
            headers = {"X-Forwarded-For": address}
            if key is not None:
                headers["Authorization"] = f"Bearer {key}"
            return client.get("/model", headers=headers).status_code

        assert [from_address(f"10.0.0.{i}", "shared-key") for i in (1, 2, 3)] == [200, 200, 200]
        spent = client.get("/model", headers={"X-Forwarded-For": "10.0.0.4", "X-API-Key": "shared-key"})
        assert spent.status_code == 429 and "API key" in _error(spent)["message"]
        assert from_address("10.0.0.4") == 200  # the same address without the key still has its own


def test_limits_off_with_zero(serve: ServerFactory) -> None:
    server = serve(rate_limit_per_minute=0, rate_limit_burst=1)
    with server.client() as client:
        assert {client.get("/model").status_code for _ in range(30)} == {200}
