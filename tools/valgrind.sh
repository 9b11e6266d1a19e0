#!/bin/sh
# Valgrind memcheck of a short training: `strata train` on the W1 model
# (models/mlp-fashion.yaml: 784-512-512-10, SGD with momentum) over a small
# slice of Fashion-MNIST (VALGRIND_TRAIN images for training, VALGRIND_TEST
# for the evaluation), for VALGRIND_STEPS steps, on each backend of
# VALGRIND_BACKENDS. Fails on any invalid access, use of an uninitialised
# value, or definite/indirect leak (--error-exitcode). Run after a build:
#
#   tools/build.sh && tools/valgrind.sh
#
# Environment: BUILD_DIR (build), VALGRIND_STEPS (4), VALGRIND_BACKENDS
# ("ref cpu"), VALGRIND_TRAIN (256), VALGRIND_TEST (128).
set -eu
cd "$(dirname "$0")/.."
B=${BUILD_DIR:-build}
STEPS=${VALGRIND_STEPS:-4}
BACKENDS=${VALGRIND_BACKENDS:-ref cpu}
NTRAIN=${VALGRIND_TRAIN:-256}
NTEST=${VALGRIND_TEST:-128}
DATA=/usr/share/datasets/fashion-mnist
command -v valgrind >/dev/null 2>&1 || { echo "valgrind: not installed (tools/install-deps.sh --test)" >&2; exit 1; }
[ -x "$B/bin/strata" ] || { echo "valgrind: $B/bin/strata not built (tools/build.sh)" >&2; exit 1; }
[ -f "$DATA/train-images-idx3-ubyte.gz" ] || { echo "valgrind: $DATA missing (tools/install-deps.sh)" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/strata-valgrind.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

# The first N examples of each file, as IDX.gz with the count patched.
python3 - "$DATA" "$tmp" "$NTRAIN" "$NTEST" <<'PY'
import gzip, struct, sys
src, dst, ntrain, ntest = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
for split, n in (("train", ntrain), ("t10k", ntest)):
    for kind in ("images-idx3", "labels-idx1"):
        name = "%s-%s-ubyte.gz" % (split, kind)
        raw = gzip.open("%s/%s" % (src, name)).read()
        ndim = raw[3]
        dims = list(struct.unpack(">%dI" % ndim, raw[4:4 + 4 * ndim]))
        per = 1
        for d in dims[1:]:
            per *= d
        dims[0] = n
        hdr = raw[:4] + struct.pack(">%dI" % ndim, *dims)
        body = raw[4 + 4 * ndim: 4 + 4 * ndim + n * per]
        with gzip.open("%s/%s" % (dst, name), "wb") as f:
            f.write(hdr + body)
PY
sed "s|$DATA/|$tmp/|" models/mlp-fashion.yaml >"$tmp/mlp-small.yaml"

# Suppressions cover third-party libraries only (tools/valgrind.supp says why).
VG="valgrind --tool=memcheck --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect
    --errors-for-leak-kinds=definite,indirect --track-origins=yes --num-callers=30
    --suppressions=tools/valgrind.supp --gen-suppressions=all"
# STRATA_NO_DLCLOSE keeps plugins mapped at exit so their frames are named.
export STRATA_NO_DLCLOSE=1
# No OpenCL ICDs: this job checks Strata on ref and cpu; with PoCL installed
# the opencl backend's clGetPlatformIDs makes glibc's loader dlopen PoCL and
# its LLVM, where Valgrind flags ld.so's SSE2 strncmp reading past a
# strdup'd rpath (a known false positive in glibc, not Strata code). The
# opencl backend still loads, with zero devices.
icd_none="$tmp/no-icds"
mkdir -p "$icd_none"
export OCL_ICD_VENDORS="$icd_none"
status=0
summary=""
for be in $BACKENDS; do
    log="$tmp/valgrind-$be.log"
    echo "valgrind: strata train (mlp-fashion, $NTRAIN examples, $STEPS steps) on $be"
    rc=0
    # shellcheck disable=SC2086
    $VG --log-file="$log" "$B/bin/strata" train "$tmp/mlp-small.yaml" --steps "$STEPS" --batch-size 32 \
        --backend "$be" --out "$tmp/run-$be" --quiet >"$tmp/out-$be.txt" 2>&1 || rc=$?
    errs=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$log" | tail -n1)
    lost=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$log" | tail -n1)
    if [ "$rc" -ne 0 ]; then
        status=1
        echo "valgrind: $be FAILED (exit $rc)"
        cat "$tmp/out-$be.txt"
        cat "$log"
    fi
    summary="$summary
$(printf '%-4s exit %-3s errors %-4s definitely lost %s bytes' "$be" "$rc" "${errs:-?}" "${lost:-0}")"
    if [ -n "${VALGRIND_KEEP_LOGS:-}" ]; then cp "$log" "$VALGRIND_KEEP_LOGS/"; fi
done
echo "valgrind summary ($STEPS steps, batch 32):$summary"
exit "$status"
