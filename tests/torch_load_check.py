#!/usr/bin/python3
"""Cross-check: a Strata checkpoint loads into the equivalent torch.nn.Sequential.

For each model (W1's MLP 784-512-512-10 on ref; with the conv plugin, W2's
LeNet-5 and the batch-norm ConvNet of Q1b on cpu) trains one epoch on a
1,024-image slice of Fashion-MNIST with `strata train`, then reads
checkpoint.safetensors with a plain safetensors reader (struct + json +
numpy), loads the model tensors (parameters and batch-norm buffers) into the
same torch.nn.Sequential with strict=True, and checks that PyTorch's test
loss and accuracy on the same slice (eval mode: running statistics, no
dropout) equal the ones Strata reported. Then the state dict in PyTorch's
half precision (.half(), .bfloat16()), written as safetensors, is
evaluated by `strata eval` (which converts it on load) and must give the
loss PyTorch gives with the same rounded weights, and `strata export` of
the run must write exactly PyTorch's half-precision tensors.

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
    dtypes = {"F32": np.float32, "I64": np.int64, "I32": np.int32, "F16": np.float16, "BF16": np.int16}
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        t = torch.from_numpy(np.frombuffer(data[b:end], dtypes[e["dtype"]]).reshape(e["shape"]).copy())
        out[name] = t.view(torch.bfloat16) if e["dtype"] == "BF16" else t
    return out, header.get("__metadata__", {})


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                         nn.Linear(512, 10))


def lenet():
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84),
                         nn.ReLU(), nn.Linear(84, 10))


def cnn_bn():
    def block(cin, c):
        return [nn.Conv2d(cin, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
                nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(2),
                nn.Dropout(0.25)]
    return nn.Sequential(*block(1, 32), *block(32, 64), nn.Flatten(), nn.Linear(3136, 256, bias=False),
                         nn.BatchNorm1d(256), nn.ReLU(), nn.Dropout(0.5), nn.Linear(256, 10))


def evaluate(m, x, y):
    """Test loss and accuracy of module m (in eval mode) on x, y."""
    with torch.no_grad():
        logits = m(x)
        return F.cross_entropy(logits, y).item(), (logits.argmax(1) == y).float().mean().item()


def write_safetensors(path, tensors):
    """The format as its definition has it: 8-byte header size, JSON header, data (bf16 as its raw 16 bits)."""
    names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64"}
    header, blobs, at = {}, [], 0
    for k, v in tensors.items():
        raw = (v.view(torch.int16) if v.dtype == torch.bfloat16 else v).contiguous().numpy().tobytes()
        header[k] = {"dtype": names[v.dtype], "shape": list(v.shape), "data_offsets": [at, at + len(raw)]}
        blobs.append(raw)
        at += len(raw)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


# (spec, torch module, backend, optimizer named in the metadata, a state tensor it must have)
CASES = [("mlp-fashion.yaml", mlp, "ref", "sgd", "optimizer.1.weight.momentum_buffer")]
if os.path.exists(f"{build}/lib/strata/conv.so") and os.path.exists(f"{build}/lib/strata/cpu.so"):
    CASES += [("lenet-fashion.yaml", lenet, "cpu", "adam", "optimizer.0.weight.exp_avg"),
              ("cnn-bn-fashion.yaml", cnn_bn, "cpu", "adam", "optimizer.0.weight.exp_avg")]


def check(tmp, spec_name, make, backend, opt_name, opt_key):
    spec = open(f"{source}/models/{spec_name}").read()
    spec = spec.replace(f"{FMNIST}/train-images-idx3-ubyte.gz", f"{tmp}/train-x.gz")
    spec = spec.replace(f"{FMNIST}/train-labels-idx1-ubyte.gz", f"{tmp}/train-y.gz")
    spec = spec.replace(f"{FMNIST}/t10k-images-idx3-ubyte.gz", f"{tmp}/test-x.gz")
    spec = spec.replace(f"{FMNIST}/t10k-labels-idx1-ubyte.gz", f"{tmp}/test-y.gz")
    open(f"{tmp}/{spec_name}", "w").write(spec)
    subprocess.run([f"{build}/bin/strata", "train", f"{tmp}/{spec_name}", "--out", f"{tmp}/run-{spec_name}", "--epochs", "1",
                    "--quiet", "--backend", backend], check=True)
    summary = json.load(open(f"{tmp}/run-{spec_name}/summary.json"))
    tensors, meta = read_safetensors(f"{tmp}/run-{spec_name}/checkpoint.safetensors")
    model_sd = {k: v for k, v in tensors.items() if not k.startswith("optimizer.")}
    m = make()
    m.load_state_dict(model_sd, strict=True)
    m.eval()
    import re
    mean = float(re.search(r"^\s*mean:\s*([0-9.eE+-]+)", spec, re.M).group(1)) if re.search(r"^\s*mean:", spec, re.M) else 0.0
    std = float(re.search(r"^\s*std:\s*([0-9.eE+-]+)", spec, re.M).group(1)) if re.search(r"^\s*std:", spec, re.M) else 1.0
    x = torch.from_numpy(((ti[:512].astype(np.float32) / np.float32(255.0)) - np.float32(mean)) * np.float32(1.0 / std)).unsqueeze(1)
    y = torch.from_numpy(tl[:512].astype(np.int64))
    loss, acc = evaluate(m, x, y)
    print(f"{spec_name} on {backend}: strata: test loss {summary['test_loss']:.6f} acc {summary['test_accuracy']:.4f}; "
          f"torch with the loaded checkpoint: loss {loss:.6f} acc {acc:.4f}")
    assert meta.get("optimizer") == opt_name, meta
    assert opt_key in tensors, sorted(tensors)
    assert abs(loss - summary["test_loss"]) <= 1e-4 * max(1.0, loss), (loss, summary["test_loss"])
    assert abs(acc - summary["test_accuracy"]) <= 1.5 / 512, (acc, summary["test_accuracy"])

    # The other way, in half precision: PyTorch's .half() / .bfloat16() of the state dict, saved as
    # safetensors, evaluated by Strata (which converts on load) and by PyTorch with the same rounded weights.
    for dtype, name in ((torch.float16, "F16"), (torch.bfloat16, "BF16")):
        low = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in model_sd.items()}
        path = f"{tmp}/{name}-{spec_name}.safetensors"
        write_safetensors(path, low)
        got = json.loads(subprocess.run([f"{build}/bin/strata", "eval", f"{tmp}/{spec_name}", "--checkpoint", path,
                                         "--backend", backend, "--json"], check=True, capture_output=True,
                                        text=True).stdout)
        m.load_state_dict({k: (v.float() if v.is_floating_point() else v) for k, v in low.items()}, strict=True)
        m.eval()
        lloss, lacc = evaluate(m, x, y)
        print(f"  {name} checkpoint: strata test loss {got['test_loss']:.6f} acc {got['test_accuracy']:.4f}; "
              f"torch with the same {name} weights: loss {lloss:.6f} acc {lacc:.4f}")
        assert abs(lloss - got["test_loss"]) <= 1e-4 * max(1.0, lloss), (name, lloss, got["test_loss"])
        assert abs(lacc - got["test_accuracy"]) <= 1.5 / 512, (name, lacc, got["test_accuracy"])
        # `strata export` of the run writes the same bits as PyTorch's conversion, and no optimizer state
        out = f"{tmp}/export-{name}-{spec_name}.safetensors"
        subprocess.run([f"{build}/bin/strata", "export", f"{tmp}/run-{spec_name}", "--dtype", name.lower(), "--out",
                        out], check=True, capture_output=True)
        exported, emeta = read_safetensors(out)
        assert sorted(exported) == sorted(low), (sorted(exported), sorted(low))
        assert not any(k.startswith("optimizer") for k in emeta), emeta
        for k, v in low.items():
            e = exported[k]
            same = e.dtype == v.dtype and (torch.equal(e.view(torch.int16), v.view(torch.int16))
                                            if v.is_floating_point() else torch.equal(e, v))
            assert same, (name, k, e.dtype, v.dtype)
        print(f"  strata export --dtype {name.lower()}: the same {len(low)} tensors, bit for bit, as PyTorch's")


with tempfile.TemporaryDirectory() as tmp:
    xi, yi = read_idx(f"{FMNIST}/train-images-idx3-ubyte.gz"), read_idx(f"{FMNIST}/train-labels-idx1-ubyte.gz")
    ti, tl = read_idx(f"{FMNIST}/t10k-images-idx3-ubyte.gz"), read_idx(f"{FMNIST}/t10k-labels-idx1-ubyte.gz")
    write_idx(f"{tmp}/train-x.gz", xi[:1024]); write_idx(f"{tmp}/train-y.gz", yi[:1024])
    write_idx(f"{tmp}/test-x.gz", ti[:512]); write_idx(f"{tmp}/test-y.gz", tl[:512])
    for case in CASES:
        check(tmp, *case)
    print("ok: every checkpoint loads into torch.nn.Sequential (strict) and gives the same test loss and accuracy")
