"""API keys with names and roles: who may read, write, and administer (audit trail, clearing).

Keys come from `REID_API_KEYS` (`name:role:key` entries) and the single `REID_API_KEY`, which is an
admin key named "default"; failing both, from `REID_API_KEY_FILE`, a file holding one admin key that
the service writes at its first start when it is missing (a generated key, logged that once). A
presented key is compared with every configured key in constant time, all of them every time, so
neither timing nor order says which key was close.

Closed by default (docs/security.md): with no key at all only clients on this host (loopback, and
not relayed by a proxy) are served, as Redis's protected mode does, unless `REID_ALLOW_OPEN=true`.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

Role = Literal["none", "read", "write", "admin"]
RANK: dict[str, int] = {"none": -1, "read": 0, "write": 1, "admin": 2}
KEY_ROLES = ("read", "write", "admin")


@dataclass(frozen=True)
class Principal:
    """Who made a request: a key's name and role, or anonymous (when no keys are configured)."""

    name: str
    role: Role

    def may(self, role: Role) -> bool:
        return RANK[self.role] >= RANK[role]


@dataclass(frozen=True)
class ApiKey:
    name: str
    role: Role
    secret: bytes


def parse_key_entry(entry: str) -> ApiKey:
    """`name:role:key` -> ApiKey; the key may itself contain ':'."""
    parts = entry.split(":", 2)
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"API key entries are name:role:key; got {len(parts)} part(s) in an entry")
    name, role, secret = parts
    if role not in KEY_ROLES:
        raise ValueError(f"API key {name!r}: role {role!r} is not one of read, write, admin")
    return ApiKey(name=name, role=role, secret=secret.encode())  # type: ignore[arg-type]


class KeyRing:
    def __init__(self, keys: list[ApiKey]) -> None:
        names = [k.name for k in keys]
        if len(set(names)) != len(names):
            raise ValueError("API key names must be unique")
        self.keys = keys

    @classmethod
    def configured(
        cls, entries: list[str], single_admin_key: str | None, key_file: Path | None = None
    ) -> KeyRing:
        """The configured keys; with none, and `key_file` set, the admin key kept in that file (made
        at the first start)."""
        keys = [parse_key_entry(e) for e in entries]
        if single_admin_key:
            keys.append(ApiKey(name="default", role="admin", secret=single_admin_key.encode()))
        if key_file is not None:
            if keys:
                log.info("API keys from the settings; REID_API_KEY_FILE (%s) is not read", key_file)
            else:
                keys.append(ApiKey(name="default", role="admin", secret=stored_key(key_file).encode()))
        return cls(keys)

    @property
    def open(self) -> bool:
        """No key configured: loopback clients may do everything (the quick start), others nothing
        unless REID_ALLOW_OPEN is set."""
        return not self.keys

    def identify(self, presented: str | None) -> Principal | None:
        """The principal of a presented key, or None when it matches no key."""
        if presented is None:
            return None
        given = presented.encode()
        found: ApiKey | None = None
        for key in self.keys:  # no early exit: the time does not depend on which key matched
            if hmac.compare_digest(given, key.secret) and found is None:
                found = key
        return Principal(found.name, found.role) if found is not None else None


# ------------------------------------------------------------------------ a key made at first start


def stored_key(path: Path) -> str:
    """The admin key in `path`; when there is no such file, a new random key written there (0600,
    atomically: of several workers starting at once one writes, the others read it) and logged once,
    as Elasticsearch prints its generated password at its first start."""
    with contextlib.suppress(FileNotFoundError):
        return _read_key(path)
    key = secrets.token_urlsafe(32)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(key + "\n")
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)  # fails if another process got there first: then use its key
        except FileExistsError:
            return _read_key(path)
    except OSError as exc:
        raise RuntimeError(
            f"no API key is configured and the generated one cannot be kept in {path} ({exc}): make its "
            "folder writable by the service (a volume), or set REID_API_KEY / REID_API_KEYS"
        ) from exc
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink()
    log.warning(
        "no API key was configured: generated the admin key %s (printed this once; kept in %s, where "
        "the next start reads it). Send it as 'Authorization: Bearer <key>'",
        key,
        path,
    )
    return key


def _read_key(path: Path) -> str:
    """The key in an existing file (FileNotFoundError when there is none)."""
    try:
        key = path.read_text(encoding="utf-8").strip()
        shared = path.stat().st_mode & 0o077
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError) as exc:
        raise RuntimeError(f"cannot read the API key in {path} (REID_API_KEY_FILE): {exc}") from exc
    if not key or any(c.isspace() for c in key):
        raise RuntimeError(
            f"{path} (REID_API_KEY_FILE) must hold one key on one line: delete it to have a new key "
            "generated at the next start"
        )
    if shared:
        log.warning("%s, which holds the admin key, is open to other users: chmod 600 it", path)
    log.info("API key: the admin key 'default' kept in %s", path)
    return key


# ---------------------------------------------------------------------------- who is on this host

# Headers a reverse proxy adds: a request that carries one was relayed, so its peer's address says
# nothing about its client (a proxy on this host would otherwise make every client a loopback one).
PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip", "x-forwarded-host", "x-forwarded-proto")


def is_loopback(host: str | None) -> bool:
    """127.0.0.0/8, ::1 or ::ffff:127.x; False for anything else (a name, a Unix socket's None)."""
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def is_local_client(host: str | None, headers: Mapping[str, str]) -> bool:
    """A client on this host that reached the service directly: a loopback peer with no proxy header.

    In a container, the host's own requests come from the bridge's gateway, not loopback: those
    need a key too (compose keeps a generated one, docs/deployment.md)."""
    return is_loopback(host) and not any(name in headers for name in PROXY_HEADERS)


NO_KEY_CONFIGURED = (
    "no API key is configured, so only clients on the service's own host (loopback) are served: "
    "set REID_API_KEY (one admin key) or REID_API_KEYS (name:role:key entries) and send "
    "'Authorization: Bearer <key>', or set REID_ALLOW_OPEN=true to open the service to every client "
    "deliberately"
)


def describe_access(ring: KeyRing, allow_open: bool, protect_reads: bool) -> tuple[int, str]:
    """(log level, line) that says at start who may call the service."""
    if ring.open and allow_open:
        return logging.WARNING, (
            "REID_ALLOW_OPEN=true and no API key: anyone who reaches the service can read and change "
            "the gallery"
        )
    if ring.open:
        return logging.WARNING, (
            "no API key is set: only clients on this host (loopback) are served; others get 401 until "
            "REID_API_KEY or REID_API_KEYS is set (or REID_ALLOW_OPEN=true)"
        )
    if not protect_reads:
        return logging.WARNING, (
            "REID_PROTECT_READS=false: embedding, matching and reading the gallery (thumbnails and "
            "embeddings included) need no key"
        )
    ignored = " (REID_ALLOW_OPEN is ignored once keys are set)" if allow_open else ""
    return logging.INFO, (
        f"{len(ring.keys)} API key(s): embedding, matching, the gallery and the audit trail need one; "
        f"health, readiness, metrics, /model and the page do not{ignored}"
    )
