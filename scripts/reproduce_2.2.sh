#!/usr/bin/env bash
# Model 2.2's selection (docs/model.md, "How 2.2 will be chosen"), one command that resumes: for each
# candidate and each PETA training site held out in turn, train on the rest, export the file (no
# figures: nothing here looks at VIPeR or PRID) and score the held-out site; then one table of the
# per-site rank-1 and their mean. Re-running skips what is done and resumes a training where it stopped.
#   bash scripts/reproduce_2.2.sh                 # candidates A and B over the five folds
#   CANDIDATES="A" SITES="3DPeS" bash scripts/reproduce_2.2.sh   # one fold of one candidate
# Candidates: A = 2.1.0's recipe (Intel 0277 + 0286 teaching); B = A with torchreid's OSNet x0.25
# MSMT17 as a third teacher; E = B with each teacher weighed per site by its rank-1 there (the
# peers' figures on the training sites, `train --teacher-scores`). Any of them followed by footage
# augmentations, each drawn for a quarter of the tracklets (B+blur, A+compression+occlusion; names
# as in `train --aug-*`: blur, compression, occlusion, white_balance); any of those followed by
# @ALPHA: its folds moved back towards the published 0277 (WiSE-FT, `interpolate --alpha`), no
# training. On 2 CPU cores a fold trains in about
# 40 minutes on one thread; two chains of other candidates can run side by side.
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
        B | E) echo "$RUNS/teachers/multisite3.npz" ;;
        *) echo "unknown candidate $1" >&2; exit 2 ;;
    esac
}
teachers_of() {  # the teachers a candidate's cache is made from
    case "$1" in
        A) echo "$i77 $i86" ;;
        B | E) echo "$i77 $i86 osnet_x0_25_msmt17" ;;
    esac
}
for candidate in $CANDIDATES; do  # only the caches these candidates need, so chains can run side by side
    cache=$(cache_of "${candidate:0:1}")
    # shellcheck disable=SC2046
    [ -f "$cache" ] || $py teach --data-root "$DATA" --teachers $(teachers_of "${candidate:0:1}") --out "$cache" \
        --threads "$THREADS"
done
# the peers on every training site: the bar a fold must beat on its held-out site, and (E) the
# figures the teachers are weighed by on the sites a fold trains on
peers="$RUNS/peers-held-out"
[ -f "$peers/rows.json" ] || $py compare --peers all --sets 3dpes caviar4reid i-lid towncentre sarc3d \
    --data-root "$DATA" --threads "$THREADS" --out "$peers"
for candidate in $CANDIDATES; do
    trained=${candidate%@*}  # the trained recipe: A or B, then +augmentation (each at 0.25)
    augs=()
    for aug in $(echo "${trained#?}" | tr '+' ' '); do augs+=("--aug-$(echo "$aug" | tr '_' '-')" 0.25); done
    [ "${trained:0:1}" = E ] && augs+=(--teacher-scores "$peers/rows.json")
    for site in $SITES; do
        run="$RUNS/v22-$trained-$site"
        if ! grep -q '"done"' "$run/log.jsonl" 2>/dev/null; then
            $py train --dataset multisite --data-root "$DATA" --backbone openvino_ir --backbone-weights "$ir" \
                --init-from "$RUNS/published/intel0277.pt" --head pooling --embedding-dim 256 \
                --backbone-lr-scale 0.1 --teacher-cache "$(cache_of "${trained:0:1}")" --w-distill 10 \
                --w-distill-sim 100 --ids-per-batch 8 --seq-lens 1 2 --epochs 2 --warmup-epochs 0.5 \
                --eval-every 0 --aug-lowres 0.25 "${augs[@]}" --held-out-site "$site" --seed 0 \
                --threads "$THREADS" --out-dir "$run"
        fi
        out="$RUNS/v22-$candidate-$site"
        checkpoint="$run/last.pt"
        if [[ $candidate == *@* ]]; then  # WiSE-FT: moved back towards the published 0277, no training
            checkpoint="$out.pt"
            [ -f "$checkpoint" ] || $py interpolate "$run/last.pt" --start "$RUNS/published/intel0277.pt" \
                --alpha "${candidate#*@}" --out "$checkpoint"
        fi
        name="v22-$(echo "$candidate" | tr '[:upper:]+@_' '[:lower:]---')"
        [ -f "$out.onnx" ] || $py export "$checkpoint" --out "$out.onnx" --name "$name" \
            --semver 2.2.0-fold --no-evaluate --threads "$THREADS"
        # each fold scored on its own held-out site only: the other sites were in its training
        [ -f "$out-compare/rows.json" ] || $py compare --onnx "$out.onnx" \
            --sets "$(echo "$site" | tr '[:upper:]' '[:lower:]')" --data-root "$DATA" --threads "$THREADS" \
            --out "$out-compare"
    done
done
# one line per candidate: each held-out site's rank-1 and their mean, the figure candidates are chosen
# on; then the peers on the same sites, the bar each fold must clear
.venv/bin/python - "$RUNS" "$SITES" $CANDIDATES <<'PY'
import json, sys
from pathlib import Path
runs, sites, candidates = Path(sys.argv[1]), sys.argv[2].split(), sys.argv[3:]
print("| candidate | " + " | ".join(sites) + " | mean |")
print("|" + " --- |" * (len(sites) + 2))
def line(name, r1):  # a fold not run yet is left blank; the mean is over the folds run
    cells = [f"{r1[s]:.3f}" if s in r1 else "" for s in sites]
    mean = f"{sum(r1.values()) / len(r1):.3f}" if r1 else ""
    print(f"| {name} | " + " | ".join(cells) + f" | {mean} |")
for c in candidates:
    rows = {s: runs / f"v22-{c}-{s}-compare" / "rows.json" for s in sites}
    line(c, {s: json.loads(f.read_text())[0][s.lower()]["rank1"] for s, f in rows.items() if f.exists()})
for peer in json.loads((runs / "peers-held-out" / "rows.json").read_text()):
    line(peer["name"], {s: peer[s.lower()]["rank1"] for s in sites if s.lower() in peer})
PY
