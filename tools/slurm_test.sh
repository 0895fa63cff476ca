#!/usr/bin/env bash
# Usage: [GPUS=8 GPUS_PER_NODE=8] tools/slurm_test.sh PARTITION JOB_NAME \
#            CONFIG CHECKPOINT [test.py args...]
# Multi-GPU evaluation on a Slurm partition (see slurm_train.sh).
# GPUS_PER_NODE, CPUS_PER_TASK, SRUN_ARGS: see _launch.sh.
. "$(dirname "$0")/_launch.sh"
slurm_launch "$1" "$2" test.py "$3" "$4" -- "${@:5}"
