#!/usr/bin/env bash
# Set up what the service needs (no torch) and start it on the shipped model, with the in-process
# gallery unless REID_REDIS_URL is set. Settings: REID_* variables (.env.example lists them).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
stamp=.venv/.serve-$(cat pyproject.toml constraints.txt | sha1sum | cut -c1-12)
if [ ! -f "$stamp" ]; then
    .venv/bin/python -m pip install -q --upgrade pip
    # the versions CI tested: constraints.txt (scripts/lock.sh)
    .venv/bin/python -m pip install -q -c constraints.txt -e .
    # the tracker of footage sent without a tracker file, without its own requirements (scripts/setup.sh)
    .venv/bin/python -m pip install -q -c constraints.txt --no-deps "trackers==2.6.1" "supervision==0.31.2"
    rm -f .venv/.serve-*
    touch "$stamp"
fi
exec .venv/bin/python -m service
