#!/bin/sh
# The reliability jobs of CI (docs/reliability.md), run by tools/test.sh
# after the normal build and suite; each can be run alone by its script.
#
#   fuzz      tools/fuzz.sh        every libFuzzer harness, FUZZ_SECONDS each
#   asan      tools/sanitize.sh    the CMocka suite under ASan + UBSan
#   valgrind  tools/valgrind.sh    memcheck of a short `strata train`
#   tsan      tools/tsan.sh        test_threads under ThreadSanitizer
#
# Environment: RELIABILITY_JOBS (all four, in that order), FUZZ_SECONDS (20),
# BUILD_DIR (build: the normal build Valgrind runs). Every job runs even if
# an earlier one failed; the summary gives each one's status and time, and
# the exit status is non-zero if any failed.
set -eu
cd "$(dirname "$0")/.."
JOBS_TO_RUN=${RELIABILITY_JOBS:-fuzz asan valgrind tsan}
export FUZZ_SECONDS=${FUZZ_SECONDS:-20}
logdir=${RELIABILITY_LOG_DIR:-build-reliability}
mkdir -p "$logdir"

summary=""
failed=0
total_start=$(date +%s)
for job in $JOBS_TO_RUN; do
    case "$job" in
    fuzz) cmd="tools/fuzz.sh" ;;
    asan) cmd="tools/sanitize.sh" ;;
    valgrind) cmd="tools/valgrind.sh" ;;
    tsan) cmd="tools/tsan.sh" ;;
    *)
        echo "reliability: unknown job '$job'" >&2
        exit 2
        ;;
    esac
    echo "=== reliability: $job ($cmd)"
    start=$(date +%s)
    rc=0
    $cmd >"$logdir/$job.log" 2>&1 || rc=$?
    secs=$(($(date +%s) - start))
    if [ "$rc" -eq 0 ]; then
        state="ok"
    else
        state="FAILED (exit $rc)"
        failed=1
        tail -n 80 "$logdir/$job.log"
    fi
    # each script ends with its own summary: keep it
    detail=$(sed -n '/summary\|finished in\|exit [0-9]/,$p' "$logdir/$job.log" | tail -n 12)
    summary="$summary
--- $job: $state, ${secs}s (log: $logdir/$job.log)
$detail"
done
echo "=== reliability summary (total $(($(date +%s) - total_start))s):$summary"
exit "$failed"
