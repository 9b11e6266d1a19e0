#!/bin/sh
# AddressSanitizer + UndefinedBehaviorSanitizer: builds Strata with gcc's
# sanitizers (in build-asan/) and runs the whole CMocka suite (unit, gradient,
# conformance of cpu against ref, end-to-end and CLI tests) under them. Any
# report stops the process (halt_on_error) and fails its test.
#
#   tools/sanitize.sh                 build + every test but the PyTorch ones
#   tools/sanitize.sh -R conformance  extra arguments go to ctest
#
# Environment: SANITIZE_BUILD_DIR (build-asan), JOBS (nproc), CC (gcc),
# SANITIZE_EXCLUDE (a ctest regex of tests to leave out besides torch*).
# LeakSanitizer suppressions (tools/lsan.supp) cover third-party libraries
# only; the file says why each is there.
set -eu
cd "$(dirname "$0")/.."
B=${SANITIZE_BUILD_DIR:-build-asan}
JOBS=${JOBS:-$(nproc)}
CC=${CC:-gcc}
root=$(pwd)
# gcc's -Wmaybe-uninitialized gives false positives under -fsanitize (the
# instrumentation hides the initialising paths from it); the normal build
# keeps it as an error, so nothing is lost.
GCC_SAN_WARN="-Wno-maybe-uninitialized"

mkdir -p "$B"
cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER="$CC" -DSTRATA_CUDA=OFF \
    -DSTRATA_WERROR=ON -DSTRATA_BUILD_TESTS=ON \
    -DCMAKE_C_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer $GCC_SAN_WARN" \
    >"$B/cmake.log" 2>&1 || { cat "$B/cmake.log"; exit 1; }
cmake --build "$B" -j"$JOBS"

export ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:${ASAN_OPTIONS:-}"
# use_tls=0: gcc 12's LeakSanitizer misreads the dynamic TLS block of the
# OpenMP worker threads (libgomp arrives by dlopen with the cpu backend) and
# crashes at exit ("Tracer caught signal 11"). Not scanning TLS for pointers
# can only add false leak reports (a block held only from TLS), never hide one.
export LSAN_OPTIONS="use_tls=0:suppressions=$root/tools/lsan.supp:print_suppressions=0:${LSAN_OPTIONS:-}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:${UBSAN_OPTIONS:-}"
# Keep plugins mapped at exit so leak reports can name their frames.
export STRATA_NO_DLCLOSE=1
# Freed host tensors go back to malloc, so a stale pointer to one is a
# use-after-free ASan reports (a block the runtime keeps for reuse is not).
export STRATA_HOST_CACHE=0
cd "$B"
start=$(date +%s)
rc=0
# The PyTorch cross-checks run python3, which is not built with ASan.
# SANITIZE_EXCLUDE adds tests to leave out (CI leaves out the kill test and cuda).
exclude="torch${SANITIZE_EXCLUDE:+|$SANITIZE_EXCLUDE}"
ctest -E "$exclude" --output-on-failure -j"$JOBS" --timeout 1800 "$@" || rc=$?
echo "sanitize: ASan+UBSan suite finished in $(( $(date +%s) - start ))s, exit $rc"
exit "$rc"
