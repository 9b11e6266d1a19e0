#!/usr/bin/env python3
"""An epoch's last, partial batch and batch norm (train.drop_last,
run_check_batch_norm in tools/run.c): an image classifier with batch norm
whose last batch (or a rank's share of a batch, or a micro-batch) would
hold one example is refused before training, naming the numbers and the
fix, instead of failing at the end of the first epoch (or on one rank
alone); train.drop_last: true leaves that batch out, so an epoch is
floor(N / B) steps; without batch norm, or with batch norm over several
values a channel in each example (batch_norm2d), the partial batch trains
as before; the value must be true or false; only the image classifier reads
the key.

usage: drop_last_check.py BUILD SOURCE"""
import json, os, shutil, subprocess, sys, tempfile

from run_compare import check, failures, write_two_class_data  # tests/run_compare.py

build, source = sys.argv[1], sys.argv[2]
strata = os.path.join(build, "bin", "strata")
mpirun = shutil.which("mpirun")
mpi = mpirun and os.path.exists(os.path.join(build, "lib", "libstrata_mpi.so"))
env = dict(os.environ, STRATA_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1")
env_mpi = dict(env)
if "ASAN_OPTIONS" in env_mpi:  # Open MPI's own leaks (docs/reliability.md): the ranks only
    env_mpi["ASAN_OPTIONS"] += ":detect_leaks=0"


def run(args, expect=0, ranks=1):
    cmd = ([mpirun, "-np", str(ranks), "--bind-to", "none"] if ranks > 1 else []) + [strata] + args
    p = subprocess.run(cmd, env=env_mpi if ranks > 1 else env, capture_output=True, text=True, timeout=300)
    if p.returncode != expect:
        sys.exit(f"{' '.join(cmd)}: exit {p.returncode}, expected {expect}\n{p.stdout}\n{p.stderr}")
    return p


def steps(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [r["step"] for r in map(json.loads, f) if "batch_loss" in r]


SPEC = """name: drop-last
seed: 1
data:
  format: safetensors
  train: {{file: {tmp}/train.safetensors}}
  test: {{file: {tmp}/test.safetensors}}
model:
  input: [4]
  layers:
    - {{type: linear, out_features: 8}}
{bn}    - {{type: relu}}
    - {{type: linear, out_features: 2}}
optimizer: {{type: sgd, lr: 0.1}}
train: {{epochs: 2, batch_size: 4, log_every: 1}}
"""

tmp = tempfile.mkdtemp(prefix="strata-drop-last-")
try:
    # 21 examples in batches of 4: 5 whole batches and 1 example left over
    write_two_class_data(tmp, 21)
    bn, plain = f"{tmp}/bn.yaml", f"{tmp}/plain.yaml"
    with open(bn, "w") as f:
        f.write(SPEC.format(tmp=tmp, bn="    - {type: batch_norm1d}\n"))
    with open(plain, "w") as f:
        f.write(SPEC.format(tmp=tmp, bn=""))

    p = run(["train", bn, "--out", f"{tmp}/r1", "--quiet"], expect=2)
    check("the last batch of each epoch holds 1 (21 training examples, train.batch_size 4)" in p.stderr
          and "train.drop_last: true" in p.stderr and not os.path.exists(f"{tmp}/r1/metrics.jsonl"),
          "batch norm and a last batch of 1 example: refused before training, naming the fix")
    # a run that stops before the end of its first epoch (21 examples: 6 batches) never meets that batch
    run(["train", bn, "--out", f"{tmp}/r1s", "--quiet", "--steps", "5"])
    check(steps(f"{tmp}/r1s") == list(range(1, 6)), "batch norm, --steps 5 within the first epoch: trained")
    run(["train", bn, "--out", f"{tmp}/r2", "--quiet", "--set", "train.drop_last=true"])
    check(steps(f"{tmp}/r2") == list(range(1, 11)), "train.drop_last: true: 2 epochs of 5 batches")
    run(["train", plain, "--out", f"{tmp}/r3", "--quiet"])
    check(steps(f"{tmp}/r3") == list(range(1, 13)), "without batch norm the last batch of 1 trains: 2 epochs of 6")
    # train.steps with train.epochs: the steps decide, and a note says so (they trained 4 epochs, silently)
    p = run(["train", plain, "--out", f"{tmp}/st", "--set", "train.steps=20"])
    check(steps(f"{tmp}/st") == list(range(1, 21)) and "train.steps 20 takes 4 epochs of 6 batches, not train.epochs "
          "2: the steps decide the run's length (--epochs N caps it)" in p.stderr,
          "train.steps beyond train.epochs: 20 steps over 4 epochs, with a note")
    p = run(["train", plain, "--out", f"{tmp}/st2", "--set", "train.steps=20", "--epochs", "3"])
    check(steps(f"{tmp}/st2") == list(range(1, 19)) and "note" not in p.stderr, "--epochs caps train.steps, no note")
    run(["train", plain, "--out", f"{tmp}/r4", "--quiet", "--set", "train.drop_last=true"])
    check(steps(f"{tmp}/r4") == list(range(1, 11)), "train.drop_last: true without batch norm: 2 epochs of 5")
    # YAML's other spellings of a boolean, as nesterov: True reads (True was refused: "got 'True'")
    run(["train", plain, "--out", f"{tmp}/r4t", "--quiet", "--set", "train.drop_last=True"])
    check(steps(f"{tmp}/r4t") == list(range(1, 11)), "train.drop_last: True: 2 epochs of 5")
    run(["train", plain, "--out", f"{tmp}/r4f", "--quiet", "--set", "train.drop_last=FALSE"])
    check(steps(f"{tmp}/r4f") == list(range(1, 13)), "train.drop_last: FALSE: 2 epochs of 6")
    # quoted, the strings "true" and "false" (a quoted "true" was accepted and trained as false)
    run(["train", plain, "--out", f"{tmp}/r4q", "--quiet", "--set", 'train.drop_last="true"'])
    check(steps(f"{tmp}/r4q") == list(range(1, 11)), 'train.drop_last: "true": 2 epochs of 5')
    run(["train", plain, "--out", f"{tmp}/r4g", "--quiet", "--set", "train.drop_last='false'"])
    check(steps(f"{tmp}/r4g") == list(range(1, 13)), "train.drop_last: 'false': 2 epochs of 6")
    p = run(["train", bn, "--out", f"{tmp}/r5", "--quiet", "--set", "train.drop_last=true", "--set",
             "train.accumulate=3"], expect=2)
    check("a batch of 4 (train.batch_size) in 3 micro-batches (train.accumulate) gives passes of 1" in p.stderr,
          "batch norm and micro-batches of 1: refused before training")
    # batch norm over 2 x 2 values a channel (batch_norm2d) normalises one example: its last batch of 1 trains,
    # as in PyTorch (it was refused as batch_norm1d on (C) is)
    with open(f"{tmp}/bn2d.yaml", "w") as f:
        f.write(SPEC.format(tmp=tmp, bn="").replace("    - {type: linear, out_features: 8}\n",
                                                   "    - {type: unflatten, shape: [1, 2, 2]}\n"
                                                   "    - {type: batch_norm2d, num_features: 1}\n"
                                                   "    - {type: flatten}\n"))
    run(["train", f"{tmp}/bn2d.yaml", "--out", f"{tmp}/r8", "--quiet"])
    check(steps(f"{tmp}/r8") == list(range(1, 13)), "batch_norm2d of 2 x 2 images, a last batch of 1: 2 epochs of 6")
    run(["train", f"{tmp}/bn2d.yaml", "--out", f"{tmp}/r9", "--quiet", "--batch-size", "1", "--steps", "3"])
    check(steps(f"{tmp}/r9") == [1, 2, 3], "batch_norm2d of 2 x 2 images, batches of 1: trained")
    p = run(["train", plain, "--out", f"{tmp}/r7", "--quiet", "--batch-size", "32", "--set", "train.drop_last=true"],
            expect=2)
    check("train.drop_last leaves out every batch: 21 training examples are fewer than train.batch_size 32" in p.stderr,
          "train.drop_last with fewer examples than a batch: refused, not 0 steps")
    p = run(["train", bn, "--out", f"{tmp}/r6", "--quiet", "--set", "train.drop_last=yes"], expect=1)
    check("train.drop_last must be one of false, true" in p.stderr, "train.drop_last: yes is refused")
    p = run(["train", os.path.join(source, "models", "seq2seq-reverse.yaml"), "--out", f"{tmp}/s2s", "--set",
             "train.drop_last=true"], expect=1)
    check("train.drop_last" in p.stderr, "seq2seq refuses train.drop_last with a message")

    if mpi:
        # every rank finds a share of 1 before training and stops there; rank 0 says why
        p = run(["train", bn, "--out", f"{tmp}/m1", "--quiet", "--batch-size", "5"], expect=2, ranks=2)
        check(p.stderr.count("the last batch of each epoch holds 1") == 1 and "split over 2 processes" in p.stderr
              and "MPI_ABORT" not in p.stderr, "2 ranks, a last batch of 1: refused before training, told once")
        p = run(["train", bn, "--out", f"{tmp}/m2", "--quiet", "--batch-size", "3", "--set", "train.drop_last=true"],
                expect=2, ranks=2)
        check(p.stderr.count("a batch of 3 (train.batch_size) split over 2 processes gives passes of 1") == 1
              and "MPI_ABORT" not in p.stderr, "2 ranks, shares of 1: refused before training, told once")
        run(["train", bn, "--out", f"{tmp}/m3", "--quiet", "--set", "train.drop_last=true"], ranks=2)
        check(steps(f"{tmp}/m3") == list(range(1, 11)), "2 ranks, train.drop_last: true: 2 epochs of 5 batches")
    else:
        print("skipped: the data-parallel cases (no mpirun or lib/libstrata_mpi.so)")
finally:
    shutil.rmtree(tmp, ignore_errors=True)

if failures:
    sys.exit(f"{len(failures)} check(s) failed")
print("all checks passed")
