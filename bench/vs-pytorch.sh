#!/bin/sh
# Strata vs PyTorch on the reference workloads, side by side in one run.
#
#   bench/vs-pytorch.sh [W1 W2 ...] [--backend cpu] [--rounds 3] [--steps N]
#
# Each round runs `strata bench W` then the PyTorch peer
# (../shared/peers/torch_workloads.py, 2 threads, Debian's /usr/bin/python3),
# alternating so both see the same machine load. Prints the median rate of
# each side over the rounds, their ratio, and peak resident memory. Not part
# of CI: these machines are shared and noisy, so only ratios measured in one
# run mean anything.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
strata="$here/build/bin/strata"
peer="${STRATA_PEERS:-$here/../shared/peers}/torch_workloads.py"
backend=cpu
rounds=3
steps=""
workloads=""
while [ $# -gt 0 ]; do
    case "$1" in
    --backend) backend=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    W*) workloads="$workloads $1"; shift ;;
    *) echo "usage: $0 [W1 ...] [--backend NAME] [--rounds N] [--steps N]" >&2; exit 2 ;;
    esac
done
[ -n "$workloads" ] || workloads="W1 W2 W3 W4 W5"
[ -x "$strata" ] || { echo "build first: tools/build.sh" >&2; exit 1; }
[ -f "$peer" ] || { echo "PyTorch peer not found: $peer (set STRATA_PEERS)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# peak RSS (MB) of a command's children, and its stdout
rss_run() {
    /usr/bin/python3 - "$@" <<'PY'
import resource, subprocess, sys
out = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, text=True).stdout
sys.stdout.write(out)
print("RSS_MB %.1f" % (resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0))
PY
}

# The peer's OpenBLAS kernels can be forced by OPENBLAS_CORETYPE (some
# machines set it, e.g. to Haswell's AVX2 kernels on an AVX-512 processor
# OpenBLAS 0.3.21 does not know). Say which, so runs can be compared; the
# environment's choice is kept.
if [ -n "${OPENBLAS_CORETYPE:-}" ]; then
    echo "(the PyTorch peer's OpenBLAS: OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE from the environment)"
elif grep -q ' avx512f ' /proc/cpuinfo; then
    echo "(the PyTorch peer's OpenBLAS picks its kernels; on AVX-512 try OPENBLAS_CORETYPE=SkylakeX $0 ...)"
fi

printf "%-4s %-8s %14s %14s %8s %12s %12s\n" workload unit strata torch ratio "strata MB" "torch MB"
for w in $workloads; do
    : > "$tmp/s"; : > "$tmp/t"
    r=0
    while [ "$r" -lt "$rounds" ]; do
        "$strata" bench "$w" --backend "$backend" --json ${steps:+--steps "$steps"} >> "$tmp/s" || true
        rss_run /usr/bin/python3 "$peer" "$w" ${steps:+--steps "$steps"} >> "$tmp/t" || true
        r=$((r + 1))
    done
    /usr/bin/python3 - "$w" "$tmp/s" "$tmp/t" <<'PY'
import json, re, statistics, sys
w, sfile, tfile = sys.argv[1:]
srates, smem, unit, skipped = [], [], "", None
for line in open(sfile):
    line = line.strip()
    if not line.startswith("{"):
        continue
    rec = json.loads(line)
    if "skipped" in rec:
        skipped = rec["skipped"]; continue
    srates.append(rec["rate"]); smem.append(rec["peak_rss_mb"]); unit = rec["unit"]
trates, tmem = [], []
for line in open(tfile):
    m = re.search(r"rate=([0-9.]+)/s", line)
    if m: trates.append(float(m.group(1)))
    m = re.match(r"RSS_MB ([0-9.]+)", line)
    if m: tmem.append(float(m.group(1)))
if skipped or not srates:
    print(f"{w:<4} skipped on Strata: {skipped or 'no result'}; torch median {statistics.median(trates) if trates else float('nan'):.1f}/s")
    sys.exit(0)
s, t = statistics.median(srates), statistics.median(trates) if trates else float("nan")
print(f"{w:<4} {unit:<8} {s:14.1f} {t:14.1f} {s / t:7.2f}x {max(smem):12.1f} {max(tmem) if tmem else float('nan'):12.1f}")
PY
done
