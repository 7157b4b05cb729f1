#!/usr/bin/env bash
# The 2.0.0 recipe on a borrowed GPU within a lease of SECONDS: the three temporal heads of one frame
# network (GRU-RCN on all levels, on the deepest only, and plain pooling) trained side by side from
# one pack, so the accuracy-against-FLOPs comparison comes from runs that saw the same data for the
# same time. Each run measures its own step rate and fits its schedule into the lease.
#   scripts/train_gpu.sh PACK WEIGHTS OUT [SECONDS]
#   PACK:    what `model_export pack --teacher-cache ...` wrote (frames, split.json, teachers.npz)
#   WEIGHTS: torchreid's osnet_x0_25_market1501.pth (the datasets' and peers' folders are not there)
# A GPU machine with PyTorch is all it needs: no venv, no datasets. DEVICE=cpu AMP=--no-amp runs
# the same on a CPU (a dry run before a lease); EXTRA adds options to every run (smaller batches).
set -uo pipefail
cd "$(dirname "$0")/.."
PACK=$1
WEIGHTS=$2
OUT=$3
BUDGET=${4:-420}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
common=(
    --dataset pack --data-root "$PACK" --backbone osnet_x0_25 --backbone-weights "$WEIGHTS"
    --teacher-cache "$PACK/teachers.npz" --w-distill 10 --w-distill-sim 100
    --epochs 1000 --eval-every 1000 --time-budget-s "$BUDGET" --device "${DEVICE:-cuda}" "${AMP:---amp}"
)
pids=()
for spec in ${HEADS:-recurrent:6 pooling:4 recurrent_last:4}; do
    head=${spec%%:*}
    workers=${spec##*:}
    PYTHONUNBUFFERED=1 $PY -m model_export train "${common[@]}" --head "$head" --workers "$workers" \
        ${EXTRA:-} --out-dir "$OUT/$head" >"$OUT/$head.log" 2>&1 &
    pids+=("$!")
done
status=0
for pid in "${pids[@]}"; do
    wait "$pid" || status=1
done
for log in "$OUT"/*.log; do
    echo "== $log"
    grep -E "time budget|rank-1|Error|error" "$log" | tail -5
done
exit $status
