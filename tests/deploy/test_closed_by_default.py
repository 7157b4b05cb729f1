"""What the images, compose and Kubernetes ship keeps the service closed (docs/security.md), and the
key compose's quick start relies on survives a restart.

In a container the host's requests come from the bridge's gateway, not loopback, so with no key set
the service generates one into REID_API_KEY_FILE (set by the image): compose must keep that folder on
a named volume, which takes the owner of the image's folder, or the read-only root would refuse the
write and every start of `docker compose up` would fail.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = (REPO / "Dockerfile").read_text()
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
APP_SERVICES = ("reid", "reid-cpu")


def env_lines(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if re.match(r"^REID_\w+=", line))
    return dict(pairs)


def key_file_in_the_images() -> PurePosixPath:
    found = set(re.findall(r"REID_API_KEY_FILE=(\S+)", DOCKERFILE))
    assert len(found) == 1, found  # the same in both images
    assert len(re.findall(r"REID_API_KEY_FILE=", DOCKERFILE)) == 2  # the cpu and the gpu stage
    return PurePosixPath(found.pop())


def test_the_images_make_the_key_folder_for_the_service_user_alone() -> None:
    folder = key_file_in_the_images().parent
    made = re.findall(rf"install -d -o (\S+) -g (\S+) -m (\d+) {re.escape(str(folder))}\s", DOCKERFILE)
    assert made == [("reid", "reid", "0700")] * 2, made


@pytest.mark.parametrize("name", APP_SERVICES)
def test_compose_keeps_the_generated_key_on_a_named_volume(name: str) -> None:
    folder = str(key_file_in_the_images().parent)
    service: dict[str, Any] = COMPOSE["services"][name]
    mounts = {}
    for volume in service.get("volumes", []):
        source, target = (
            volume.split(":")[:2] if isinstance(volume, str) else (volume["source"], volume["target"])
        )
        mounts[target] = source
    assert folder in mounts, mounts
    assert mounts[folder] in COMPOSE["volumes"]  # named (declared), not a host folder owned by root
    environment = service.get("environment") or {}
    # the image's path, and no setting in compose that opens the service
    assert "REID_API_KEY_FILE" not in environment
    assert "REID_ALLOW_OPEN" not in environment


def test_nothing_shipped_opens_the_service_or_its_reads() -> None:
    for path in (REPO / ".env.example", REPO / "deploy" / "k8s" / "base" / "settings.env"):
        values = env_lines(path)
        assert values.get("REID_ALLOW_OPEN", "false").lower() == "false", path
        assert values.get("REID_PROTECT_READS", "true").lower() == "true", path
    assert "REID_ALLOW_OPEN" not in DOCKERFILE
