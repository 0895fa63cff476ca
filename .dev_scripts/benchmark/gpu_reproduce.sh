#!/usr/bin/env bash
# The 3-seed CE + ACE reproduction on one GPU, on the fast path:
# configs/baseline/ce_r32_cifar10-lt-100_280e.py and
# configs/ace/authors/ace-authors_r32_cifar10-lt-100.py (the authors'
# 280-epoch CIFAR-10-LT-100 recipe), seeds 0 1 2, six tools/train.py
# processes at once, crop/flip on the device, bf16, logging without
# per-iteration syncs. Resumable: run it again to continue (finished jobs
# are skipped). Prints the table and writes WORK_DIR/table.json.
#
#   bash .dev_scripts/benchmark/gpu_reproduce.sh [WORK_DIR] [LIMIT_S]
#   COMPILE=reduce-overhead bash .dev_scripts/benchmark/gpu_reproduce.sh ...
#       (every job with tools/train.py --compile reduce-overhead)
#
# Needs data/cifar10 (class folders, e.g. a link to the shared JPEGs, or
# the official pickle). Without it, it says so and exits 0, so a device
# script can call it unconditionally as its last row.
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK=${1:-work_dirs/gpu_reproduce}
LIMIT=${2:-480}
if [ ! -e data/cifar10 ]; then
    echo "gpu_reproduce: no data/cifar10 here; reproduction row skipped"
    exit 0
fi
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2
mkdir -p "$WORK"
status=0
timeout "$LIMIT" python tools/analysis_tools/reproduce.py \
    --work-dir "$WORK" --parallel 6 --fast-path --amp bf16 \
    ${COMPILE:+--compile "$COMPILE"} \
    --out "$WORK/table.json" \
    --cfg-options train_dataloader.num_workers=2 \
    val_dataloader.num_workers=2 test_dataloader.num_workers=2 || status=$?
if [ "$status" = 124 ]; then
    echo "gpu_reproduce: stopped after ${LIMIT} s; run it again to resume"
    for log in "$WORK"/*/seed*/reproduce.log; do
        echo "== $log"; grep -E 'Epoch\((train|val)\)' "$log" | tail -n 2
    done
fi
exit "$status"
