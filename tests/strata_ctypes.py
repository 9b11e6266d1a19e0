"""libstrata's C API through ctypes, for the PyTorch cross-checks
(torch_lstm_check.py, torch_half_check.py): the library, strata_attr, and
f32 tensors to and from numpy."""
import ctypes as C, os

import numpy as np

P = C.c_void_p
lib = None


def load(build):
    """Opens BUILD/lib/libstrata.so; returns it (also as strata_ctypes.lib)."""
    global lib
    lib = C.CDLL(os.path.join(build, "lib", "libstrata.so"))
    lib.strata_last_error.restype = C.c_char_p
    return lib


class Attr(C.Structure):
    _fields_ = [("struct_size", C.c_size_t), ("name", C.c_char_p), ("kind", C.c_int32), ("n", C.c_int32),
                ("i", C.c_int64), ("f", C.c_double), ("ints", C.POINTER(C.c_int64)),
                ("floats", C.POINTER(C.c_double)), ("s", C.c_char_p)]


def attr(name, v):
    """An int (or float) attribute, or a string one."""
    a = Attr()
    a.struct_size = C.sizeof(Attr)
    a.name = name.encode()
    if isinstance(v, str):
        a.kind, a.n, a.s = 5, 1, v.encode()
    else:
        a.kind, a.n, a.i, a.f = 1, 1, int(v), float(v)
    return a


def ok(rc, what):
    if rc != 0:
        raise SystemExit(f"{what} failed ({rc}): {lib.strata_last_error().decode()}")


def shape_arr(s):
    return (C.c_int64 * max(len(s), 1))(*s)


def from_host(dev, arr, dtype=1, np_dtype=np.float32):
    """A tensor of strata dtype @dtype (1 f32; 4 f16 and 5 bf16 take uint16 bits) from a numpy array."""
    arr = np.ascontiguousarray(arr, np_dtype)
    t = P()
    ok(lib.strata_tensor_from_host(dev, dtype, arr.ndim, shape_arr(arr.shape), arr.ctypes.data_as(P), C.byref(t)),
       "strata_tensor_from_host")
    return t


def read(t, shape, np_dtype=np.float32):
    out = np.empty(shape, np_dtype)
    ok(lib.strata_tensor_read(t, out.ctypes.data_as(P), C.c_size_t(out.nbytes)), "strata_tensor_read")
    return out
