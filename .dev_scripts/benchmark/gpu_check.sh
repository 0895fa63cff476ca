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
#
# Extra arguments go to .dev_scripts/benchmark/speed_check.py (see --help).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PYTHONUNBUFFERED=1
# The 8-minute limit: the script skips the compile rows it cannot fit in
# --budget-s (450 s); the timeout is a last resort.
exec timeout 480 python .dev_scripts/benchmark/speed_check.py "$@"
