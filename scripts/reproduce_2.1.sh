#!/usr/bin/env bash
# The 2.1.0 default, one command: one network of 2.0.0's member 1's cost, the plain mean of two runs
# of its recipe with a quarter of the tracklets seen small (docs/model.md, "How it was chosen").
# Re-running resumes each training from its last checkpoint, so a run on
# 2 CPU cores can stop and go on (the two seeds side by side on one thread each: about 47 minutes).
#   teach:       Intel 0277 and 0286 (Apache-2.0) embed every training crop once -> runs/teachers/
#   pretrained:  Intel 0277 read from its OpenVINO IR into PyTorch, as published -> runs/published/
#   train:       fine-tuned on the eight sites, seeds 0 and 1: P=8 x K=4 tracklets of 1-2 frames, the
#                frame network at a tenth of the rate, 2 epochs of 175 steps, --aug-lowres 0.25
#   interpolate: the two runs' weights averaged (alpha 1: a uniform soup, nothing moved back)
#   export:      -> models/osnet-ain-multisite.onnx, evaluated on CUHK03 val, calibrated on VIPeR and
#                PRID, verified against the checkpoint
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
DATA=${DATA_ROOT:-../shared/data}
RUNS=${RUNS:-runs}
PEERS=${PEERS_ROOT:-../shared/peers}
py=".venv/bin/python -m model_export"
ir="$PEERS/intel/person-reidentification-retail-0277/FP16/person-reidentification-retail-0277.xml"
[ -f "$RUNS/teachers/multisite.npz" ] || $py teach --data-root "$DATA" --out "$RUNS/teachers/multisite.npz" --threads 2
$py pretrained --backbone openvino_ir --backbone-weights "$ir" --out "$RUNS/published/intel0277.pt"
pids=()
for seed in 0 1; do
    $py train --dataset multisite --data-root "$DATA" --backbone openvino_ir --backbone-weights "$ir" \
        --init-from "$RUNS/published/intel0277.pt" --head pooling --embedding-dim 256 --backbone-lr-scale 0.1 \
        --teacher-cache "$RUNS/teachers/multisite.npz" --w-distill 10 --w-distill-sim 100 \
        --ids-per-batch 8 --seq-lens 1 2 --epochs 2 --warmup-epochs 0.5 --eval-every 0 --aug-lowres 0.25 \
        --seed "$seed" --threads 1 --out-dir "$RUNS/v21-ir0277-lowres25-s$seed" &
    pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
$py interpolate "$RUNS/v21-ir0277-lowres25-s0/last.pt" "$RUNS/v21-ir0277-lowres25-s1/last.pt" \
    --start "$RUNS/published/intel0277.pt" --alpha 1 --out "$RUNS/v21-soup.pt"
$py export "$RUNS/v21-soup.pt" --data-root "$DATA" --name osnet-ain-multisite --semver 2.1.0 \
    --out models/osnet-ain-multisite.onnx --calibration-root "$DATA" --threads 2
$py verify models/osnet-ain-multisite.onnx --checkpoint "$RUNS/v21-soup.pt" --cuhk03-root "$DATA/cuhk03"
