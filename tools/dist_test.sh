#!/usr/bin/env bash
# Usage: tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCS [test.py args...]
# NNODES, NODE_RANK, MASTER_ADDR, PORT: see _launch.sh.
. "$(dirname "$0")/_launch.sh"
dist_launch "$3" test.py "$1" "$2" -- "${@:4}"
