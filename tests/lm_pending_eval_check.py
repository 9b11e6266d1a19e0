#!/usr/bin/env python3
"""A language model's evaluation cut off by a kill (tools/cmd_train_lm.c).

A stop at an evaluation step (Ctrl-C; under mpirun, SIGTERM with SIGKILL a
second later) saves the checkpoint before it evaluates, with the running
sums of the steps since the last evaluation. When a kill ends the run
during that evaluation, its record never reaches metrics.jsonl. Resuming
such a checkpoint must make that evaluation first, as the uninterrupted
run did: the same records, the same validation losses.

The kill is simulated: a run stopped at step 8 (an evaluation step) has
its checkpoint rewritten to the state saved before the evaluation (the
running sums of steps 5-8, added in the trainer's order) and its step-8
evaluation record removed, possibly also written twice (killed after the
record, before the checkpoint after it). Resumed to step 16, its records
must equal those of 16 steps at once.

usage: lm_pending_eval_check.py BUILD SOURCE"""
import json, os, shutil, subprocess, sys, tempfile

from run_compare import check, failures, rewrite_state  # tests/run_compare.py

build, source = sys.argv[1], sys.argv[2]
strata = os.path.join(build, "bin", "strata")


def run(args):
    p = subprocess.run([strata] + args, capture_output=True, text=True, timeout=300)
    if p.returncode:
        sys.exit(f"strata {' '.join(args)}: exit {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


def records(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        out = []
        for r in map(json.loads, f):
            r.pop("seconds", None)
            out.append(r)
        return out


tmp = tempfile.mkdtemp(prefix="strata-lm-pending-")
try:
    with open(f"{tmp}/text.txt", "w") as f:
        words = "in the beginning god created the heaven and the earth and the earth was without form".split()
        f.write("\n".join(" ".join(words[(i * 7 + k) % len(words)] for k in range(10)) for i in range(400)))
    with open(f"{tmp}/lm.yaml", "w") as f:  # W3's char-LSTM, small (fast under the sanitizers)
        f.write(f"""name: small-char-lstm
seed: 1
task: language_model
data: {{format: text, path: {tmp}/text.txt, mode: chars, val_fraction: 0.1, seq_len: 16}}
model:
  inputs:
    - {{name: tokens, shape: [16], dtype: i64}}
    - {{name: h0, shape: [1, 32]}}
    - {{name: c0, shape: [1, 32]}}
  layers:
    - {{type: embedding, name: e, num_embeddings: 32, embedding_dim: 16, inputs: tokens}}
    - {{type: lstm, name: l, hidden_size: 32, num_layers: 1, batch_first: 1, inputs: [e, h0, c0]}}
    - {{type: linear, name: o, out_features: 32, inputs: l}}
  outputs: [o, "l:1", "l:2"]
loss: cross_entropy
optimizer: {{type: adam, lr: 0.01}}
train: {{steps: 16, eval_every: 4, batch_size: 4}}
""")
    lm = ["train", f"{tmp}/lm.yaml", "--quiet", "--backend", "cpu"]  # one backend: equal bits
    run(lm + ["--out", f"{tmp}/whole"])
    whole = records(f"{tmp}/whole")
    check(any(r.get("step") == 8 and "val_loss" in r for r in whole), "the whole run evaluates at step 8")

    for twice in (False, True):
        half = f"{tmp}/half{int(twice)}"
        run(lm + ["--out", half, "--steps", "8"])
        recs = records(half)
        total = 0.0
        for r in recs:  # the running sums the checkpoint held before the evaluation
            if "batch_loss" in r and 5 <= r["step"] <= 8:
                total += r["batch_loss"]
        rewrite_state(f"{half}/checkpoint.safetensors", {"sum_loss": repr(total), "seen": 4})
        with open(f"{half}/metrics.jsonl") as f:
            lines = f.readlines()
        kept = [l for l in lines if not (json.loads(l).get("step") == 8 and "val_loss" in json.loads(l))]
        if twice:  # killed after the record was written: the resumed run must not write it again
            kept += [l for l in lines if l not in kept]
        with open(f"{half}/metrics.jsonl", "w") as f:
            f.writelines(kept)
        run(lm + ["--resume", half, "--steps", "16"])
        got = records(half)
        same = len(got) == len(whole) and all(
            a.keys() == b.keys() and all(a[k] == b[k] or (a[k] != a[k] and b[k] != b[k]) for k in a)
            for a, b in zip(got, whole))
        check(same, f"a resumed evaluation cut off by a kill{' after its record' if twice else ''}: "
                    f"{len(got)} records equal the whole run's {len(whole)}")
        if not same:
            for a, b in zip(got, whole):
                if a != b:
                    print("  resumed:", a, "\n  whole:  ", b)
                    break
finally:
    shutil.rmtree(tmp, ignore_errors=True)

if failures:
    sys.exit(f"{len(failures)} check(s) failed")
print("all pending-evaluation checks passed")
