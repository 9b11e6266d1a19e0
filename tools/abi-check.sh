#!/bin/sh
# Compares the ABI of build/lib/libstrata.so with the committed baseline
# (sdk/abi/libstrata.so.<major>.abi) using abidiff from Debian's
# abigail-tools. Fails on an incompatible change (a removed function, a
# changed struct layout or signature) unless STRATA_ABI_MAJOR was bumped, in
# which case a baseline for the new major must be committed.
#   tools/abi-check.sh            check
#   tools/abi-check.sh --update   rewrite the baseline (after a compatible addition)
set -eu
cd "$(dirname "$0")/.."
lib=build/lib/libstrata.so
major=$(sed -n 's/^#define STRATA_ABI_MAJOR \([0-9]*\).*/\1/p' sdk/include/strata/strata_types.h)
base=sdk/abi/libstrata.so.$major.abi
supp=sdk/abi/suppressions.ini
command -v abidw >/dev/null || { echo "abi-check: abidw not found (Debian abigail-tools)" >&2; exit 1; }
[ -f "$lib" ] || { echo "abi-check: build first ($lib missing)" >&2; exit 1; }
# The SONAME carries the ABI major (CMakeLists.txt reads it from the header).
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
if [ "$soname" != "libstrata.so.$major" ]; then
    echo "abi-check: $lib has SONAME '$soname'; ABI major $major needs libstrata.so.$major (reconfigure)" >&2
    exit 1
fi
if [ "${1:-}" = "--update" ]; then
    abidw --headers-dir sdk/include/strata --suppressions "$supp" --out-file "$base" "$lib"
    echo "abi-check: wrote $base"
    exit 0
fi
if [ ! -f "$base" ]; then
    echo "abi-check: no baseline for ABI major $major ($base); a major bump needs one: tools/abi-check.sh --update" >&2
    exit 1
fi
set +e
abidiff --suppressions "$supp" --headers-dir2 sdk/include/strata "$base" "$lib" > build/abi-diff.txt
rc=$?
set -e
# abidiff's exit status is a bit field: 4 = ABI changed, 8 = incompatible
# change. Our rules (DESIGN.md rule 5) are stricter than its notion of
# incompatible: structs may only grow at the end, so any moved member,
# removed function or member, changed enumerator or return type fails.
breaking=0
if [ $((rc & 8)) -ne 0 ] || [ $((rc & 1)) -ne 0 ]; then breaking=1; fi
if grep -Eq "offset changed|[1-9][0-9]* Removed|member deletion|enumerator .* value changed|return type changed|name of .* changed to|parameter [0-9]+ of type .* changed to" build/abi-diff.txt; then
    breaking=1
fi
if [ "$breaking" -ne 0 ]; then
    cat build/abi-diff.txt
    echo "abi-check: INCOMPATIBLE ABI change against $base (abidiff status $rc)." >&2
    echo "abi-check: restore the old layout/signature, or bump STRATA_ABI_MAJOR and commit a new baseline." >&2
    exit 1
fi
if [ $((rc & 4)) -ne 0 ]; then
    echo "abi-check: compatible additions since the baseline (see build/abi-diff.txt); refresh it with --update"
else
    echo "abi-check: ABI identical to $base"
fi
