#!/usr/bin/env bash
# Usage: tools/dist_train.sh CONFIG NUM_PROCS [train.py args...]
# One process per GPU; on a CPU-only machine the processes use gloo.
# NNODES, NODE_RANK, MASTER_ADDR, PORT: see _launch.sh.
. "$(dirname "$0")/_launch.sh"
dist_launch "$2" train.py "$1" -- "${@:3}"
