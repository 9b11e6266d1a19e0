#!/usr/bin/python3
"""The PyTorch side of bench/dist-mpi.sh: W1 (the MLP 784-512-512-10, SGD lr
0.05 momentum 0.9, global batch 128), W2 (LeNet-5, Adam, global batch 64)
or W5 (the DCGAN, Adam 2e-4, global batch 64), as WORKLOADS.md and the
peer (../shared/peers/torch_workloads.py) define them, trained over RANKS
processes (gloo, one thread each, each its batch/RANKS of every batch), or
by one process with THREADS threads when RANKS is 1. W1 and W2 train
under DistributedDataParallel. W5 cannot: its discriminator runs three
forward passes per iteration (real, detached fake, fake), and DDP allows
one per backward pass; its gradients are all-reduced by hand instead
(torch.distributed.all_reduce of each model's gradients as one flat
tensor, after each backward), and both models' batch-norm buffers are
broadcast from rank 0 once per iteration, as DDP's broadcast_buffers
would. Prints the global training throughput in images/s over STEPS
timed steps (after 5 warm-up steps).

usage: torch_ddp.py W1|W2|W5 RANKS THREADS STEPS"""
import gzip, os, struct, sys, time

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn
import torch.nn.functional as F

from torch_dcgan import dcgan  # bench/torch_dcgan.py: W5's two models

FMNIST = "/usr/share/datasets/fashion-mnist"
BATCH = {"W1": 128, "W2": 64, "W5": 64}


def model(workload):
    if workload == "W1":
        m = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                          nn.Linear(512, 10))
        return m, lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9)
    m = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                      nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                      nn.Linear(84, 10))
    return m, lambda p: torch.optim.Adam(p, lr=1e-3)


def sum_grads(m, ranks):
    """the mean of every rank's gradients of @p m, as DDP computes it"""
    grads = [p.grad for p in m.parameters()]
    flat = torch._utils._flatten_dense_tensors(grads)
    dist.all_reduce(flat)
    flat /= ranks
    for g, s in zip(grads, torch._utils._unflatten_dense_tensors(flat, grads)):
        g.copy_(s)


def gan_step(G, D, og, od, x, rank, ranks, share, n, batch):
    ones, zeros = torch.ones(share, 1), torch.zeros(share, 1)

    def step(i):
        lo = (i % n) * batch + rank * share
        real = x[lo:lo + share] * 2 - 1
        fake = G(torch.randn(share, 100))
        od.zero_grad()
        ld = F.binary_cross_entropy_with_logits(D(real), ones) + \
            F.binary_cross_entropy_with_logits(D(fake.detach()), zeros)
        ld.backward()
        if ranks > 1:
            sum_grads(D, ranks)
        od.step()
        og.zero_grad()
        lg = F.binary_cross_entropy_with_logits(D(fake), ones)
        lg.backward()
        if ranks > 1:
            sum_grads(G, ranks)
            for b in list(G.buffers()) + list(D.buffers()):
                dist.broadcast(b, 0)
        og.step()
    return step


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
    batch = BATCH[workload]
    share = batch // ranks
    n = x.shape[0] // batch
    if workload == "W5":
        G, D = dcgan()
        og = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        od = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
        step = gan_step(G, D, og, od, x, rank, ranks, share, n, batch)
    else:
        m, make_opt = model(workload)
        net = nn.parallel.DistributedDataParallel(m) if ranks > 1 else m
        opt = make_opt(net.parameters())

    def classifier_step(i):
        lo = (i % n) * batch + rank * share
        loss = F.cross_entropy(net(x[lo:lo + share]), y[lo:lo + share])
        opt.zero_grad()
        loss.backward()
        opt.step()

    if workload != "W5":
        step = classifier_step
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
