#!/bin/sh
# The test job: installs what is missing (build and test tools), builds with
# warnings as errors, and runs the whole CMocka suite through ctest.
set -eu
cd "$(dirname "$0")/.."
tools/install-deps.sh --test
tools/build.sh -DSTRATA_WERROR=ON -DSTRATA_BUILD_TESTS=ON
tools/abi-check.sh
cd build
ctest --output-on-failure -j"$(nproc)" --timeout 900
# The SDK as a third party sees it: install, build the templates out of
# tree with find_package, strata info / check / train (tools/sdk-check.sh).
cd ..
tools/sdk-check.sh build
# The reliability jobs (docs/reliability.md): libFuzzer harnesses, the suite
# under ASan+UBSan, Valgrind on a short training, ThreadSanitizer.
# STRATA_SKIP_RELIABILITY=1 leaves them out (a quick local run).
if [ -z "${STRATA_SKIP_RELIABILITY:-}" ]; then
    SANITIZE_EXCLUDE=${SANITIZE_EXCLUDE:-kill_test|cuda} tools/reliability-ci.sh
fi
