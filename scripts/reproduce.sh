#!/usr/bin/env bash
# Set everything up, train the shipped recipe on CUHK03 and evaluate it beside its baselines.
# About 25 + 10 + 10 minutes on 2 CPU cores; re-running resumes from the checkpoints in runs/.
#   stage 1: image-level training of the frame network (T = 1, pooling head)
#   stage 2: sequences of 2-5 frames from the stage-1 weights, with the GRU-RCN (the product) and,
#            for the ablation, without it (pooling), each trained the same way
#   export: the GRU-RCN run to ONNX, evaluated with ONNX Runtime on CUHK03 val and verified against
#           its checkpoint (parity on random and real frames) -> models/ (the shipped model's recipe)
# STAGE1_EPOCHS=30 gives the shorter ablation of the README.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
DATA=${CUHK03_ROOT:-../shared/data/cuhk03}
E1=${STAGE1_EPOCHS:-60}
py=".venv/bin/python -m model_export"
$py evaluate --imagenet-baseline --dataset cuhk03 --data-root "$DATA" --out-dir runs/imagenet-baseline
$py train --data-root "$DATA" --head pooling --seq-lens 1 --epochs "$E1" --eval-every 10 \
    --out-dir "runs/cuhk03-image$E1"
stage2=(--data-root "$DATA" --init-from "runs/cuhk03-image$E1/last.pt" --seq-lens 2 3 4 5 --epochs 5
        --lr 1e-4 --warmup-epochs 0.5 --eval-every 5)
$py train "${stage2[@]}" --head recurrent --out-dir "runs/cuhk03-recurrent$E1"
$py train "${stage2[@]}" --head pooling --out-dir "runs/cuhk03-pooling$E1"
$py evaluate "runs/cuhk03-recurrent$E1/last.pt" --without-recurrence --out-dir "runs/cuhk03-recurrent$E1-off"
# each run's figures: runs/<run>/eval/metrics.json (the ablation's: runs/cuhk03-recurrent$E1-off/metrics.json)
$py export "runs/cuhk03-recurrent$E1/last.pt" --data-root "$DATA" --name grurcn-mobilenetv2-cuhk03 \
    --out "models/grurcn-mobilenetv2-cuhk03.onnx"
$py verify models/grurcn-mobilenetv2-cuhk03.onnx --checkpoint "runs/cuhk03-recurrent$E1/last.pt" \
    --cuhk03-root "$DATA"
