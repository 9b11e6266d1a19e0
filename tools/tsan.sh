#!/bin/sh
# ThreadSanitizer: builds libstrata, the ref and cpu backends and
# tests/test_threads.c with gcc's -fsanitize=thread (in build-tsan/) and runs
# test_threads: several runtimes trained from several threads at once, whose
# results must match sequential runs bit for bit. Any data race report fails.
#
# OMP_NUM_THREADS=1: libgomp (oneDNN's and the cpu backend's OpenMP) is not
# built with TSan, so its barriers are invisible to it and every parallel
# region would be reported as racing. With one OpenMP thread per runtime the
# threads TSan sees are exactly the application's, which is what this checks.
#
# Environment: TSAN_BUILD_DIR (build-tsan), JOBS (nproc), CC (gcc).
set -eu
cd "$(dirname "$0")/.."
B=${TSAN_BUILD_DIR:-build-tsan}
JOBS=${JOBS:-$(nproc)}
CC=${CC:-gcc}
root=$(pwd)
# -Wno-maybe-uninitialized: false positives under -fsanitize (see tools/sanitize.sh).

mkdir -p "$B"
cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER="$CC" -DSTRATA_CUDA=OFF \
    -DSTRATA_WERROR=ON -DSTRATA_BUILD_TESTS=ON \
    -DCMAKE_C_FLAGS="-fsanitize=thread -fno-omit-frame-pointer -Wno-maybe-uninitialized" >"$B/cmake.log" 2>&1 ||
    { cat "$B/cmake.log"; exit 1; }
cmake --build "$B" -j"$JOBS" --target strata strata_ref strata_cpu test_threads

export OMP_NUM_THREADS=1
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$root/tools/tsan.supp:${TSAN_OPTIONS:-}"
export STRATA_NO_DLCLOSE=1
export STRATA_TEST_BUILD="$(cd "$B" && pwd)"
rc=0
"$B/tests/test_threads" || rc=$?
echo "tsan: test_threads exit $rc"
exit "$rc"
