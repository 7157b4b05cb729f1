#!/usr/bin/env bash
# Set everything up, then lint and run the whole test suite. .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The service's gallery tests need a Redis on 127.0.0.1:6379; start one where none answers.
if ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
    command -v redis-server >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-server; }
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
fi
# The page's browser tests need Debian's Chromium (driven by Playwright, never `playwright install`);
# without it they skip with the reason, so a failed install only prints a line.
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } \
        || echo "could not install chromium: the browser tests of the page will be skipped"
fi
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python -m pytest "$@"
