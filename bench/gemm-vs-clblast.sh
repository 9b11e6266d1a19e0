#!/bin/sh
# Strata's OpenCL GEMM vs CLBlast's SGEMM on the same OpenCL device, side by
# side in one run.
#
#   bench/gemm-vs-clblast.sh [--rounds 3] [MxNxK ...]
#
# Needs CLBlast (Debian: apt-get install libclblast-dev) and a built
# build/bin/strata with the opencl backend. Compiles bench/clblast_sgemm.c
# into build/bench/clblast_sgemm with cc (Strata itself never links
# CLBlast). Each round runs, for every shape (default 256^3, 512^3, 1024^3
# and W1's first layer 128x512x784): clblast_sgemm, then
# `strata bench --op matmul --backend opencl` (float8 kernels on a CPU
# device), then the same with STRATA_OPENCL_TILED_GEMM=1 (the local-memory
# tiled kernel a GPU runs). Every run reports the median of its own timed
# calls; the table shows the median of those over the rounds, in GFLOP/s.
# STRATA_OPENCL_DEVICE=P:D picks the device for all three. CLBlast compiles
# its kernels on first use (over a minute on PoCL; PoCL caches them), which
# lands in its warm-up calls, not in the figures. Not part of CI: shared
# machines are noisy, so only figures from one run compare.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
strata="$here/build/bin/strata"
peer="$here/build/bench/clblast_sgemm"
rounds=3
shapes=""
while [ $# -gt 0 ]; do
    case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    *x*x*) shapes="$shapes $1"; shift ;;
    *) echo "usage: $0 [--rounds N] [MxNxK ...]" >&2; exit 2 ;;
    esac
done
[ -n "$shapes" ] || shapes="256x256x256 512x512x512 1024x1024x1024 128x512x784"
[ -x "$strata" ] || { echo "build first: tools/build.sh" >&2; exit 1; }
[ -f /usr/include/clblast_c.h ] || [ -f /usr/local/include/clblast_c.h ] ||
    { echo "CLBlast not found (Debian: apt-get install libclblast-dev)" >&2; exit 1; }
if [ ! -x "$peer" ] || [ "$here/bench/clblast_sgemm.c" -nt "$peer" ]; then
    mkdir -p "$(dirname "$peer")"
    ${CC:-cc} -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -o "$peer" "$here/bench/clblast_sgemm.c" \
        -lclblast -lOpenCL -lm
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "load before: $(uptime)"
r=1
while [ "$r" -le "$rounds" ]; do
    for s in $shapes; do
        m=${s%%x*}; rest=${s#*x}; n=${rest%%x*}; k=${rest#*x}
        line=$("$peer" "$m" "$n" "$k" 2>&1 | tail -n 1) || true
        echo "round $r clblast: $line"
        echo "$s clblast $(echo "$line" | sed -n 's/.*: \([0-9.]*\) GFLOP\/s.*/\1/p')" >> "$tmp/all"
        line=$(env -u STRATA_OPENCL_TILED_GEMM "$strata" bench --op matmul --shape "$s" --backend opencl 2>&1 |
            tail -n 1) || true
        echo "round $r default: $line"
        echo "$s default $(echo "$line" | sed -n 's/.*: \([0-9.]*\) GFLOP\/s.*/\1/p')" >> "$tmp/all"
        line=$(STRATA_OPENCL_TILED_GEMM=1 "$strata" bench --op matmul --shape "$s" --backend opencl 2>&1 |
            tail -n 1) || true
        echo "round $r tiled:   $line"
        echo "$s tiled $(echo "$line" | sed -n 's/.*: \([0-9.]*\) GFLOP\/s.*/\1/p')" >> "$tmp/all"
    done
    r=$((r + 1))
done
echo "load after: $(uptime)"

# Median over the rounds of each (shape, side); "-" where a run gave no figure.
printf "\n%-16s %10s %16s %14s %16s\n" "MxNxK" clblast "strata default" "strata tiled" "clblast/default"
for s in $shapes; do
    for side in clblast default tiled; do
        awk -v s="$s" -v side="$side" '$1 == s && $2 == side && $3 != "" { print $3 }' "$tmp/all" | sort -g |
            awk '{ v[NR] = $1 } END { if (!NR) print "-"; else if (NR % 2) print v[(NR + 1) / 2];
                                      else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }' > "$tmp/$side"
    done
    c=$(cat "$tmp/clblast"); d=$(cat "$tmp/default"); t=$(cat "$tmp/tiled")
    ratio=$(awk -v c="$c" -v d="$d" 'BEGIN { if (c == "-" || d == "-" || d + 0 == 0) print "-";
                                              else printf "%.2fx\n", c / d }')
    printf "%-16s %10s %16s %14s %16s\n" "$s" "$c" "$d" "$t" "$ratio"
done
