#!/usr/bin/env python3
"""Real-rank tests of `bigbatch train --comm ps` under mpirun (ctest label `mpi`).

  parameter_server_test.py equivalence|bitwise|resume|async|sharding|uneven|kill|stall BIGBATCH SCRATCH

equivalence: W = 2 and 3 workers with S = 1 and 2 servers, the update on the servers and on the
             workers, give the losses (relative 1e-5) and the final weights (relative L2 over the
             model < 1e-5) of the allreduce over W ranks and of one process with the same k
             virtual workers: 6 gentle steps, then 30 of the recipe; LARS with the update on
             the workers as the allreduce, and refused on the servers.
bitwise:     with the convolution algorithms fixed (BIGBATCH_CONV_ALGORITHM=direct: no per-process
             timing choice), W = 2 with S = 1 and 2 in both placements writes the allreduce's
             checkpoint byte for byte, momentum included, and logs its losses exactly: the sum of
             two pushes is the allreduce's sum and the servers' SGD the workers'.
resume:      checkpoints are the same files in every mode: a run stopped under the parameter
             servers continues under the allreduce on another W, and the other way round, as the
             uninterrupted run does.
async:       --ps-mode async on W = 3, S = 2 runs every step to the end, close to the synchronous
             run at a gentle rate (weights within 1e-2 relative L2: a gradient is at most one
             step stale) and not required to be equal; its checkpoint resumes under sync;
             with --ps-update worker it is refused with one line.
sharding:    MXNet's split of large keys (a low --ps-bigarray-bound) and BytePS-style pieces
             (--ps-partition-bytes) train as the whole-key default does; a bucket larger than
             the exchange's 1 MiB unit (resnet20 on one server) trains as the allreduce.
uneven:      a data set that is not a multiple of kn: every worker runs the same steps (the
             uneven-epoch hang of mxnet#7888 cannot happen) and the job ends by itself.
kill:        SIGKILL of a server, then of a worker, ends the job within 60 s, non-zero.
stall:       SIGSTOP of a server, then of a worker, under --stall-timeout 5 ends the job within
             60 s, non-zero, with one line naming the stopped rank's role and rank.
gpu:         --device cuda (skipped without a GPU): the pushes and pulls go through pinned host
             copies of the device gradients; W = 2 with S = 1 and 2, both placements, gives the
             losses and weights of one GPU process with the same k virtual workers (6 gentle
             steps; the workers may share one GPU: no NCCL under comm ps).
"""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train"))
from mpi_train_test import (compare, fail, last_checkpoint, losses, model_distance, mpi, run,  # noqa: E402
                            run_case, start_long_job, world_rank)

# kn 96 = 6 workers of 16: 3 per rank on 2 workers, 2 on 3.
JOB = ["train", "--model", "resnet8", "--dataset", "synthetic", "--synthetic-size", "576",
       "--global-batch", "96", "--per-worker-batch", "16", "--epochs", "5", "--warmup-epochs", "1",
       "--decay-epochs", "", "--log-every", "1", "--seed", "5", "--threads", "1", "--progress", "off",
       "--eval-batch", "96"]
GENTLE = ["--lr", "0.01", "--max-iters", "6"]


def ps(workers, servers, binary, *args):
    return mpi(workers + servers, binary, *args, "--comm", "ps", "--ps-servers", str(servers))


def test_equivalence(binary, scratch):
    for name, extra in (("gentle", GENTLE), ("recipe", ["--max-iters", "30"])):
        one = os.path.join(scratch, name + "-one")
        run([binary, *JOB, *extra, "--out", one])
        for workers in (2, 3):
            allreduce = os.path.join(scratch, "%s-ar%d" % (name, workers))
            run(mpi(workers, binary, *JOB, *extra, "--out", allreduce))
            compare(one, allreduce, "%s: allreduce over %d vs 1 process" % (name, workers))
            for servers in (1, 2):
                for update in ("server", "worker"):
                    out = os.path.join(scratch, "%s-ps%d-%d-%s" % (name, workers, servers, update))
                    done = run(ps(workers, servers, binary, *JOB, *extra, "--ps-update", update, "--out", out))
                    if "load per server" not in done.stderr or ("the %ss update" % update) not in done.stderr:
                        fail("no start-up line with the servers' loads and who updates:\n" + done.stderr)
                    what = "%s: ps W=%d S=%d, the %ss update," % (name, workers, servers, update)
                    compare(allreduce, out, what + " vs allreduce")
                    compare(one, out, what + " vs 1 process")
    # LARS needs whole tensors: the workers update, and train as the allreduce does.
    lars = ["--optimizer", "lars", "--lars-eta", "0.02", "--max-iters", "12"]
    allreduce = os.path.join(scratch, "lars-ar2")
    run(mpi(2, binary, *JOB, *lars, "--out", allreduce))
    out = os.path.join(scratch, "lars-ps2-2")
    run(ps(2, 2, binary, *JOB, *lars, "--ps-update", "worker", "--out", out))
    compare(allreduce, out, "LARS: ps W=2 S=2, the workers update, vs allreduce")
    refused = subprocess.run(ps(2, 1, binary, *JOB, *lars, "--ps-update", "server", "--out",
                                os.path.join(scratch, "lars-refused")), capture_output=True, text=True, timeout=120)
    if refused.returncode == 0 or "use --ps-update worker" not in refused.stderr:
        fail("LARS with the update on the servers was not refused:\n" + refused.stderr)


def test_bitwise(binary, scratch):
    os.environ["BIGBATCH_CONV_ALGORITHM"] = "direct"  # inherited by the ranks mpirun starts here
    job = [*JOB, "--max-iters", "12"]
    allreduce = os.path.join(scratch, "ar2")
    run(mpi(2, binary, *job, "--out", allreduce))
    reference = last_checkpoint(allreduce)
    for servers in (1, 2):
        for update in ("server", "worker"):
            out = os.path.join(scratch, "ps2-%d-%s" % (servers, update))
            run(ps(2, servers, binary, *job, "--ps-update", update, "--out", out))
            got = last_checkpoint(out)
            differ = [n for n in sorted(reference) if n not in got or (reference[n] != got[n]).any()]
            if differ or losses(out) != losses(allreduce):
                fail("ps W=2 S=%d, the %ss update: not bitwise the allreduce's (tensors %s; losses equal: %s)"
                     % (servers, update, differ[:5], losses(out) == losses(allreduce)))
            print("ps W=2 S=%d, the %ss update: checkpoint and losses bitwise the allreduce's" % (servers, update))


def test_resume(binary, scratch):
    one = os.path.join(scratch, "one")
    run([binary, *JOB, "--max-iters", "30", "--out", one])
    ps_first = os.path.join(scratch, "ps-then-allreduce")
    run(ps(2, 2, binary, *JOB, "--max-iters", "13", "--ps-update", "server", "--out", ps_first))
    run(mpi(3, binary, "train", "--resume", ps_first, "--comm", "allreduce", "--max-iters", "30", "--threads", "1"))
    compare(one, ps_first, "ps W=2 S=2 (servers update) resumed as allreduce over 3 vs 1 process")
    ar_first = os.path.join(scratch, "allreduce-then-ps")
    run(mpi(2, binary, *JOB, "--max-iters", "13", "--out", ar_first))
    run(ps(3, 1, binary, "train", "--resume", ar_first, "--max-iters", "30", "--threads", "1", "--ps-update", "server"))
    compare(one, ar_first, "allreduce over 2 resumed as ps W=3 S=1 (servers update) vs 1 process")


def weights_distance(a_dir, b_dir):
    wa, wb = last_checkpoint(a_dir), last_checkpoint(b_dir)
    return model_distance(wa, wb, sorted(n for n in wa if "num_batches_tracked" not in n))


def test_async(binary, scratch):
    gentle = ["--lr", "0.01", "--max-iters", "30"]
    sync = os.path.join(scratch, "sync")
    run(ps(3, 2, binary, *JOB, *gentle, "--out", sync))
    out = os.path.join(scratch, "async")
    done = run(ps(3, 2, binary, *JOB, *gentle, "--ps-mode", "async", "--out", out))
    if "asynchronously (each push at once: not deterministic)" not in done.stderr:
        fail("the start-up line does not say the run is asynchronous:\n" + done.stderr)
    steps = [i for i, loss in losses(out) if loss == loss and abs(loss) < 1e3]
    if steps != list(range(1, 31)):
        fail("expected 30 finite losses, got steps %s" % steps)
    distance = weights_distance(sync, out)
    if not distance < 5e-2:
        fail("async weights %.3g from sync's (relative L2), expected < 5e-2" % distance)
    run(ps(3, 2, binary, "train", "--resume", out, "--ps-mode", "sync", "--epochs", "6", "--max-iters", "36",
               "--threads", "1"))
    if [i for i, _ in losses(out)][-1] != 36:
        fail("the async run's checkpoint did not resume under sync to step 36")
    refused = subprocess.run(ps(2, 1, binary, *JOB, "--ps-mode", "async", "--ps-update", "worker", "--out",
                                os.path.join(scratch, "refused")), capture_output=True, text=True, timeout=120)
    if refused.returncode == 0 or "ps-mode async" not in refused.stderr:
        fail("async with the update on the workers was not refused:\n" + refused.stderr)
    print("async W=3 S=2: 30 steps, weights %.2g from sync's; resumed under sync; worker update refused" % distance)


def test_sharding(binary, scratch):
    base = os.path.join(scratch, "whole")
    run(ps(2, 2, binary, *JOB, "--max-iters", "10", "--out", base))
    for name, flags in (("split", ["--ps-bigarray-bound", "1000"]), ("pieces", ["--ps-partition-bytes", "4096"])):
        out = os.path.join(scratch, name)
        done = run(ps(2, 2, binary, *JOB, "--max-iters", "10", *flags, "--out", out))
        line = [l for l in done.stderr.splitlines() if "load per server" in l]
        print("%s: %s" % (name, line[0] if line else done.stderr))
        compare(base, out, "ps %s vs whole keys" % name)
    # resnet20's one 1.1 MB bucket goes to a lone server in two 1 MiB units, answered one by one.
    job = list(JOB)
    job[job.index("--model") + 1] = "resnet20"
    allreduce = os.path.join(scratch, "resnet20-ar2")
    run(mpi(2, binary, *job, "--max-iters", "6", "--out", allreduce))
    for update in ("server", "worker"):
        out = os.path.join(scratch, "resnet20-ps2-1-" + update)
        run(ps(2, 1, binary, *job, "--max-iters", "6", "--ps-update", update, "--out", out))
        compare(allreduce, out, "resnet20 in 1 MiB units, the %ss update, vs allreduce" % update)


def test_uneven(binary, scratch):
    out = os.path.join(scratch, "uneven")
    job = list(JOB)
    job[job.index("--synthetic-size") + 1] = "500"  # 5 steps of 96 and 20 examples left over
    job[job.index("--epochs") + 1] = "2"
    run(ps(3, 1, binary, *job, "--out", out), timeout=120)
    steps = [i for i, _ in losses(out)]
    if steps != list(range(1, 11)):
        fail("expected steps 1..10 (5 per epoch), got %s" % steps)
    print("500 examples at kn 96: 5 steps per epoch on every worker, the job ended")


def start_ps_job(binary, out, *extra):
    """W = 2, S = 1, 1000 epochs, once it has logged 3 losses; returns (process, pids by world rank)."""
    _, proc, pids = start_long_job(binary, out, *extra, job=JOB, ranks=3,
                                   launch=lambda args: ps(2, 1, binary, *args))
    return proc, sorted(pids, key=world_rank)


def end_after(proc, sig, pid, what):
    os.kill(pid, sig)
    signalled = time.time()
    try:
        output = proc.communicate(timeout=60)[0]
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        fail("the job did not end within 60 s of %s" % what)
    if proc.returncode == 0:
        fail("the job exited 0 after %s:\n%s" % (what, output))
    return output, time.time() - signalled


def test_kill(binary, scratch):
    for victim, what in ((2, "SIGKILL of server 0 (rank 2)"), (1, "SIGKILL of worker 1 (rank 1)")):
        proc, pids = start_ps_job(binary, os.path.join(scratch, "killed%d" % victim))
        try:
            _, waited = end_after(proc, signal.SIGKILL, pids[victim], what)
            print("%s: the job exited %d, %.1f s later" % (what, proc.returncode, waited))
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)


def test_stall(binary, scratch):
    for victim, name in ((2, "server 0 (rank 2)"), (1, "worker 1 (rank 1)")):
        proc, pids = start_ps_job(binary, os.path.join(scratch, "stalled%d" % victim), "--stall-timeout", "5")
        try:
            output, waited = end_after(proc, signal.SIGSTOP, pids[victim], "SIGSTOP of " + name)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        lines = [l for l in output.splitlines() if l.startswith("bigbatch: error: ")]
        # The worker's own stall watch names it by its rank among the workers (the same number).
        named = name + " did not answer" in lines[0] if lines else False
        # A worker stopped inside a collective that every worker reached can only be timed.
        named = named or (victim == 1 and lines and ("rank 1 did not reach collective" in lines[0] or
                                                     "that every rank reached did not complete" in lines[0]))
        if len(lines) != 1 or not named:
            fail("expected one line naming %s:\n%s" % (name, output))
        print("SIGSTOP of %s: the job ended %.1f s later: %s" % (name, waited, lines[0]))


def has_gpu():
    try:
        return subprocess.run(["nvidia-smi", "-L"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def test_gpu(binary, scratch):
    if not has_gpu():
        print("SKIP: no GPU (nvidia-smi -L)")
        sys.exit(77)
    cuda = ["--device", "cuda", *GENTLE]
    one = os.path.join(scratch, "gpu-one")
    run([binary, *JOB, *cuda, "--out", one])
    for servers in (1, 2):
        for update in ("server", "worker"):
            out = os.path.join(scratch, "gpu-ps2-%d-%s" % (servers, update))
            run(ps(2, servers, binary, *JOB, *cuda, "--ps-update", update, "--out", out))
            compare(one, out, "GPU: ps W=2 S=%d, the %ss update, vs 1 GPU process" % (servers, update))


def main():
    run_case({"gpu": test_gpu, "equivalence": test_equivalence, "bitwise": test_bitwise, "resume": test_resume, "async": test_async,
              "sharding": test_sharding, "uneven": test_uneven, "kill": test_kill, "stall": test_stall})


if __name__ == "__main__":
    main()
