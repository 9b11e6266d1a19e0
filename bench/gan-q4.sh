#!/bin/sh
# Q4 (../shared/WORKLOADS.md): the W5 DCGAN trained for the same number of
# steps by Strata (models/dcgan-fashion.yaml) and by PyTorch
# (bench/torch_dcgan.py: the peer's w5_dcgan model, batches and optimizers),
# both scored by `strata fid` on the penultimate-layer features of one
# Strata-trained Fashion-MNIST classifier, against the 10,000 test images.
#
# usage: bench/gan-q4.sh [BUILD_DIR] [--steps N] [--classifier SPEC]
# Writes everything under ${OUT:-/tmp/strata-gan-q4}; prints both FIDs.
set -eu
cd "$(dirname "$0")/.."
BUILD=build
case "${1:-}" in -*|"") ;; *) BUILD=$1; shift ;; esac
STEPS=3000
CLS=models/cnn-bn-fashion.yaml
while [ $# -gt 0 ]; do
  case "$1" in
    --steps) STEPS=$2; shift 2 ;;
    --classifier) CLS=$2; shift 2 ;;
    *) echo "usage: $0 [BUILD_DIR] [--steps N] [--classifier SPEC]" >&2; exit 2 ;;
  esac
done
STRATA=$BUILD/bin/strata
OUT=${OUT:-/tmp/strata-gan-q4}
mkdir -p "$OUT"
[ -f "$OUT/cls/checkpoint.safetensors" ] || "$STRATA" train "$CLS" --out "$OUT/cls" >"$OUT/cls.log"
[ ! -f "$OUT/cls.log" ] || tail -1 "$OUT/cls.log" # absent when $OUT/cls was trained by hand
"$STRATA" train models/dcgan-fashion.yaml --out "$OUT/strata" --steps "$STEPS" >"$OUT/strata.log"
tail -1 "$OUT/strata.log"
/usr/bin/python3 bench/torch_dcgan.py "$STEPS" "$OUT/torch_generator.safetensors" >"$OUT/torch.log"
tail -1 "$OUT/torch.log"
"$STRATA" sample --checkpoint "$OUT/torch_generator.safetensors" --spec models/dcgan-fashion.yaml --count 64 \
  --out "$OUT/torch_samples.png" >/dev/null
for side in strata torch; do
  g="$OUT/strata/generator.safetensors"
  [ "$side" = torch ] && g="$OUT/torch_generator.safetensors"
  "$STRATA" fid --classifier "$OUT/cls/checkpoint.safetensors" --classifier-spec "$CLS" \
    --generator "$g" --spec models/dcgan-fashion.yaml --json > "$OUT/fid_$side.json"
  echo "$side: $(cat "$OUT/fid_$side.json")"
done
echo "samples: $OUT/strata/samples.png and $OUT/torch_samples.png"
