# Video person re-identification service (FastAPI over OpenVINO or ONNX Runtime, no training stack),
# two targets:
#
#   docker build --target cpu -t video-reid:cpu .    # OpenVINO (and onnxruntime) on python:3.11-slim
#   docker build --target gpu -t video-reid:gpu .    # onnxruntime-gpu on CUDA 12 + cuDNN 9
#
# With a gallery in Milvus (REID_MILVUS_URI), the same targets with the Milvus client added:
#   docker build --target cpu --build-arg EXTRAS=milvus -t video-reid:cpu-milvus .   # (gpu: gpu-milvus)
#
# The base images are build arguments so that a base made locally can stand in where no registry is
# reachable (scripts/build_image_test.sh builds the cpu target on a debootstrap Debian bookworm).
# Behind a TLS-intercepting proxy, give pip its CA bundle as an optional build secret:
#   docker build --secret id=pip_ca,src=/etc/ssl/certs/ca-certificates.crt ...

# Debian bookworm with CPython 3.11. A bare bookworm (no Python) also works: see cpu-python.
ARG CPU_BASE=python:3.11-slim-bookworm
# onnxruntime-gpu wheels on PyPI (1.19 and later) are built for CUDA 12.x and cuDNN 9; a 12.x runtime
# image with cuDNN 9 matches them. Ubuntu 22.04 because it packages Python 3.11 (24.04 only has 3.12).
ARG GPU_BASE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04

# ---------------------------------------------------------------------------------------------- cpu

FROM ${CPU_BASE} AS cpu-python
ARG DEBIAN_FRONTEND=noninteractive
# The official python image already has 3.11 (in /usr/local); a plain Debian base gets bookworm's.
# Package versions follow the base's release: pinning Debian revisions would break at every update.
# hadolint ignore=DL3008
RUN if ! command -v python3.11 >/dev/null; then \
        apt-get update \
        && apt-get install -y --no-install-recommends python3.11 \
        && apt-get clean \
        && rm -rf /var/lib/apt/lists/*; \
    fi

FROM cpu-python AS cpu-builder
# Which ONNX Runtime distribution replaces `onnxruntime` in the project's dependency list.
ARG ORT_PACKAGE=onnxruntime
# Optional extras of pyproject.toml served with: `milvus` adds the Milvus client (pymilvus, with
# pandas and grpcio: ~110 MB), left out by default since Redis and memory galleries never load it
# (docs/deployment.md, "Milvus"); `index` adds faiss. build-venv.sh refuses any other.
ARG EXTRAS=""
WORKDIR /src
# Only the serving packages: model_export (the training side) is left out of this copy, so
# setuptools' package discovery does not install it.
COPY pyproject.toml README.md constraints.txt deploy/docker/build-venv.sh ./
COPY reid_contract ./reid_contract
COPY service ./service
# The recipe both builders share (the versions of constraints.txt; pip and setuptools removed last,
# so the venv copied into the image carries no build tools), then what the image must import.
RUN --mount=type=secret,id=pip_ca \
    DEBIAN_FRONTEND=noninteractive sh build-venv.sh "$ORT_PACKAGE" "import service.main, onnxruntime, openvino, cv2, trackers, supervision" "$EXTRAS"

FROM cpu-python AS cpu
LABEL org.opencontainers.image.title="video-reid (cpu)" \
      org.opencontainers.image.description="Video person re-identification service, OpenVINO on CPU (ONNX Runtime as fall-back)" \
      org.opencontainers.image.licenses="MIT AND Apache-2.0"
# A fixed uid/gid so that mounted models and Kubernetes' runAsUser can match it.
# /var/lib/reid: the service user's only writable folder, for the API key generated at the first
# start when none is set (REID_API_KEY_FILE); compose mounts a volume there, which takes its owner.
RUN groupadd --system --gid 10001 reid \
    && useradd --system --no-log-init --uid 10001 --gid reid --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin reid \
    && install -d -o reid -g reid -m 0700 /var/lib/reid
COPY --from=cpu-builder /opt/venv /opt/venv
# Owned by root and read-only for the service user: the image's model cannot be altered at run time.
COPY models/osnet-ain-multisite.onnx models/grurcn-mobilenetv2-cuhk03.onnx models/README.md /app/models/
# The person detector of footage sent without a tracker file, with its licence, card and references.
COPY models/detector/ /app/models/detector/
WORKDIR /app
# REID_API_KEY_FILE is where a generated key is kept, not a key (hadolint's DL3064 goes by the name).
# hadolint ignore=DL3064
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    REID_HOST=0.0.0.0 \
    REID_PORT=8000 \
    REID_MODEL_PATH=/app/models/osnet-ain-multisite.onnx \
    REID_DETECTOR_PATH=/app/models/detector/pedestrian-detection-adas-0002 \
    REID_API_KEY_FILE=/var/lib/reid/api-key
USER 10001:10001
EXPOSE 8000
# Liveness only (no curl in the image): /readyz also needs the gallery, which a plain `docker run`
# may not have; compose checks readiness itself.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('REID_PORT', '8000'), timeout=4)"]
# Worker count and port come from REID_WORKERS / REID_PORT (read by the service).
CMD ["python", "-m", "service"]

# ---------------------------------------------------------------------------------------------- gpu

FROM ${GPU_BASE} AS gpu-python
ARG DEBIAN_FRONTEND=noninteractive
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.11 \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*

FROM gpu-python AS gpu-builder
ARG ORT_PACKAGE=onnxruntime-gpu
ARG EXTRAS=""
WORKDIR /src
COPY pyproject.toml README.md constraints.txt deploy/docker/build-venv.sh ./
COPY reid_contract ./reid_contract
COPY service ./service
# As in cpu-builder; the last check also proves the wheel is the CUDA build (no GPU needed for that).
RUN --mount=type=secret,id=pip_ca \
    DEBIAN_FRONTEND=noninteractive sh build-venv.sh "$ORT_PACKAGE" "import service.main, cv2, trackers, supervision, onnxruntime as ort; assert 'CUDAExecutionProvider' in ort.get_available_providers(), ort.get_available_providers()" "$EXTRAS"

FROM gpu-python AS gpu
LABEL org.opencontainers.image.title="video-reid (gpu)" \
      org.opencontainers.image.description="Video person re-identification service, ONNX Runtime on CUDA (OpenVINO on the CPU)" \
      org.opencontainers.image.licenses="MIT AND Apache-2.0"
# /var/lib/reid: the service user's only writable folder, for the API key generated at the first
# start when none is set (REID_API_KEY_FILE); compose mounts a volume there, which takes its owner.
RUN groupadd --system --gid 10001 reid \
    && useradd --system --no-log-init --uid 10001 --gid reid --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin reid \
    && install -d -o reid -g reid -m 0700 /var/lib/reid
COPY --from=gpu-builder /opt/venv /opt/venv
COPY models/osnet-ain-multisite.onnx models/grurcn-mobilenetv2-cuhk03.onnx models/README.md /app/models/
# The person detector of footage sent without a tracker file, with its licence, card and references.
COPY models/detector/ /app/models/detector/
WORKDIR /app
# REID_PROVIDERS stays unset: CUDA first, CPU as fall-back; /readyz shows the provider really in use.
# REID_API_KEY_FILE is where a generated key is kept, not a key (hadolint's DL3064 goes by the name).
# hadolint ignore=DL3064
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    REID_HOST=0.0.0.0 \
    REID_PORT=8000 \
    REID_MODEL_PATH=/app/models/osnet-ain-multisite.onnx \
    REID_DETECTOR_PATH=/app/models/detector/pedestrian-detection-adas-0002 \
    REID_API_KEY_FILE=/var/lib/reid/api-key
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('REID_PORT', '8000'), timeout=4)"]
CMD ["python", "-m", "service"]
