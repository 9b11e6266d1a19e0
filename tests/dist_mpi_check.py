#!/usr/bin/env python3
"""Data-parallel training (`mpirun -np N strata train`, tools/dist.h) against
one process on the same global batches, for every trainer (an image
classifier, a language model, an autoencoder, a GAN, a memory network,
seq2seq): the per-step losses and the trained parameters agree to
float rounding (the gradients are summed in another
order); uneven and empty shares (a batch smaller than the ranks); batch norm
(rank 0's running statistics reach every rank, so the sharded evaluation
equals a one-process `strata eval` of the checkpoint); resuming; refusing
the commands that run as one process. Skipped (77) without mpirun or
lib/libstrata_mpi.so.

usage: dist_mpi_check.py BUILD SOURCE"""
import json, os, shutil, subprocess, sys, tempfile

import numpy as np

from run_compare import check, compare, failures, losses, params, safetensors  # tests/run_compare.py

build, source = sys.argv[1], sys.argv[2]
strata = os.path.join(build, "bin", "strata")
mpirun = shutil.which("mpirun")
if not mpirun or not os.path.exists(os.path.join(build, "lib", "libstrata_mpi.so")):
    print("skipped: no mpirun or no lib/libstrata_mpi.so (Open MPI: libopenmpi-dev openmpi-bin)")
    sys.exit(77)
if not os.path.exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"):
    print("skipped: Fashion-MNIST is not installed (dataset-fashion-mnist)")
    sys.exit(77)

env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", STRATA_NUM_THREADS="1",
           OMPI_MCA_rmaps_base_oversubscribe="1")


# Under the sanitizers (tools/sanitize.sh) LeakSanitizer reports what Open
# MPI keeps until exit, from components it has already unloaded, which no
# suppression can name: the ranks run without leak checks (ASan and UBSan
# stay on); the one-process runs keep them.
env_mpi = dict(env)
if "ASAN_OPTIONS" in env_mpi:
    env_mpi["ASAN_OPTIONS"] += ":detect_leaks=0"


def run(args, ranks=1, expect=0, extra_env=None):
    cmd = ([mpirun, "-np", str(ranks), "--bind-to", "none"] if ranks > 1 else []) + [strata] + args
    p = subprocess.run(cmd, env=dict(env_mpi if ranks > 1 else env, **(extra_env or {})), capture_output=True,
                       text=True, timeout=300)
    if p.returncode != expect:
        sys.exit(f"{' '.join(cmd)}: exit {p.returncode}, expected {expect}\n{p.stdout}\n{p.stderr}")
    return p


def gan_losses(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [(r["d_loss"], r["g_loss"]) for r in map(json.loads, f) if "d_loss" in r]


def compare_gan(a, b, what, tol):
    la, lb = gan_losses(a), gan_losses(b)
    worst = max(abs(x - y) / max(abs(x), 1e-6) for p, q in zip(la, lb) for x, y in zip(p, q)) \
        if la and len(la) == len(lb) else np.inf
    check(worst <= tol, f"{what}: {len(la)} steps' D and G losses agree (worst relative difference {worst:.2e})")
    for name in ("generator", "discriminator", "generator_ema"):
        pa = params(os.path.join(a, name + ".safetensors"))
        pb = params(os.path.join(b, name + ".safetensors"))
        diff = max(float(np.max(np.abs(pa[k] - pb[k]))) for k in pa) if pa.keys() == pb.keys() else np.inf
        check(diff <= 1e-4, f"{what}: the {name}'s {len(pa)} tensors agree (largest difference {diff:.2e})")


# a small GAN on Fashion-MNIST (MLPs: fast under the sanitizers too); its
# optimizers Adam unless given
ADAM = "{type: adam, lr: 0.0002, beta1: 0.5, beta2: 0.999}"
GAN_SPEC = """name: mlp-gan
seed: 1
task: gan
data:
  format: idx
  train:
    images: /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
    labels: /usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz
  scale: 127.5
  mean: 1.0
  std: 1.0
gan: {{loss: non_saturating, noise_dim: 16, d_steps: 2, sample_every: 0, ema: 0.99}}
generator:
  model:
    input: [16]
    layers:
      - {{type: linear, out_features: 64}}
{g_extra}
      - {{type: relu}}
      - {{type: linear, out_features: 784}}
      - {{type: tanh}}
      - {{type: unflatten, shape: [1, 28, 28]}}
  optimizer: {opt}
discriminator:
  model:
    input: [1, 28, 28]
    layers:
      - {{type: flatten}}
      - {{type: linear, out_features: 64}}
{d_extra}
      - {{type: leaky_relu, negative_slope: 0.2}}
      - {{type: linear, out_features: 1}}
  optimizer: {opt}
train: {{steps: 20, batch_size: 10, log_every: 5, clip_grad_norm: {clip}}}
"""


def against_one(args, tag, what, cases, cmp=compare):
    """`strata train ARGS --batch-size B` in one process and on R ranks for
    each (B, R) of @p cases, compared by @p cmp; the pairs of run
    directories, with their ranks and batch"""
    runs = []
    for batch, ranks in cases:
        a, b = f"{tmp}/{tag}{batch}-1", f"{tmp}/{tag}{batch}-{ranks}"
        run(["train"] + args + ["--out", a, "--batch-size", str(batch)])
        run(["train"] + args + ["--out", b, "--batch-size", str(batch)], ranks=ranks)
        cmp(a, b, f"{what}{', ' if what else ''}{ranks} ranks, batch {batch}", 1e-4)
        runs.append((a, b, ranks, batch))
    return runs


def variant(spec, out, extra):
    """@p spec with the layer line @p extra after the MLP's first linear layer"""
    with open(spec) as f, open(out, "w") as g:
        text = f.read()
        first = "    - {type: linear, out_features: 512}   # 1.weight (512, 784), 1.bias (512)\n"
        assert first in text, "models/mlp-fashion.yaml changed: update dist_mpi_check.py"
        g.write(text.replace(first, first + extra + "\n", 1))
    return out


tmp = tempfile.mkdtemp(prefix="strata-dist-")
try:
    mlp = os.path.join(source, "models", "mlp-fashion.yaml")
    common = ["--quiet", "--set", "train.eval_batch_size=2000"]

    # the same 30 batches of 128, in one process and in two halves of 64
    run(["train", mlp, "--out", f"{tmp}/one", "--steps", "30"] + common)
    p = run(["train", mlp, "--out", f"{tmp}/two", "--steps", "30"] + common, ranks=2)
    compare(f"{tmp}/one", f"{tmp}/two", "2 ranks, batch 128", 1e-4)
    check(p.stdout.count("test accuracy") == 1, "only rank 0 prints the result")

    # uneven shares (5 = 3 + 2 on two ranks, 2 + 2 + 1 on three) and empty
    # ones (batch 1: rank 1 has nothing and steps with weight 0)
    against_one([mlp, "--steps", "12"] + common, "b", "", ((5, 2), (5, 3), (1, 2)))

    # a language model (the W3 char-LSTM on a small text of its own): the
    # batches of windows are shared the same way, and the validation windows
    with open(f"{tmp}/text.txt", "w") as f:
        words = "the lord said unto moses and aaron in the land of egypt saying this month".split()
        rng = np.random.default_rng(3)
        f.write("\n".join(" ".join(rng.choice(words, 12)) for _ in range(600)))
    lm = [os.path.join(source, "models", "char-lstm-kjv.yaml"), "--set", f"data.path={tmp}/text.txt"]
    for a, b, ranks, batch in against_one(lm + ["--steps", "8", "--quiet"], "lm", "language model",
                                          ((32, 2), (3, 2))):
        va = json.load(open(f"{a}/summary.json"))["val_loss"]
        vb = json.load(open(f"{b}/summary.json"))["val_loss"]
        check(abs(va - vb) <= 1e-5 * abs(va), f"language model, {ranks} ranks, batch {batch}: validation loss "
                                              f"{vb:.6f} (one process: {va:.6f})")

    # an autoencoder (its own trainer, its steps through run_step)
    ae = os.path.join(source, "models", "autoencoder-fashion.yaml")
    for a, b, ranks, batch in against_one([ae, "--steps", "10", "--quiet"], "ae", "autoencoder", ((128, 2), (5, 2))):
        # the test set, 10 batches of 1,000 images, is split between the ranks and summed
        ta, tb = ([r["test_mse"] for r in map(json.loads, open(f"{d}/metrics.jsonl")) if "test_mse" in r]
                  for d in (a, b))
        check(len(ta) == len(tb) > 0 and all(abs(x - y) <= 1e-5 * x for x, y in zip(ta, tb)),
              f"autoencoder, {ranks} ranks, batch {batch}: test MSE {tb} (one process: {ta})")

    # a GAN (its own trainer: the discriminator's and the generator's steps
    # each shared, through dist_update): an MLP GAN without batch norm, so
    # that one process gives the same steps; 2 discriminator steps per
    # generator step, a weight average, clipping
    gan = f"{tmp}/gan.yaml"
    with open(gan, "w") as f:
        f.write(GAN_SPEC.format(opt=ADAM, g_extra="", d_extra="      - {type: dropout, p: 0.0}", clip=1.0))
    against_one([gan, "--steps", "12", "--quiet"], "gan", "GAN", ((10, 2), (10, 3), (1, 2)), compare_gan)
    # resumed with dropout in the discriminator: the same steps as the whole run
    drop_gan = f"{tmp}/gan-dropout.yaml"
    with open(drop_gan, "w") as f:
        f.write(GAN_SPEC.format(opt=ADAM, g_extra="", d_extra="      - {type: dropout, p: 0.3}", clip=1.0))
    run(["train", drop_gan, "--out", f"{tmp}/gwhole", "--steps", "16", "--quiet"], ranks=2)
    run(["train", drop_gan, "--out", f"{tmp}/ghalf", "--steps", "8", "--quiet"], ranks=2)
    run(["train", drop_gan, "--resume", f"{tmp}/ghalf", "--steps", "16", "--quiet"], ranks=2)
    check(gan_losses(f"{tmp}/gwhole") == gan_losses(f"{tmp}/ghalf"),
          "a resumed data-parallel GAN with dropout repeats the whole one step for step")
    # batch norm in both models: the running statistics of each are rank 0's
    # after every step (the replica check after the last step fails when the
    # discriminator's, moved by the generator's step, are not broadcast)
    bn_gan = f"{tmp}/gan-bn.yaml"
    with open(bn_gan, "w") as f:
        f.write(GAN_SPEC.format(opt=ADAM, g_extra="      - {type: batch_norm1d}", d_extra="      - {type: batch_norm1d}",
                                clip=1.0))
    p = run(["train", bn_gan, "--out", f"{tmp}/gbn", "--steps", "6", "--set", "train.log_every=1"], ranks=2)
    check("differ" not in p.stderr, "GAN with batch norm: the ranks' models are equal after every step")
    p = run(["train", bn_gan, "--out", f"{tmp}/gbn3", "--steps", "2", "--batch-size", "3"], ranks=2, expect=2)
    check("batch norm needs 2 in training" in p.stderr, "GAN with batch norm and a share of 1 image: said why")
    # a sample grid rank 0 cannot write (a directory in its place) stops every rank after the step is saved: rank 0
    # went on to save alone while the others were in the next step's collectives (MPI_ERR_TRUNCATE, step lost)
    run(["train", gan, "--out", f"{tmp}/ggrid", "--steps", "2", "--quiet"], ranks=2)
    os.makedirs(f"{tmp}/ggrid/samples/step_000004.png")
    p = run(["train", gan, "--resume", f"{tmp}/ggrid", "--steps", "6", "--quiet", "--set", "gan.sample_every=2",
             "--set", "train.log_every=5"], ranks=2, expect=1)
    sg = json.loads(safetensors(f"{tmp}/ggrid/generator.safetensors")[0]["__metadata__"]["train.state"])["step"]
    check(sg == 4 and "step_000004.png" in p.stderr and "MPI_ABORT" not in p.stderr,
          f"GAN, a grid that cannot be written: every rank stops after step 4 is saved (saved: {sg})")
    # a non-finite loss stops every rank at the same step; rank 0 saves the
    # last good state (replayed: an update of that step had been applied)
    nan_gan = f"{tmp}/gan-diverge.yaml"
    with open(nan_gan, "w") as f:
        f.write(GAN_SPEC.format(g_extra="", d_extra="", opt="{type: sgd, lr: 1.0e+4}", clip=0.0))
    nan_args = ["train", nan_gan, "--steps", "40", "--checkpoint-every", "3", "--quiet"]
    run(nan_args + ["--out", f"{tmp}/gnan1"], expect=1)
    p = run(nan_args + ["--out", f"{tmp}/gnan2"], ranks=2, expect=1)
    s1 = json.loads(safetensors(f"{tmp}/gnan1/generator.safetensors")[0]["__metadata__"]["train.state"])["step"]
    s2 = json.loads(safetensors(f"{tmp}/gnan2/generator.safetensors")[0]["__metadata__"]["train.state"])["step"]
    check(s1 == s2 and p.stderr.count("became NaN") == 1 and "MPI_ABORT" not in p.stderr,
          f"GAN, a NaN loss: both ranks stop, rank 0 saves step {s2} (one process: {s1}), told once")

    # the memory network (its loss a sum over the batch: the shares'
    # gradients add up with weight 1; random-noise slots drawn on the host,
    # the same on every rank) on generated bAbI task 1: 2 linear-start
    # epochs and 2 more, the best of 2 runs kept (rank 0's choice)
    run(["babi-gen", "--task", "1", "--train", "120", "--test", "40", "--seed", "1", "--out", f"{tmp}/babi"])
    mem = [os.path.join(source, "models", "memn2n-babi.yaml"), "--data", f"{tmp}/babi", "--task", "1", "--quiet",
           "--set", "data.linear_start=2", "--epochs", "2", "--repeats", "2"]
    for a, b, ranks, batch in against_one(mem, "mem", "memory network", ((32, 2), (5, 3))):
        ea, eb = (json.load(open(f"{d}/summary.json"))["mean"] for d in (a, b))
        check(abs(ea - eb) <= 1 / 40 + 1e-9,  # a near-tie in one of the 40 answers may go either way
              f"memory network, {ranks} ranks, batch {batch}: test error {eb} (one process: {ea})")
        # the ranks tested their shares of the questions: together, what one process finds for that model
        p = run(["eval", mem[0], "--checkpoint", f"{b}/checkpoint.safetensors", "--data", f"{tmp}/babi", "--task", "1",
                 "--json"])
        e1 = json.loads(p.stdout)["mean"]
        check(eb >= 3 / 40 and abs(e1 - eb) <= 1 / 40 + 1e-9,  # (an error of 3+ answers: a lost share shows)
              f"memory network, {ranks} ranks, batch {batch}: test error {eb}, one process's eval of its "
              f"checkpoint {e1}")
    # resumed in the middle of the second run (--steps): the same steps as the whole one
    run(["train"] + mem + ["--out", f"{tmp}/mhalf", "--batch-size", "5", "--steps", "130"], ranks=2)
    run(["train"] + mem + ["--resume", f"{tmp}/mhalf", "--batch-size", "5"], ranks=2)
    run(["train"] + mem + ["--out", f"{tmp}/mwhole", "--batch-size", "5"], ranks=2)
    check(losses(f"{tmp}/mhalf") == losses(f"{tmp}/mwhole"),
          "a resumed data-parallel memory network repeats the whole one step for step")

    # seq2seq (its batches built on the host, each rank taking its rows)
    s2s = [os.path.join(source, "models", "seq2seq-reverse.yaml"), "--quiet", "--steps", "10"]
    against_one(s2s, "s2s", "seq2seq", ((64, 2), (3, 2)))
    # trained far enough to get some strings right: the ranks decode their
    # shares of the 61 test strings (31 + 30), and the sum is what one
    # process's eval of the model finds
    s2s_em = ["--set", "data.test_size=61", "--set", "data.train_size=2000"]
    run(["train", s2s[0], "--quiet", "--steps", "120", "--out", f"{tmp}/s2s-em"] + s2s_em, ranks=2)
    em2 = json.load(open(f"{tmp}/s2s-em/summary.json"))["exact_match"]
    p = run(["eval", s2s[0], "--checkpoint", f"{tmp}/s2s-em/model.safetensors", "--json"] + s2s_em)
    em1 = json.loads(p.stdout)["exact_match"]
    check(0 < em2 < 1 and abs(em1 - em2) <= 1 / 61 + 1e-9,
          f"seq2seq, 2 ranks: exact match {em2}, one process's eval of the model {em1}")

    # resumed: 8 steps, then on to 16, equals 16 at once (both data-parallel),
    # with dropout and uneven shares (5 = 3 + 2): the ranks' random streams
    # go on from one place, so rank 0's state in the checkpoint serves all
    drop = variant(mlp, f"{tmp}/mlp-dropout.yaml", "    - {type: dropout, p: 0.3}")
    five = ["--batch-size", "5"] + common
    run(["train", drop, "--out", f"{tmp}/whole", "--steps", "16"] + five, ranks=2)
    run(["train", drop, "--out", f"{tmp}/half", "--steps", "8"] + five, ranks=2)
    run(["train", drop, "--resume", f"{tmp}/half", "--steps", "16"] + five, ranks=2)
    check(losses(f"{tmp}/whole") == losses(f"{tmp}/half"),
          "a resumed data-parallel run with dropout repeats the whole one step for step")

    # ranks that do not hold the same model are stopped before they train
    # (here: two seeds); the check runs after every epoch too
    args = ["train", mlp, "--out", f"{tmp}/seeds", "--steps", "3"] + common
    p = subprocess.run([mpirun, "--bind-to", "none", "-np", "1", strata] + args + ["--seed", "1", ":", "-np", "1",
                        strata] + args + ["--seed", "2"], env=env_mpi, capture_output=True, text=True, timeout=120)
    check(p.returncode != 0 and "parameters differ before training" in p.stderr,
          f"ranks with different seeds are refused before training (exit {p.returncode})")

    # Ctrl-C that reaches one rank (rank 1 here) stops both after the same
    # step; rank 0 saves the run where it stands (an image classifier, a GAN)
    def interrupt_rank1(args, run_dir, ckpt_name, count):
        cmd = [mpirun, "-np", "2", "--bind-to", "none", strata, "train"] + args + ["--out", run_dir, "--quiet"]
        p = subprocess.Popen(cmd, env=env_mpi, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        metrics, steps = f"{run_dir}/metrics.jsonl", 0
        for _ in range(600):
            steps = count(run_dir) if os.path.exists(metrics) else 0
            if steps >= 20 or p.poll() is not None:
                break
            subprocess.run(["sleep", "0.1"])
        kids = subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True, text=True).stdout.split()
        if len(kids) == 2:
            os.kill(int(max(kids, key=int)), 2)
        out, err = p.communicate(timeout=120)
        ckpt = f"{run_dir}/{ckpt_name}"
        saved = json.loads(safetensors(ckpt)[0]["__metadata__"]["train.state"])["step"] if os.path.exists(ckpt) \
            else -1
        last = count(run_dir)
        check(len(kids) == 2 and p.returncode == 130 and err.count("interrupted (SIGINT)") == 1 and saved == last,
              f"{os.path.basename(args[0])}: SIGINT to rank 1 after {steps} steps: both stop, exit 130, rank 0 "
              f"saves step {saved} (metrics: {last} steps, ranks found: {len(kids)}, exit {p.returncode})")

    interrupt_rank1([mlp, "--epochs", "50"], f"{tmp}/int", "checkpoint.safetensors", lambda d: len(losses(d)))
    interrupt_rank1([gan, "--steps", "100000"], f"{tmp}/gint", "generator.safetensors",
                    lambda d: len(gan_losses(d)))

    # Ctrl-C at the launcher: mpirun sends SIGTERM, then SIGKILL a second
    # later; the run is saved first
    cmd = [mpirun, "-np", "2", "--bind-to", "none", strata, "train", mlp, "--out", f"{tmp}/int2", "--epochs", "50",
           "--quiet"]
    p = subprocess.Popen(cmd, env=env_mpi, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = f"{tmp}/int2/metrics.jsonl"
    for _ in range(600):
        if (os.path.exists(metrics) and sum(1 for _ in open(metrics)) >= 20) or p.poll() is not None:
            break
        subprocess.run(["sleep", "0.1"])
    p.send_signal(2)
    out, err = p.communicate(timeout=120)
    ckpt = f"{tmp}/int2/checkpoint.safetensors"
    saved = json.loads(safetensors(ckpt)[0]["__metadata__"]["train.state"])["step"] if os.path.exists(ckpt) else -1
    check(saved == len(losses(f"{tmp}/int2")) and "interrupted (SIGTERM)" in err,
          f"SIGINT to mpirun: rank 0 saves step {saved} (metrics: {len(losses(f'{tmp}/int2'))} steps)")

    # a signal that reaches rank 1 alone before the first step of a new run in a directory holding a run:
    # nothing is trained and the earlier run stays (rank 0 decided by its own flag, wrote a step-0 checkpoint
    # and emptied metrics.jsonl)
    run(["train", mlp, "--out", f"{tmp}/keep", "--steps", "3"] + common)
    before = open(f"{tmp}/keep/metrics.jsonl").read()
    args = ["train", mlp, "--out", f"{tmp}/keep", "--steps", "3"] + common
    cmd = [mpirun, "--bind-to", "none", "-np", "1", strata] + args + [":", "-np", "1", "-x",
                                                                       "STRATA_TEST_SIGNAL=INT@0", strata] + args
    p = subprocess.run(cmd, env=env_mpi, capture_output=True, text=True, timeout=120)
    kept = open(f"{tmp}/keep/metrics.jsonl").read() == before and os.path.exists(f"{tmp}/keep/summary.json")
    check(p.returncode == 130 and kept and "before the first step: nothing was trained" in p.stderr,
          f"SIGINT to rank 1 before the first step: the earlier run stays (exit {p.returncode}, kept {kept})")

    # a rank that fails alone (an allocation on rank 1) ends the job, with its
    # message, instead of leaving rank 0 waiting in the next allreduce
    args = ["train", mlp, "--out", f"{tmp}/fail", "--steps", "30"] + common
    cmd = [mpirun, "--bind-to", "none", "-np", "1", strata] + args + [":", "-np", "1", "-x",
                                                                       "STRATA_FAULT_ALLOC=3000", strata] + args
    try:
        p = subprocess.run(cmd, env=env_mpi, capture_output=True, text=True, timeout=120)
        ok = p.returncode != 0 and "E_NOMEM" in p.stderr  # (Open MPI's own MPI_ABORT banner does not always show)
        check(ok, f"a rank failing alone ends every rank (exit {p.returncode}, its message shown)")
        if not ok:
            print(p.stderr[-3000:])
    except subprocess.TimeoutExpired:
        check(False, "a rank failing alone ends every rank (the job hung for 120 s)")

    # batch norm: each rank normalises its own share (as DistributedDataParallel
    # without SyncBatchNorm); the running statistics are rank 0's everywhere
    # (the MLP with a batch_norm1d after its first layer: a ConvNet's
    # evaluation would take minutes under the sanitizers)
    bn = variant(mlp, f"{tmp}/mlp-bn.yaml", "    - {type: batch_norm1d}")
    run(["train", bn, "--out", f"{tmp}/bn", "--steps", "6", "--batch-size", "32"] + common, ranks=2)
    trained = json.load(open(f"{tmp}/bn/summary.json"))["test_loss"]
    alone = json.loads(run(["eval", bn, "--checkpoint", f"{tmp}/bn", "--json"]).stdout)["test_loss"]
    check(abs(trained - alone) <= 1e-6 * abs(alone),
          f"batch norm: the ranks' test loss ({trained:.7f}) is one process's of the checkpoint ({alone:.7f})")
    # a share of one example cannot be normalised in training (as in PyTorch)
    # (as in PyTorch): every rank finds it before training and stops there, rank 0 says why
    p = run(["train", bn, "--out", f"{tmp}/bn3", "--steps", "2", "--batch-size", "3"] + common, ranks=2, expect=2)
    check(p.stderr.count("batch norm needs at least 2 examples in a training pass") == 1
          and "split over 2 processes" in p.stderr and "MPI_ABORT" not in p.stderr,
          "batch norm with a share of 1 example: refused before training by every rank, told once")

    # one device per rank where the backend has several (PoCL made to show two
    # CPU devices), unless one is named; the arithmetic is the same
    # (not under the sanitizers: PoCL and LLVM are not instrumented, and CI
    # leaves the opencl tests out there)
    env_ocl = dict(POCL_DEVICES="pthread pthread", POCL_MAX_PTHREAD_COUNT="1")
    backends = [] if "ASAN_OPTIONS" in env else json.loads(run(["info", "--json"], extra_env=env_ocl).stdout)[
        "backends"]
    if any(b["name"] == "opencl" and b["device_count"] >= 2 for b in backends):
        loud = ["--set", "train.eval_batch_size=2000"]  # not --quiet: the note names the devices
        o = ["train", mlp, "--out", f"{tmp}/ocl", "--steps", "6", "--backend", "opencl"] + loud
        p = run(o, ranks=2, extra_env=env_ocl)
        check("on opencl:0, opencl:1:" in p.stderr, "2 ranks on a backend with 2 devices take one each")
        run(["train", mlp, "--out", f"{tmp}/one6", "--steps", "6"] + common)
        compare(f"{tmp}/one6", f"{tmp}/ocl", "2 ranks on opencl:0 and opencl:1 against one cpu process", 1e-4)
        p = run(["train", mlp, "--out", f"{tmp}/ocl1", "--steps", "2", "--backend", "opencl:1"] + loud, ranks=2,
                extra_env=env_ocl)
        check("on opencl:1, opencl:1:" in p.stderr, "a named device is every rank's")
    else:
        print("skipped: the device-per-rank case (no opencl backend with 2 devices, or under the sanitizers)")

    info = json.loads(run(["info", "--json"]).stdout)["data_parallel"]["mpi_module"]
    check(bool(info) and info.endswith("libstrata_mpi.so"), f"strata info --json names the MPI module ({info})")

    # --detect-anomaly where one rank's share alone overflows (its images 6, 13, 29, 33 bright, SGD at 8e37):
    # the anomaly is that rank's, so the run ends as an error on every rank; it hung, the other rank waiting
    # in a collective for one that had stopped quietly to save
    import random, struct
    random.seed(1)
    pixels = bytearray(random.randrange(120) for _ in range(40 * 64))
    for i in (6, 13, 29, 33):
        pixels[i * 64:(i + 1) * 64] = bytes([255]) * 64
    with open(f"{tmp}/bright-images.idx", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, 40, 8, 8) + bytes(pixels))
    with open(f"{tmp}/bright-labels.idx", "wb") as f:
        f.write(struct.pack(">II", 0x801, 40) + bytes(random.randrange(3) for _ in range(40)))
    with open(f"{tmp}/bright.yaml", "w") as f:
        f.write(f"data: {{format: idx, train: {{images: {tmp}/bright-images.idx, labels: {tmp}/bright-labels.idx}}, "
                f"scale: 255}}\nmodel: {{input: [1, 8, 8], layers: [{{type: flatten}}, "
                f"{{type: linear, out_features: 3}}]}}\noptimizer: {{type: sgd, lr: 8.0e+37}}\n"
                f"train: {{epochs: 3, batch_size: 8}}\nseed: 3\n")
    p = subprocess.run([mpirun, "-np", "2", "--bind-to", "none", strata, "train", f"{tmp}/bright.yaml", "--out",
                        f"{tmp}/anom", "--detect-anomaly", "--backend", "ref", "--quiet"], env=env_mpi,
                       capture_output=True, text=True, timeout=120)
    check(p.returncode != 0 and "anomaly detected" in p.stderr,
          f"an anomaly on one rank ends the data-parallel run as an error (exit {p.returncode})")

    # what runs as one process says so, and no rank waits for the others
    for args in (["info"], ["eval", mlp, "--checkpoint", f"{tmp}/one"]):
        p = run(args, ranks=2, expect=2)
        check("runs as one process" in p.stderr, f"`mpirun -np 2 strata {args[0]}` is refused with a message")
finally:
    shutil.rmtree(tmp, ignore_errors=True)

if failures:
    sys.exit(f"{len(failures)} check(s) failed")
print("all data-parallel checks passed")
