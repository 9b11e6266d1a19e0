#!/usr/bin/env python3
"""tools/to-safetensors.py end to end: numpy arrays (.npz and .npy, native
and big-endian, several dtypes) become a safetensors file whose header and
bytes hold them exactly, `strata train` and `strata eval` take it as
data.format: safetensors, and bad arrays are refused with the reason.

    to_safetensors_check.py BUILD_DIR SOURCE_DIR

Exit 77 (skipped) without numpy.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

try:
    import numpy as np
except ImportError:
    print("numpy not installed: skipped")
    sys.exit(77)

build, source = sys.argv[1], sys.argv[2]
script = os.path.join(source, "tools", "to-safetensors.py")
strata = os.path.join(build, "bin", "strata")


def run(*args, ok=True):
    p = subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if ok and p.returncode != 0:
        sys.exit("FAIL: %s exited %d: %s%s" % (" ".join(args), p.returncode, p.stdout, p.stderr))
    return p


def read_sft(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    return header, raw[8 + n:]


with tempfile.TemporaryDirectory() as d:
    rng = np.random.default_rng(1)
    # three classes of 4x4 images: a bright row, column or diagonal
    y = np.arange(60) % 3
    x = rng.integers(0, 40, size=(60, 4, 4)).astype(np.uint8)
    for i in range(60):
        if y[i] == 0:
            x[i, 1, :] = 230
        elif y[i] == 1:
            x[i, :, 2] = 230
        else:
            x[i][np.eye(4, dtype=bool)] = 230
    np.savez(os.path.join(d, "data.npz"), images=x, classes=y.astype(np.int64))
    out = os.path.join(d, "data.safetensors")
    run(sys.executable, script, out, os.path.join(d, "data.npz"), "--inputs", "images", "--labels", "classes")
    header, data = read_sft(out)
    assert header["inputs"]["dtype"] == "U8" and header["inputs"]["shape"] == [60, 4, 4], header
    assert header["labels"]["dtype"] == "I64" and header["labels"]["shape"] == [60], header
    b, e = header["inputs"]["data_offsets"]
    assert np.array_equal(np.frombuffer(data[b:e], dtype=np.uint8).reshape(60, 4, 4), x)

    # .npy files, big-endian labels and float64 inputs: stored little-endian, values kept
    xf = (x / 255.0).astype(">f8")
    np.save(os.path.join(d, "x.npy"), xf)
    np.save(os.path.join(d, "y.npy"), y.astype(">i4"))
    out2 = os.path.join(d, "data2.safetensors")
    run(sys.executable, script, out2, "--inputs", os.path.join(d, "x.npy"), "--labels", os.path.join(d, "y.npy"))
    header, data = read_sft(out2)
    assert header["inputs"]["dtype"] == "F64" and header["labels"]["dtype"] == "I32", header
    b, e = header["labels"]["data_offsets"]
    assert np.array_equal(np.frombuffer(data[b:e], dtype="<i4"), y)
    b, e = header["inputs"]["data_offsets"]
    assert np.array_equal(np.frombuffer(data[b:e], dtype="<f8").reshape(60, 4, 4), xf.astype("<f8"))

    # what strata makes of them: the same training either way (U8 / 255 and F64 as stored)
    spec = """seed: 3
data:
  format: safetensors
  train: {file: %s}
  test: {file: %s}
  scale: %s
model:
  input: [16]
  layers:
    - {type: linear, out_features: 8}
    - {type: relu}
    - {type: linear, out_features: 3}
optimizer: {type: sgd, lr: 0.2}
train: {epochs: 20, batch_size: 10, log_every: 0}
"""
    accs = []
    for name, f, scale in (("u8", out, "255"), ("f64", out2, "1")):
        path = os.path.join(d, name + ".yaml")
        open(path, "w").write(spec % (f, f, scale))
        run(strata, "train", path, "--out", os.path.join(d, "run-" + name), "--backend", "ref", "--quiet")
        p = run(strata, "eval", path, "--checkpoint", os.path.join(d, "run-" + name), "--backend", "ref", "--json")
        accs.append(json.loads(p.stdout.strip().splitlines()[-1])["test_accuracy"])
    assert accs[0] > 0.9, accs  # chance: 1/3
    assert abs(accs[0] - accs[1]) < 1e-6, accs

    # refused, with the reason
    np.savez(os.path.join(d, "bad.npz"), x=x, y=y.astype(np.float32))
    p = run(sys.executable, script, os.path.join(d, "bad.safetensors"), os.path.join(d, "bad.npz"), ok=False)
    assert p.returncode == 1 and "class numbers are integers" in p.stderr, p.stderr
    p = run(sys.executable, script, os.path.join(d, "bad.safetensors"), os.path.join(d, "data.npz"), ok=False)
    assert p.returncode == 1 and "has no array 'x' (it has images, classes)" in p.stderr, p.stderr
    absent = os.path.join(d, "absent.npz")
    p = run(sys.executable, script, os.path.join(d, "bad.safetensors"), absent, ok=False)
    assert p.returncode == 1 and "error: %s: " % absent in p.stderr and "Traceback" not in p.stderr, p.stderr
    assert not os.path.exists(os.path.join(d, "bad.safetensors"))
    print("to-safetensors: npz and npy round trips exact; strata trains on both (accuracy %.3f)" % accs[0])
