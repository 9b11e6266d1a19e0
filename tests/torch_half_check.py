#!/usr/bin/python3
"""Cross-check: core::cast gives PyTorch's f16 and bf16 bits.

On every backend that loads here (ref, cpu, opencl), casts f32 values to
f16 and bf16 and compares the bits with torch's .half() and .bfloat16():
a million random bit patterns (NaNs, infinities, subnormals, every
exponent), the exact ties of both formats and values around f16's largest
one. Then every one of the 65536 f16 and bf16 patterns back to f32 (and
f16 to bf16) against torch's .float(). NaNs must stay NaNs; their payload
bits are not compared.

usage: torch_half_check.py BUILD_DIR      (exit 77 = skipped)
"""
import ctypes as C, os, sys

try:
    import numpy as np
    import torch
except ImportError as e:
    print(f"skipped: {e}")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import strata_ctypes as S  # noqa: E402

F32, F16, BF16 = 1, 4, 5
lib = S.load(sys.argv[1])


def f32_values(n):
    rng = np.random.default_rng(20261206)
    bits = rng.integers(0, 2**32, size=n, dtype=np.uint64).astype(np.uint32)
    bf16_ties = (bits[: n // 8] & np.uint32(0xFFFF0000)) | np.uint32(0x8000)
    # f16 ties: a normal f16 value plus half its ulp (bit 12 of the f32)
    h = rng.integers(0x0400, 0x7C00, size=n // 8, dtype=np.uint16)
    h_f32 = torch.from_numpy(h.view(np.int16)).view(torch.float16).float().numpy().view(np.uint32)
    f16_ties = h_f32 | np.uint32(0x1000)
    around_max = np.arange(0x477FD000, 0x47800000, 0x80, dtype=np.uint32)
    return np.concatenate([bits, bf16_ties, f16_ties, around_max]).view(np.float32)


def cast(dev, arr, dtype_in, dtype_out):
    np_in = np.float32 if dtype_in == F32 else np.uint16
    np_out = np.float32 if dtype_out == F32 else np.uint16
    x = S.from_host(dev, arr, dtype_in, np_in)
    y = S.P()
    a = S.attr("dtype", dtype_out)
    S.ok(lib.strata_op_call(rt, b"core::cast", C.byref(x), 1, C.byref(a), 1, C.byref(y), 1), "core::cast")
    out = S.read(y, arr.shape, np_out)
    lib.strata_tensor_release(x)
    lib.strata_tensor_release(y)
    return out


def compare(what, got_bits, want, is_nan):
    """got_bits: uint16 or float32 array; want: torch tensor of the same dtype kind."""
    if want.dtype in (torch.float16, torch.bfloat16):
        want_bits = want.view(torch.int16).numpy().view(np.uint16)
        bad = (got_bits != want_bits) & ~is_nan
        got_nan = (got_bits & 0x7FFF) > (0x7C00 if want.dtype == torch.float16 else 0x7F80)
    else:
        w = want.numpy()
        bad = (got_bits.view(np.uint32) != w.view(np.uint32)) & ~is_nan
        got_nan = np.isnan(got_bits)
    bad |= is_nan & ~got_nan
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise SystemExit(f"{what}: {int(bad.sum())} of {bad.size} differ from PyTorch; first at {i}: "
                         f"got {got_bits[i]!r}, torch {want.flatten()[i]!r}")
    print(f"{what}: {bad.size} values, the same bits as PyTorch")


rt = S.P()
S.ok(lib.strata_runtime_create(None, C.byref(rt)), "strata_runtime_create")
v = f32_values(1 << 20)
tv = torch.from_numpy(v)
all16 = np.arange(65536, dtype=np.uint32).astype(np.uint16)
as_f16 = torch.from_numpy(all16.view(np.int16)).view(torch.float16)
as_bf16 = torch.from_numpy(all16.view(np.int16)).view(torch.bfloat16)
checked = 0
for be in ("ref", "cpu", "opencl"):
    dev = S.P()
    if lib.strata_device_get(rt, be.encode(), 0, C.byref(dev)) != 0:
        print(f"{be}: not loaded here, skipped")
        continue
    nan = np.isnan(v)
    compare(f"{be} f32 -> f16", cast(dev, v, F32, F16), tv.half(), nan)
    compare(f"{be} f32 -> bf16", cast(dev, v, F32, BF16), tv.bfloat16(), nan)
    compare(f"{be} f16 -> f32", cast(dev, all16, F16, F32), as_f16.float(), np.isnan(as_f16.float().numpy()))
    compare(f"{be} bf16 -> f32", cast(dev, all16, BF16, F32), as_bf16.float(), np.isnan(as_bf16.float().numpy()))
    compare(f"{be} f16 -> bf16", cast(dev, all16, F16, BF16), as_f16.float().bfloat16(),
            np.isnan(as_f16.float().numpy()))
    checked += 1
lib.strata_runtime_destroy(rt)
if not checked:
    raise SystemExit("no backend loaded")
