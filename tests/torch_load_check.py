#!/usr/bin/python3
"""Cross-check: a Strata checkpoint loads into the equivalent torch.nn.Sequential.

Trains the W1 architecture (784-512-512-10) for one epoch on a 1,024-image
slice of Fashion-MNIST with `strata train`, then reads checkpoint.safetensors
with a plain safetensors reader (struct + json + numpy), loads the model
tensors into torch.nn.Sequential with strict=True, and checks that PyTorch's
test loss and accuracy on the same slice equal the ones Strata reported.

usage: torch_load_check.py BUILD_DIR SOURCE_DIR     (exit 77 = skipped)
"""
import gzip, json, os, struct, subprocess, sys, tempfile

try:
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:
    print(f"skipped: {e}")
    sys.exit(77)

FMNIST = "/usr/share/datasets/fashion-mnist"
build, source = sys.argv[1], sys.argv[2]
if not os.path.exists(f"{FMNIST}/train-images-idx3-ubyte.gz"):
    print("skipped: Fashion-MNIST (dataset-fashion-mnist) is not installed")
    sys.exit(77)


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def write_idx(path, arr):
    header = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def read_safetensors(path):
    with open(path, "rb") as f:
        n, = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    dtypes = {"F32": np.float32, "I64": np.int64, "I32": np.int32}
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[b:end], dtypes[e["dtype"]]).reshape(e["shape"]).copy())
    return out, header.get("__metadata__", {})


with tempfile.TemporaryDirectory() as tmp:
    xi, yi = read_idx(f"{FMNIST}/train-images-idx3-ubyte.gz"), read_idx(f"{FMNIST}/train-labels-idx1-ubyte.gz")
    ti, tl = read_idx(f"{FMNIST}/t10k-images-idx3-ubyte.gz"), read_idx(f"{FMNIST}/t10k-labels-idx1-ubyte.gz")
    write_idx(f"{tmp}/train-x.gz", xi[:1024]); write_idx(f"{tmp}/train-y.gz", yi[:1024])
    write_idx(f"{tmp}/test-x.gz", ti[:512]); write_idx(f"{tmp}/test-y.gz", tl[:512])
    spec = open(f"{source}/models/mlp-fashion.yaml").read()
    spec = spec.replace(f"{FMNIST}/train-images-idx3-ubyte.gz", f"{tmp}/train-x.gz")
    spec = spec.replace(f"{FMNIST}/train-labels-idx1-ubyte.gz", f"{tmp}/train-y.gz")
    spec = spec.replace(f"{FMNIST}/t10k-images-idx3-ubyte.gz", f"{tmp}/test-x.gz")
    spec = spec.replace(f"{FMNIST}/t10k-labels-idx1-ubyte.gz", f"{tmp}/test-y.gz")
    open(f"{tmp}/spec.yaml", "w").write(spec)
    subprocess.run([f"{build}/bin/strata", "train", f"{tmp}/spec.yaml", "--out", f"{tmp}/run", "--epochs", "1",
                    "--quiet", "--backend", "ref"], check=True)
    summary = json.load(open(f"{tmp}/run/summary.json"))
    tensors, meta = read_safetensors(f"{tmp}/run/checkpoint.safetensors")
    model_sd = {k: v for k, v in tensors.items() if not k.startswith("optimizer.")}
    m = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                      nn.Linear(512, 10))
    m.load_state_dict(model_sd, strict=True)
    import re
    mean = float(re.search(r"^\s*mean:\s*([0-9.eE+-]+)", spec, re.M).group(1)) if re.search(r"^\s*mean:", spec, re.M) else 0.0
    std = float(re.search(r"^\s*std:\s*([0-9.eE+-]+)", spec, re.M).group(1)) if re.search(r"^\s*std:", spec, re.M) else 1.0
    x = torch.from_numpy(((ti[:512].astype(np.float32) / np.float32(255.0)) - np.float32(mean)) * np.float32(1.0 / std)).unsqueeze(1)
    y = torch.from_numpy(tl[:512].astype(np.int64))
    with torch.no_grad():
        logits = m(x)
        loss = F.cross_entropy(logits, y).item()
        acc = (logits.argmax(1) == y).float().mean().item()
    print(f"strata: test loss {summary['test_loss']:.6f} acc {summary['test_accuracy']:.4f}; "
          f"torch with the loaded checkpoint: loss {loss:.6f} acc {acc:.4f}")
    assert meta.get("optimizer") == "sgd", meta
    assert "optimizer.1.weight.momentum_buffer" in tensors, sorted(tensors)
    assert abs(loss - summary["test_loss"]) <= 1e-4 * max(1.0, loss), (loss, summary["test_loss"])
    assert abs(acc - summary["test_accuracy"]) <= 1.5 / 512, (acc, summary["test_accuracy"])
    print("ok: checkpoint loads into torch.nn.Sequential (strict) and gives the same test loss and accuracy")
