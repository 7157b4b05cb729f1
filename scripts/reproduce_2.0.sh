#!/usr/bin/env bash
# The 2.0.0 recipe, one command: teachers' targets, the multi-site training (resumes from its last
# epoch when re-run, so a run on 2 CPU cores can stop and go on), the comparison with the peers, and
# the export to ONNX with verification. About 4 minutes a training epoch on 2 CPU threads.
#   teach:   Intel 0277 and 0286 (Apache-2.0) embed every training crop once -> runs/teachers/
#   train:   OSNet x0.25 (torchreid's Market-1501 weights) + GRU-RCN on CUHK03 labeled and detected and
#            five PETA sites, identity + triplet + Siamese + distillation losses, 256x128
#   compare: CUHK03 val, VIPeR and PRID for the checkpoint and every peer -> runs/compare-2.0/table.md
#   export:  -> models/grurcn-osnet-multisite.onnx, verified against the checkpoint
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
DATA=${DATA_ROOT:-../shared/data}
RUNS=${RUNS:-runs}
THREADS=${THREADS:-2}
RUN="$RUNS/v2-osnet-recurrent-distill"
py=".venv/bin/python -m model_export"
[ -f "$RUNS/teachers/multisite.npz" ] || $py teach --data-root "$DATA" --out "$RUNS/teachers/multisite.npz" --threads "$THREADS"
$py train --dataset multisite --data-root "$DATA" --backbone osnet_x0_25 --head recurrent \
    --teacher-cache "$RUNS/teachers/multisite.npz" --w-distill 10 --w-distill-sim 100 \
    --epochs "${EPOCHS:-12}" --eval-every 3 --threads "$THREADS" --out-dir "$RUN"
$py export "$RUN/last.pt" --data-root "$DATA" --name grurcn-osnet-multisite --semver 2.0.0-rc.1 \
    --out models/grurcn-osnet-multisite.onnx --threads "$THREADS"
$py verify models/grurcn-osnet-multisite.onnx --checkpoint "$RUN/last.pt" --cuhk03-root "$DATA/cuhk03"
$py compare --onnx models/grurcn-osnet-multisite.onnx --onnx models/grurcn-mobilenetv2-cuhk03.onnx \
    --peers all --data-root "$DATA" --threads "$THREADS" --out "$RUNS/compare-2.0"
