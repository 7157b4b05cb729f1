#!/usr/bin/env bash
# Model 2.2's selection (docs/model.md, "How 2.2 will be chosen"), one command that resumes: for each
# candidate and each PETA training site held out in turn, train on the rest, export the file (no
# figures: nothing here looks at VIPeR or PRID) and score the held-out site; then one table of the
# per-site rank-1 and their mean. Re-running skips what is done and resumes a training where it stopped.
#   bash scripts/reproduce_2.2.sh                 # candidates A and B over the five folds
#   CANDIDATES="A" SITES="3DPeS" bash scripts/reproduce_2.2.sh   # one fold of one candidate
# Candidates: A = 2.1.0's recipe (Intel 0277 + 0286 teaching); B = A with torchreid's OSNet x0.25
# MSMT17 as a third teacher. On 2 CPU cores a fold trains in about 40 minutes on one thread.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
DATA=${DATA_ROOT:-../shared/data}
RUNS=${RUNS:-runs}
PEERS=${PEERS_ROOT:-../shared/peers}
THREADS=${THREADS:-1}
CANDIDATES=${CANDIDATES:-A B}
SITES=${SITES:-3DPeS CAVIAR4REID i-LID TownCentre SARC3D}
py=".venv/bin/python -m model_export"
ir="$PEERS/intel/person-reidentification-retail-0277/FP16/person-reidentification-retail-0277.xml"
i77=person-reidentification-retail-0277
i86=person-reidentification-retail-0286
[ -f "$RUNS/published/intel0277.pt" ] \
    || $py pretrained --backbone openvino_ir --backbone-weights "$ir" --out "$RUNS/published/intel0277.pt"
cache_of() {  # the teachers' cache a candidate learns from
    case "$1" in
        A) echo "$RUNS/teachers/multisite.npz" ;;
        B) echo "$RUNS/teachers/multisite3.npz" ;;
        *) echo "unknown candidate $1" >&2; exit 2 ;;
    esac
}
[ -f "$RUNS/teachers/multisite.npz" ] \
    || $py teach --data-root "$DATA" --teachers $i77 $i86 --out "$RUNS/teachers/multisite.npz" --threads "$THREADS"
if [[ " $CANDIDATES " == *" B "* ]] && [ ! -f "$RUNS/teachers/multisite3.npz" ]; then
    $py teach --data-root "$DATA" --teachers $i77 $i86 osnet_x0_25_msmt17 \
        --out "$RUNS/teachers/multisite3.npz" --threads "$THREADS"
fi
for candidate in $CANDIDATES; do
    for site in $SITES; do
        run="$RUNS/v22-$candidate-$site"
        if ! grep -q '"done"' "$run/log.jsonl" 2>/dev/null; then
            $py train --dataset multisite --data-root "$DATA" --backbone openvino_ir --backbone-weights "$ir" \
                --init-from "$RUNS/published/intel0277.pt" --head pooling --embedding-dim 256 \
                --backbone-lr-scale 0.1 --teacher-cache "$(cache_of "$candidate")" --w-distill 10 \
                --w-distill-sim 100 --ids-per-batch 8 --seq-lens 1 2 --epochs 2 --warmup-epochs 0.5 \
                --eval-every 0 --aug-lowres 0.25 --held-out-site "$site" --seed 0 --threads "$THREADS" \
                --out-dir "$run"
        fi
        [ -f "$run.onnx" ] || $py export "$run/last.pt" --out "$run.onnx" --name "v22-$(echo "$candidate" | tr '[:upper:]' '[:lower:]')" \
            --semver 2.2.0-fold --no-evaluate --threads "$THREADS"
        # each fold scored on its own held-out site only: the other sites were in its training
        [ -f "$run-compare/rows.json" ] || $py compare --onnx "$run.onnx" \
            --sets "$(echo "$site" | tr '[:upper:]' '[:lower:]')" --data-root "$DATA" --threads "$THREADS" \
            --out "$run-compare"
    done
done
# one line per candidate: each held-out site's rank-1 and their mean, the figure candidates are chosen on
.venv/bin/python - "$RUNS" "$SITES" $CANDIDATES <<'PY'
import json, sys
from pathlib import Path
runs, sites, candidates = Path(sys.argv[1]), sys.argv[2].split(), sys.argv[3:]
print("| candidate | " + " | ".join(sites) + " | mean |")
print("|" + " --- |" * (len(sites) + 2))
for c in candidates:
    r1 = [json.loads((runs / f"v22-{c}-{s}-compare" / "rows.json").read_text())[0][s.lower()]["rank1"] for s in sites]
    print(f"| {c} | " + " | ".join(f"{v:.3f}" for v in r1) + f" | {sum(r1) / len(r1):.3f} |")
PY
