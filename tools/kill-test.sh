#!/usr/bin/env bash
# Kills `strata train --checkpoint-every 1` with SIGKILL at random moments,
# many times. After every kill the last checkpoint must be intact: it loads
# (`strata eval`), and the run resumed from it (`--resume`) continues. When a
# run reaches its last step, its metrics.jsonl must hold exactly the losses of
# an uninterrupted run of the same spec, step for step.
#
#   tools/kill-test.sh [--kills N] [--seconds S] [--build DIR] [--steps N]
#
# Defaults: 50 kills, at most 120 s of killing, build/. Prints one line of
# figures; exit 0 when every check passed, 1 otherwise, 77 when python3 (it
# writes the synthetic data set) is missing.
set -eu
kills_wanted=50
budget=120
build=build
steps=60
while [ $# -gt 0 ]; do
    case "$1" in
    --kills) kills_wanted=$2; shift 2 ;;
    --seconds) budget=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    *) echo "kill-test: unknown option $1" >&2; exit 2 ;;
    esac
done
cd "$(dirname "$0")/.."
bin=$(cd "$build" && pwd)/bin/strata
[ -x "$bin" ] || { echo "kill-test: $bin missing (build first)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "kill-test: python3 missing (it writes the data); skipped" >&2; exit 77; }
work=$(mktemp -d "${TMPDIR:-/tmp}/strata-kill-XXXXXX")
trap 'rm -rf "$work"' EXIT

# 48 synthetic 16x16 images of 4 classes (bars and diagonals with noise): 24
# batches an epoch, so the 60 steps cross two epoch ends
python3 - "$work" <<'EOF'
import random, struct, sys
d = sys.argv[1]
rnd = random.Random(7)
n, side = 48, 16
img = bytearray(struct.pack(">IIII", 0x0803, n, side, side))
lbl = bytearray(struct.pack(">II", 0x0801, n))
for i in range(n):
    c, p = i % 4, rnd.randrange(2, side - 2)
    px = [rnd.randrange(0, 60) for _ in range(side * side)]
    for k in range(side):
        idx = [k * side + p, p * side + k, k * side + k, k * side + side - 1 - k][c]
        px[idx] = 220
    img += bytes(px)
    lbl.append(c)
open(d + "/images.idx", "wb").write(img)
open(d + "/labels.idx", "wb").write(lbl)
EOF
# an MLP with dropout (the random state matters) and Adam: a 6.4 MB checkpoint,
# and batches of 2, so writing it is most of a step
cat > "$work/spec.yaml" <<EOF
name: kill-test
seed: 5
data:
  format: idx
  train: {images: $work/images.idx, labels: $work/labels.idx}
  test: {images: $work/images.idx, labels: $work/labels.idx}
  scale: 255
model:
  input: [1, 16, 16]
  layers:
    - {type: flatten}
    - {type: linear, out_features: 2048}
    - {type: relu}
    - {type: dropout, p: 0.2}
    - {type: linear, out_features: 4}
loss: cross_entropy
optimizer: {type: adam, lr: 0.001}
train: {epochs: 1, batch_size: 2, eval_batch_size: 48}
EOF
train=("$bin" train "$work/spec.yaml" --backend ref --steps "$steps" --checkpoint-every 1 --quiet)

# the losses of a run, without the timings
losses() { sed 's/,"seconds":[^}]*//' "$1/metrics.jsonl"; }

"${train[@]}" --out "$work/ref" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
losses "$work/ref" >"$work/ref.txt"
[ "$(grep -c batch_loss "$work/ref.txt")" -eq "$steps" ] || { echo "kill-test: reference run is short" >&2; exit 1; }

kills=0 during=0 before_first=0 resumes=0 finished=0 failures=0
start=$(date +%s)
run="$work/run"
fail() { echo "kill-test: FAIL after $kills kills: $*" >&2; failures=$((failures + 1)); }
while [ "$kills" -lt "$kills_wanted" ] && [ $(($(date +%s) - start)) -lt "$budget" ]; do
    if [ -f "$run/checkpoint.safetensors" ]; then
        "${train[@]}" --resume "$run" >"$work/out" 2>"$work/err" &
        resumes=$((resumes + 1))
    else
        "${train[@]}" --out "$run" >"$work/out" 2>"$work/err" &
    fi
    pid=$!
    # a moment anywhere in the run: start-up, steps, checkpoint writes
    sleep "0.$(printf '%03d' $((RANDOM % 900 + 50)))"
    if kill -KILL "$pid" 2>/dev/null; then
        wait "$pid" 2>/dev/null || true
        kills=$((kills + 1))
    else
        code=0
        wait "$pid" || code=$?
        if [ "$code" -ne 0 ]; then
            fail "the run exited $code: $(cat "$work/err")"
            break
        fi
        # finished: the whole curve must be the uninterrupted one
        finished=$((finished + 1))
        if ! losses "$run" | cmp -s - "$work/ref.txt"; then
            fail "the resumed run's metrics differ from the uninterrupted run's"
            losses "$run" | diff "$work/ref.txt" - >&2 || true
            break
        fi
        rm -rf "$run"
        continue
    fi
    if ls "$run"/checkpoint.safetensors.tmp.* >/dev/null 2>&1; then
        during=$((during + 1)) # killed inside a checkpoint write
    fi
    if [ ! -f "$run/checkpoint.safetensors" ]; then
        before_first=$((before_first + 1))
        continue
    fi
    if ! "$bin" eval "$work/spec.yaml" --checkpoint "$run/checkpoint.safetensors" --backend ref \
        >"$work/eval" 2>&1 || ! grep -q "test accuracy" "$work/eval"; then
        fail "the last checkpoint does not load: $(cat "$work/eval")"
        break
    fi
done
# the last interrupted run, resumed to its end, must match too
if [ "$failures" -eq 0 ] && [ -f "$run/checkpoint.safetensors" ]; then
    if "${train[@]}" --resume "$run" >"$work/out" 2>"$work/err"; then
        finished=$((finished + 1))
        losses "$run" | cmp -s - "$work/ref.txt" ||
            fail "the resumed run's metrics differ from the uninterrupted run's"
    else
        fail "the final resume failed: $(cat "$work/err")"
    fi
fi
echo "kill-test: $kills kills survived ($during inside a checkpoint write, $before_first before the first" \
    "checkpoint), $resumes resumes, $finished runs finished with the uninterrupted loss curve" \
    "($steps steps), $failures failures, $(($(date +%s) - start)) s"
[ "$failures" -eq 0 ] && [ "$kills" -gt 0 ]
