#!/usr/bin/python3
"""Cross-check: Strata's lstm/gru/rnn layers load into torch.nn.LSTM/GRU/RNN.

For a few configurations (stacked, bidirectional, with initial states, no
bias, relu) builds the layer in Strata through libstrata's C API (ctypes),
runs it on random inputs, saves a checkpoint, loads the checkpoint into the
torch module of the same configuration with strict=True, and checks that
PyTorch gives the same y, h_n and c_n. Strata's states are batch-first
(B, L D, H); PyTorch's are (L D, B, H) (docs/lstm.md).

usage: torch_lstm_check.py BUILD_DIR      (exit 77 = skipped)
"""
import ctypes as C, json, os, struct, sys, tempfile

try:
    import numpy as np
    import torch
    import torch.nn as nn
except ImportError as e:
    print(f"skipped: {e}")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from strata_ctypes import Attr, P, attr, from_host, ok, read, shape_arr  # noqa: E402
import strata_ctypes  # noqa: E402

lib = strata_ctypes.load(sys.argv[1])


def read_safetensors(path):
    with open(path, "rb") as f:
        n, = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__" or e["dtype"] != "F32":
            continue
        b, end = e["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[b:end], np.float32).reshape(e["shape"]).copy())
    return out


def check(rt, dev, kind, L, bidir, bias, states, nonlin=None, B=3, T=5, I=4, H=6, seed=0):
    D = 2 if bidir else 1
    rng = np.random.default_rng(seed)
    m = P()
    ok(lib.strata_model_create(dev, C.byref(m)), "strata_model_create")
    ok(lib.strata_model_add_input(m, b"x", 1, 2, shape_arr([T, I])), "add_input x")
    names = [b"x"]
    n_states = (2 if kind == "lstm" else 1) if states else 0
    for k in range(n_states):
        nm = [b"h0", b"c0"][k]
        ok(lib.strata_model_add_input(m, nm, 1, 2, shape_arr([L * D, H])), "add_input state")
        names.append(nm)
    attrs = [attr("hidden_size", H), attr("num_layers", L), attr("bidirectional", bidir), attr("bias", bias),
             attr("batch_first", 1)]
    if nonlin:
        attrs.append(attr("nonlinearity", nonlin))
    arr = (Attr * len(attrs))(*attrs)
    ins = (C.c_char_p * len(names))(*names)
    ok(lib.strata_model_add_layer(m, kind.encode(), b"l", arr, len(attrs), ins, len(names)), "add_layer")
    n_out = 3 if kind == "lstm" else 2
    for o in [b"l", b"l:1", b"l:2"][:n_out]:
        ok(lib.strata_model_add_output(m, o), "add_output")
    x = rng.uniform(-1, 1, (B, T, I)).astype(np.float32)
    st = [rng.uniform(-1, 1, (B, L * D, H)).astype(np.float32) for _ in range(n_states)]
    tin = (P * (1 + n_states))(*[from_host(dev, a) for a in [x] + st])
    tout = (P * n_out)()
    ok(lib.strata_model_forward(m, tin, 1 + n_states, tout, n_out, 0), "strata_model_forward")
    got = [read(tout[0], (B, T, D * H))] + [read(tout[k], (B, L * D, H)) for k in range(1, n_out)]
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "ckpt.safetensors")
        ok(lib.strata_checkpoint_save(path.encode(), m, None, None), "strata_checkpoint_save")
        sd = read_safetensors(path)
    for t in list(tin) + list(tout):
        lib.strata_tensor_release(P(t))
    lib.strata_model_destroy(m)

    cls = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[kind]
    kw = {"nonlinearity": nonlin} if nonlin else {}
    tm = cls(I, H, num_layers=L, bias=bool(bias), batch_first=True, bidirectional=bool(bidir), **kw)
    tm.load_state_dict({k[2:]: v for k, v in sd.items()}, strict=True)  # strip "l."
    with torch.no_grad():
        tst = [torch.from_numpy(s).transpose(0, 1).contiguous() for s in st]  # (L D, B, H)
        if kind == "lstm":
            y, (hn, cn) = tm(torch.from_numpy(x), tuple(tst) if tst else None)
            want = [y, hn.transpose(0, 1), cn.transpose(0, 1)]
        else:
            y, hn = tm(torch.from_numpy(x), tst[0] if tst else None)
            want = [y, hn.transpose(0, 1)]
    what = f"{kind} L={L} bidirectional={bidir} bias={bias} states={states} {nonlin or ''}"
    for k, (g, w) in enumerate(zip(got, want)):
        err = float(np.abs(g - w.numpy()).max())
        if not err <= 2e-5:
            raise SystemExit(f"FAIL {what}: output {k} differs from PyTorch by {err:g}")
    print(f"ok   {what}: {len(sd)} tensors loaded strictly, outputs match")


rt = P()
ok(lib.strata_runtime_create(None, C.byref(rt)), "strata_runtime_create")
for be in [b"ref", b"cpu"]:
    dev = P()
    if lib.strata_device_get(rt, be, 0, C.byref(dev)) != 0:
        print(f"({be.decode()} not available)")
        continue
    print(f"backend {be.decode()}:")
    check(rt, dev, "lstm", 2, 1, 1, 1)
    check(rt, dev, "lstm", 1, 0, 0, 0, seed=1)
    check(rt, dev, "gru", 2, 1, 1, 1, seed=2)
    check(rt, dev, "gru", 1, 0, 1, 0, seed=3)
    check(rt, dev, "rnn", 2, 1, 0, 1, nonlin="relu", seed=4)
    check(rt, dev, "rnn", 1, 0, 1, 1, nonlin="tanh", seed=5)
lib.strata_runtime_destroy(rt)
print("torch_lstm_check: all configurations match")
