#!/usr/bin/env bash
# The real Milvus server (standalone, embedded etcd) from the registry's `milvus` package, in its own
# venv: its pins (pymilvus<2.4, protobuf<5, ...) clash with the service's pymilvus 3.
#
#   scripts/milvus_server.sh install               # .venv-milvus-server (~660 MB once unpacked)
#   scripts/milvus_server.sh start PORT DATA_DIR [OPTION...]   # foreground until killed (~45 s to ready);
#       options go to milvus-server, e.g. --extra-config proxy.timeTickInterval=50
#
# The service then points at it with REID_MILVUS_URI=http://127.0.0.1:PORT. The server test
# (tests/service/gallery/test_milvus_server.py, `pytest -m milvus_server`) uses both commands.
# Not for production: use Milvus's own Helm chart or operator (docs/gallery.md, "Milvus").
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MILVUS_SERVER_VENV:-$ROOT/.venv-milvus-server}"
VERSION="${MILVUS_SERVER_VERSION:-2.3.5}"

case "${1:-}" in
  install)
    if [ ! -x "$VENV/bin/milvus-server" ]; then
      python3 -m venv "$VENV"
      "$VENV/bin/pip" install --quiet "milvus==$VERSION" "setuptools<70"
    fi
    "$VENV/bin/pip" show milvus | grep -E '^(Name|Version)'
    ;;
  start)
    port="${2:?usage: $0 start PORT DATA_DIR}"
    data="${3:?usage: $0 start PORT DATA_DIR}"
    if [ ! -x "$VENV/bin/milvus-server" ]; then
      echo "no Milvus server in $VENV: run '$0 install' first" >&2
      exit 2
    fi
    mkdir -p "$data"
    shift 3
    # --proxy-port is only where the wrapper starts looking for a free port: right after a kill the
    # port is still in TIME_WAIT for its bind check and it would silently move to the next one, so
    # the port is also written into the config itself (the server binds it with SO_REUSEADDR)
    exec "$VENV/bin/milvus-server" --data "$data" --proxy-port "$port" --extra-config "proxy.port=$port" "$@"
    ;;
  *)
    echo "usage: $0 install | start PORT DATA_DIR" >&2
    exit 2
    ;;
esac
