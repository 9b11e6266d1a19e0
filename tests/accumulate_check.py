#!/usr/bin/env python3
"""Gradient accumulation (train.accumulate, tools/run.c): each batch split
into K micro-batches whose gradients are added up before the one step
gives the steps of the unsplit batch, to float rounding, for an image
classifier, a language model and an autoencoder; with uneven
micro-batches (a batch of 5 in 3) and more micro-batches than examples;
with data-parallel ranks (each rank's share split, when mpirun and
lib/libstrata_mpi.so are there); batch norm with micro-batches of one
example is refused before training, saying why; the trainers that do not accumulate
refuse the key.

usage: accumulate_check.py BUILD SOURCE"""
import os, shutil, subprocess, sys, tempfile

import numpy as np

from run_compare import check, compare, failures  # tests/run_compare.py

build, source = sys.argv[1], sys.argv[2]
strata = os.path.join(build, "bin", "strata")
if not os.path.exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"):
    print("skipped: Fashion-MNIST is not installed (dataset-fashion-mnist)")
    sys.exit(77)
mpirun = shutil.which("mpirun")
mpi = mpirun and os.path.exists(os.path.join(build, "lib", "libstrata_mpi.so"))
env = dict(os.environ, STRATA_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1")
if "ASAN_OPTIONS" in env:  # Open MPI's own leaks (docs/reliability.md): the ranks only
    env_mpi = dict(env, ASAN_OPTIONS=env["ASAN_OPTIONS"] + ":detect_leaks=0")
else:
    env_mpi = env


def run(args, expect=0, ranks=1):
    cmd = ([mpirun, "-np", str(ranks), "--bind-to", "none"] if ranks > 1 else []) + [strata] + args
    p = subprocess.run(cmd, env=env_mpi if ranks > 1 else env, capture_output=True, text=True, timeout=300)
    if p.returncode != expect:
        sys.exit(f"{' '.join(cmd)}: exit {p.returncode}, expected {expect}\n{p.stdout}\n{p.stderr}")
    return p


tmp = tempfile.mkdtemp(prefix="strata-accumulate-")
try:
    mlp = [os.path.join(source, "models", "mlp-fashion.yaml"), "--quiet", "--set", "train.eval_batch_size=2000"]
    with open(f"{tmp}/text.txt", "w") as f:
        words = "and god said let there be light and there was light".split()
        rng = np.random.default_rng(5)
        f.write("\n".join(" ".join(rng.choice(words, 12)) for _ in range(500)))
    lm = [os.path.join(source, "models", "char-lstm-kjv.yaml"), "--set", f"data.path={tmp}/text.txt", "--quiet"]
    ae = [os.path.join(source, "models", "autoencoder-fashion.yaml"), "--quiet"]
    cases = [("MLP, batch 128 in 4", mlp + ["--steps", "12"], 128, 4),
             ("MLP, batch 5 in 3 (1 + 2 + 2)", mlp + ["--steps", "12"], 5, 3),
             ("MLP, batch 2 in 4 (a row each)", mlp + ["--steps", "6"], 2, 4),
             ("language model, batch 8 in 2", lm + ["--steps", "6"], 8, 2),
             ("autoencoder, batch 128 in 2", ae + ["--steps", "8"], 128, 2)]
    for k, (what, args, batch, acc) in enumerate(cases):
        a, b = f"{tmp}/c{k}-1", f"{tmp}/c{k}-{acc}"
        run(["train"] + args + ["--out", a, "--batch-size", str(batch)])
        p = run(["train"] + [x for x in args if x != "--quiet"] +
                ["--out", b, "--batch-size", str(batch), "--set", f"train.accumulate={acc}"])
        compare(a, b, what, 1e-4)
        # more micro-batches than rows: a row each, and a note says so
        check(f"each batch of {batch} runs as {min(acc, batch)} micro-batches" in p.stderr and
              (acc <= batch or f"train.accumulate is {acc}, more than the batch of {batch}" in p.stderr),
              f"{what}: the trainer says so")

    if mpi:  # each rank's share in micro-batches: 2 ranks x 2 against one process, whole batches
        a, b = f"{tmp}/dp-1", f"{tmp}/dp-2x2"
        run(["train"] + mlp + ["--steps", "12", "--out", a, "--batch-size", "64"])
        run(["train"] + mlp + ["--steps", "12", "--out", b, "--batch-size", "64", "--set", "train.accumulate=2"],
            ranks=2)
        compare(a, b, "MLP, batch 64 on 2 ranks in 2 micro-batches each", 1e-4)
    else:
        print("skipped: the data-parallel case (no mpirun or lib/libstrata_mpi.so)")

    # batch norm normalises each micro-batch: one example cannot be
    with open(os.path.join(source, "models", "mlp-fashion.yaml")) as f:
        text = f.read()
    first = "    - {type: linear, out_features: 512}   # 1.weight (512, 784), 1.bias (512)\n"
    assert first in text, "models/mlp-fashion.yaml changed: update accumulate_check.py"
    with open(f"{tmp}/bn.yaml", "w") as f:
        f.write(text.replace(first, first + "    - {type: batch_norm1d}\n", 1))
    p = run(["train", f"{tmp}/bn.yaml", "--out", f"{tmp}/bn", "--steps", "2", "--batch-size", "4", "--set",
             "train.accumulate=4", "--quiet"], expect=2)
    check("batch norm needs at least 2 examples in a training pass" in p.stderr and "train.accumulate" in p.stderr,
          "batch norm with micro-batches of one example: refused before training, saying why")

    # the trainers that do not accumulate refuse the key, naming it
    p = run(["train", os.path.join(source, "models", "seq2seq-reverse.yaml"), "--out", f"{tmp}/s2s", "--set",
             "train.accumulate=2"], expect=1)
    check("train.accumulate" in p.stderr, "seq2seq refuses train.accumulate with a message")
finally:
    shutil.rmtree(tmp, ignore_errors=True)

if failures:
    sys.exit(f"{len(failures)} check(s) failed")
print("all accumulation checks passed")
