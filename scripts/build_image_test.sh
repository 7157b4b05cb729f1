#!/usr/bin/env bash
# Build the `cpu` image with podman on a Debian base made here with debootstrap (no registry needed),
# run it against Redis and call it once: /readyz, /model, /embed, enroll two people, /match, clear.
# For machines without a Docker engine (shared/notes/containers.md); slow (minutes), so it is not
# part of the test suite or CI. Needs root (apt-get, debootstrap, podman). Idempotent: the tools and
# the base are made once and reused; the container and what it wrote to Redis are removed at exit.
#
#   bash scripts/build_image_test.sh            # build + run + call (about 3 min here, 2 CPU cores)
#   REBUILD=1 bash scripts/build_image_test.sh  # rebuild without podman's layer cache
#
# Settings: IMAGE, BASE (the local base image), WORK (debootstrap folder), REDIS_URL (default: the
# Redis on 127.0.0.1:6379, started here when none answers), READY_TIMEOUT (seconds).
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-localhost/video-reid:cpu}
BASE=${BASE:-localhost/debian:bookworm}
WORK=${WORK:-/var/tmp/video-reid-image-test}
READY_TIMEOUT=${READY_TIMEOUT:-300}
MODEL=models/osnet-ain-multisite.onnx
# vfs and chroot: no overlay or user namespaces needed; runc and cgroupfs: crun fails on this
# machine's hybrid cgroup layout; explicit ulimits: podman's default is above the hard limit here.
PODMAN=(podman --storage-driver vfs --runtime runc --cgroup-manager cgroupfs)
RUN_OPTS=(--network host --ulimit nofile=20000:20000 --ulimit nproc=4096:4096)

log() { printf '\n== %s  %s\n' "$(date -u +%H:%M:%S)" "$*"; }
[ "$(id -u)" = 0 ] || { echo "run as root (apt-get, debootstrap, podman)" >&2; exit 1; }
[ -f "$MODEL" ] || { echo "$MODEL is missing: it is baked into the image" >&2; exit 1; }

# ------------------------------------------------------------------------------------------ tools
missing=()
for tool in podman runc debootstrap; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap >/dev/null
fi
podman --version

# ------------------------------------------------------------------------------------------- base
if ! "${PODMAN[@]}" image exists "$BASE"; then
    # The Debian mirror apt already uses (the entry serving bookworm itself, not -security).
    mirror=$(awk '/^URIs:/ { uri = $2 } /^Suites:/ && / bookworm( |$)/ && uri { print uri; exit }' \
        /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    mirror=${mirror:-http://deb.debian.org/debian}
    log "making $BASE with debootstrap from $mirror"
    start=$SECONDS
    rm -rf "$WORK/rootfs"
    mkdir -p "$WORK"
    debootstrap --variant=minbase bookworm "$WORK/rootfs" "$mirror" >"$WORK/debootstrap.log" 2>&1 \
        || { tail -20 "$WORK/debootstrap.log"; exit 1; }
    tar -C "$WORK/rootfs" -c . | "${PODMAN[@]}" import - "$BASE" >/dev/null
    rm -rf "$WORK/rootfs"
    echo "base made in $((SECONDS - start)) s"
fi

# ------------------------------------------------------------------------------------------ build
log "building $IMAGE (target cpu on $BASE)"
build_opts=(--isolation chroot --network host --format docker --target cpu
            --build-arg "CPU_BASE=$BASE" -t "$IMAGE")
# pip in the build reaches PyPI only with this machine's CA bundle; a build secret keeps it out of
# the layers and the Dockerfile.
[ -s /etc/ssl/certs/ca-certificates.crt ] \
    && build_opts+=(--secret "id=pip_ca,src=/etc/ssl/certs/ca-certificates.crt")
[ "${REBUILD:-0}" = 1 ] && build_opts+=(--no-cache)
start=$SECONDS
mkdir -p "$WORK"
"${PODMAN[@]}" build "${build_opts[@]}" . >"$WORK/build.log" 2>&1 \
    || { tail -n 40 "$WORK/build.log"; exit 1; }
grep -E '^(STEP|COMMIT|Successfully)' "$WORK/build.log" | cut -c1-150 | tail -n 40
echo "build took $((SECONDS - start)) s (full log: $WORK/build.log)"
# vfs stores every layer as a full copy (~0.7 GB each): drop what earlier builds left untagged.
"${PODMAN[@]}" image prune -f >/dev/null
"${PODMAN[@]}" image inspect "$IMAGE" \
    --format 'image {{.Id}}: {{.Size}} bytes, user {{.Config.User}}, cmd {{.Config.Cmd}}' | cut -c1-200
"${PODMAN[@]}" image inspect "$IMAGE" --format 'healthcheck {{.Config.Healthcheck.Test}}'
"${PODMAN[@]}" images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -F "$IMAGE" || true

# ------------------------------------------------------------------------------------------ redis
started_redis=""
if [ -z "${REDIS_URL:-}" ]; then
    if ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
        command -v redis-server >/dev/null \
            || { apt-get update -qq && apt-get install -y -qq redis-server >/dev/null; }
        redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
            --pidfile "$WORK/redis.pid"
        started_redis=1
    fi
    REDIS_URL=redis://127.0.0.1:6379/0
fi
# Its own key prefix, so the run never touches another user's gallery on a shared Redis.
NAMESPACE=imagetest-$$

# -------------------------------------------------------------------------------------------- run
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
NAME=video-reid-image-test-$$
KEY=image-test-$$-$RANDOM
cleanup() {
    "${PODMAN[@]}" rm -f "$NAME" >/dev/null 2>&1 || true
    # what the run left in Redis under its prefix (change stream, audit trail)
    if command -v redis-cli >/dev/null; then
        redis-cli -u "$REDIS_URL" --scan --pattern "$NAMESPACE:*" \
            | xargs -r redis-cli -u "$REDIS_URL" del >/dev/null 2>&1 || true
    fi
    if [ -n "$started_redis" ] && [ -f "$WORK/redis.pid" ]; then kill "$(cat "$WORK/redis.pid")" || true; fi
}
trap cleanup EXIT
log "starting $NAME on 127.0.0.1:$PORT (gallery $REDIS_URL, namespace $NAMESPACE)"
start_run=$(date +%s.%N)
# As compose runs it: read-only root, /tmp in memory, room in /dev/shm for video uploads. podman
# schedules the image's health checks
# with systemd timers and complains where there is no systemd (harmless; filtered out): the check
# is run once by hand below.
"${PODMAN[@]}" run -d "${RUN_OPTS[@]}" --name "$NAME" --read-only --tmpfs /tmp --shm-size 512m \
    -e REID_HOST=127.0.0.1 -e REID_PORT="$PORT" -e REID_REDIS_URL="$REDIS_URL" \
    -e REID_REDIS_NAMESPACE="$NAMESPACE" -e REID_API_KEY="$KEY" \
    "$IMAGE" >/dev/null 2>"$WORK/run.err" || { cat "$WORK/run.err" >&2; exit 1; }
grep -v 'systemd connection' "$WORK/run.err" >&2 || true

# Tracklet frames made by the image's own Python and OpenCV (the host needs neither): two people,
# two cameras each, and one of them as an MP4 too, as a tar on stdout.
frames=$WORK/frames
rm -rf "$frames"
mkdir -p "$frames"
"${PODMAN[@]}" exec "$NAME" python -c '
import io, sys, tarfile
import cv2
import numpy as np

rng = np.random.default_rng(0)
# (top, bottom) clothing colours in BGR: a red top on blue trousers, a green top on grey ones
people = {"alice": ((40, 40, 200), (150, 60, 20)), "bob": ((60, 170, 60), (110, 110, 110))}
alice_a = []
with tarfile.open(fileobj=sys.stdout.buffer, mode="w|") as tar:
    for person, (top, bottom) in people.items():
        for camera, light in (("A", 1.0), ("B", 0.8)):
            for i in range(8):
                img = np.full((160, 64, 3), 200, np.float32)
                shift = int(rng.integers(-4, 5))
                cv2.circle(img, (32 + shift, 18), 11, (140, 170, 210), -1)  # head
                img[30:90, 12 + shift : 52 + shift] = top
                img[90:155, 16 + shift : 48 + shift] = bottom
                img = np.clip(img * light + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)
                if (person, camera) == ("alice", "A"):
                    alice_a.append(img)
                data = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
                info = tarfile.TarInfo(f"{person}_{camera}_{i}.jpg")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    # 24 frames of a still-standing alice seen by camera A, in /tmp (the read-only root allows it)
    video = "/tmp/alice_A.mp4"
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*"mp4v"), 12, (64, 160))
    for i in range(24):
        writer.write(alice_a[i % len(alice_a)])
    writer.release()
    tar.add(video, arcname="alice_A.mp4")
' | tar -x -C "$frames"
echo "$(find "$frames" -name '*.jpg' | wc -l) JPEG frames and $(find "$frames" -name '*.mp4' | wc -l) video in $frames"

# The calls, from the host, with the standard library only.
python3 - "$PORT" "$KEY" "$frames" "$start_run" "$READY_TIMEOUT" <<'PY'
import json
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

port, key, frames, started, ready_timeout = sys.argv[1:6]
base = f"http://127.0.0.1:{port}"


def call(method, path, fields=(), files=(), auth=True):
    """(status, JSON body, seconds) of one request; fields and files as multipart/form-data."""
    headers = {"Authorization": f"Bearer {key}"} if auth else {}
    body = None
    if fields or files:
        boundary = uuid.uuid4().hex
        parts = []
        for name, value in fields:
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
        for name, file in files:
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{file.name}"\r\n'
                f"Content-Type: {'video/mp4' if file.suffix == '.mp4' else 'image/jpeg'}\r\n\r\n".encode()
                + file.read_bytes()
                + b"\r\n"
            )
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
    request = urllib.request.Request(base + path, data=body, method=method, headers=headers)
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    seconds = time.perf_counter() - t0
    try:
        return status, json.loads(raw), seconds
    except ValueError:
        return status, raw.decode(errors="replace"), seconds


def tracklet(person, camera):
    return [("frames", path) for path in sorted(Path(frames).glob(f"{person}_{camera}_*.jpg"))]


deadline = time.time() + float(ready_timeout)
while True:
    try:
        status, body, _ = call("GET", "/readyz")
    except OSError:
        status, body = None, None
    if status == 200:
        break
    if time.time() > deadline:
        sys.exit(f"not ready after {ready_timeout} s: {status} {body}")
    time.sleep(0.5)
print(f"ready {time.time() - float(started):.1f} s after `podman run`: {json.dumps(body)}")

status, body, _ = call("GET", "/healthz")
print(f"GET /healthz -> {status} {body}")
status, model, _ = call("GET", "/model")
assert status == 200, model
print(f"GET /model -> {status} id={model['id']} providers={model.get('providers')}")

status, body, seconds = call("POST", "/embed", files=tracklet("alice", "A"))
assert status == 200, body
emb = body["embedding"]
norm = sum(v * v for v in emb) ** 0.5
print(
    f"POST /embed (8 frames) -> {status} in {seconds * 1000:.0f} ms: dim={body['dim']} |e|={norm:.4f} "
    f"frames_used={body['frames_used']} chunks={body['chunks']} model seconds={body['seconds']:.3f} "
    f"first values={[round(v, 4) for v in emb[:4]]}"
)
timings = [call("POST", "/embed", files=tracklet("bob", "A"))[2] for _ in range(5)]
print(f"POST /embed x5 more: {', '.join(f'{t * 1000:.0f}' for t in timings)} ms")
status, video, seconds = call("POST", "/embed", files=[("video", Path(frames) / "alice_A.mp4")])
assert status == 200, video
same = sum(a * b for a, b in zip(emb, video["embedding"]))
print(
    f"POST /embed video (mp4, decoded via /dev/shm) -> {status} in {seconds * 1000:.0f} ms: "
    f"frames_used={video['frames_used']} chunks={video['chunks']} cosine to the JPEG tracklet={same:.3f}"
)

status, body, _ = call(
    "POST", "/gallery", fields=[("id", "alice"), ("camera", "B")], files=tracklet("alice", "B"), auth=False
)
print(f"POST /gallery without the key -> {status} {body}")
assert status == 401, body
status, body, _ = call("POST", "/embed", files=tracklet("alice", "A"), auth=False)
print(f"POST /embed without the key (reads need one by default) -> {status}")
assert status == 401, body
for person in ("alice", "bob"):
    status, body, seconds = call(
        "POST", "/gallery", fields=[("id", person), ("camera", "B")], files=tracklet(person, "B"), auth=True
    )
    assert status in (200, 201), body
    print(f"POST /gallery id={person} camera=B -> {status} in {seconds * 1000:.0f} ms (count={body.get('count')})")

for person in ("alice", "bob"):
    status, body, seconds = call("POST", "/match", fields=[("top_k", "2")], files=tracklet(person, "A"))
    assert status == 200, body
    ranked = ", ".join(f"{m['id']} {m['similarity']:.3f}" for m in body["matches"])
    print(f"POST /match {person} seen by camera A -> {status} in {seconds * 1000:.0f} ms: {ranked}")
    if body["matches"][0]["id"] != person:
        print(f"   (note: {person} not first; synthetic frames, not a benchmark)")

status, body, _ = call("DELETE", f"/gallery?confirm={model['id']}", auth=True)
print(f"DELETE /gallery?confirm=... -> {status} {body}")
PY

log "inside the container"
echo "user: $("${PODMAN[@]}" exec "$NAME" id)"
"${PODMAN[@]}" exec "$NAME" python -c '
import importlib.metadata as md, importlib.util as iu
names = sorted(d.metadata["Name"].lower() for d in md.distributions())
print(len(names), "distributions; onnxruntime:", [n for n in names if n.startswith("onnxruntime")],
      "; torch:", "torch" in names, "; model_export importable:", iu.find_spec("model_export") is not None)'
if "${PODMAN[@]}" healthcheck run "$NAME" >/dev/null 2>&1; then
    echo "image HEALTHCHECK (/healthz): healthy"
else
    echo "image HEALTHCHECK (/healthz): failed or unsupported here"
fi
echo "memory: $("${PODMAN[@]}" stats --no-stream --format '{{.MemUsage}}' "$NAME" 2>/dev/null || echo n/a)"
log "last log lines"
"${PODMAN[@]}" logs "$NAME" 2>&1 | tail -n 8
log "done; removing $NAME"
