"""What the end-to-end checks of training runs share (tests/dist_mpi_check.py,
tests/accumulate_check.py, drop_last_check.py, replaced_run_check.py,
gan_pixels_check.py): running strata, reading a run's checkpoint and step
losses, comparing two runs, writing a small safetensors data set, and the
tally of checks.

The checks print "ok" or "FAIL" lines; failures holds the failed ones."""
import json, os, struct, subprocess, sys

import numpy as np

failures = []


def check(cond, what):
    print(("ok    " if cond else "FAIL  ") + what)
    if not cond:
        failures.append(what)


def strata_runner(build):
    """run(args, expect=0): the build's strata with args, one thread; exits the
    check with its output when the exit status is not @p expect"""
    strata = os.path.join(build, "bin", "strata")
    env = dict(os.environ, STRATA_NUM_THREADS="1")

    def run(args, expect=0):
        p = subprocess.run([strata] + args, env=env, capture_output=True, text=True, timeout=300)
        if p.returncode != expect:
            sys.exit(f"strata {' '.join(args)}: exit {p.returncode}, expected {expect}\n{p.stdout}\n{p.stderr}")
        return p
    return run


def safetensors(path):
    """(header, data) of a safetensors file"""
    with open(path, "rb") as f:
        n, = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n)), f.read()


def params(path):
    header, data = safetensors(path)
    out = {}
    for name, e in header.items():
        if name != "__metadata__" and e["dtype"] == "F32" and not name.startswith("optimizer."):
            b, end = e["data_offsets"]
            out[name] = np.frombuffer(data[b:end], np.float32)
    return out


def losses(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [r["batch_loss"] for r in map(json.loads, f) if "batch_loss" in r]


def compare(a, b, what, tol):
    la, lb = losses(a), losses(b)
    worst = max(abs(x - y) / max(abs(x), 1e-6) for x, y in zip(la, lb)) if la and len(la) == len(lb) else np.inf
    check(worst <= tol, f"{what}: {len(la)} step losses agree (worst relative difference {worst:.2e} <= {tol})")
    pa = params(os.path.join(a, "checkpoint.safetensors"))
    pb = params(os.path.join(b, "checkpoint.safetensors"))
    diff = max(float(np.max(np.abs(pa[k] - pb[k]))) for k in pa) if pa.keys() == pb.keys() else np.inf
    check(diff <= 1e-4, f"{what}: {len(pa)} parameter tensors agree (largest difference {diff:.2e} <= 1e-4)")


def write_safetensors(path, tensors):
    """a safetensors file of the numpy arrays @p tensors (name: array), f32 or i64"""
    header, blobs, off = {}, [], 0
    for name, a in tensors.items():
        b = a.tobytes()
        header[name] = {"dtype": {"float32": "F32", "int64": "I64"}[str(a.dtype)], "shape": list(a.shape),
                        "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little") + h + b"".join(blobs))


def rewrite_state(path, update):
    """the checkpoint @p path with its train.state updated by @p update"""
    with open(path, "rb") as f:
        n, = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    state = json.loads(header["__metadata__"]["train.state"])
    state.update(update)
    header["__metadata__"]["train.state"] = json.dumps(state, separators=(",", ":"))
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


def write_two_class_data(folder, n):
    """folder/train.safetensors: @p n examples of 4 normal values, labelled by
    the sign of the first; folder/test.safetensors: the first 8 of them. For
    the small classifier specs of the checks (data.format: safetensors)."""
    x = np.random.default_rng(0).normal(size=(n, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    write_safetensors(f"{folder}/train.safetensors", {"inputs": x, "labels": y})
    write_safetensors(f"{folder}/test.safetensors", {"inputs": x[:8], "labels": y[:8]})
