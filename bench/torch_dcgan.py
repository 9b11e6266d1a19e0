#!/usr/bin/python3
"""The PyTorch side of Q4: the W5 DCGAN (../shared/WORKLOADS.md, exactly the
model, losses, optimizers and batches of ../shared/peers/torch_workloads.py's
w5_dcgan) trained for N steps on Fashion-MNIST, its generator written as a
safetensors file whose tensor names are Strata's for models/dcgan-fashion.yaml
(both are nn.Sequential-style: "0.weight", "1.running_mean", ...), so
`strata fid --generator` and `strata sample` read it like a Strata checkpoint.

usage: bench/torch_dcgan.py STEPS OUT.safetensors [--seed S] [--threads T]
"""
import gzip, json, struct, sys, time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

FMNIST = "/usr/share/datasets/fashion-mnist"


def idx_images(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = struct.unpack(">I", data[:4])[0] & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def write_safetensors(path, tensors, meta):
    header, blobs, at = {}, [], 0
    for name, t in tensors.items():
        a = t.detach().cpu().numpy()
        shape = list(a.shape)  # np.ascontiguousarray makes 0-d arrays 1-d: keep the real shape
        a = np.ascontiguousarray(a.astype(np.int64 if a.dtype == np.int64 else np.float32))
        b = a.tobytes()
        header[name] = {"dtype": "I64" if a.dtype == np.int64 else "F32", "shape": shape,
                        "data_offsets": [at, at + len(b)]}
        blobs.append(b)
        at += len(b)
    header["__metadata__"] = meta
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def dcgan(nz=100):
    """W5's generator and discriminator (bench/torch_ddp.py trains them too)"""
    G = nn.Sequential(nn.Linear(nz, 128 * 7 * 7), nn.BatchNorm1d(128 * 7 * 7), nn.ReLU(),
                      nn.Unflatten(1, (128, 7, 7)),
                      nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
                      nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh())
    D = nn.Sequential(nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.2),
                      nn.Conv2d(64, 128, 4, 2, 1), nn.BatchNorm2d(128), nn.LeakyReLU(0.2),
                      nn.Flatten(), nn.Linear(128 * 7 * 7, 1))
    return G, D


def main():
    args = sys.argv[1:]
    seed, threads = 1, 2
    if "--seed" in args:
        i = args.index("--seed"); seed = int(args[i + 1]); del args[i:i + 2]
    if "--threads" in args:
        i = args.index("--threads"); threads = int(args[i + 1]); del args[i:i + 2]
    steps, out = int(args[0]), args[1]
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    x = torch.from_numpy(idx_images(f"{FMNIST}/train-images-idx3-ubyte.gz").astype(np.float32) / 255.0)
    x = x.unsqueeze(1) * 2 - 1
    bs, nz = 64, 100
    G, D = dcgan(nz)
    og = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    od = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    ones, zeros = torch.ones(bs, 1), torch.zeros(bs, 1)
    perm, at = torch.randperm(x.shape[0]), 0
    t0 = time.time()
    for step in range(1, steps + 1):
        if at + bs > x.shape[0]:
            perm, at = torch.randperm(x.shape[0]), 0
        real = x[perm[at:at + bs]]
        at += bs
        fake = G(torch.randn(bs, nz))
        od.zero_grad()
        ld = F.binary_cross_entropy_with_logits(D(real), ones) + \
            F.binary_cross_entropy_with_logits(D(fake.detach()), zeros)
        ld.backward()
        od.step()
        og.zero_grad()
        lg = F.binary_cross_entropy_with_logits(D(fake), ones)
        lg.backward()
        og.step()
        if step % 500 == 0 or step == steps:
            print(f"step {step}/{steps}  D loss {ld.item():.4f}  G loss {lg.item():.4f}  ({time.time() - t0:.1f} s)",
                  flush=True)
    tensors = dict(G.state_dict())
    write_safetensors(out, tensors, {"task": "gan", "spec": "models/dcgan-fashion.yaml",
                                     "source": "bench/torch_dcgan.py", "gan.steps": str(steps)})
    print(f"wrote {out} ({steps} steps, {time.time() - t0:.1f} s)")


if __name__ == "__main__":
    main()
