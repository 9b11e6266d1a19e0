#!/usr/bin/python3
"""The PyTorch side of bench/dist-mpi.sh: W1 (the MLP 784-512-512-10, SGD lr
0.05 momentum 0.9, global batch 128) or W2 (LeNet-5, Adam, global batch 64),
as WORKLOADS.md defines them, trained by DistributedDataParallel over RANKS
processes (gloo, one thread each, each its batch/RANKS of every batch), or
by one process with THREADS threads when RANKS is 1. Prints the global
training throughput in images/s over STEPS timed steps (after 5 warm-up
steps).

usage: torch_ddp.py W1|W2 RANKS THREADS STEPS"""
import gzip, os, struct, sys, time

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn
import torch.nn.functional as F

FMNIST = "/usr/share/datasets/fashion-mnist"
BATCH = {"W1": 128, "W2": 64}


def model(workload):
    if workload == "W1":
        m = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                          nn.Linear(512, 10))
        return m, lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9)
    m = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                      nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                      nn.Linear(84, 10))
    return m, lambda p: torch.optim.Adam(p, lr=1e-3)


def images():
    with gzip.open(f"{FMNIST}/train-images-idx3-ubyte.gz", "rb") as f:
        data = f.read()
    x = np.frombuffer(data, np.uint8, offset=16).reshape(-1, 1, 28, 28).astype(np.float32) / 255.0
    with gzip.open(f"{FMNIST}/train-labels-idx1-ubyte.gz", "rb") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)
    return torch.from_numpy(x), torch.from_numpy(y)


def train(rank, workload, ranks, threads, steps, out):
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    if ranks > 1:
        dist.init_process_group("gloo", rank=rank, world_size=ranks)
    x, y = images()
    m, make_opt = model(workload)
    net = nn.parallel.DistributedDataParallel(m) if ranks > 1 else m
    opt = make_opt(net.parameters())
    batch = BATCH[workload]
    share = batch // ranks
    n = x.shape[0] // batch

    def step(i):
        lo = (i % n) * batch + rank * share
        loss = F.cross_entropy(net(x[lo:lo + share]), y[lo:lo + share])
        opt.zero_grad()
        loss.backward()
        opt.step()

    for i in range(5):
        step(i)
    if ranks > 1:
        dist.barrier()
    t = time.perf_counter()
    for i in range(steps):
        step(5 + i)
    if ranks > 1:
        dist.barrier()
    seconds = time.perf_counter() - t
    if rank == 0:
        out.put(steps * batch / seconds)
    if ranks > 1:
        dist.destroy_process_group()


def main():
    workload = sys.argv[1]
    ranks, threads, steps = (int(a) for a in sys.argv[2:5])
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", "29517")
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    if ranks == 1:
        train(0, workload, 1, threads, steps, out)
    else:
        mp.spawn(train, args=(workload, ranks, threads, steps, out), nprocs=ranks, join=True)
    print(f"{out.get():.0f}")


if __name__ == "__main__":
    main()
