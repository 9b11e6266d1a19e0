#!/bin/sh
# Q3 (../shared/WORKLOADS.md): MemN2N on bAbI-format tasks, 1k training
# questions per task, 3 hops, PE + LS + RN, single-task training (the paper's
# recipe, models/memn2n-babi.yaml) on data from `strata babi-gen`; prints a
# markdown table of test error per task and the mean, next to the paper's
# 1k PE LS RN mean (Sukhbaatar et al. 2015, Table 1: 13.9% single-task,
# 12.4% joint), the Q3 target in ../shared/WORKLOADS.md.
#
# usage: bench/babi-q3.sh [BUILD_DIR] [--tasks "1 2 3"] [--repeats R] [--joint] [--seed S]
# Writes the runs under ${OUT:-/tmp/strata-babi-q3}.
set -eu
cd "$(dirname "$0")/.."
BUILD=build
case "${1:-}" in -*|"") ;; *) BUILD=$1; shift ;; esac
TASKS="1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20"
REPEATS=""
JOINT=0
SEED=1
while [ $# -gt 0 ]; do
  case "$1" in
    --tasks) TASKS=$2; shift 2 ;;
    --repeats) REPEATS="--repeats $2"; shift 2 ;;
    --joint) JOINT=1; shift ;;
    --seed) SEED=$2; shift 2 ;;
    *) echo "usage: $0 [BUILD_DIR] [--tasks \"1 2 3\"] [--repeats R] [--joint] [--seed S]" >&2; exit 2 ;;
  esac
done
STRATA=$BUILD/bin/strata
OUT=${OUT:-/tmp/strata-babi-q3}
mkdir -p "$OUT"
"$STRATA" babi-gen --task all --train 1000 --test 1000 --seed "$SEED" --out "$OUT/data" >/dev/null
start=$(date +%s)
if [ "$JOINT" = 1 ]; then
  "$STRATA" train models/memn2n-babi.yaml --data "$OUT/data" --task all --out "$OUT/joint" $REPEATS --quiet >"$OUT/joint.log"
  echo "| task | Strata joint | "
  echo "|---|---|"
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); [print("| %s | %.1f%% |" % (k, 100*v)) for k,v in d["tasks"].items()]; print("| mean | %.1f%% (paper, joint: 12.4%%) |" % (100*d["mean"]))' "$OUT/joint/summary.json"
else
  for t in $TASKS; do
    "$STRATA" train models/memn2n-babi.yaml --data "$OUT/data" --task "$t" --out "$OUT/task$t" $REPEATS --quiet >"$OUT/task$t.log"
  done
  echo "| task | Strata test error |"
  echo "|---|---|"
  python3 - "$OUT" $TASKS <<'PY'
import json, sys
out, errs = sys.argv[1], []
for t in sys.argv[2:]:
    e = 100 * json.load(open(f"{out}/task{t}/summary.json"))["mean"]
    errs.append(e)
    print(f"| {t} | {e:.1f}% |")
print(f"| mean | {sum(errs) / len(errs):.1f}% (paper, single-task: 13.9%) |")
PY
fi
echo "($(( $(date +%s) - start )) s; runs in $OUT)"
