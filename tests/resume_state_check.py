#!/usr/bin/env python3
"""A checkpoint's train.state that is well-formed JSON but cannot be a
run's position (train_ckpt_read_state, tools/train_ckpt.c): a negative
count, a random-stream offset of "-1" (which strtoull would read as
2^64 - 1), a running loss that is not a finite number, is refused on
--resume naming the file, instead of resuming from garbage; the state as
written resumes.

usage: resume_state_check.py BUILD SOURCE"""
import os, shutil, subprocess, sys, tempfile

from run_compare import check, failures, rewrite_state, write_two_class_data  # tests/run_compare.py

build, source = sys.argv[1], sys.argv[2]
strata = os.path.join(build, "bin", "strata")
env = dict(os.environ, STRATA_NUM_THREADS="1")

SPEC = """name: state
seed: 1
data:
  format: safetensors
  train: {{file: {tmp}/train.safetensors}}
  test: {{file: {tmp}/test.safetensors}}
model:
  input: [4]
  layers:
    - {{type: linear, out_features: 2}}
optimizer: {{type: sgd, lr: 0.1}}
train: {{epochs: 3, batch_size: 4}}
"""


def run(args):
    return subprocess.run([strata] + args, env=env, capture_output=True, text=True, timeout=120)


tmp = tempfile.mkdtemp(prefix="strata-state-")
try:
    write_two_class_data(tmp, 16)
    with open(f"{tmp}/spec.yaml", "w") as f:
        f.write(SPEC.format(tmp=tmp))
    p = run(["train", f"{tmp}/spec.yaml", "--out", f"{tmp}/run", "--steps", "5", "--quiet"])
    check(p.returncode == 0, f"a run of 5 steps (exit {p.returncode})")
    ckpt = f"{tmp}/run/checkpoint.safetensors"
    shutil.copy(ckpt, f"{tmp}/good.safetensors")
    for update in ({"rng_offset": "-1"}, {"data_seed": "+5"}, {"step": -3}, {"batch": -1}, {"seen": -8},
                   {"batch_size": -4}, {"sum_loss": "nan"}, {"sum_loss": "1.5x"}):
        shutil.copy(f"{tmp}/good.safetensors", ckpt)
        rewrite_state(ckpt, update)
        p = run(["train", f"{tmp}/spec.yaml", "--resume", f"{tmp}/run", "--quiet"])
        check(p.returncode == 1 and "malformed train.state metadata" in p.stderr,
              f"train.state with {update}: refused on --resume (exit {p.returncode})")
    shutil.copy(f"{tmp}/good.safetensors", ckpt)
    p = run(["train", f"{tmp}/spec.yaml", "--resume", f"{tmp}/run", "--quiet"])
    check(p.returncode == 0, f"the state as written resumes (exit {p.returncode}) {p.stderr[-300:]}")
finally:
    shutil.rmtree(tmp, ignore_errors=True)

if failures:
    sys.exit(f"{len(failures)} check(s) failed")
print("all checks passed")
