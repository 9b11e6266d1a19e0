#!/bin/bash
# gpu-check.sh - the cuda backend's check on a machine with an NVIDIA GPU.
#
#   tools/gpu-check.sh [--steps N] [--trials N] [--cpu] [--no-build] [--build-dir DIR]
#
# 1. builds Strata with the cuda backend (Release, warnings as errors);
# 2. shows `strata info` (the GPU, or why the backend has none);
# 3. runs the conformance suite on cuda against ref (every op, forward and
#    backward; ctest -L gpu, with more random trials than CI);
# 4. trains W1-W5 (docs/performance.md, `strata bench`) for a few hundred steps on
#    cuda (and with --cpu on the cpu backend too, for comparison; slow);
# 5. prints each workload's throughput next to PyTorch's on the same GPU
#    (tools/gpu-peer.py) when python3 has torch with CUDA.
#
# Exits non-zero when the build, the conformance suite or a workload fails.
# Without a GPU it stops after step 2 and says why.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
build="$here/build-gpu"
steps=300
trials=10
do_build=1
backends="cuda"
while [ $# -gt 0 ]; do
    case "$1" in
    --steps) steps=$2; shift 2 ;;
    --trials) trials=$2; shift 2 ;;
    --cpu) backends="cuda cpu"; shift ;;
    --no-build) do_build=0; shift ;;
    --build-dir) build=$2; shift 2 ;;
    *) echo "usage: $0 [--steps N] [--trials N] [--cpu] [--no-build] [--build-dir DIR]" >&2; exit 2 ;;
    esac
done

say() { printf '\n== %s\n' "$*"; }

if [ "$do_build" = 1 ]; then
    say "build ($build)"
    cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSTRATA_WERROR=ON -DSTRATA_BUILD_TESTS=ON
    cmake --build "$build" -j"$(nproc)"
fi
strata="$build/bin/strata"
[ -x "$strata" ] || { echo "no $strata: build first (drop --no-build)" >&2; exit 1; }
[ -f "$build/lib/strata/cuda.so" ] || { echo "the build has no cuda backend (see the cmake output)" >&2; exit 1; }

say "strata info"
nvidia-smi -L 2>/dev/null || echo "(nvidia-smi not found)"
"$strata" info | sed -n '1,/^plugins/p'
if ! "$strata" info --json | python3 -c '
import json, sys
b = [b for b in json.load(sys.stdin)["backends"] if b["name"] == "cuda"]
sys.exit(0 if b and b[0]["device_count"] > 0 else 1)'; then
    echo "the cuda backend has no device here; nothing more to check" >&2
    exit 1
fi

say "conformance: cuda against ref ($trials trials per op)"
(cd "$build" && STRATA_CONFORMANCE_TRIALS=$trials ctest -L 'gpu|cuda' --output-on-failure)

say "training W1-W5 for $steps steps"
# W3 trains on the KJV text (Debian's bible-kjv; the script installs it if needed)
if [ ! -f "$here/data/kjv.txt" ]; then
    "$here/tools/prepare-kjv.sh" || echo "W3 will fail: data/kjv.txt could not be prepared" >&2
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
for be in $backends; do
    for w in W1 W2 W3 W4 W5; do
        if ! "$strata" bench "$w" --backend "$be" --steps "$steps" --json > "$tmp/$be-$w.json" 2> "$tmp/$be-$w.err"; then
            echo "$w on $be failed:" >&2
            cat "$tmp/$be-$w.err" >&2
            [ "$be" = cuda ] && status=1
        fi
    done
done
torch_ok=0
if python3 -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    torch_ok=1
    for w in W1 W2 W3 W4 W5; do
        python3 "$here/tools/gpu-peer.py" "$w" --steps "$steps" > "$tmp/torch-$w.txt" 2>&1 || true
    done
else
    echo "(no PyTorch with CUDA in python3: the torch column stays empty)"
fi

say "throughput (items/s; loss after the timed steps)"
python3 - "$tmp" "$torch_ok" <<'PY'
import json, os, re, sys
tmp, torch_ok = sys.argv[1], sys.argv[2] == "1"
def rate(path):
    try:
        for line in open(path):
            line = line.strip()
            if line.startswith("{"):
                j = json.loads(line)
                return j.get("rate"), j.get("unit", ""), j.get("loss")
    except (OSError, ValueError):
        pass
    return None, "", None
def torch_rate(path):
    try:
        m = re.search(r"rate\s+([0-9.eE+]+)", open(path).read())
        return float(m.group(1)) if m else None
    except OSError:
        return None
fmt = lambda v: "-" if v is None else "%.0f" % v
print("%-4s %-14s %12s %12s %12s %10s" % ("id", "unit", "cuda", "cpu", "torch cuda", "cuda loss"))
for w in ["W1", "W2", "W3", "W4", "W5"]:
    g, unit, loss = rate(os.path.join(tmp, "cuda-%s.json" % w))
    c, _, _ = rate(os.path.join(tmp, "cpu-%s.json" % w))
    t = torch_rate(os.path.join(tmp, "torch-%s.txt" % w)) if torch_ok else None
    print("%-4s %-14s %12s %12s %12s %10s" % (w, unit, fmt(g), fmt(c), fmt(t),
                                             "-" if loss is None else "%.4f" % loss))
PY
exit $status
