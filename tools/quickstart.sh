#!/bin/sh
# The main job: installs what is missing, builds, and trains the W1 MLP
# (models/mlp-fashion.yaml) on Fashion-MNIST, printing its test accuracy.
# Usage: tools/quickstart.sh [extra `strata train` options, e.g. --epochs 1]
set -eu
cd "$(dirname "$0")/.."
tools/install-deps.sh
tools/build.sh
out="${STRATA_RUN_DIR:-runs/mlp-fashion}"
build/bin/strata train models/mlp-fashion.yaml --out "$out" "$@"
echo "run directory: $out (metrics.jsonl, checkpoint.safetensors, summary.json, report.html)"
