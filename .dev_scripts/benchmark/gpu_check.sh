#!/usr/bin/env bash
# One-GPU speed check of mmace, one table, within 8 minutes on one H100:
# CE vs ACE train-step and inference images/s with AMP off/on,
# channels_last off/on and torch.compile (if it works), peak memory, and a
# 20-epoch slice of the 400-epoch CIFAR-100-LT-100 ACE recipe on generated
# data, extrapolated to 400 epochs (labelled so).
#
#   bash .dev_scripts/benchmark/gpu_check.sh                  # GPU 0
#   bash .dev_scripts/benchmark/gpu_check.sh --json gpu.json  # + all numbers
#   bash .dev_scripts/benchmark/gpu_check.sh --smoke --device cpu   # CI
#   REPRODUCE_S=420 bash .dev_scripts/benchmark/gpu_check.sh --no-compile
#
# Extra arguments go to .dev_scripts/benchmark/speed_check.py (see --help).
# The last row, when REPRODUCE_S > 0 seconds are set aside for it, is the
# 3-seed CE + ACE reproduction on the fast path (gpu_reproduce.sh; it
# resumes where an earlier call stopped).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PYTHONUNBUFFERED=1
REPRODUCE_S=${REPRODUCE_S:-0}
# The 8-minute limit: the script skips the compile rows it cannot fit in
# --budget-s (450 s, less the reproduction's share); the timeout is a last
# resort.
timeout $((480 - REPRODUCE_S)) python .dev_scripts/benchmark/speed_check.py \
    --budget-s $((450 - REPRODUCE_S)) "$@"
if [ "$REPRODUCE_S" -gt 0 ]; then
    bash .dev_scripts/benchmark/gpu_reproduce.sh work_dirs/gpu_reproduce \
        "$REPRODUCE_S"
fi
