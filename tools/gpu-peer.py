#!/usr/bin/env python3
"""PyTorch peer for tools/gpu-check.sh: W1 and W2 (shared/WORKLOADS.md) trained
on the GPU with the same models, batches and optimizers as `strata bench`.

usage: gpu-peer.py W1|W2 [--steps N]

Prints "W rate R unit" (training samples per second: forward, backward and
optimizer step, timed after 20 warm-up steps with the device synchronised),
or "W -" for a workload this peer does not cover (W3-W5). Data is random:
throughput does not depend on the pixel values.
"""
import sys
import time

import torch
import torch.nn as nn


def w1():
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                          nn.Linear(512, 10))
    return model, torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9), 128


def w2():
    model = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84),
                          nn.ReLU(), nn.Linear(84, 10))
    return model, torch.optim.Adam(model.parameters(), lr=1e-3), 64


def main():
    args = sys.argv[1:]
    steps = 300
    if "--steps" in args:
        i = args.index("--steps")
        steps = int(args[i + 1])
        del args[i:i + 2]
    w = args[0] if args else "W1"
    build = {"W1": w1, "W2": w2}.get(w)
    if build is None:
        print(f"{w} -")
        return
    dev = torch.device("cuda")
    torch.backends.cuda.matmul.allow_tf32 = False  # as Strata: plain FP32
    torch.backends.cudnn.allow_tf32 = False
    model, opt, batch = build()
    model.to(dev)
    # the optimizer was built on the CPU parameters: rebuild it on the moved ones
    opt = type(opt)(model.parameters(), **opt.defaults)
    x = torch.rand(batch, 1, 28, 28, device=dev)
    y = torch.randint(0, 10, (batch,), device=dev)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    for _ in range(20):
        step()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = step()
    torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    print(f"{w} rate {steps * batch / dt:.1f} images/s loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
