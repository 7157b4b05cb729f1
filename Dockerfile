# Video person re-identification service (ONNX Runtime + FastAPI, no training stack), two targets:
#
#   docker build --target cpu -t video-reid:cpu .    # OpenVINO (and onnxruntime) on python:3.11-slim
#   docker build --target gpu -t video-reid:gpu .    # onnxruntime-gpu on CUDA 12 + cuDNN 9
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
        && rm -rf /var/lib/apt/lists/*; \
    fi

FROM cpu-python AS cpu-builder
ARG DEBIAN_FRONTEND=noninteractive
# Which ONNX Runtime distribution replaces `onnxruntime` in the project's dependency list.
ARG ORT_PACKAGE=onnxruntime
# python3.11-venv (ensurepip) only where the interpreter lacks it; it stays in this stage.
# hadolint ignore=DL3008
RUN if ! python3.11 -c "import ensurepip" 2>/dev/null; then \
        apt-get update \
        && apt-get install -y --no-install-recommends python3.11-venv \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
    && python3.11 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# Only the serving packages: model_export (the training side) is left out of this copy, so
# setuptools' package discovery does not install it.
COPY pyproject.toml README.md ./
COPY reid_contract ./reid_contract
COPY service ./service
# The runtime requirements are the project's own list with onnxruntime swapped for ORT_PACKAGE, then
# the project itself without dependencies: no optional extra (training) can get in. The check after
# them fails the build if the other ONNX Runtime wheel got in too (the two shadow each other); pip
# and setuptools are removed last, so the venv copied into the image carries no build tools.
RUN --mount=type=secret,id=pip_ca \
    if [ -s /run/secrets/pip_ca ]; then export PIP_CERT=/run/secrets/pip_ca; fi \
    && python -c "import re, tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; print('\n'.join(re.sub(r'^onnxruntime(?=[<>=!~ ;\[]|$)', '$ORT_PACKAGE', d) for d in deps))" > requirements.txt \
    && pip install --no-cache-dir -r requirements.txt \
    && pip install --no-cache-dir --no-deps . \
    && python -c "import importlib.metadata as md, sys; names = {d.metadata['Name'].lower() for d in md.distributions()}; bad = names & ({'onnxruntime', 'onnxruntime-gpu'} - {'$ORT_PACKAGE'}); sys.exit(f'both ONNX Runtime wheels installed: {sorted(bad)}' if bad else 0)" \
    && pip uninstall --no-cache-dir -y -q pip setuptools \
    && python -c "import service.main, onnxruntime, openvino, cv2"

FROM cpu-python AS cpu
LABEL org.opencontainers.image.title="video-reid (cpu)" \
      org.opencontainers.image.description="Video person re-identification service, ONNX Runtime on CPU" \
      org.opencontainers.image.licenses="MIT AND Apache-2.0"
# A fixed uid/gid so that mounted models and Kubernetes' runAsUser can match it.
RUN groupadd --system --gid 10001 reid \
    && useradd --system --no-log-init --uid 10001 --gid reid --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin reid
COPY --from=cpu-builder /opt/venv /opt/venv
# Owned by root and read-only for the service user: the image's model cannot be altered at run time.
COPY models/osnet-ain-multisite.onnx models/grurcn-mobilenetv2-cuhk03.onnx models/README.md /app/models/
WORKDIR /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    REID_HOST=0.0.0.0 \
    REID_PORT=8000 \
    REID_MODEL_PATH=/app/models/osnet-ain-multisite.onnx
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
    && rm -rf /var/lib/apt/lists/*

FROM gpu-python AS gpu-builder
ARG DEBIAN_FRONTEND=noninteractive
ARG ORT_PACKAGE=onnxruntime-gpu
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.11-venv \
    && rm -rf /var/lib/apt/lists/* \
    && python3.11 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY reid_contract ./reid_contract
COPY service ./service
# As in cpu-builder; the last check also proves the wheel is the CUDA build (no GPU needed for that).
RUN --mount=type=secret,id=pip_ca \
    if [ -s /run/secrets/pip_ca ]; then export PIP_CERT=/run/secrets/pip_ca; fi \
    && python -c "import re, tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; print('\n'.join(re.sub(r'^onnxruntime(?=[<>=!~ ;\[]|$)', '$ORT_PACKAGE', d) for d in deps))" > requirements.txt \
    && pip install --no-cache-dir -r requirements.txt \
    && pip install --no-cache-dir --no-deps . \
    && python -c "import importlib.metadata as md, sys; names = {d.metadata['Name'].lower() for d in md.distributions()}; bad = names & ({'onnxruntime', 'onnxruntime-gpu'} - {'$ORT_PACKAGE'}); sys.exit(f'both ONNX Runtime wheels installed: {sorted(bad)}' if bad else 0)" \
    && pip uninstall --no-cache-dir -y -q pip setuptools \
    && python -c "import service.main, cv2, onnxruntime as ort; assert 'CUDAExecutionProvider' in ort.get_available_providers(), ort.get_available_providers()"

FROM gpu-python AS gpu
LABEL org.opencontainers.image.title="video-reid (gpu)" \
      org.opencontainers.image.description="Video person re-identification service, ONNX Runtime on CUDA" \
      org.opencontainers.image.licenses="MIT AND Apache-2.0"
RUN groupadd --system --gid 10001 reid \
    && useradd --system --no-log-init --uid 10001 --gid reid --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin reid
COPY --from=gpu-builder /opt/venv /opt/venv
COPY models/osnet-ain-multisite.onnx models/grurcn-mobilenetv2-cuhk03.onnx models/README.md /app/models/
WORKDIR /app
# REID_PROVIDERS stays unset: CUDA first, CPU as fall-back; /readyz shows the provider really in use.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    REID_HOST=0.0.0.0 \
    REID_PORT=8000 \
    REID_MODEL_PATH=/app/models/osnet-ain-multisite.onnx
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('REID_PORT', '8000'), timeout=4)"]
CMD ["python", "-m", "service"]
