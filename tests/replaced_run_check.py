#!/usr/bin/env python3
"""A new run in a directory that holds an earlier run (train_replaced_settle,
tools/train_ckpt.c): the earlier run's spec.yaml, metrics.jsonl,
best.safetensors, summary.json and report.html wait aside until the new run's first checkpoint, and are
put back when it ends without one, so a run that fails to start does not
leave the earlier checkpoint beside its own spec and an emptied history;
once the new run has a checkpoint, they are gone and its files stand.

usage: replaced_run_check.py BUILD SOURCE"""
import glob, json, os, shutil, subprocess, sys, tempfile

from run_compare import check, failures, strata_runner, write_two_class_data  # tests/run_compare.py

build, source = sys.argv[1], sys.argv[2]
run = strata_runner(build)


def read(path):
    with open(path, "rb") as f:
        return f.read()


SPEC = """name: replaced
seed: 1
data:
  format: safetensors
  train: {{file: {tmp}/train.safetensors}}
  test: {{file: {tmp}/test.safetensors}}
  val_fraction: 0.25
model:
  input: [4]
  layers:
    - {{type: linear, out_features: 8}}
    - {{type: relu}}
    - {{type: linear, out_features: 2}}
optimizer: {{type: sgd, lr: {lr}}}
train: {{epochs: 2, batch_size: 4, log_every: 1, keep_best: val_accuracy}}
"""

tmp = tempfile.mkdtemp(prefix="strata-replaced-")
try:
    write_two_class_data(tmp, 32)
    for name, lr in (("a.yaml", 0.1), ("b.yaml", 0.2)):
        with open(f"{tmp}/{name}", "w") as f:
            f.write(SPEC.format(tmp=tmp, lr=lr))
    r = f"{tmp}/run"
    run(["train", f"{tmp}/a.yaml", "--out", r, "--quiet"])
    KEPT = ("spec.yaml", "metrics.jsonl", "best.safetensors", "summary.json", "report.html")
    before = {k: read(f"{r}/{k}") for k in KEPT}

    # run b cannot write its first checkpoint (a directory is in the way): it
    # ends without one, and run a's files are back
    os.remove(f"{r}/checkpoint.safetensors")
    os.mkdir(f"{r}/checkpoint.safetensors")
    p = run(["train", f"{tmp}/b.yaml", "--out", r, "--quiet"], expect=1)
    after = {k: read(f"{r}/{k}") if os.path.exists(f"{r}/{k}") else None for k in before}
    check(after == before and "are back in place" in p.stderr,
          "a run that ends before its first checkpoint puts the earlier run's spec.yaml, metrics.jsonl, "
          "best.safetensors, summary.json and report.html back")
    check(not glob.glob(f"{r}/*.replaced"), "nothing is left aside after it")

    # a run killed before its first checkpoint (SIGKILL: no settle) leaves
    # its own spec and history beside FILE.replaced: a new run over it keeps
    # the earlier run's FILE.replaced (and puts them back when it fails too)
    def killed_run_left(run_dir):
        for k in KEPT:
            os.rename(f"{run_dir}/{k}", f"{run_dir}/{k}.replaced")
        shutil.copy(f"{tmp}/b.yaml", f"{run_dir}/spec.yaml")
        with open(f"{run_dir}/metrics.jsonl", "w") as f:
            f.write('{"step": 1, "batch_loss": 9.9}\n')
    killed_run_left(r)
    p = run(["train", f"{tmp}/b.yaml", "--out", r, "--quiet"], expect=1)
    after = {k: read(f"{r}/{k}") if os.path.exists(f"{r}/{k}") else None for k in before}
    check(after == before and not glob.glob(f"{r}/*.replaced"),
          "after a killed run, a failing run puts back the earlier run's files, not the killed run's")
    # and --resume puts them back before it reads them: the checkpoint's run's spec and history
    os.rmdir(f"{r}/checkpoint.safetensors")
    run(["train", f"{tmp}/a.yaml", "--out", f"{tmp}/run2", "--quiet"])
    killed_run_left(f"{tmp}/run2")
    p = run(["train", f"{tmp}/a.yaml", "--resume", f"{tmp}/run2", "--quiet"])
    check(read(f"{tmp}/run2/spec.yaml") == read(f"{tmp}/a.yaml") and "9.9" not in read(f"{tmp}/run2/metrics.jsonl").decode()
          and not glob.glob(f"{tmp}/run2/*.replaced") and "are back in place" in p.stderr
          and "the spec differs" not in p.stderr,
          "--resume after a killed run over it: the checkpoint's run's files are back, no false spec warning")

    # run b with a checkpoint of its own: its files stand, run a's are gone
    run(["train", f"{tmp}/b.yaml", "--out", r, "--quiet"])
    check(read(f"{r}/spec.yaml") == read(f"{tmp}/b.yaml") and read(f"{r}/metrics.jsonl") != before["metrics.jsonl"]
          and not glob.glob(f"{r}/*.replaced"), "a run that checkpoints replaces the earlier run's files")
    # and a run stopped by --steps before the end of its first epoch still has its own checkpoint
    run(["train", f"{tmp}/a.yaml", "--out", r, "--quiet", "--steps", "2"])
    check(read(f"{r}/spec.yaml") == read(f"{tmp}/a.yaml") and not glob.glob(f"{r}/*.replaced"),
          "a run stopped after 2 steps keeps its own spec.yaml")
finally:
    shutil.rmtree(tmp, ignore_errors=True)

if failures:
    sys.exit(f"{len(failures)} check(s) failed")
print("all checks passed")
