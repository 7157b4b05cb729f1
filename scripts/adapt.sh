#!/usr/bin/env bash
# A model for your own cameras, from your tracker's crops and no labels:
#   bash scripts/adapt.sh CROPS NAME        (CROPS: one folder per track, per camera if you like:
#                                            CROPS/<camera>/<track>/*.jpg; see docs/model.md)
# 1. the teachers (Intel 0277 + 0286, Apache-2.0) embed the eight training sites and your crops once
#    (a cache already in RUNS/teachers/multisite.npz is reused: only new crops are embedded);
# 2. Intel 0277, read from its OpenVINO IR, is fine-tuned exactly as 2.0.0's first member was (the
#    eight labelled sites, the frame network at a tenth of the rate, EPOCHS epochs), with your crops
#    beside each labelled batch through the teachers' terms alone;
# 3. export -> models/NAME.onnx (evaluated on CUHK03 val, thresholds measured on VIPeR and PRID,
#    verified against the checkpoint), the file to serve: REID_MODEL_PATH=models/NAME.onnx, a new
#    model id, so it starts an empty gallery of its own. One network: 0.70x 1.0.0's /embed frames/s,
#    faster than the default pair.
# Measured (CHANGELOG.md, 2.0.0: a site's own crops): the crops of VIPeR's and PRID's
# even-numbered people given unlabeled, their odd-numbered people scored. Against 2.0.0's first member
# (the same recipe without the crops): rank-1 VIPeR 0.721 -> 0.732, PRID 0.790 -> 0.830, same-person
# pairs kept at one false match in 1,000 0.669 -> 0.695; the default pair scores 0.733 / 0.810 / 0.647
# on those people. CUHK03 val, a site it did not adapt to, 0.920 -> 0.905.
# Measure on a few labelled people of your own before you switch. Rerunning resumes.
# About 25 minutes an epoch on 2 CPU cores (about 13 GB of memory); EPOCHS (default 2), THREADS.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { echo "usage: bash scripts/adapt.sh CROPS_FOLDER MODEL_NAME" >&2; exit 2; }
crops=$(realpath "$1")
name=$2
bash scripts/setup.sh
DATA=${DATA_ROOT:-../shared/data}
RUNS=${RUNS:-runs}
PEERS=${PEERS_ROOT:-../shared/peers}
THREADS=${THREADS:-2}
EPOCHS=${EPOCHS:-2}
py=".venv/bin/python -m model_export"
ir="$PEERS/intel/person-reidentification-retail-0277/FP16/person-reidentification-retail-0277.xml"
cache="$RUNS/teachers/adapt-$name.npz"
[ -f "$cache" ] || [ ! -f "$RUNS/teachers/multisite.npz" ] || cp "$RUNS/teachers/multisite.npz" "$cache"
$py teach --data-root "$DATA" --unlabeled-root "$crops" --out "$cache" --threads "$THREADS"
[ -f "$RUNS/published/intel0277.pt" ] || $py pretrained --backbone openvino_ir --backbone-weights "$ir" \
    --out "$RUNS/published/intel0277.pt"
run="$RUNS/adapt-$name"
$py train --dataset multisite --data-root "$DATA" --backbone openvino_ir --backbone-weights "$ir" \
    --init-from "$RUNS/published/intel0277.pt" --head pooling --embedding-dim 256 --backbone-lr-scale 0.1 \
    --teacher-cache "$cache" --w-distill 10 --w-distill-sim 100 \
    --ids-per-batch 8 --seq-lens 1 2 --epochs "$EPOCHS" --warmup-epochs 0.5 --eval-every 0 --keep-epochs \
    --unlabeled-root "$crops" --threads "$THREADS" --out-dir "$run"
$py export "$run/last.pt" --data-root "$DATA" --name "$name" --semver 2.0.0-adapted \
    --out "models/$name.onnx" --calibration-root "$DATA" --threads "$THREADS"
echo "serve it: REID_MODEL_PATH=models/$name.onnx bash scripts/serve.sh"
