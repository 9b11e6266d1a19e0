#!/bin/sh
# Configures and builds Strata into ./build (the tree mirrors an install:
# build/bin/strata, build/lib/libstrata.so, build/lib/strata/*.so).
# Extra arguments go to cmake's configure step (e.g. -DSTRATA_WERROR=ON).
set -eu
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build build -j"$(nproc)"
