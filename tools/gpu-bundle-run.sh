#!/bin/bash
# gpu-bundle-run.sh - on a GPU machine, runs the cuda checks of a bundle made
# by tools/gpu-bundle.sh: `strata info`, test_cuda_load, the conformance suite
# on cuda against ref, then W1-W5 (`strata bench`) on cuda, with PyTorch's W1
# and W2 on the same GPU beside them when python3 has torch with CUDA, and
# 300 steps of W1 and 100 of W3 trained on cuda and on cpu (their test
# accuracies and validation losses agree), then the opencl backend on the GPU
# when the machine has NVIDIA's OpenCL driver.
#
#   tools/gpu-bundle-run.sh [BUNDLE [LOG_DIR]]      (the source tree's .gpu, $OUT or .)
#
# GPU_PROFILE=1 adds each workload's per-op profile (`strata bench --profile`).
# GPU_TRIALS (3) and GPU_LARGE (2) are the conformance suite's random and
# large trials per op (STRATA_CONFORMANCE_TRIALS / _LARGE).
# Each step has its own time limit (GPU_STEP_SECONDS, 150 for the
# conformance suite: GPU_CONF_SECONDS) so one hang cannot eat the rest; the
# log says which failed. Exits non-zero when a step failed.
set -uo pipefail
# BUNDLE and LOG_DIR relative to where the script is called from
bundle=$(cd "${1:-$(dirname "$0")/../.gpu}" && pwd) || exit 2
logs=${2:-${OUT:-.}}
mkdir -p "$logs" && logs=$(cd "$logs" && pwd) || exit 2
cd "$(dirname "$0")/.."
root=$(pwd)
steps=${GPU_BENCH_STEPS:-200}
step_s=${GPU_STEP_SECONDS:-60}
conf_s=${GPU_CONF_SECONDS:-150}
status=0

# Debian's libraries from the bundle; cuBLAS and cuDNN from wherever the
# machine keeps them (the toolkit, or the pip wheels next to PyTorch).
tar -C /tmp -xJf "$bundle/deps.tar.xz"
libpath=/tmp/deps
for lib in libcublas.so.13 libcudnn.so.9; do
    f=$(find /usr/local/cuda* /usr/lib /opt -name "$lib" 2>/dev/null | head -n 1)
    if [ -n "$f" ]; then libpath="$libpath:$(dirname "$f")"; else echo "gpu: $lib not found" >&2; fi
done
export LD_LIBRARY_PATH="$libpath${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export STRATA_TEST_BUILD="$bundle" STRATA_SOURCE_DIR="$root" STRATA_TEST_DATA="$root/tests/data"

fm=/usr/share/datasets/fashion-mnist
if [ ! -f "$fm/train-images-idx3-ubyte.gz" ]; then
    mkdir -p "$fm" && cp "$bundle"/fashion/*.gz "$fm/"
fi
if [ ! -f data/kjv.txt ]; then
    mkdir -p data && xz -dc "$bundle/kjv.txt.xz" > data/kjv.txt.tmp && mv data/kjv.txt.tmp data/kjv.txt
fi
strata="$bundle/bin/strata"

log="$logs/gpu.log"
: > "$log"
step() { # step NAME SECONDS COMMAND...: runs it; its whole output goes to LOG_DIR/gpu.log
    local name=$1 secs=$2
    shift 2
    local t0 rc=0 out
    t0=$(date +%s)
    out=$(timeout "$secs" "$@" 2>&1) || rc=$?
    local line="== $name: ok, $(($(date +%s) - t0)) s"
    [ "$rc" -eq 0 ] || { line="== $name: FAILED (exit $rc), $(($(date +%s) - t0)) s"; status=1; }
    printf '%s\n%s\n' "$line" "$out" >> "$log"
    echo "$line"
    printf '%s\n' "$out" | tail -n "${GPU_TAIL:-8}"
}

# GPU_ONLY: the sections to run (default: all but sanitize) of info,
# conformance, bench, torch, train, gemm, nomem, opencl, sanitize.
only=" ${GPU_ONLY:-info conformance bench torch train gemm nomem opencl} "
want() { [[ "$only" == *" $1 "* ]]; }

nvidia-smi -L || true
if want info; then
    GPU_TAIL=0 step info 30 "$strata" info
    "$strata" info | sed -n '/^backends/,/^$/p'
    step cuda_load 60 "$bundle/tests/test_cuda_load"
fi
if want conformance; then
    GPU_TAIL=40 step conformance "$conf_s" env STRATA_CONFORMANCE_TRIALS="${GPU_TRIALS:-3}" \
        STRATA_CONFORMANCE_LARGE="${GPU_LARGE:-2}" \
        "$bundle/tests/test_cuda_conformance"
fi
# compute-sanitizer's memcheck over the conformance suite: an out-of-bounds
# or misaligned access, or a leak of device memory, in any cuda kernel
if want sanitize; then
    cs=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -n 1)
    [ -n "$cs" ] || { echo "gpu: compute-sanitizer not found (PATH, /usr/local/cuda*/bin)" >&2; cs=false; }
    GPU_TAIL=40 step sanitize "${GPU_SANITIZE_SECONDS:-240}" env STRATA_CONFORMANCE_TRIALS=1 "$cs" --tool memcheck \
        --leak-check full --error-exitcode 9 "$bundle/tests/test_cuda_conformance"
fi
if want bench; then
    for w in W1 W2 W3 W4 W5; do
        GPU_TAIL=${GPU_PROFILE:+30} step "bench_$w" "$step_s" "$strata" bench "$w" --backend cuda --steps "$steps" \
            ${GPU_PROFILE:+--profile}
    done
fi
if want torch && python3 -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    for w in W1 W2; do
        step "torch_$w" "$step_s" python3 tools/gpu-peer.py "$w" --steps "$steps"
    done
fi
if want train; then
    for be in cuda cpu; do
        step "train_W1_$be" "$step_s" "$strata" train models/mlp-fashion.yaml --backend "$be" --steps 300 \
            --out "/tmp/w1-$be" --quiet
    done
    # W3: the lstm plugin's sequence ops (cuda's own kernels) over 100 steps
    for be in cuda cpu; do
        step "train_W3_$be" "$step_s" "$strata" train models/char-lstm-kjv.yaml --backend "$be" --steps 100 \
            --out "/tmp/w3-$be" --quiet
    done
fi
if want gemm; then
    step gemm "$step_s" "$strata" bench --op matmul --shape 8192x8192x8192 --backend cuda
fi
# inputs of 90 GB each: the second cannot fit, and must be E_NOMEM naming
# the allocation, not a crash
if want nomem; then
    step nomem "$step_s" bash -c 'out=$("$0" bench --op matmul --shape 150000x150000x150000 --backend cuda 2>&1)
        rc=$?; echo "$out (exit $rc)"; [ "$rc" -ne 0 ] && [[ "$out" == *E_NOMEM* ]]' "$strata"
fi
# the opencl backend on the GPU, through NVIDIA's OpenCL driver where the
# machine has it (an ICD file is written for libnvidia-opencl.so.1 when none
# lists it): every opencl op against ref, and W2 with the im2col path's
# kernels per element (a GPU's default) and per plane (a CPU's), which no
# GPU has timed yet (docs/backends.md)
has_opencl() { # (not `strata info | grep -q`: under pipefail grep's early exit fails the pipe)
    local info
    info=$("$strata" info 2>&1)
    grep -q '^    opencl:0' <<< "$info"
}
if want opencl; then
    if ! has_opencl; then
        nv=$(find /usr/lib /usr/lib64 /usr/local -name 'libnvidia-opencl.so.1' 2>/dev/null | head -n 1)
        if [ -n "$nv" ]; then
            mkdir -p /tmp/strata-icd && echo "$nv" > /tmp/strata-icd/nvidia.icd
            export OCL_ICD_VENDORS=/tmp/strata-icd
        fi
    fi
    if has_opencl; then
        "$strata" info | grep '^    opencl:' || true
        GPU_TAIL=20 step opencl_conformance "$conf_s" "$strata" check --backend opencl --trials 2
        for items in element plane; do
            step "opencl_W2_$items" "$step_s" env STRATA_OPENCL_CONV_ITEMS=$items "$strata" bench W2 \
                --backend opencl --steps "$steps"
        done
    else
        echo "gpu: the opencl backend has no device here (no NVIDIA OpenCL driver found): skipped"
    fi
fi
exit $status
