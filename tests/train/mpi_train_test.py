#!/usr/bin/env python3
"""Real-rank tests of `bigbatch train` under mpirun (ctest label `mpi`).

  mpi_train_test.py equivalence|kill|preempt|resume|inception|stall|... BIGBATCH SCRATCH

equivalence: -np 2 and -np 4 runs of 30 iterations give the losses and final weights of one
             process with the same k workers as virtual workers (relative 1e-5).
kill:        SIGKILL of one rank makes every other rank exit non-zero within 60 s.
preempt:     SIGTERM to one rank of two stops both after the same step with one checkpoint of
             that step (exit 3); the same command with --resume auto continues from it.
resume:      a 4-rank run stopped mid-epoch and resumed on 2 ranks continues like the
             uninterrupted run (relative 1e-5).
inception:   inception_v3 (dropout and the auxiliary head on) on a generated JPEG tree: -np 2 and
             one process in micro-batches give the loss (dropout's masks follow each example's
             place in the global batch, not the rank's) and weights of one process after a step;
             a run resumed after a step ends as the run of two steps does.
             One step only: from torchvision's initialisation on these smooth, upsampled images
             training is chaotic (BN over nearly constant maps, ε 0.001; the aux head's last BN
             over n values at 1x1), so rounding alone moves a second step's loss by percents.
stall:       SIGSTOP of one rank (the last, then rank 0) under --stall-timeout 5 ends the job
             within 60 s, non-zero, with one line naming the stopped rank.
slurm_srun:  `srun -n 2 --mpi=pmix bigbatch train` gives the losses and weights of `mpirun -np 2`
             (Slurm from tests/slurm/slurm_service.sh; SLURM_CONF names it).
slurm_requeue: an `sbatch --requeue` job running `srun ... --resume auto`, requeued mid-run by
             `scontrol requeue`, stops at a step with a checkpoint (SIGTERM), runs again and
             resumes from that step to the end.
"""
import re
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "testing"))

MPIRUN = shutil.which("mpirun")
JOB = ["train", "--model", "resnet8", "--dataset", "synthetic", "--synthetic-size", "512",
       "--global-batch", "64", "--per-worker-batch", "16", "--epochs", "4", "--warmup-epochs", "1",
       "--decay-epochs", "", "--log-every", "1", "--seed", "3", "--threads", "1", "--progress", "off",
       "--eval-batch", "64"]


def fail(message):
    print("FAIL: " + message)
    sys.exit(1)


def run(cmd, timeout=300, env=None):
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if done.returncode != 0:
        fail("%s exited %d:\n%s%s" % (" ".join(cmd), done.returncode, done.stdout, done.stderr))
    return done


def mpi(ranks, binary, *args):
    return [MPIRUN, "--allow-run-as-root", "--oversubscribe", "-np", str(ranks), binary, *args]


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        dtype = {"F32": np.float32, "I64": np.int64}[info["dtype"]]
        tensors[name] = np.frombuffer(data[base + begin:base + end], dtype=dtype).astype(np.float64)
    return tensors


def losses(run_dir):
    out = []
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        for line in f:
            row = json.loads(line)
            if row["kind"] == "iter":
                out.append((row["iter"], row["loss"]))
    return out


def last_checkpoint(run_dir):
    return read_safetensors(os.path.join(run_dir, "checkpoints", "last.safetensors"))


def model_distance(wa, wb, names):
    """Relative L2 of the difference over the named tensors as one vector: tensors with a tiny
    norm (BN beta, biases near 0) would turn rounding noise into a large per-tensor ratio."""
    a = np.concatenate([wa[n] for n in names])
    b = np.concatenate([wb[n] for n in names])
    return float(np.linalg.norm(a - b) / np.linalg.norm(a))


def compare(a_dir, b_dir, what):
    la, lb = losses(a_dir), losses(b_dir)
    if [i for i, _ in la] != [i for i, _ in lb]:
        fail("%s: iterations differ: %s vs %s" % (what, [i for i, _ in la], [i for i, _ in lb]))
    for (i, x), (_, y) in zip(la, lb):
        if abs(x - y) > 1e-5 * abs(x):
            fail("%s: loss of iteration %d: %.9g vs %.9g" % (what, i, x, y))
    wa, wb = last_checkpoint(a_dir), last_checkpoint(b_dir)
    if sorted(wa) != sorted(wb):
        fail("%s: checkpoints hold different tensors" % what)
    names = sorted(wa)
    worst = model_distance(wa, wb, names)
    if worst > 1e-5:
        per = sorted(((np.linalg.norm(wa[n] - wb[n]) / max(np.linalg.norm(wa[n]), 1e-30), n) for n in names))[-3:]
        fail("%s: weights differ by %.3g (relative L2 over the model); worst tensors %s" % (what, worst, per))
    print("%s: %d losses equal, weights within %.2g" % (what, len(la), worst))


def test_equivalence(binary, scratch):
    one = os.path.join(scratch, "one")
    run([binary, *JOB, "--max-iters", "30", "--out", one])
    for ranks in (2, 4):
        many = os.path.join(scratch, "np%d" % ranks)
        run(mpi(ranks, binary, *JOB, "--max-iters", "30", "--out", many))
        compare(one, many, "-np %d vs 1 process" % ranks)


def test_inception(binary, scratch):
    try:
        from jpeg_tree import make_tree  # the tests' ImageFolder trees (PIL)
    except ImportError:
        print("SKIP: PIL missing")
        sys.exit(77)
    tree = os.path.join(scratch, "tree")
    make_tree(tree, classes=("a", "b", "c"), train=4, val=1, noise=True, size=(300, 300))
    job = ["train", "--model", "inception_v3", "--dataset", "imagefolder", "--data-dir", tree, "--image-size", "299",
           "--global-batch", "4", "--per-worker-batch", "2", "--epochs", "1", "--warmup-epochs", "0",
           "--decay-epochs", "", "--log-every", "1", "--seed", "3", "--threads", "1", "--decode-threads", "1",
           "--progress", "off", "--eval-batch", "3"]
    # One convolution algorithm everywhere: each process times winograd against direct for itself,
    # and in this chaotic start their different roundings alone can exceed the tolerance.
    env = dict(os.environ, BIGBATCH_CONV_ALGORITHM="direct")
    one = os.path.join(scratch, "one")
    run([binary, *job, "--max-iters", "1", "--out", one], env=env)
    micro = os.path.join(scratch, "micro")
    run([binary, *job, "--max-iters", "1", "--micro-batch", "2", "--out", micro], env=env)
    compare(one, micro, "inception_v3 in micro-batches of 2 vs 1 pass")
    many = os.path.join(scratch, "np2")
    run(mpi(2, binary, *job, "--max-iters", "1", "--out", many), env=env)
    compare(one, many, "inception_v3 -np 2 vs 1 process")
    # Resumed after a step, the second step draws the uninterrupted run's masks (they are keyed
    # by the step, not by the process): the two runs end with the same weights.
    two = os.path.join(scratch, "two")
    run([binary, *job, "--max-iters", "2", "--out", two], env=env)
    resumed = os.path.join(scratch, "resumed")
    run([binary, *job, "--max-iters", "1", "--out", resumed], env=env)
    run([binary, "train", "--resume", resumed, "--max-iters", "2", "--threads", "1"], env=env)
    compare(two, resumed, "inception_v3 resumed after a step vs 2 steps straight")
    # eval takes the model's 299 crop without being told (224 would be an error for it).
    done = run([binary, "eval", "--checkpoint", os.path.join(one, "checkpoints", "last.safetensors"), "--dataset",
                "imagefolder", "--data-dir", tree, "--threads", "1"])
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result.get("model") != "inception_v3" or result.get("examples") != 3:
        fail("eval of the inception_v3 checkpoint: %s" % done.stdout)
    print("eval of the checkpoint at the model's crop: %s" % done.stdout.strip())


def test_resume(binary, scratch):
    one = os.path.join(scratch, "one")
    run([binary, *JOB, "--max-iters", "30", "--out", one])
    split = os.path.join(scratch, "split")
    run(mpi(4, binary, *JOB, "--max-iters", "13", "--out", split))
    run(mpi(2, binary, "train", "--resume", split, "--max-iters", "30", "--threads", "1"))
    compare(one, split, "4 ranks resumed on 2 vs 1 process")


def start_long_job(binary, out, *extra, job=JOB, launch=None, ranks=2):
    """`job` (default JOB) for 1000 epochs under `launch(job)` (default mpirun -np 2), once it has
    logged 3 losses; returns (mpirun process, rank pids). Fails unless `ranks` ranks run."""
    job = list(job) + list(extra)
    job[job.index("--epochs") + 1] = "1000"
    launch = launch or (lambda args: mpi(2, binary, *args))
    proc = subprocess.Popen(launch([*job, "--out", out]), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    metrics = os.path.join(out, "metrics.jsonl")
    deadline = time.time() + 120
    while time.time() < deadline and not (os.path.exists(metrics) and len(losses(out)) >= 3):
        if proc.poll() is not None:
            fail("the job ended before it could be signalled:\n" + proc.stdout.read())
        time.sleep(0.2)
    pids = rank_pids(proc, binary)
    if len(pids) < ranks:
        os.killpg(proc.pid, signal.SIGKILL)
        fail("expected %d rank processes, found %s" % (ranks, pids))
    return job, proc, pids


def rank_pids(proc, binary):
    ranks = subprocess.run(["pgrep", "-f", "-s", str(os.getpgid(proc.pid)), binary],
                           capture_output=True, text=True).stdout.split()
    return [int(p) for p in ranks if int(p) != proc.pid]


def test_kill(binary, scratch):
    _, proc, ranks = start_long_job(binary, os.path.join(scratch, "killed"))
    try:
        os.kill(ranks[-1], signal.SIGKILL)
        killed_at = time.time()
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            fail("the job did not end within 60 s of a rank's SIGKILL")
        if code == 0:
            fail("the job exited 0 after a rank was killed")
        print("job exited %d, %.1f s after SIGKILL of rank pid %d" % (code, time.time() - killed_at, ranks[-1]))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_preempt(binary, scratch):
    out = os.path.join(scratch, "preempted")
    job, proc, ranks = start_long_job(binary, out)
    try:
        os.kill(ranks[-1], signal.SIGTERM)  # one rank only: the other learns it through the step's agreement
        try:
            output = proc.communicate(timeout=60)[0]
        except subprocess.TimeoutExpired:
            fail("the job did not stop within 60 s of SIGTERM to one rank")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    if proc.returncode != 3:
        fail("expected exit 3 after SIGTERM, got %d:\n%s" % (proc.returncode, output))
    with open(os.path.join(out, "checkpoints", "last.safetensors"), "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        step = int(json.loads(f.read(n))["__metadata__"]["bigbatch.step"])
    if ("stopped by SIGTERM after step %d;" % step) not in output:
        fail("expected 'stopped by SIGTERM after step %d' (the checkpoint's step):\n%s" % (step, output))
    resumed = run(mpi(2, binary, *job, "--out", out, "--resume", "auto", "--max-iters", str(step + 2)))
    if ("at step %d of" % step) not in resumed.stderr:
        fail("the resume does not say it continues from step %d:\n%s" % (step, resumed.stderr))
    print("both ranks stopped after step %d; resumed from it" % step)


def world_rank(pid):
    with open("/proc/%d/environ" % pid, "rb") as f:
        env = dict(item.split(b"=", 1) for item in f.read().split(b"\0") if b"=" in item)
    return int(env[b"OMPI_COMM_WORLD_RANK"])


def test_stall(binary, scratch):
    for pick in (-1, 0):
        _, proc, ranks = start_long_job(binary, os.path.join(scratch, "stalled%d" % pick), "--stall-timeout", "5")
        try:
            victim = sorted(ranks, key=world_rank)[pick]
            rank = world_rank(victim)
            os.kill(victim, signal.SIGSTOP)
            stopped_at = time.time()
            try:
                output = proc.communicate(timeout=60)[0]
            except subprocess.TimeoutExpired:
                fail("the job did not end within 60 s of SIGSTOP to rank %d" % rank)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        waited = time.time() - stopped_at
        if proc.returncode == 0:
            fail("the job exited 0 after rank %d was stopped:\n%s" % (rank, output))
        lines = [l for l in output.splitlines() if l.startswith("bigbatch: error: ")]
        named = "stalled: rank %d did not reach collective " % rank
        # A rank stopped inside a collective that all had reached cannot be named, only timed.
        inside = re.search(r"stalled: collective \d+ that every rank reached did not complete", output)
        if len(lines) != 1 or not (named in lines[0] or inside):
            fail("expected one line naming rank %d:\n%s" % (rank, output))
        print("SIGSTOP of rank %d: the job ended %.1f s later: %s" % (rank, waited, lines[0]))


def slurm_or_skip():
    if not os.environ.get("SLURM_CONF") or shutil.which("srun") is None:
        print("SKIP: no Slurm here (tests/slurm/slurm_service.sh did not start one)")
        sys.exit(77)
    if subprocess.run(["sinfo", "-h"], capture_output=True).returncode != 0:
        print("SKIP: sinfo cannot reach slurmctld")
        sys.exit(77)


# The docs' lines (docs/distributed.md, "Slurm"): Open MPI under Slurm through PMIx.
SRUN = ["srun", "--mpi=pmix", "--kill-on-bad-exit=1"]


def test_slurm_srun(binary, scratch):
    slurm_or_skip()
    reference = os.path.join(scratch, "mpirun")
    run(mpi(2, binary, *JOB, "--max-iters", "30", "--out", reference))
    under_slurm = os.path.join(scratch, "srun")
    run([*SRUN, "-n", "2", binary, *JOB, "--max-iters", "30", "--out", under_slurm])
    compare(reference, under_slurm, "srun -n 2 vs mpirun -np 2")


def scontrol_job(job_id):
    out = subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True).stdout
    return dict(field.split("=", 1) for field in out.split() if "=" in field)


def test_slurm_requeue(binary, scratch):
    slurm_or_skip()
    out = os.path.join(scratch, "requeued")
    job = list(JOB)
    job[job.index("--epochs") + 1] = "1000"
    steps = 400
    script = os.path.join(scratch, "job.sh")
    with open(script, "w") as f:
        f.write("#!/bin/bash\n"
                "#SBATCH --requeue --ntasks=2 --open-mode=append --output=%s/slurm-%%j.out\n"
                "exec %s -n 2 %s %s --out %s --resume auto --max-iters %d\n"
                % (scratch, " ".join(SRUN), binary, " ".join("'%s'" % a for a in job), out, steps))
    submitted = run(["sbatch", "--parsable", script]).stdout.strip()
    job_id = submitted.split(";")[0]
    log = os.path.join(scratch, "slurm-%s.out" % job_id)
    try:
        deadline = time.time() + 120
        metrics = os.path.join(out, "metrics.jsonl")
        while time.time() < deadline and not (os.path.exists(metrics) and len(losses(out)) >= 20):
            time.sleep(0.2)
        if not os.path.exists(metrics):
            fail("the job logged nothing within 120 s: %s" % scontrol_job(job_id))
        run(["scontrol", "requeue", job_id])
        deadline = time.time() + 240
        state = {}
        hurried = False
        while time.time() < deadline:
            state = scontrol_job(job_id)
            if state.get("JobState") == "PENDING" and not hurried:
                # Slurm holds a requeued job back for a while (BeginTime); the test need not wait.
                hurried = subprocess.run(["scontrol", "update", "JobId=" + job_id, "StartTime=now"],
                                         capture_output=True).returncode == 0
            if state.get("JobState") in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL") \
                    and state.get("Restarts") == "1":
                break
            time.sleep(0.5)
    finally:
        subprocess.run(["scancel", job_id], capture_output=True)
    output = open(log).read() if os.path.exists(log) else "(no job output)"
    if state.get("JobState") != "COMPLETED" or state.get("Restarts") != "1":
        fail("expected the job COMPLETED after one restart, got %s / %s:\n%s"
             % (state.get("JobState"), state.get("Restarts"), output))
    stopped = re.search(r"stopped by SIGTERM after step (\d+);", output)
    if not stopped:
        fail("the requeue did not stop the run with a checkpoint:\n" + output)
    step = int(stopped.group(1))
    if ("at step %d of " % step) not in output:
        fail("the second run does not resume from step %d:\n%s" % (step, output))
    with open(os.path.join(out, "checkpoints", "last.safetensors"), "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        last = int(json.loads(f.read(n))["__metadata__"]["bigbatch.step"])
    if last != steps:
        fail("the resumed run ended at step %d, not %d:\n%s" % (last, steps, output))
    print("requeued after step %d; the second run resumed there and ended at step %d" % (step, last))


def run_case(cases):
    """argv: CASE BINARY SCRATCH; runs cases[CASE](binary, scratch) in an empty SCRATCH."""
    case, binary, scratch = sys.argv[1], sys.argv[2], sys.argv[3]
    if MPIRUN is None:
        print("SKIP: mpirun not found")
        sys.exit(77)
    shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(scratch)
    cases[case](binary, scratch)
    print("PASS")


def main():
    run_case({"equivalence": test_equivalence, "kill": test_kill, "preempt": test_preempt, "resume": test_resume,
              "inception": test_inception, "stall": test_stall, "slurm_srun": test_slurm_srun, "slurm_requeue": test_slurm_requeue})


if __name__ == "__main__":
    main()
