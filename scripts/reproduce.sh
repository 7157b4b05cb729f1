#!/usr/bin/env bash
# Set everything up, train the shipped recipe on CUHK03 and evaluate it beside its baselines.
# About 25 + 20 minutes on 2 CPU cores; re-running resumes from the checkpoints in runs/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
DATA=${CUHK03_ROOT:-../shared/data/cuhk03}
py=.venv/bin/python
$py -m model_export evaluate --imagenet-baseline --dataset cuhk03 --data-root "$DATA" --out-dir runs/imagenet-baseline
$py -m model_export train --data-root "$DATA" --head recurrent --out-dir runs/cuhk03-recurrent
$py -m model_export train --data-root "$DATA" --head pooling --out-dir runs/cuhk03-pooling
$py -m model_export evaluate runs/cuhk03-recurrent/last.pt --out-dir runs/cuhk03-recurrent/eval
$py -m model_export evaluate runs/cuhk03-pooling/last.pt --out-dir runs/cuhk03-pooling/eval
