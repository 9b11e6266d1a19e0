#!/usr/bin/env python3
"""Writes numpy arrays as a safetensors file that `data.format: safetensors`
reads (docs/spec.md), with numpy alone: no safetensors package needed.

    tools/to-safetensors.py OUT.safetensors DATA.npz [--inputs KEY] [--labels KEY]
    tools/to-safetensors.py OUT.safetensors --inputs X.npy --labels Y.npy

From an .npz (np.savez), the arrays named by --inputs (default "x") and
--labels (default "y"); or two .npy files (np.save). The file holds them as
"inputs" and "labels", the spec's default names, in their own dtypes
(integer labels stay integers). Arrays of other dtypes than safetensors
knows (object, complex, strings) are refused with the reason.
"""
import json
import os
import struct
import sys

try:
    import numpy as np
except ImportError:
    sys.exit("to-safetensors.py: this Python (%s) has no numpy: install it (Debian: apt-get install "
             "python3-numpy, then run /usr/bin/python3 tools/to-safetensors.py ...; or pip install numpy)"
             % sys.executable)

DTYPES = {
    np.dtype(np.uint8): "U8", np.dtype(np.int8): "I8", np.dtype(np.uint16): "U16", np.dtype(np.int16): "I16",
    np.dtype(np.uint32): "U32", np.dtype(np.int32): "I32", np.dtype(np.uint64): "U64", np.dtype(np.int64): "I64",
    np.dtype(np.float16): "F16", np.dtype(np.float32): "F32", np.dtype(np.float64): "F64",
    np.dtype(np.bool_): "BOOL",
}


def dtype_name(dtype):
    """The safetensors name of a numpy dtype in either byte order, or None."""
    return DTYPES.get(dtype.newbyteorder("="))


def fail(message):
    sys.stderr.write("to-safetensors: error: %s\n" % message)
    sys.exit(1)


def save(path, tensors):
    """safetensors: an 8-byte little-endian header length, the JSON header
    (dtype, shape, data offsets per tensor), then the little-endian data."""
    header, blobs, offset = {}, [], 0
    for name, array in tensors:
        dtype = dtype_name(array.dtype)
        if dtype is None:
            fail("%s: dtype %s is not one safetensors holds (use a number type)" % (name, array.dtype))
        raw = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned
    with open(path + ".tmp", "wb") as f:  # then renamed: never a half-written file
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    os.replace(path + ".tmp", path)


def load(path):
    """An .npy array or .npz archive, or a clear error naming the file."""
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        fail("%s: %s" % (path, e))


def main(argv):
    if len(argv) < 2 or argv[0] in ("-h", "--help"):
        sys.stdout.write(__doc__)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    out, rest = argv[0], argv[1:]
    opts, files = {"--inputs": None, "--labels": None}, []
    k = 0
    while k < len(rest):
        if rest[k] in opts and k + 1 < len(rest):
            opts[rest[k]] = rest[k + 1]
            k += 2
        elif rest[k].startswith("--"):
            fail("unknown option %s (--inputs KEY, --labels KEY)" % rest[k])
        else:
            files.append(rest[k])
            k += 1
    if len(files) == 1:
        data = load(files[0])
        if not hasattr(data, "files"):
            fail("%s is one array, not an .npz: give --inputs X.npy --labels Y.npy" % files[0])
        keys = (opts["--inputs"] or "x", opts["--labels"] or "y")
        for key in keys:
            if key not in data.files:
                fail("%s has no array '%s' (it has %s)" % (files[0], key, ", ".join(data.files) or "none"))
        x, y = data[keys[0]], data[keys[1]]
    elif not files and opts["--inputs"] and opts["--labels"]:
        x, y = load(opts["--inputs"]), load(opts["--labels"])
    else:
        fail("give one DATA.npz, or --inputs X.npy --labels Y.npy")
    if x.ndim < 1 or y.ndim != 1 or len(x) != len(y):
        fail("inputs of shape %s and labels of shape %s: expected (N, ...) and (N)" % (x.shape, y.shape))
    if y.dtype.kind not in "iu":
        fail("labels are %s: class numbers are integers (y.astype(np.int64))" % y.dtype)
    save(out, [("inputs", x), ("labels", y)])
    classes = int(y.max()) + 1 if len(y) else 0
    print("wrote %s: inputs %s %s, labels %s %s (%d classes)"
          % (out, dtype_name(x.dtype), list(x.shape), dtype_name(y.dtype), list(y.shape), classes))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
