#!/usr/bin/python3
"""MemN2N on bAbI in PyTorch, following the authors' recipe as their code
sets it (Sukhbaatar et al. 2015; the MemN2N-babi Matlab code and its Python
port): a calibration peer for Q3, not part of Strata.

It trains one task (or several, jointly) on bAbI-format files, the same
files `strata train models/memn2n-babi.yaml` reads, and prints the test
error. What it does as the authors' code does, where Strata differs:

- the time of a sentence is a word of the vocabulary, appended to the
  sentence (so it goes through the position encoding and the tied
  embeddings); Strata adds a separate learned vector per memory slot;
- position encoding l_kj = 1 + 4 (j - (J+1)/2)(k - (d+1)/2) / (J d) with J
  the longest sentence or question plus the time word, shared by story and
  question;
- random noise: the time indices of a story of L sentences are a random
  L-subset of 0 .. L+nblank-1, nblank uniform in [0, ceil(0.1 L)),
  clamped at the memory size; no blank slots;
- linear start 20 epochs at lr 0.005, then 100 epochs at lr 0.005 halved
  every 25 (the authors' config sets the rate to 0.01/2 when LS is on);
- batches drawn with replacement, floor(N/32) a epoch; the loss summed over
  the batch; the gradient norm clipped at 40; the nil word's embedding
  kept at zero; the last 10% of the training questions held out.

usage: bench/memn2n-peer.py DATA_DIR TASK [--seed S] [--runs R] [--d D]
With --runs R it trains R times and keeps the run of lowest validation
error (as `train.select: validation_error`), printing every run.
"""
import argparse
import glob
import math
import os
import random

import torch


def read_babi(path):
    """Questions of a bAbI file: (story sentences, question words, answer)."""
    out, story = [], []
    with open(path) as f:
        for line in f:
            line = line.strip().lower()
            if not line:
                continue
            nid, text = line.split(" ", 1)
            if nid == "1":
                story = []
            if "\t" in text:
                q, a = text.split("\t")[:2]
                out.append(([s[:] for s in story], q.replace("?", " ").split(), a.strip()))
            else:
                story.append(text.replace(".", " ").split())
    return out


def task_files(data, task, split):
    for d in (data, os.path.join(data, "en")):
        hits = glob.glob(os.path.join(d, "qa%d_*_%s.txt" % (task, split)))
        if hits:
            return hits[0]
    raise SystemExit("no qa%d_*_%s.txt in %s" % (task, split, data))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("task", help="a task number or a list like 1,2,3")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--d", type=int, default=0, help="embedding size (default 20, 50 for several tasks)")
    a = ap.parse_args()
    tasks = [int(t) for t in a.task.split(",")]
    torch.set_num_threads(1)
    train = [q for t in tasks for q in read_babi(task_files(a.data, t, "train"))]
    tests = {t: read_babi(task_files(a.data, t, "test")) for t in tasks}
    vocab = {"<nil>": 0}
    for qs in [train] + list(tests.values()):
        for story, q, ans in qs:
            for w in [w for s in story for w in s] + q + [ans]:
                vocab.setdefault(w, len(vocab))
    nwords = len(vocab)
    mem = min(50, max(len(s) for s, _, _ in train))
    jmax = max([len(s) for st, _, _ in train for s in st] + [len(q) for _, q, _ in train]) + 1  # + the time word
    V = nwords + mem  # time words after the words
    d = a.d or (20 if len(tasks) == 1 else 50)
    pe = torch.empty(jmax, d)
    for j in range(1, jmax + 1):
        for k in range(1, d + 1):
            pe[j - 1, k - 1] = 1 + 4 * (j - (jmax + 1) / 2) * (k - (d + 1) / 2) / (jmax * d)

    def vectorise(qs):
        S = torch.zeros(len(qs), mem, jmax, dtype=torch.long)
        Q = torch.zeros(len(qs), jmax - 1, dtype=torch.long)
        A = torch.zeros(len(qs), dtype=torch.long)
        L = torch.zeros(len(qs), dtype=torch.long)
        for i, (story, q, ans) in enumerate(qs):
            story = story[-mem:]
            L[i] = len(story)
            for m, s in enumerate(story):
                for j, w in enumerate(s[: jmax - 1]):
                    S[i, m, j] = vocab[w]
            for j, w in enumerate(q[: jmax - 1]):
                Q[i, j] = vocab[w]
            A[i] = vocab[ans]
        return S, Q, A, L

    def with_time(S, L, noise, gen):
        """Slot m of L sentences gets time word L-1-m (newest 0), or the authors' jitter."""
        S = S.clone()
        for i in range(S.shape[0]):
            n = int(L[i])
            if n == 0:
                continue
            if noise:
                nblank = int(torch.randint(0, math.ceil(n * 0.1), (1,), generator=gen)) if math.ceil(n * 0.1) > 0 else 0
                rt = torch.randperm(n + nblank, generator=gen)[:n]
                rt = torch.clamp(rt, max=mem - 1)
                t = torch.sort(rt, descending=True).values
            else:
                t = torch.arange(n - 1, -1, -1)
            S[i, :n, jmax - 1] = nwords + t
        return S

    S_all, Q_all, A_all, L_all = vectorise(train)
    n_tr = int(len(train) * 0.9)

    def run(seed):
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        E = [torch.nn.Parameter(torch.randn(V, d) * 0.1) for _ in range(4)]  # adjacent tying, 3 hops

        def forward(S, Q, softmax):
            u = (E[0][Q] * pe[: jmax - 1]).sum(1)
            for h in range(3):
                m = (E[h][S] * pe).sum(2)
                c = (E[h + 1][S] * pe).sum(2)
                p = torch.einsum("bmd,bd->bm", m, u)
                if softmax:
                    p = torch.softmax(p, 1)
                u = u + torch.einsum("bm,bmd->bd", p, c)
            return u @ E[3].t()

        def error(S, Q, A, L):
            with torch.no_grad():
                return (forward(with_time(S, L, False, gen), Q, True).argmax(1) != A).float().mean().item()

        ls_epochs, epochs, bs = 20, 100, 32
        for phase, (n_ep, lr0, step) in enumerate([(ls_epochs, 0.005, 21), (epochs, 0.005, 25)]):
            lr = lr0
            for ep in range(n_ep):
                if (ep + 1) % step == 0:
                    lr *= 0.5
                for _ in range(n_tr // bs):
                    idx = torch.randint(0, n_tr, (bs,), generator=gen)
                    S = with_time(S_all[idx], L_all[idx], True, gen)
                    loss = torch.nn.functional.cross_entropy(forward(S, Q_all[idx], phase == 1), A_all[idx],
                                                             reduction="sum")
                    for e in E:
                        e.grad = None
                    loss.backward()
                    norm = torch.sqrt(sum((e.grad ** 2).sum() for e in E))
                    scale = min(1.0, 40.0 / (norm.item() + 1e-12))
                    with torch.no_grad():
                        for e in E:
                            e -= lr * scale * e.grad
                            e[0].zero_()
        tr = error(S_all[:n_tr], Q_all[:n_tr], A_all[:n_tr], L_all[:n_tr])
        va = error(S_all[n_tr:], Q_all[n_tr:], A_all[n_tr:], L_all[n_tr:])
        te = {t: error(*vectorise(qs)) for t, qs in tests.items()}
        return tr, va, te

    best = None
    for r in range(a.runs):
        tr, va, te = run(a.seed + r)
        print("run %d: train %.3f val %.3f test %s" % (r + 1, tr, va,
                                                       " ".join("%d:%.3f" % (t, e) for t, e in te.items())),
              flush=True)
        if best is None or (va, tr) < (best[1], best[0]):
            best = (tr, va, te)
    te = best[2]
    print("test error (best of %d by validation): %s  mean %.1f%%" %
          (a.runs, " ".join("%d:%.1f%%" % (t, 100 * e) for t, e in te.items()), 100 * sum(te.values()) / len(te)))


if __name__ == "__main__":
    main()
