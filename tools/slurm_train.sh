#!/usr/bin/env bash
# Usage: [GPUS=16 GPUS_PER_NODE=8] tools/slurm_train.sh PARTITION JOB_NAME \
#            CONFIG WORK_DIR [train.py args...]
# One task per GPU across ceil(GPUS / GPUS_PER_NODE) nodes of a Slurm
# partition; mmengine reads the rank and world size from Slurm's variables
# (--launcher slurm). E.g. ImageNet-LT on two 8-GPU nodes:
#   GPUS=16 tools/slurm_train.sh gpu ace configs/ace/ace_r50_imagenet-lt.py \
#       work_dirs/ace_r50_imagenet-lt
# GPUS_PER_NODE, CPUS_PER_TASK, SRUN_ARGS: see _launch.sh.
. "$(dirname "$0")/_launch.sh"
slurm_launch "$1" "$2" train.py "$3" --work-dir="$4" -- "${@:5}"
