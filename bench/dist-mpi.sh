#!/bin/sh
# Data-parallel training (mpirun -np N strata train, docs/user-guide.md)
# against one process, and against PyTorch's DistributedDataParallel, on W1
# (the MLP, global batch 128), W2 (LeNet-5, global batch 64) or W5 (the
# DCGAN, global batch 64; PyTorch's gradients all-reduced by hand, see
# bench/torch_ddp.py), side by side in one run.
#
#   bench/dist-mpi.sh [W1|W2|W5] [--ranks 2] [--rounds 3] [--steps 400]
#
# Each round measures, in this order:
#   strata 1 process, RANKS threads    strata RANKS ranks x 1 thread (MPI)
#   torch 1 process, RANKS threads     torch RANKS ranks x 1 thread (DDP, gloo)
# Strata's rate is timed as (t(STEPS + 50 steps) - t(50 steps)) from
# summary.json, which cancels the setup and the test-set evaluation; the
# PyTorch side (bench/torch_ddp.py) times STEPS steps after 5 warm-up
# ones. Prints the median images/s of each over the rounds and the ratios.
# Not part of CI: these machines are shared and noisy.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
strata="$here/build/bin/strata"
ranks=2
rounds=3
steps=400
workload=W1
while [ $# -gt 0 ]; do
    case "$1" in
    W1|W2|W5) workload=$1; shift ;;
    --ranks) ranks=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    *) echo "usage: $0 [W1|W2|W5] [--ranks N] [--rounds N] [--steps N]" >&2; exit 2 ;;
    esac
done
[ -x "$strata" ] || { echo "build first: tools/build.sh" >&2; exit 1; }
[ -e "$here/build/lib/libstrata_mpi.so" ] || { echo "no build/lib/libstrata_mpi.so: install libopenmpi-dev and build" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

case $workload in
W1) spec="$here/models/mlp-fashion.yaml"; batch=128 ;;
W2) spec="$here/models/lenet-fashion.yaml"; batch=64 ;;
W5) spec="$here/models/dcgan-fashion.yaml"; batch=64 ;;
esac

# seconds of training in RUN/summary.json
secs() { sed -n 's/.*"seconds": *\([0-9.e+-]*\).*/\1/p' "$1/summary.json"; }

# images/s of strata: $1 = ranks (1: one process with $ranks threads)
strata_rate() {
    for n in 50 $((steps + 50)); do
        rm -rf "$tmp/r$n"
        if [ "$1" = 1 ]; then
            STRATA_NUM_THREADS=$ranks "$strata" train "$spec" --out "$tmp/r$n" --steps $n --quiet >/dev/null
        else
            mpirun -np "$1" --bind-to none -x STRATA_NUM_THREADS=1 "$strata" train "$spec" \
                --out "$tmp/r$n" --steps $n --quiet >/dev/null
        fi
    done
    awk -v a="$(secs "$tmp/r50")" -v b="$(secs "$tmp/r$((steps + 50))")" -v s="$steps" -v n="$batch" \
        'BEGIN { printf "%.0f\n", s * n / (b - a) }'
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

: >"$tmp/s1"; : >"$tmp/sN"; : >"$tmp/t1"; : >"$tmp/tN"
for r in $(seq "$rounds"); do
    strata_rate 1 >>"$tmp/s1"
    strata_rate "$ranks" >>"$tmp/sN"
    /usr/bin/python3 "$here/bench/torch_ddp.py" "$workload" 1 "$ranks" "$steps" >>"$tmp/t1"
    /usr/bin/python3 "$here/bench/torch_ddp.py" "$workload" "$ranks" 1 "$steps" >>"$tmp/tN"
    echo "round $r: strata $(tail -1 "$tmp/s1") / $(tail -1 "$tmp/sN"), torch $(tail -1 "$tmp/t1") / $(tail -1 "$tmp/tN") images/s (1 process / $ranks ranks)" >&2
done
s1=$(median <"$tmp/s1"); sN=$(median <"$tmp/sN"); t1=$(median <"$tmp/t1"); tN=$(median <"$tmp/tN")
echo "$workload, global batch $batch, median of $rounds rounds ($steps steps), images/s:"
printf '  %-34s %8s %8s %8s\n' "" strata torch "strata/torch"
printf '  %-34s %8s %8s %8.2f\n' "1 process, $ranks threads" "$s1" "$t1" "$(echo "$s1 $t1" | awk '{ print $1 / $2 }')"
printf '  %-34s %8s %8s %8.2f\n' "$ranks ranks x 1 thread (MPI / DDP)" "$sN" "$tN" "$(echo "$sN $tN" | awk '{ print $1 / $2 }')"
printf '  %-34s %8.2f %8.2f\n' "$ranks ranks / 1 process" "$(echo "$sN $s1" | awk '{ print $1 / $2 }')" "$(echo "$tN $t1" | awk '{ print $1 / $2 }')"
