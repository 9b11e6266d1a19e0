#!/bin/sh
# gpu-bundle.sh - packs a built Strata (with the cuda backend) for a GPU
# machine that has the NVIDIA driver, CUDA 13 and cuDNN 9 but none of
# Debian's libraries and no way to fetch them (tools/gpu-check.sh builds on
# the GPU machine itself when it can).
#
#   tools/gpu-bundle.sh [BUILD_DIR [OUT_DIR]]      (build, .gpu)
#
# OUT_DIR receives bin/strata, lib/ (libstrata and the plugins),
# tests/test_cuda_conformance and tests/test_cuda_load, deps.tar.xz (the
# third-party libraries they load, less glibc and libstdc++), the first
# 20,000 Fashion-MNIST training images and the test set (for W1, W2, W5)
# and the KJV text (W3). tools/gpu-bundle-run.sh runs it on the GPU machine.
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
out=${2:-.gpu}
[ -f "$build/lib/strata/cuda.so" ] || { echo "gpu-bundle: $build has no lib/strata/cuda.so (build with the CUDA toolkit)" >&2; exit 1; }
[ -x "$build/tests/test_cuda_conformance" ] || { echo "gpu-bundle: $build has no tests (STRATA_BUILD_TESTS=ON)" >&2; exit 1; }
rm -rf "$out"
mkdir -p "$out/bin" "$out/lib/strata" "$out/tests" "$out/deps" "$out/fashion"
cp -L "$build/bin/strata" "$out/bin/"
cp -L "$build"/lib/libstrata.so* "$out/lib/"
cp -L "$build"/lib/strata/*.so "$out/lib/strata/"
cp -L "$build/tests/test_cuda_conformance" "$build/tests/test_cuda_load" "$out/tests/"

# Every library the binaries and plugins need, but the C and C++ runtimes
# (the GPU machine's newer ones serve) and Strata's own.
ldd "$out/bin/strata" "$out"/lib/*.so* "$out"/lib/strata/*.so "$out"/tests/* 2>/dev/null |
    awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u |
    grep -v -E '/(libc|libm|libstdc\+\+|libgcc_s|libpthread|libdl|librt|ld-linux[^/]*)\.so|libstrata' |
    while read -r f; do cp -L "$f" "$out/deps/"; done
tar -C "$out" -cJf "$out/deps.tar.xz" deps
rm -rf "$out/deps"

# Fashion-MNIST: the test set and the first 20,000 training images (the
# whole training set would not fit the 64 MiB a device call carries).
fm=/usr/share/datasets/fashion-mnist
python3 - "$fm" "$out/fashion" <<'PY'
import gzip, shutil, struct, sys
src, dst = sys.argv[1], sys.argv[2]
n = 20000
with gzip.open(src + "/train-images-idx3-ubyte.gz") as f:
    magic, count, rows, cols = struct.unpack(">IIII", f.read(16))
    data = f.read(n * rows * cols)
with gzip.open(dst + "/train-images-idx3-ubyte.gz", "wb") as f:
    f.write(struct.pack(">IIII", magic, n, rows, cols) + data)
with gzip.open(src + "/train-labels-idx1-ubyte.gz") as f:
    magic, count = struct.unpack(">II", f.read(8))
    labels = f.read(n)
with gzip.open(dst + "/train-labels-idx1-ubyte.gz", "wb") as f:
    f.write(struct.pack(">II", magic, n) + labels)
for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
    shutil.copy(src + "/" + name, dst + "/" + name)
PY

[ -f data/kjv.txt ] || tools/prepare-kjv.sh
xz -c data/kjv.txt > "$out/kjv.txt.xz"
du -sh "$out"
