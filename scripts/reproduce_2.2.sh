#!/usr/bin/env bash
# Model 2.2's selection (its rule: CHANGELOG.md, "2.2's selection"), one command that resumes: for each
# candidate and each PETA training site held out in turn, train on the rest, export the file (no
# figures: nothing here looks at VIPeR or PRID) and score the held-out site; then one table of the
# per-site rank-1 and their mean. Re-running skips what is done and resumes a training where it stopped.
#   bash scripts/reproduce_2.2.sh                 # candidates A and B over the five folds
#   CANDIDATES="A" SITES="3DPeS" bash scripts/reproduce_2.2.sh   # one fold of one candidate
#   FINAL="B@0.75" bash scripts/reproduce_2.2.sh  # the chosen candidate on all sites, measured once
# Candidates: A = 2.1.0's recipe (Intel 0277 + 0286 teaching); B = A with torchreid's OSNet x0.25
# MSMT17 as a third teacher; E = B with each teacher weighed per site by its rank-1 there (the
# peers' figures on the training sites, `train --teacher-scores`). Any of them followed by footage
# augmentations, each drawn for a quarter of the tracklets (B+blur, A+compression+occlusion; names
# as in `train --aug-*`: blur, compression, occlusion, white_balance); any of those followed by
# @ALPHA: its folds moved back towards the published 0277 (WiSE-FT, `interpolate --alpha`), no
# training. On 2 CPU cores two chains of other candidates run side by side, one thread each (the
# second waits while the first builds the shared cache); a fold then takes 45 minutes on a CPU with
# AVX-512 (a Xeon with AMX, an EPYC with bf16) and 80 to 95 on AVX2-only EPYCs.
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
teachers_of() {  # the teachers a candidate learns from
    case "$1" in
        A) echo "$i77 $i86" ;;
        B | E) echo "$i77 $i86 osnet_x0_25_msmt17" ;;
        *) echo "unknown candidate $1" >&2; exit 2 ;;
    esac
}
for candidate in $CANDIDATES ${FINAL:-}; do teachers_of "${candidate:0:1}" > /dev/null; done  # before hours of work
mkdir -p "$RUNS"
exec 9> "$RUNS/.setup.lock"
flock 9  # chains started side by side: the first builds what they share, the others wait for it
[ -f "$RUNS/published/intel0277.pt" ] \
    || $py pretrained --backbone openvino_ir --backbone-weights "$ir" --out "$RUNS/published/intel0277.pt"
# one cache of all three teachers' vectors; each recipe names the teachers it learns from
cache="$RUNS/teachers/multisite3.npz"
[ -f "$cache" ] || $py teach --data-root "$DATA" --teachers "$i77" "$i86" osnet_x0_25_msmt17 --out "$cache" \
    --threads "$THREADS"
flock -u 9
# the peers on every training site: the bar a fold must beat on its held-out site, and (E) the
# figures the teachers are weighed by on the sites a fold trains on. Built once, under the lock, when
# first needed: before training only for E, else after the folds (20 minutes of 2 cores saved for them)
peers="$RUNS/peers-held-out"
score_peers() {
    flock 9
    [ -f "$peers/rows.json" ] || $py compare --peers all --sets 3dpes caviar4reid i-lid towncentre sarc3d \
        --data-root "$DATA" --threads "$THREADS" --out "$peers"
    flock -u 9
}
if [[ " $CANDIDATES ${FINAL:-} " == *" E"* ]]; then score_peers; fi
# train RECIPE (A, B or E, then +augmentations, each drawn for a quarter of the tracklets) into OUT
# with SEED, THREADS threads and any further options (the held-out site)
train_recipe() {
    local recipe=$1 out=$2 seed=$3 threads=$4
    shift 4
    local extra=()
    for aug in $(echo "${recipe#?}" | tr '+' ' '); do extra+=("--aug-$(echo "$aug" | tr '_' '-')" 0.25); done
    if [ "${recipe:0:1}" = E ]; then extra+=(--teacher-scores "$peers/rows.json"); fi
    grep -q '"done"' "$out/log.jsonl" 2>/dev/null && return 0
    # shellcheck disable=SC2046
    $py train --dataset multisite --data-root "$DATA" --backbone openvino_ir --backbone-weights "$ir" \
        --init-from "$RUNS/published/intel0277.pt" --head pooling --embedding-dim 256 \
        --backbone-lr-scale 0.1 --teacher-cache "$cache" \
        --teachers $(teachers_of "${recipe:0:1}") --w-distill 10 \
        --w-distill-sim 100 --ids-per-batch 8 --seq-lens 1 2 --epochs 2 --warmup-epochs 0.5 \
        --eval-every 0 --aug-lowres 0.25 "${extra[@]}" "$@" --seed "$seed" --threads "$threads" --out-dir "$out"
}
# the recipe's checkpoint of RUN, moved back towards the published 0277 when CANDIDATE ends in @ALPHA
weights_of() {
    local candidate=$1 run=$2 out=$3
    if [[ $candidate != *@* ]]; then echo "$run/last.pt"; return; fi
    [ -f "$out.pt" ] || $py interpolate "$run/last.pt" --start "$RUNS/published/intel0277.pt" \
        --alpha "${candidate#*@}" --out "$out.pt" >&2
    echo "$out.pt"
}
if [ -n "${FINAL:-}" ]; then
    # the chosen candidate on all eight sites, seeds 0 and 1 side by side, their mean (moved back by
    # its @ALPHA, if any) exported as 2.2.0, then measured once through POST /embed with the peers
    recipe=${FINAL%@*}
    alpha=1
    if [[ $FINAL == *@* ]]; then alpha=${FINAL#*@}; fi
    pids=()
    for seed in 0 1; do
        train_recipe "$recipe" "$RUNS/v22-final-$recipe-s$seed" "$seed" 1 &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid"; done
    final="$RUNS/v22-final-$(echo "$FINAL" | tr '@' '-')"
    [ -f "$final.pt" ] || $py interpolate "$RUNS/v22-final-$recipe-s0/last.pt" "$RUNS/v22-final-$recipe-s1/last.pt" \
        --start "$RUNS/published/intel0277.pt" --alpha "$alpha" --out "$final.pt"
    [ -f "$final.onnx" ] || $py export "$final.pt" --data-root "$DATA" --name osnet-ain-multisite --semver 2.2.0 \
        --out "$final.onnx" --calibration-root "$DATA" --threads 2
    $py verify "$final.onnx" --checkpoint "$final.pt" --cuhk03-root "$DATA/cuhk03"
    REID_MODEL_PATH="$final.onnx" REID_PORT=8722 bash scripts/serve.sh > "$final.serve.log" 2>&1 &
    server=$!
    trap 'kill $server 2>/dev/null' EXIT
    for _ in $(seq 120); do curl -sf http://127.0.0.1:8722/readyz > /dev/null && break; sleep 2; done
    $py compare --service http://127.0.0.1:8722 --peers all --sets cuhk03 viper prid --data-root "$DATA" \
        --threads 2 --out "$final-compare"
    echo "$final.onnx: ship it as models/osnet-ain-multisite.onnx only if it meets issue 31's targets"
    exit 0
fi
for candidate in $CANDIDATES; do
    trained=${candidate%@*}  # the trained recipe: A, B or E, then +augmentations
    for site in $SITES; do
        run="$RUNS/v22-$trained-$site"
        train_recipe "$trained" "$run" 0 "$THREADS" --held-out-site "$site"
        out="$RUNS/v22-$candidate-$site"
        checkpoint=$(weights_of "$candidate" "$run" "$out")
        name="v22-$(echo "$candidate" | tr '[:upper:]+@_' '[:lower:]---')"
        [ -f "$out.onnx" ] || $py export "$checkpoint" --out "$out.onnx" --name "$name" \
            --semver 2.2.0-fold --no-evaluate --threads "$THREADS"
        # each fold scored on its own held-out site only: the other sites were in its training
        [ -f "$out-compare/rows.json" ] || $py compare --onnx "$out.onnx" \
            --sets "$(echo "$site" | tr '[:upper:]' '[:lower:]')" --data-root "$DATA" --threads "$THREADS" \
            --out "$out-compare"
    done
done
score_peers
# one line per candidate: each held-out site's rank-1 and their mean, the figure candidates are chosen
# on; then the peers on the same sites, the bar each fold must clear. A fold scored on another machine
# than the peers (compare's machine.txt: CPU, engines; a training's weights differ by CPU) is
# left out of the table (and named), since the two are not comparable.
.venv/bin/python - "$RUNS" "$SITES" $CANDIDATES <<'PY'
import json, sys
from pathlib import Path
runs, sites, candidates = Path(sys.argv[1]), sys.argv[2].split(), sys.argv[3:]
machine = (runs / "peers-held-out" / "machine.txt").read_text().strip()
print(f"scored on {machine}\n")
print("| candidate | " + " | ".join(sites) + " | mean |")
print("|" + " --- |" * (len(sites) + 2))
def line(name, r1):  # a fold not run yet is left blank; the mean is over the folds run
    cells = [f"{r1[s]:.3f}" if s in r1 else "" for s in sites]
    mean = f"{sum(r1.values()) / len(r1):.3f}" if r1 else ""
    print(f"| {name} | " + " | ".join(cells) + f" | {mean} |")
elsewhere = []
for c in candidates:
    r1 = {}
    for s in sites:
        folder = runs / f"v22-{c}-{s}-compare"
        if not (folder / "rows.json").exists():
            continue
        scored_on = folder / "machine.txt"  # none: scored before compare recorded it, machine unknown
        if not scored_on.exists() or scored_on.read_text().strip() != machine:
            elsewhere.append(f"{c} on {s}")
            continue
        r1[s] = json.loads((folder / "rows.json").read_text())[0][s.lower()]["rank1"]
    line(c, r1)
for peer in json.loads((runs / "peers-held-out" / "rows.json").read_text()):
    line(peer["name"], {s: peer[s.lower()]["rank1"] for s in sites if s.lower() in peer})
if elsewhere:
    print(f"\nleft out, scored on another machine: {', '.join(elsewhere)}")
PY
