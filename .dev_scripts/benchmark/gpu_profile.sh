#!/usr/bin/env bash
# Where a GPU training iteration goes (issue 24 item 1), in one call:
# CE (configs/baseline/ce_r32_cifar100-lt-100.py) and ACE as the authors
# ran it (configs/ace/authors/ace-authors_r32_cifar100-lt-100.py) through
# the real runner on random CIFAR-100-shaped images (no data needed), each
# in four variants:
#   default            the config as it is
#   fast-switches-off  --fast-path without fused SGD, cudnn.benchmark and
#                      non-blocking batch copies (the fast path before them)
#   fast               --fast-path
#   fast-bf16          --fast-path --amp bf16
# Each variant: ITERS timed iterations (host time per phase: loader wait,
# data preprocessor, step, hooks; steps/s) then ITERS profiled ones
# (torch.profiler: device busy time, kernel launches, host syncs
# (cudaStreamSynchronize / cudaMemcpy...) per step). Then
# benchmark_ace.py --profile (ACE vs CE vs plain PyTorch, top kernels),
# loop_overhead.py (one fast-path epoch vs plain train steps) and, on the
# time left, ACE's fast-bf16 step eager vs compiled (--compile).
#
#   bash .dev_scripts/benchmark/gpu_profile.sh                       # GPU
#   OUT=/tmp/p bash .dev_scripts/benchmark/gpu_profile.sh --device cpu --iters 3
#
# Writes under $OUT (default work_dirs/gpu_profile) three files:
# summary.txt (the tables), all.log (every tool's whole output) and
# results.json (every number). LIMIT_S (default 420) bounds the whole run;
# each tool runs under `timeout` with what is left, so a slow part costs
# the parts after it, not the call.
set -uo pipefail
cd "$(dirname "$0")/../.."
export PYTHONUNBUFFERED=1
OUT=${OUT:-work_dirs/gpu_profile}
LIMIT_S=${LIMIT_S:-420}
ITERS=50
DEVICE=cuda
while [ $# -gt 0 ]; do
    case "$1" in
        --device) DEVICE=$2; shift 2 ;;
        --iters) ITERS=$2; shift 2 ;;
        *) echo "gpu_profile.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
if [ "$DEVICE" = cpu ]; then
    export CUDA_VISIBLE_DEVICES=""
    SKIP=1; BENCH="--iters 2 --warmup 1 --batch-size 8"
    LOOP="--synthetic-images 10000"
else
    SKIP=10; BENCH="--iters 30 --warmup 5"; LOOP=""
fi
mkdir -p "$OUT"
SUMMARY=$OUT/summary.txt LOG=$OUT/all.log
TMP=$(mktemp -d)
: >"$SUMMARY"; : >"$LOG"
{
    date -u
    python -c 'import torch; print("torch", torch.__version__, "cuda",
torch.version.cuda, "device:", torch.cuda.get_device_name(0)
if torch.cuda.is_available() else "CPU", "| cpu threads",
torch.get_num_threads())'
    nvidia-smi --query-gpu=name,driver_version,memory.total \
        --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
} 2>&1 | tee -a "$SUMMARY"
deadline=$((SECONDS + LIMIT_S))

# run NAME CMD...: under the time left; the whole output into all.log, the
# tables and per-step lines into summary.txt.
run() {
    local name=$1; shift
    local left=$((deadline - SECONDS))
    if [ "$left" -le 15 ]; then
        echo "== $name: skipped, LIMIT_S=${LIMIT_S} spent" | tee -a "$SUMMARY"
        return
    fi
    echo "== $name ($(date -u +%T), ${left} s left): $*" | tee -a "$SUMMARY"
    echo "== $name: $*" >>"$LOG"
    timeout "$left" "$@" >"$TMP/$name.log" 2>&1
    local rc=$?
    cat "$TMP/$name.log" >>"$LOG"
    grep -E '^\||per step|^(train|inference)[ :]|overhead|steady|^tools|^plain|Error' \
        "$TMP/$name.log" | grep -v 'mmengine - INFO' | tee -a "$SUMMARY"
    echo "   rc=$rc" | tee -a "$SUMMARY"
}

for config in configs/baseline/ce_r32_cifar100-lt-100.py \
        configs/ace/authors/ace-authors_r32_cifar100-lt-100.py; do
    name=$(basename "$config" .py)
    run "steps_$name" python .dev_scripts/benchmark/step_profile.py "$config" \
        --synthetic --iters $((SKIP + 2 * ITERS)) --skip "$SKIP" \
        --torch-profile "$ITERS" --log-interval 100 \
        --variants default fast-switches-off fast fast-bf16 \
        --json "$TMP/steps_$name.json"
done
run benchmark_ace python .dev_scripts/benchmark/benchmark_ace.py \
    --num-classes 100 --device "$DEVICE" $BENCH --profile 12 \
    --json "$TMP/benchmark_ace.json"
run loop_overhead python .dev_scripts/benchmark/loop_overhead.py \
    configs/ace/authors/ace-authors_r32_cifar100-lt-100.py --synthetic \
    --fast-path --amp bf16 --device "$DEVICE" $LOOP \
    --json "$TMP/loop_overhead.json"
# Last, on what time is left: ACE's compiled step (tools/train.py --compile
# reduce-overhead on a GPU) beside the eager one; the skipped iterations
# hold the compilation.
run steps_compile python .dev_scripts/benchmark/step_profile.py \
    configs/ace/authors/ace-authors_r32_cifar100-lt-100.py --synthetic \
    --iters $((3 * SKIP + 2 * ITERS)) --skip $((3 * SKIP)) \
    --torch-profile "$ITERS" --log-interval 100 \
    --variants fast-bf16 fast-bf16-compile \
    --json "$TMP/steps_compile.json"

python - "$TMP" "$OUT/results.json" <<'EOF'
import json, pathlib, sys
tmp, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
out.write_text(json.dumps(
    {p.stem: json.loads(p.read_text()) for p in sorted(tmp.glob('*.json'))},
    indent=1))
EOF
rm -rf "$TMP"
echo "gpu_profile: wrote $SUMMARY, $LOG, $OUT/results.json"
