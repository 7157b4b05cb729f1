#!/usr/bin/env bash
# The 2.0 recipe, one command: teachers' targets, the release candidates' networks (OSNet x0.25 with mean
# pooling; and with GRU-RCN on all three levels), their export and verification, and the
# comparison with the peers. Re-running resumes each training from its last epoch, so a run on
# 2 CPU cores can stop and go on (about 3-4 minutes an epoch there; 87 steps an epoch).
#   teach:   Intel 0277 and 0286 (Apache-2.0) embed every training crop once -> runs/teachers/
#   train:   OSNet x0.25 (torchreid's Market-1501 weights) on CUHK03 labeled and detected and five
#            PETA sites, identity + triplet + Siamese + distillation losses, 256x128
#   export:  -> models/osnet-pool-multisite.onnx and models/grurcn-osnet-multisite.onnx, evaluated,
#            calibrated (thresholds on VIPeR and PRID) and verified
#   rc.3:    a second pooling network from torchreid's MSMT17 weights, its frame network at a tenth
#            of the rate, 8 epochs (2.0.0-rc.3 was trained this way, on 2 CPU cores), exported and
#            combined with the first -> models/osnet-duo-multisite.onnx (rc.3)
#   2.0.0:   Intel's 0277 and 0286 (Apache-2.0) read from their OpenVINO IR into PyTorch
#            (`pretrained --backbone openvino_ir`), each fine-tuned on the same eight sites with the
#            same teachers (frame network at a tenth of the rate, 2 epochs of 175 steps, P=8 x K=4
#            tracklets of 1-2 frames), exported and combined -> models/osnet-ain-duo-multisite.onnx
#            (the default)
#   compare: CUHK03 val, VIPeR and PRID for the files and every peer -> runs/compare-2.0/table.md
# The shipped 2.0.0-rc.2 files were trained on a borrowed H200 instead, from a pack of the same split
# (`model_export pack`, then scripts/train_gpu.sh): the pooling network for 1,913 steps, the GRU-RCN
# one for 2,080, which the epochs below match (22 and 24 epochs of 87 steps).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
DATA=${DATA_ROOT:-../shared/data}
RUNS=${RUNS:-runs}
THREADS=${THREADS:-2}
py=".venv/bin/python -m model_export"
[ -f "$RUNS/teachers/multisite.npz" ] || $py teach --data-root "$DATA" --out "$RUNS/teachers/multisite.npz" --threads "$THREADS"
for spec in pooling:22:osnet-pool-multisite recurrent:24:grurcn-osnet-multisite; do
    IFS=: read -r head epochs name <<<"$spec"
    run="$RUNS/v2-osnet-$head-distill"
    $py train --dataset multisite --data-root "$DATA" --backbone osnet_x0_25 --head "$head" \
        --teacher-cache "$RUNS/teachers/multisite.npz" --w-distill 10 --w-distill-sim 100 \
        --epochs "$epochs" --eval-every 6 --threads "$THREADS" --out-dir "$run"
    $py export "$run/last.pt" --data-root "$DATA" --name "$name" --semver 2.0.0-rc.2 \
        --out "models/$name.onnx" --calibration-root "$DATA" --threads "$THREADS"
    $py verify "models/$name.onnx" --checkpoint "$run/last.pt" --cuhk03-root "$DATA/cuhk03"
done
run="$RUNS/v2-osnet-pool-msmt17-blr01"
$py train --dataset multisite --data-root "$DATA" --backbone osnet_x0_25 --head pooling \
    --backbone-weights ../shared/peers/torchreid-osnet/osnet_x0_25_msmt17.pth --backbone-lr-scale 0.1 \
    --teacher-cache "$RUNS/teachers/multisite.npz" --w-distill 10 --w-distill-sim 100 \
    --epochs 8 --eval-every 0 --keep-epochs --threads "$THREADS" --out-dir "$run"
$py export "$run/last.pt" --data-root "$DATA" --name osnet-pool-msmt17-multisite --semver 2.0.0-rc.3 \
    --out "$RUNS/members/osnet-pool-msmt17-multisite.onnx" --calibration-root "$DATA" --threads "$THREADS"
$py combine models/osnet-pool-multisite.onnx "$RUNS/members/osnet-pool-msmt17-multisite.onnx" \
    --out models/osnet-duo-multisite.onnx --name osnet-duo-multisite --semver 2.0.0-rc.3 \
    --data-root "$DATA" --threads "$THREADS"
PEERS=${PEERS_ROOT:-../shared/peers}
members=()
for spec in 0277:FP16 0286:FP16; do
    IFS=: read -r id precision <<<"$spec"
    ir="$PEERS/intel/person-reidentification-retail-$id/$precision/person-reidentification-retail-$id.xml"
    run="$RUNS/v2-ir$id-pool"
    $py pretrained --backbone openvino_ir --backbone-weights "$ir" --out "$RUNS/published/intel$id.pt"
    $py train --dataset multisite --data-root "$DATA" --backbone openvino_ir --backbone-weights "$ir" \
        --init-from "$RUNS/published/intel$id.pt" --head pooling --embedding-dim 256 --backbone-lr-scale 0.1 \
        --teacher-cache "$RUNS/teachers/multisite.npz" --w-distill 10 --w-distill-sim 100 \
        --ids-per-batch 8 --seq-lens 1 2 --epochs 2 --warmup-epochs 0.5 --eval-every 0 --keep-epochs \
        --threads "$THREADS" --out-dir "$run"
    $py export "$run/last.pt" --data-root "$DATA" --name "osnet-ain-$id-multisite" --semver 2.0.0 \
        --out "$RUNS/members/osnet-ain-$id-multisite.onnx" --calibration-root "$DATA" --threads "$THREADS"
    members+=("$RUNS/members/osnet-ain-$id-multisite.onnx")
done
$py combine "${members[@]}" --out models/osnet-ain-duo-multisite.onnx --name osnet-ain-duo-multisite \
    --semver 2.0.0 --data-root "$DATA" --threads "$THREADS"
$py compare --onnx models/osnet-ain-duo-multisite.onnx --onnx models/osnet-duo-multisite.onnx \
    --onnx models/osnet-pool-multisite.onnx --onnx models/grurcn-osnet-multisite.onnx \
    --onnx models/grurcn-mobilenetv2-cuhk03.onnx --peers all --data-root "$DATA" --threads "$THREADS" \
    --out "$RUNS/compare-2.0"
