#!/bin/sh
# Q3 (../shared/WORKLOADS.md): MemN2N on bAbI-format tasks, 1k training
# questions per task, 3 hops, PE + LS + RN, single-task training (the paper's
# recipe, models/memn2n-babi.yaml) on data from `strata babi-gen`; prints a
# markdown table of test error per task and the mean, next to the paper's
# PE LS RN column (Sukhbaatar et al. 2015, Table 1, 1k single-task).
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
# the paper's 1k PE LS RN single-task column, in percent
PAPER="0.0 11.4 21.9 13.4 14.4 2.8 18.3 9.3 1.9 6.5 0.3 0.1 0.2 6.9 0.0 2.7 40.4 9.4 88.0 0.0"
start=$(date +%s)
if [ "$JOINT" = 1 ]; then
  "$STRATA" train models/memn2n-babi.yaml --data "$OUT/data" --task all --out "$OUT/joint" $REPEATS --quiet >"$OUT/joint.log"
  echo "| task | Strata joint | "
  echo "|---|---|"
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); [print("| %s | %.1f%% |" % (k, 100*v)) for k,v in d["tasks"].items()]; print("| mean | %.1f%% |" % (100*d["mean"]))' "$OUT/joint/summary.json"
else
  for t in $TASKS; do
    "$STRATA" train models/memn2n-babi.yaml --data "$OUT/data" --task "$t" --out "$OUT/task$t" $REPEATS --quiet >"$OUT/task$t.log"
  done
  echo "| task | Strata test error | paper (PE LS RN, 1k) |"
  echo "|---|---|---|"
  python3 - "$OUT" "$PAPER" $TASKS <<'PY'
import json, sys
out, paper = sys.argv[1], [float(x) for x in sys.argv[2].split()]
errs, refs = [], []
for t in sys.argv[3:]:
    e = 100 * json.load(open(f"{out}/task{t}/summary.json"))["mean"]
    errs.append(e); refs.append(paper[int(t) - 1])
    print(f"| {t} | {e:.1f}% | {paper[int(t) - 1]:.1f}% |")
print(f"| mean | {sum(errs) / len(errs):.1f}% | {sum(refs) / len(refs):.1f}% |")
PY
fi
echo "($(( $(date +%s) - start )) s; runs in $OUT)"
