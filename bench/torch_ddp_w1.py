#!/usr/bin/python3
"""The PyTorch side of bench/dist-mpi.sh: W1 (the MLP 784-512-512-10, SGD lr
0.05 momentum 0.9, global batch 128) trained by DistributedDataParallel over
RANKS processes (gloo, one thread each, each its 128/RANKS of every batch),
or by one process with THREADS threads when RANKS is 1. Prints the global
training throughput in images/s over STEPS timed steps (after 5 warm-up
steps).

usage: torch_ddp_w1.py RANKS THREADS STEPS"""
import gzip, os, struct, sys, time

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn
import torch.nn.functional as F

FMNIST = "/usr/share/datasets/fashion-mnist"
BATCH = 128


def images():
    with gzip.open(f"{FMNIST}/train-images-idx3-ubyte.gz", "rb") as f:
        data = f.read()
    x = np.frombuffer(data, np.uint8, offset=16).reshape(-1, 1, 28, 28).astype(np.float32) / 255.0
    with gzip.open(f"{FMNIST}/train-labels-idx1-ubyte.gz", "rb") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)
    return torch.from_numpy(x), torch.from_numpy(y)


def train(rank, ranks, threads, steps, out):
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    if ranks > 1:
        dist.init_process_group("gloo", rank=rank, world_size=ranks)
    x, y = images()
    m = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                      nn.Linear(512, 10))
    model = nn.parallel.DistributedDataParallel(m) if ranks > 1 else m
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    share = BATCH // ranks
    n = x.shape[0] // BATCH

    def step(i):
        lo = (i % n) * BATCH + rank * share
        loss = F.cross_entropy(model(x[lo:lo + share]), y[lo:lo + share])
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
        out.put(steps * BATCH / seconds)
    if ranks > 1:
        dist.destroy_process_group()


def main():
    ranks, threads, steps = (int(a) for a in sys.argv[1:4])
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", "29517")
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    if ranks == 1:
        train(0, 1, threads, steps, out)
    else:
        mp.spawn(train, args=(ranks, threads, steps, out), nprocs=ranks, join=True)
    print(f"{out.get():.0f}")


if __name__ == "__main__":
    main()
