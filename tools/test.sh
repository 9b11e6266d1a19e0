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
