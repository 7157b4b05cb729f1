# Sourced by setup.sh and serve.sh: create .venv with Python 3.11 where it does not exist yet.
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
