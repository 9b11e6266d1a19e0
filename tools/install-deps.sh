#!/bin/sh
# Installs what Strata needs on Debian (12 "bookworm" or later) from Debian's
# own packages. Run as root (or with sudo); packages already present are
# left alone, so it is fast and safe to re-run.
#   tools/install-deps.sh          build + run (and the data: Fashion-MNIST, the KJV Bible)
#   tools/install-deps.sh --test   also the test tools (CMocka, PyTorch for cross-checks,
#                                  Valgrind, clang and its sanitizer/libFuzzer runtimes)
set -eu

BUILD="build-essential cmake pkg-config libyaml-dev libjansson-dev zlib1g-dev libdnnl-dev libpng-dev liblapacke-dev libblas-dev libopenblas0-openmp ocl-icd-opencl-dev opencl-c-headers libopenmpi-dev openmpi-bin"
DATA="dataset-fashion-mnist bible-kjv"
TEST="libcmocka-dev python3-numpy python3-torch valgrind abigail-tools clang libclang-rt-dev pocl-opencl-icd clinfo"

want="$BUILD $DATA"
[ "${1:-}" = "--test" ] && want="$want $TEST"

missing=""
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
    echo "install-deps: all packages present"
    exit 0
fi
echo "install-deps: installing:$missing"
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
        echo "install-deps: run as root to install:$missing" >&2
        exit 1
    fi
else
    SUDO=""
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
