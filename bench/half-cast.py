#!/usr/bin/python3
"""core::cast against PyTorch's .half() / .bfloat16() / .float() on this CPU:
the time to convert N f32 values (default 16M, 64 MB) to f16 and bf16 and
back, Strata's cpu backend (F16C and vectorised bf16 loops, every core)
and torch 1.13 side by side in one process, median of R repeats each. Both
produce the same bits (tests/torch_half_check.py); this measures speed.

usage: bench/half-cast.py [BUILD_DIR] [--n N] [--repeats R]
"""
import argparse, ctypes as C, os, statistics, sys, time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import strata_ctypes as S  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("build", nargs="?", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build"))
ap.add_argument("--n", type=int, default=1 << 24)
ap.add_argument("--repeats", type=int, default=15)
args = ap.parse_args()

lib = S.load(args.build)
rt, dev = S.P(), S.P()
S.ok(lib.strata_runtime_create(None, C.byref(rt)), "strata_runtime_create")
S.ok(lib.strata_device_get(rt, b"cpu", 0, C.byref(dev)), "strata_device_get cpu")
F32, F16, BF16 = 1, 4, 5
x = np.random.default_rng(1).standard_normal(args.n).astype(np.float32)
tx = torch.from_numpy(x)
xs = {F32: S.from_host(dev, x)}
lib.strata_tensor_release.argtypes = [S.P]


def strata_cast(src, to):
    y = S.P()
    a = S.attr("dtype", to)
    S.ok(lib.strata_op_call(rt, b"core::cast", C.byref(src), 1, C.byref(a), 1, C.byref(y), 1), "core::cast")
    return y


for to in (F16, BF16):  # the half inputs of the way back
    xs[to] = strata_cast(xs[F32], to)
th = {F16: tx.half(), BF16: tx.bfloat16()}


def median_ms(fn):
    times = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e3 * statistics.median(times)


def run_strata(src, to):
    lib.strata_tensor_release(strata_cast(xs[src], to))


print(f"{args.n:,} values, median of {args.repeats}; torch {torch.__version__} with {torch.get_num_threads()} threads")
print(f"{'conversion':<14} {'strata cpu ms':>14} {'torch ms':>10} {'torch / strata':>15}")
for name, src, to, tfn in (("f32 -> f16", F32, F16, lambda: tx.half()), ("f32 -> bf16", F32, BF16, lambda: tx.bfloat16()),
                           ("f16 -> f32", F16, F32, lambda: th[F16].float()),
                           ("bf16 -> f32", BF16, F32, lambda: th[BF16].float())):
    run_strata(src, to), tfn()  # warm: pages, caches, thread pools
    s, t = median_ms(lambda: run_strata(src, to)), median_ms(tfn)
    print(f"{name:<14} {s:>14.2f} {t:>10.2f} {t / s:>14.2f}x")
for t in xs.values():
    lib.strata_tensor_release(t)
lib.strata_runtime_destroy(rt)
