#!/usr/bin/env bash
# Kills `strata train --checkpoint-every 1` with SIGKILL at random moments,
# many times. After every kill the last checkpoint must be intact: it loads,
# and the run resumed from it (`--resume`) continues; a resume that fails is
# a failure. When a run reaches its last step, its metrics.jsonl must hold
# exactly the losses of an uninterrupted run of the same spec, step for step.
#
#   tools/kill-test.sh [--trainer classifier|gan] [--kills N] [--seconds S]
#                      [--build DIR] [--steps N]
#
# --trainer classifier (the default): an MLP with dropout; the checkpoint is
# checkpoint.safetensors and must load in `strata eval`. --trainer gan: a
# GAN with a weight average (gan.ema), so a checkpoint is three files written
# one after the other (discriminator, generator_ema, then generator, which
# commits it; each earlier one first kept as X.prev.safetensors). After every
# kill the files must form a checkpoint (for generator.safetensors's step,
# X or X.prev holds the same step) and the generator must load in `strata
# sample`; a finished run's generator, discriminator and average must also be
# byte for byte the uninterrupted run's.
#
# Defaults: 50 kills, at most 120 s of killing, build/, 60 steps (30 for the
# GAN). Prints one line of figures; exit 0 when every check passed, 1
# otherwise, 77 when python3 (it writes the synthetic data set) is missing.
set -eu
trainer=classifier
kills_wanted=50
budget=120
build=build
steps=
while [ $# -gt 0 ]; do
    case "$1" in
    --trainer) trainer=$2; shift 2 ;;
    --kills) kills_wanted=$2; shift 2 ;;
    --seconds) budget=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    *) echo "kill-test: unknown option $1" >&2; exit 2 ;;
    esac
done
case "$trainer" in
classifier) steps=${steps:-60} ;;
gan) steps=${steps:-30} ;;
*) echo "kill-test: unknown trainer $trainer (classifier or gan)" >&2; exit 2 ;;
esac
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
if [ "$trainer" = classifier ]; then
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
ckpt=checkpoint.safetensors # its presence makes a run resumable
else
# a GAN with batch norm in the generator, dropout in the discriminator (the
# random state matters), two discriminator steps per generator step (two
# batches of 2: 12 steps an epoch, so 30 steps cross two epoch ends), Adam and
# a weight average: a checkpoint of 7.7 MB in three files (generator 3.4,
# discriminator 3.2, average 1.1), about two thirds of each step
cat > "$work/gan.yaml" <<EOF
name: kill-test-gan
seed: 5
task: gan
data:
  format: idx
  train: {images: $work/images.idx, labels: $work/labels.idx}
  scale: 127.5
  mean: 1
gan: {loss: non_saturating, noise_dim: 16, d_steps: 2, sample_every: 10, sample_count: 4, ema: 0.9}
generator:
  model:
    input: [16]
    layers:
      - {type: linear, out_features: 1024}
      - {type: batch_norm1d}
      - {type: relu}
      - {type: linear, out_features: 256}
      - {type: tanh}
      - {type: unflatten, shape: [1, 16, 16]}
  optimizer: {type: adam, lr: 0.0002, beta1: 0.5, beta2: 0.999}
discriminator:
  model:
    input: [1, 16, 16]
    layers:
      - {type: flatten}
      - {type: linear, out_features: 1024}
      - {type: leaky_relu, negative_slope: 0.2}
      - {type: dropout, p: 0.25}
      - {type: linear, out_features: 1}
  optimizer: {type: adam, lr: 0.0002, beta1: 0.5, beta2: 0.999}
train: {steps: $steps, batch_size: 2, log_every: 10}
EOF
train=("$bin" train "$work/gan.yaml" --backend ref --steps "$steps" --checkpoint-every 1)
ckpt=generator.safetensors
fi
gan_files="generator discriminator generator_ema"

# The "step" metadata of checkpoint file $1 (nothing when it is missing),
# read from its safetensors header: 8 bytes of length, then the JSON.
ckpt_step() {
    [ -f "$1" ] || return 0
    local n
    n=$(od -An -tu8 -N8 "$1" | tr -d ' ')
    [ -n "$n" ] && [ "$n" -gt 0 ] && [ "$n" -lt 16777216 ] || { echo bad; return 0; }
    head -c $((8 + n)) "$1" | tail -c "$n" | grep -ao '"step":"[0-9]*"' | head -n 1 | tr -dc 0-9
}

# After a kill of a GAN run in $1: sets in_write=1 when a checkpoint write
# was left unfinished (a temporary file, or a discriminator or average not
# at the generator's step); sets why and returns 1 when the files do not
# form the checkpoint of generator.safetensors's step (what --resume needs).
gan_check() {
    local g s p f
    in_write=0 why=
    ls "$1"/*.safetensors.tmp.* >/dev/null 2>&1 && in_write=1
    g=$(ckpt_step "$1/generator.safetensors")
    case "$g" in '' | *[!0-9]*) why="generator.safetensors has no step ('$g')"; return 1 ;; esac
    for f in discriminator generator_ema; do
        s=$(ckpt_step "$1/$f.safetensors")
        p=$(ckpt_step "$1/$f.prev.safetensors")
        [ "$s" = "$g" ] || in_write=1
        if [ "$s" != "$g" ] && [ "$p" != "$g" ]; then
            why="generator.safetensors holds step $g, $f.safetensors step '$s', $f.prev.safetensors step '$p'"
            return 1
        fi
    done
}

# the losses of a run, without the timings
losses() { sed 's/,"seconds":[^}]*//' "$1/metrics.jsonl"; }

"${train[@]}" --out "$work/ref" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
losses "$work/ref" >"$work/ref.txt"
[ "$trainer" = gan ] && per_step=g_loss || per_step=batch_loss
[ "$(grep -c "$per_step" "$work/ref.txt")" -eq "$steps" ] || { echo "kill-test: reference run is short" >&2; exit 1; }

kills=0 during=0 before_first=0 resumes=0 finished=0 failures=0
start=$(date +%s)
run="$work/run"
fail() { echo "kill-test: FAIL after $kills kills: $*" >&2; failures=$((failures + 1)); }
# a finished run: the whole curve must be the uninterrupted one, and a GAN's
# last checkpoint files the uninterrupted run's, byte for byte
same_end() {
    if ! losses "$run" | cmp -s - "$work/ref.txt"; then
        fail "the resumed run's metrics differ from the uninterrupted run's"
        losses "$run" | diff "$work/ref.txt" - >&2 || true
        return 1
    fi
    [ "$trainer" = gan ] || return 0
    local f
    for f in $gan_files; do
        if ! cmp -s "$run/$f.safetensors" "$work/ref/$f.safetensors"; then
            fail "the resumed run's $f.safetensors differs from the uninterrupted run's"
            return 1
        fi
    done
}
# the checkpoint files of the run in $1: names, sizes, times
files_of() { ls -l --time-style=+%s.%N "$1" 2>/dev/null | grep safetensors || true; }
while [ "$kills" -lt "$kills_wanted" ] && [ $(($(date +%s) - start)) -lt "$budget" ]; do
    [ "$trainer" = gan ] && files_before=$(files_of "$run")
    if [ -f "$run/$ckpt" ]; then
        "${train[@]}" --resume "$run" >"$work/out" 2>"$work/err" &
        resumes=$((resumes + 1))
    else
        "${train[@]}" --out "$run" >"$work/out" 2>"$work/err" &
    fi
    pid=$!
    # a moment anywhere in the run: start-up, steps, checkpoint writes
    sleep "0.$(printf '%03d' $((RANDOM % 900 + 50)))"
    kill -KILL "$pid" 2>/dev/null || true
    # 137 (SIGKILL) when the kill ended it; its own status when it had ended
    # before (a resume that failed at once is caught here)
    code=0
    wait "$pid" 2>/dev/null || code=$?
    if [ "$code" -eq 137 ]; then
        kills=$((kills + 1))
    else
        if [ "$code" -ne 0 ]; then
            fail "the run exited $code: $(cat "$work/err")"
            break
        fi
        finished=$((finished + 1))
        same_end || break
        rm -rf "$run"
        continue
    fi
    if [ "$trainer" = gan ]; then
        # an unfinished write counts once: not again when this run was
        # killed before it touched the files (in its start-up)
        touched=0
        [ "$(files_of "$run")" = "$files_before" ] || touched=1
        if [ ! -f "$run/$ckpt" ]; then
            before_first=$((before_first + 1))
            ls "$run"/*.safetensors.tmp.* >/dev/null 2>&1 && during=$((during + touched))
            continue
        fi
        if ! gan_check "$run"; then
            fail "the files do not form a checkpoint: $why"
            break
        fi
        during=$((during + in_write * touched))
        if ! "$bin" sample --checkpoint "$run/generator.safetensors" --count 4 --out "$work/sample.png" \
            --backend ref >"$work/eval" 2>&1 || ! grep -q "wrote" "$work/eval"; then
            fail "the last generator does not load: $(cat "$work/eval")"
            break
        fi
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
if [ "$failures" -eq 0 ] && [ -f "$run/$ckpt" ]; then
    if "${train[@]}" --resume "$run" >"$work/out" 2>"$work/err"; then
        finished=$((finished + 1))
        same_end || true
    else
        fail "the final resume failed: $(cat "$work/err")"
    fi
fi
if [ "$trainer" = gan ]; then
    echo "kill-test (gan): $kills kills survived ($during inside a checkpoint write, $before_first before the" \
        "first checkpoint), $resumes resumes, $finished runs finished with the uninterrupted loss curve and" \
        "checkpoint files ($steps steps), $failures failures, $(($(date +%s) - start)) s"
else
echo "kill-test: $kills kills survived ($during inside a checkpoint write, $before_first before the first" \
    "checkpoint), $resumes resumes, $finished runs finished with the uninterrupted loss curve" \
    "($steps steps), $failures failures, $(($(date +%s) - start)) s"
fi
[ "$failures" -eq 0 ] && [ "$kills" -gt 0 ]
