#!/bin/sh
# Builds the libFuzzer harnesses of tests/fuzz/ with clang, AddressSanitizer
# and UndefinedBehaviorSanitizer (in build-fuzz/) and runs each one for
# FUZZ_SECONDS seconds from its seed corpus. Fails on any crash, leak,
# sanitizer report, timeout or out-of-memory; the input is left in
# build-fuzz/artifacts/ (add it to tests/fuzz/regressions/NAME/ once fixed).
#
#   tools/fuzz.sh                      every harness, 60 s each
#   FUZZ_SECONDS=20 tools/fuzz.sh      shorter (CI)
#   tools/fuzz.sh spec babi            some harnesses
#
# Environment: FUZZ_SECONDS (60), FUZZ_SEED (1; 0 = random), FUZZ_BUILD_DIR (build-fuzz), JOBS (nproc),
# CC (clang).
set -eu
cd "$(dirname "$0")/.."
SECONDS_EACH=${FUZZ_SECONDS:-60}
# libFuzzer's seed: fixed by default so a CI run is repeatable; FUZZ_SEED=0 picks one at random
SEED=${FUZZ_SEED:-1}
B=${FUZZ_BUILD_DIR:-build-fuzz}
JOBS=${JOBS:-$(nproc)}
CC=${CC:-clang}
ALL="safetensors spec idx idx_gz babi text manifest set png report"
HARNESSES=${*:-$ALL}

command -v "$CC" >/dev/null 2>&1 || { echo "fuzz: $CC not found (tools/install-deps.sh --test)" >&2; exit 1; }
# The sanitizer runtime is shared (-shared-libasan): libstrata and the
# plugins are shared objects linked with --no-undefined, so they need a
# runtime library to link against.
RTLIB=$($CC -print-file-name=libclang_rt.asan-x86_64.so)
[ -f "$RTLIB" ] || { echo "fuzz: $RTLIB missing (Debian package libclang-rt-NN-dev)" >&2; exit 1; }
RTDIR=$(dirname "$RTLIB")

SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
mkdir -p "$B"
cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER="$CC" -DSTRATA_CUDA=OFF \
    -DSTRATA_BUILD_TESTS=ON -DSTRATA_FUZZ=ON \
    -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link $SAN" \
    -DCMAKE_SHARED_LINKER_FLAGS="-shared-libasan" -DCMAKE_MODULE_LINKER_FLAGS="-shared-libasan" \
    -DCMAKE_EXE_LINKER_FLAGS="-shared-libasan -Wl,-rpath,$RTDIR" >"$B/cmake.log" 2>&1 ||
    { cat "$B/cmake.log"; exit 1; }
targets=""
for h in $HARNESSES; do targets="$targets fuzz_$h"; done
# shellcheck disable=SC2086
cmake --build "$B" -j"$JOBS" --target $targets

# libstdc++ (libFuzzer's) comes before the shared ASan runtime in the
# executables' library list, which is harmless: Strata's code is all
# instrumented and libstdc++ allocates through the intercepted malloc.
export ASAN_OPTIONS="verify_asan_link_order=0:detect_leaks=1:halt_on_error=1:abort_on_error=1:allocator_may_return_null=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:${UBSAN_OPTIONS:-}"
mkdir -p "$B/artifacts"
summary=""
failed=0
for h in $HARNESSES; do
    work="$B/corpus/$h"
    mkdir -p "$work"
    log="$B/fuzz_$h.log"
    echo "fuzz: $h for ${SECONDS_EACH}s"
    rc=0
    # the regressions (inputs that once failed) are read as seeds too, so they
    # run under the sanitizers on every fuzz job
    reg="tests/fuzz/regressions/$h"
    [ -d "$reg" ] || reg=""
    # shellcheck disable=SC2086
    "$B/tests/fuzz/fuzz_$h" -max_total_time="$SECONDS_EACH" -timeout=20 -rss_limit_mb=2560 \
        -malloc_limit_mb=1024 -print_final_stats=1 -artifact_prefix="$B/artifacts/$h-" -seed="$SEED" \
        "$work" "tests/fuzz/corpus/$h" $reg >"$log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n1 | sed 's/cov: //')
    ncorp=$(find "$work" -type f | wc -l)
    if [ "$rc" -ne 0 ]; then
        failed=1
        echo "fuzz: $h FAILED (exit $rc); the log: $log"
        tail -n 60 "$log"
        line=$(printf '%-12s FAILED  %s' "$h" "$(ls "$B/artifacts" | grep "^$h-" | head -n1)")
    else
        line=$(printf '%-12s %10s inputs  cov %6s  corpus %5s' "$h" "${execs:-?}" "${cov:-?}" "$ncorp")
    fi
    summary="$summary
$line"
done
echo "fuzz summary (${SECONDS_EACH}s each):$summary"
exit "$failed"
