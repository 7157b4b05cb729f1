"""API keys with names and roles: who may read, write, and administer (audit trail, clearing).

Keys come from `REID_API_KEYS` (`name:role:key` entries) and the single `REID_API_KEY`, which is an
admin key named "default". A presented key is compared with every configured key in constant time,
all of them every time, so neither timing nor order says which key was close.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Literal

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
    def from_settings(cls, entries: list[str], single_admin_key: str | None) -> KeyRing:
        keys = [parse_key_entry(e) for e in entries]
        if single_admin_key:
            keys.append(ApiKey(name="default", role="admin", secret=single_admin_key.encode()))
        return cls(keys)

    @property
    def open(self) -> bool:
        """No key configured: every request may do everything (the quick start)."""
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
