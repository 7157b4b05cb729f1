#!/usr/bin/env bash
# A model for your own cameras, from your tracker's crops and no labels:
#   bash scripts/adapt.sh CROPS NAME        (CROPS: one folder per track, per camera if you like:
#                                            CROPS/<camera>/<track>/*.jpg; see docs/model.md)
# 1. the teachers (Intel 0277 + 0286, Apache-2.0) embed your crops once, added to the cache of the
#    eight training sites (only new crops are embedded);
# 2. OSNet x0.25 from torchreid's MSMT17 weights learns the eight labelled sites as rc.3's
#    second member does, and your crops beside each batch through the teachers' terms alone;
# 3. export -> models/NAME.onnx (evaluated on CUHK03 val, thresholds measured on VIPeR and PRID,
#    verified against the checkpoint);
# 4. combine it with rc.2 (rc.3's first member) -> models/NAME-duo.onnx, the file to serve:
#    REID_MODEL_PATH=models/NAME-duo.onnx, a new model id, so it starts an empty gallery of its own.
# Measured (docs/model.md, "A site's own crops, without labels"), on new people of a site whose other
# people's crops went in: 3DPeS 0.663 -> 0.748 rank-1 (epoch 3), PRID 0.330 -> 0.470 (epoch 5), VIPeR no gain
# alone; beside rc.2, PRID 0.380 -> 0.470 with VIPeR kept (0.404 -> 0.401), against rc.3's 0.450 / 0.404.
# Measure on a few labelled people of your own before you switch. Rerunning resumes.
# This is rc.3's recipe: 2.0.0 (the default, two fine-tuned Intel networks) is far ahead of its result
# on VIPeR and PRID without any adaptation; adapting 2.0.0's members this way is not measured yet.
# About 5 minutes an epoch on 2 CPU cores with a few thousand crops; EPOCHS (default 8), THREADS.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { echo "usage: bash scripts/adapt.sh CROPS_FOLDER MODEL_NAME" >&2; exit 2; }
crops=$(realpath "$1")
name=$2
bash scripts/setup.sh
DATA=${DATA_ROOT:-../shared/data}
RUNS=${RUNS:-runs}
THREADS=${THREADS:-2}
EPOCHS=${EPOCHS:-8}
py=".venv/bin/python -m model_export"
cache="$RUNS/teachers/adapt-$name.npz"
[ -f "$cache" ] || [ ! -f "$RUNS/teachers/multisite.npz" ] || cp "$RUNS/teachers/multisite.npz" "$cache"
$py teach --data-root "$DATA" --unlabeled-root "$crops" --out "$cache" --threads "$THREADS"
run="$RUNS/adapt-$name"
$py train --dataset multisite --data-root "$DATA" --backbone osnet_x0_25 --head pooling \
    --backbone-weights ../shared/peers/torchreid-osnet/osnet_x0_25_msmt17.pth --backbone-lr-scale 0.1 \
    --teacher-cache "$cache" --w-distill 10 --w-distill-sim 100 \
    --w-id 0.25 --w-frame-id 0.25 --w-triplet 0.25 --w-siamese 0.25 --unlabeled-root "$crops" \
    --epochs "$EPOCHS" --eval-every 0 --keep-epochs --threads "$THREADS" --out-dir "$run"
$py export "$run/last.pt" --data-root "$DATA" --name "$name" --semver 2.0.0-adapted \
    --out "models/$name.onnx" --calibration-root "$DATA" --threads "$THREADS"
$py combine models/osnet-pool-multisite.onnx "models/$name.onnx" --out "models/$name-duo.onnx" \
    --name "$name-duo" --semver 2.0.0-adapted --data-root "$DATA" --threads "$THREADS"
echo "serve it: REID_MODEL_PATH=models/$name-duo.onnx bash scripts/serve.sh"
