# Sourced by dist_{train,test}.sh and slurm_{train,test}.sh, not run.
# Each runs TOOL (train.py or test.py, beside this file) with its positional
# arguments, then the launcher flag, then the user's remaining arguments:
#   dist_launch NUM_PROCS TOOL ARG... -- EXTRA...
#   slurm_launch PARTITION JOB_NAME TOOL ARG... -- EXTRA...
TOOLS_DIR=$(dirname "${BASH_SOURCE[0]}")
export PYTHONPATH="$TOOLS_DIR/..":$PYTHONPATH

# TOOL_ARGS: the arguments before "--"; EXTRA_ARGS: those after it.
split_args() {
    TOOL_ARGS=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        TOOL_ARGS+=("$1")
        shift
    done
    EXTRA_ARGS=("${@:2}")
}

# torch.distributed.run: NNODES, NODE_RANK, MASTER_ADDR and PORT from the
# environment (one node on 127.0.0.1:29500 by default).
dist_launch() {
    local nprocs=$1 tool=$2
    split_args "${@:3}"
    python -m torch.distributed.run \
        --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" \
        --master_addr="${MASTER_ADDR:-127.0.0.1}" \
        --nproc_per_node="$nprocs" --master_port="${PORT:-29500}" \
        "$TOOLS_DIR/$tool" "${TOOL_ARGS[@]}" --launcher pytorch \
        "${EXTRA_ARGS[@]}"
}

# srun, one task per GPU: GPUS tasks in all (8), GPUS_PER_NODE a node (8),
# CPUS_PER_TASK (5) and SRUN_ARGS (split on spaces) from the environment.
slurm_launch() {
    local partition=$1 job_name=$2 tool=$3
    local gpus_per_node=${GPUS_PER_NODE:-8}
    split_args "${@:4}"
    set -x
    # shellcheck disable=SC2086  # SRUN_ARGS holds several arguments
    srun -p "$partition" \
        --job-name="$job_name" \
        --gres=gpu:"$gpus_per_node" \
        --ntasks="${GPUS:-8}" \
        --ntasks-per-node="$gpus_per_node" \
        --cpus-per-task="${CPUS_PER_TASK:-5}" \
        --kill-on-bad-exit=1 \
        ${SRUN_ARGS:-} \
        python -u "$TOOLS_DIR/$tool" "${TOOL_ARGS[@]}" --launcher=slurm \
        "${EXTRA_ARGS[@]}"
}
