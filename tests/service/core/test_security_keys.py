"""service/core/security.py: who counts as local, the key made at first start, the start-up line."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import pytest

from service.core.config import Settings
from service.core.security import (
    KeyRing,
    describe_access,
    is_local_client,
    is_loopback,
    stored_key,
)


def test_closed_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REID_ALLOW_OPEN", "REID_PROTECT_READS", "REID_API_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.allow_open is False and settings.protect_reads is True
    assert settings.api_key_file is None
    monkeypatch.setenv("REID_API_KEY_FILE", "")  # as compose passes an unset variable
    assert Settings(_env_file=None).api_key_file is None  # type: ignore[call-arg]


@pytest.mark.parametrize("host", ["127.0.0.1", "127.255.0.9", "::1", "::ffff:127.0.0.1", "::1%lo"])
def test_loopback_addresses(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize(
    "host",
    [
        None,
        "",
        "testclient",
        "localhost",
        "0.0.0.0",
        "10.0.0.1",
        "172.17.0.1",
        "::",
        "::ffff:10.0.0.1",
        "128.0.0.1",
    ],
)
def test_not_loopback(host: str | None) -> None:
    assert not is_loopback(host)


@pytest.mark.parametrize("header", ["forwarded", "x-forwarded-for", "x-real-ip", "x-forwarded-host"])
def test_a_relayed_request_is_not_local(header: str) -> None:
    assert is_local_client("127.0.0.1", {})
    assert not is_local_client("127.0.0.1", {header: "203.0.113.9"})
    assert not is_local_client("10.0.0.1", {})


def test_a_key_is_generated_once_kept_private_and_read_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "api-key"
    with caplog.at_level(logging.INFO, logger="service"):
        key = stored_key(path)
        again = stored_key(path)
    assert key == again and len(key) >= 40
    assert path.read_text() == key + "\n"
    assert path.stat().st_mode & 0o777 == 0o600
    assert sum(key in r.getMessage() for r in caplog.records) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["api-key"]  # no temporary file left behind


def test_workers_starting_at_once_share_one_key(tmp_path: Path) -> None:
    path = tmp_path / "api-key"
    keys: list[str] = []
    barrier = threading.Barrier(8)

    def start() -> None:
        barrier.wait()
        keys.append(stored_key(path))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys) == 8 and len(set(keys)) == 1
    assert path.read_text().strip() == keys[0]
    assert [p.name for p in tmp_path.iterdir()] == ["api-key"]


def test_a_key_put_in_the_file_is_used(tmp_path: Path) -> None:
    path = tmp_path / "api-key"
    path.write_text("  my-own-key-0123456789\n")
    ring = KeyRing.configured([], None, path)
    assert not ring.open
    assert ring.identify("my-own-key-0123456789") is not None
    assert ring.identify("my-own-key-0123456789").role == "admin"  # type: ignore[union-attr]


def test_a_key_file_others_may_read_is_used_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "api-key"
    path.write_text("shared-key-0123456789\n")
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="service"):
        assert stored_key(path) == "shared-key-0123456789"
    assert any("chmod 600" in r.getMessage() for r in caplog.records)
    assert not any("shared-key-0123456789" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("content", ["", "\n", "two words\n"])
def test_an_unusable_key_file_stops_the_start(tmp_path: Path, content: str) -> None:
    path = tmp_path / "api-key"
    path.write_text(content)
    with pytest.raises(RuntimeError, match="one key on one line"):
        stored_key(path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
def test_a_folder_the_service_cannot_write_stops_the_start(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o500)
    try:
        with pytest.raises(RuntimeError, match="REID_API_KEY"):
            stored_key(folder / "api-key")
    finally:
        folder.chmod(0o700)


def test_a_missing_folder_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="cannot be kept in"):
        stored_key(tmp_path / "no-such-volume" / "api-key")


def test_keys_from_the_settings_win_over_the_file(tmp_path: Path) -> None:
    path = tmp_path / "api-key"
    ring = KeyRing.configured(["ops:write:w-0123456789"], None, path)
    assert [k.name for k in ring.keys] == ["ops"] and not path.exists()
    ring = KeyRing.configured([], "single-admin-key", path)
    assert [k.name for k in ring.keys] == ["default"] and not path.exists()


def test_the_start_up_line_says_who_is_served() -> None:
    none, some = KeyRing([]), KeyRing.configured(["ops:write:w-0123456789"], None)
    level, line = describe_access(none, allow_open=False, protect_reads=True)
    assert level == logging.WARNING and "loopback" in line and "401" in line
    level, line = describe_access(none, allow_open=True, protect_reads=True)
    assert level == logging.WARNING and "anyone" in line
    level, line = describe_access(some, allow_open=False, protect_reads=False)
    assert level == logging.WARNING and "REID_PROTECT_READS=false" in line
    level, line = describe_access(some, allow_open=True, protect_reads=True)
    assert level == logging.INFO and "need one" in line and "ignored" in line
