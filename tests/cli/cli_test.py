#!/usr/bin/python3
"""End-to-end checks of the `bigbatch` binary: help, the model table, a tiny benchmark's
JSON, and that bad input exits non-zero with exactly one error line.
Usage: cli_test.py {help|models|bench|errors|resume|preempt|threads|aux_loss_weight} PATH/TO/bigbatch"""

import json
import os
import signal
import shutil
import subprocess
import sys
import tempfile
import time

BINARY = None
failures = []


def run(*args, env=None, cpus=None):
    """cpus: run the binary bound to these cores (its affinity mask), as taskset would."""
    bind = (lambda: os.sched_setaffinity(0, cpus)) if cpus is not None else None
    proc = subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=240, env=env, preexec_fn=bind)
    return proc.returncode, proc.stdout, proc.stderr


def check(condition, what, detail=""):
    if not condition:
        failures.append(f"{what}\n{detail}".rstrip())


def expect_error(args, code, needle):
    rc, out, err = run(*args)
    lines = [line for line in err.splitlines() if line.strip()]
    detail = f"args: {args}\nrc: {rc}\nstdout: {out!r}\nstderr: {err!r}"
    check(rc == code, f"{args}: expected exit {code}, got {rc}", detail)
    check(len(lines) == 1 and lines[0].startswith("bigbatch: error: "), f"{args}: expected one error line", detail)
    check(needle.lower() in err.lower(), f"{args}: expected '{needle}' in the error", detail)
    check(out == "", f"{args}: expected nothing on stdout", detail)


def test_help():
    rc, out, _ = run("--help")
    check(rc == 0 and "models" in out and "bench" in out, "--help lists the subcommands", out)
    rc, out, _ = run("bench", "--help")
    check(rc == 0 and "--bn-group" in out and "--precision" in out, "bench --help lists its options", out)


def test_models():
    rc, out, err = run("models")
    check(rc == 0, "models exits 0", err)
    rows = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    check("resnet50" in rows and "25,557,032" in rows.get("resnet50", ""), "resnet50 has 25,557,032 params", out)
    check("3x224x224" in rows.get("resnet50", ""), "resnet50 defaults to 3x224x224", out)
    check("1x28x28" in rows.get("resnet20", ""), "resnet20 defaults to 1x28x28", out)
    rc, out, err = run("models", "--input", "3x32x32", "--classes", "100")
    check(rc == 0 and "3x32x32" in out and " 100 " in out, "models --input/--classes apply to every row", out + err)


def test_bench():
    args = ["bench", "--model", "resnet8", "--input", "1x16x16", "--batch", "8", "--steps", "2", "--warmup", "1"]
    rc, out, err = run(*args, "--json", "--threads", "1")
    check(rc == 0, "bench --json exits 0", err)
    try:
        result = json.loads(out)
        check(out.count("\n") == 1, "bench --json prints one line", out)
        check(result["img_per_s"] > 0, "img_per_s > 0", out)
        for key in ("median_ms", "peak_rss_mib", "model", "batch", "threads", "precision"):
            check(key in result, f"JSON has '{key}'", out)
        check(result["model"] == "resnet8" and result["batch"] == 8 and result["threads"] == 1, "JSON echoes args", out)
        check(result["final_loss"] is not None, "the loss stays finite", out)
    except (ValueError, KeyError) as e:
        check(False, f"bench --json prints parseable JSON ({e})", out + err)
    rc, out, err = run(*args, "--bn-group", "4")
    check(rc == 0 and "img/s" in out, "bench prints a human-readable table", out + err)
    # bf16 either runs (native bf16 CPU) or fails with one clear line.
    rc, out, err = run(*args, "--precision", "bf16", "--json")
    if rc == 0:
        check(json.loads(out)["precision"] == "bf16", "bf16 run reports its precision", out)
    else:
        lines = [line for line in err.splitlines() if line.strip()]
        check(rc == 1 and len(lines) == 1 and "bf16" in lines[0], "bf16 fails with one clear line", err)


def test_threads():
    """--threads 0 (the default) is the cores this process may use: its affinity mask, not the
    machine; OMP_NUM_THREADS is the user's choice; more threads than cores are taken with one
    warning, in bench as in train."""
    bench = ["bench", "--model", "resnet8", "--input", "1x16x16", "--batch", "4", "--steps", "1", "--warmup", "0",
             "--json"]
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    mask = sorted(os.sched_getaffinity(0))
    cores = len(mask)

    def threads_of(rc, out, err, what):
        check(rc == 0, f"{what}: exits 0", err)
        try:
            return json.loads(out)["threads"]
        except (ValueError, KeyError):
            check(False, f"{what}: prints JSON", out + err)
            return None

    got = threads_of(*run(*bench, env=env), "default")
    check(got == cores, f"the default is the {cores} cores of the affinity mask, got {got}")
    rc, out, err = run(*bench, env=env, cpus={mask[0]})
    got = threads_of(rc, out, err, "one core")
    check(got == 1, f"bound to one core (taskset), the default is 1 thread, got {got}")
    check("warning" not in err, "the default never warns", err)
    got = threads_of(*run(*bench, env={**env, "OMP_NUM_THREADS": "3"}), "OMP_NUM_THREADS")
    check(got == 3, f"OMP_NUM_THREADS=3 is taken, got {got}")
    for job, what in ((bench + ["--threads", str(cores + 1)], "bench"),
                      (["train", "--model", "resnet8", "--dataset", "synthetic", "--synthetic-size", "64",
                        "--global-batch", "16", "--per-worker-batch", "8", "--epochs", "1", "--warmup-epochs", "0",
                        "--decay", "cosine", "--max-iters", "1", "--threads", str(cores + 1), "--progress", "off"],
                       "train")):
        with tempfile.TemporaryDirectory(prefix="bigbatch_cli_threads_") as scratch:
            args = job + (["--out", os.path.join(scratch, "run")] if what == "train" else [])
            rc, out, err = run(*args, env=env)
            warnings = [line for line in err.splitlines() if line.startswith("bigbatch: warning: ")]
            check(rc == 0, f"{what} --threads {cores + 1}: exits 0", err)
            check(len(warnings) == 1 and f"--threads {cores + 1} is more than the {cores} core" in warnings[0],
                  f"{what} --threads {cores + 1}: one warning naming the cores", err)


def test_aux_loss_weight_warns():
    """--aux-loss-weight on a model without an auxiliary classifier: one warning, then the run."""
    job = ["train", "--model", "resnet8", "--dataset", "synthetic", "--synthetic-size", "64", "--global-batch", "16",
           "--per-worker-batch", "8", "--epochs", "1", "--warmup-epochs", "0", "--decay", "cosine", "--max-iters", "1",
           "--threads", "1", "--progress", "off"]
    for extra, expected in ((["--aux-loss-weight", "0.3"], 1), ([], 0)):
        with tempfile.TemporaryDirectory(prefix="bigbatch_cli_aux_") as scratch:
            rc, out, err = run(*job, *extra, "--out", os.path.join(scratch, "run"))
            warnings = [line for line in err.splitlines() if "--aux-loss-weight" in line]
            check(rc == 0, f"train {extra}: exits 0", err)
            check(len(warnings) == expected and all("resnet8 has no auxiliary classifier" in w for w in warnings),
                  f"train {extra}: {expected} warning(s) about --aux-loss-weight", err)


def test_errors():
    base = ["bench", "--model", "resnet8", "--input", "1x16x16", "--batch", "8", "--steps", "1", "--warmup", "0"]
    expect_error(["bench", "--model", "resnet8", "--input", "3x224"], 1, "--input")
    expect_error(["bench", "--model", "resnet8", "--input", "3x0x4"], 1, "--input")
    expect_error(["bench", "--model", "resnet8", "--input", "axbxc"], 1, "--input")
    expect_error(base + ["--bn-group", "3"], 1, "divisible")
    expect_error(["bench", "--model", "resnet9"], 1, "unknown model")
    expect_error(base + ["--precision", "f16"], 1, "precision")
    expect_error(base + ["--device", "tpu"], 1, "--device")
    expect_error(base + ["--layout", "nhwc"], 1, "--layout")
    # Without a GPU (or in a build without CUDA) --device cuda fails with one line naming why.
    rc, _, _ = run(*base, "--device", "cuda", "--json")
    if rc != 0:
        expect_error(base + ["--device", "cuda"], 1, "[cuda]")
        # train says the same before it allocates anything (the allocation's error would name
        # cudaMalloc and the driver, not the missing device).
        with tempfile.TemporaryDirectory(prefix="bigbatch_cli_cuda_") as scratch:
            rc, _, err = run("train", "--model", "resnet8", "--dataset", "synthetic", "--synthetic-size", "64",
                             "--global-batch", "32", "--epochs", "1", "--device", "cuda", "--progress", "off",
                             "--out", os.path.join(scratch, "run"))
            check(rc == 1 and ("no CUDA device" in err or "built without CUDA" in err) and "cudaMalloc" not in err,
                  "train --device cuda without a GPU: one line naming why", err)
    expect_error(["bench", "--model", "resnet8", "--batch", "0"], 1, "--batch")
    expect_error(["bench", "--model", "resnet8", "--steps", "0"], 1, "--steps")
    expect_error(["bench", "--model", "resnet8", "--batch", "8", "--batch", "16"], 2, "--batch")
    expect_error(base + ["--threads", "-1"], 1, "--threads")
    expect_error(["bench", "--model", "resnet8", "--batch", "many"], 2, "--batch")
    expect_error(["bench", "--batch", "8"], 2, "--model")
    expect_error(["bench", "--model", "resnet8", "--frobnicate"], 2, "frobnicate")
    expect_error([], 2, "subcommand")
    # An unknown subcommand is named, with the subcommands there are.
    rc, _, err = run("frobnicate")
    expect_error(["frobnicate"], 2, "unknown subcommand 'frobnicate'; expected one of: ")
    for name in ("models", "bench", "train", "eval", "plot", "pack", "simulate"):
        check(name in err, f"the unknown-subcommand error lists {name}", err)
    expect_error(["frobnicate", "--x"], 2, "unknown subcommand 'frobnicate'")
    expect_error(["\x1b[31mred"], 2, r"unknown subcommand '\x1b[31mred'")
    expect_error(["models", "--input", "3x32"], 1, "--input")
    # A schedule set by hand that does not fit --epochs: the errors name the flags to change.
    expect_error(["train", "--dataset", "synthetic", "--epochs", "5", "--warmup-epochs", "5"], 1,
                 "(lower --warmup-epochs, or --warmup none)")
    expect_error(["train", "--dataset", "synthetic", "--epochs", "10", "--decay-epochs", "30,60"], 1,
                 "decay-epochs: 30 is not in (0, 10]")
    expect_error(["train", "--dataset", "synthetic", "--epochs", "10", "--decay-epochs", "30"], 1, "set --decay-epochs")
    # --epochs alone scales the paper's warmup and decays to the run and says so before training.
    with tempfile.TemporaryDirectory(prefix="bigbatch_cli_epochs_") as scratch:
        rc, out, err = run("train", "--model", "resnet8", "--dataset", "synthetic", "--synthetic-size", "64",
                           "--global-batch", "16", "--per-worker-batch", "8", "--epochs", "5", "--max-iters", "1",
                           "--threads", "1", "--out", os.path.join(scratch, "run"))
        check(rc == 0, "--epochs 5 alone trains", err)
        check("--epochs 5: the paper's warmup epochs 5 -> 1 and decay epochs 30,60,80 -> 2,3,4" in err,
              "--epochs 5 prints the scaled schedule", err)
        check("step x0.1 at epochs 2,3,4; 5 epochs" in err, "the run's header shows the scaled schedule", err)
        with open(os.path.join(scratch, "run", "config.toml")) as f:
            toml = f.read()
        check("warmup_epochs = 1" in toml and "decay_epochs = [2, 3, 4]" in toml,
              "the run records the scaled schedule (a resume keeps it)", toml)
    # A metrics line is quoted in plot's error with its control bytes escaped, not sent to the terminal.
    with tempfile.TemporaryDirectory(prefix="bigbatch_cli_plot_") as run_dir:
        with open(os.path.join(run_dir, "metrics.jsonl"), "w") as f:
            f.write("\x1b[2J\x1b]0;owned\x07 not json\n{}\n")
        expect_error(["plot", run_dir, "-o", os.path.join(run_dir, "p.png")], 1, r"not JSON: \x1b[2J\x1b]0;owned\x07")
        _, _, err = run("plot", run_dir, "-o", os.path.join(run_dir, "p.png"))
        check("\x1b" not in err and "\x07" not in err, "plot's error holds no control bytes", repr(err))


def test_resume():
    """--resume in a new process continues bitwise: a 2-epoch run, and a copy of it rewound to its
    epoch-1 checkpoint resumed by another process, end with byte-identical tensors. Convolution
    algorithms are tuned by timing, which differs between processes; the resumed process replays
    the first one's choices (cpu_tuning.txt in the run directory)."""
    job = ["train", "--model", "resnet8", "--dataset", "synthetic", "--synthetic-size", "256",
           "--global-batch", "64", "--per-worker-batch", "16", "--epochs", "2", "--warmup-epochs", "1", "--decay", "cosine",
           "--augment", "standard", "--threads", "1", "--progress", "off", "--log-every", "1"]
    with tempfile.TemporaryDirectory(prefix="bigbatch_cli_resume_") as scratch:
        full, split = os.path.join(scratch, "full"), os.path.join(scratch, "split")
        rc, _, err = run(*job, "--out", full)
        check(rc == 0, "the uninterrupted run exits 0", err)
        if rc != 0:
            return
        tuning = os.path.join(full, "cpu_tuning.txt")
        check(os.path.isfile(tuning) and os.path.getsize(tuning) > 0, "the run records its convolution algorithms")
        shutil.copytree(full, split)
        shutil.copyfile(os.path.join(full, "checkpoints", "epoch-1.safetensors"),
                        os.path.join(split, "checkpoints", "last.safetensors"))
        rc, _, err = run("train", "--resume", split, "--threads", "1", "--progress", "off")
        check(rc == 0, "the resumed run exits 0", err)
        a = check_same_tensors(full, split, "resumed and uninterrupted runs end bitwise equal")
        check(any(name.startswith("optimizer.") for name in a), "the checkpoint holds the optimizer state", sorted(a))
        # Weights of another model: an error naming both, before any tensor is read; an explicit
        # --init-partial on loads what fits and lists the rest.
        ckpt = os.path.join(full, "checkpoints", "last.safetensors")
        other = [a if a != "resnet8" else "resnet14" for a in job]
        expect_error(other + ["--init", ckpt, "--out", os.path.join(scratch, "other")], 1, "holds a resnet8, not a resnet14")
        expect_error(["eval", "--checkpoint", ckpt, "--model", "resnet14", "--dataset", "synthetic"], 1, "holds a resnet8, not a resnet14")
        rc, _, err = run(*other, "--init", ckpt, "--init-partial", "on", "--max-iters", "1",
                         "--out", os.path.join(scratch, "partial"))
        check(rc == 0, "--init-partial on trains", err)
        check("not loaded (not in the model, or another shape): none" in err and
              "kept their initial values: layer1.1." in err, "--init-partial lists what it left", err)
        # A malformed record is one clear error, not a silent re-tune.
        with open(os.path.join(split, "cpu_tuning.txt"), "w") as f:
            f.write("fastest please\n")
        expect_error(["train", "--resume", split, "--threads", "1", "--progress", "off"], 1, "cpu_tuning.txt:1")


def wait_for_iter(metrics, at_least, proc, timeout=120):
    """Waits until metrics.jsonl logs an iteration >= at_least (or the process ends)."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        try:
            with open(metrics) as f:
                iters = [json.loads(line).get("iter", -1) for line in f if '"kind":"iter"' in line]
            if iters and max(iters) >= at_least:
                return True
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    return False


def test_preempt():
    """SIGTERM stops at a step boundary with a checkpoint and exit 3, and the run resumes to the
    uninterrupted run's very bits; a second signal stops at once (128 + 15); --out of an
    existing run is an error unless --overwrite on."""
    job = ["train", "--model", "resnet8", "--dataset", "synthetic", "--synthetic-size", "2048",
           "--global-batch", "64", "--per-worker-batch", "16", "--epochs", "2", "--warmup-epochs", "1",
           "--decay", "cosine", "--threads", "1", "--progress", "off", "--log-every", "1"]
    # One convolution algorithm in every process: two fresh runs tune by timing and could choose
    # differently (test_resume), and the bits of two runs are compared here.
    os.environ["BIGBATCH_CONV_ALGORITHM"] = "direct"
    with tempfile.TemporaryDirectory(prefix="bigbatch_cli_preempt_") as scratch:
        full, cut = os.path.join(scratch, "full"), os.path.join(scratch, "cut")
        rc, _, err = run(*job, "--out", full)
        check(rc == 0, "the uninterrupted run exits 0", err)
        if rc != 0:
            return
        proc = subprocess.Popen([BINARY, *job, "--out", cut], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        started = wait_for_iter(os.path.join(cut, "metrics.jsonl"), 5, proc)
        check(started, "the run to interrupt got going")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
        check(proc.returncode == 3, f"SIGTERM exits 3, got {proc.returncode}", err)
        check("stopped by SIGTERM after step" in err and f"--resume {cut}" in err,
              "the stop says where it stopped and how to continue", err)
        state = safetensors_metadata(os.path.join(cut, "checkpoints", "last.safetensors"))
        stopped_at = int(state.get("bigbatch.step", "0"))
        check(0 < stopped_at < 64, f"the checkpoint is of a step inside the run, got {stopped_at}", str(state))
        # What a requeued job does: the same command again, with --resume auto.
        rc, _, err = run(*job, "--out", cut, "--resume", "auto")
        check(rc == 0, "the interrupted run resumes through --resume auto", err)
        check(f"at step {stopped_at} of 64" in err, "the resume says from which step it continues", err)
        check_same_tensors(full, cut, "interrupted + resumed equals uninterrupted, bitwise")

        # --resume auto where there is no checkpoint: a new run (replacing what a run left before
        # its first checkpoint).
        fresh = os.path.join(scratch, "fresh")
        os.makedirs(fresh)
        open(os.path.join(fresh, "config.toml"), "w").close()
        rc, _, err = run(*job, "--out", fresh, "--resume", "auto", "--max-iters", "1")
        check(rc == 0 and "resuming" not in err, "--resume auto without a checkpoint starts a new run", err)

        # A second signal does not wait for the step.
        twice = os.path.join(scratch, "twice")
        # Longer steps (kn 512), and the second signal once the first was seen: two signals sent at
        # once would arrive as one.
        slow = [a if a != "64" else "512" for a in job]
        proc = subprocess.Popen([BINARY, *slow, "--out", twice], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        wait_for_iter(os.path.join(twice, "metrics.jsonl"), 1, proc)
        proc.send_signal(signal.SIGTERM)
        err = ""
        while proc.poll() is None and "stop requested" not in err:
            err += proc.stderr.readline()
        proc.send_signal(signal.SIGTERM)
        err += proc.communicate(timeout=120)[1]
        check(proc.returncode == 128 + signal.SIGTERM, f"a second SIGTERM exits 143, got {proc.returncode}", err)

        # --out of an existing run: an error naming --resume and --overwrite; --overwrite on replaces it.
        expect_error([*job, "--out", full, "--max-iters", "1"], 1, "holds a run already")
        expect_error([*job, "--out", full, "--max-iters", "1"], 1, "--overwrite on")
        open(os.path.join(full, "checkpoints", "epoch-9.safetensors"), "w").close()
        rc, _, err = run(*job, "--out", full, "--max-iters", "1", "--overwrite", "on")
        check(rc == 0, "--overwrite on replaces the run", err)
        left = sorted(os.listdir(os.path.join(full, "checkpoints")))
        check(left == ["last.safetensors"], "the old run's checkpoints are gone", str(left))


def safetensors_header(path):
    """The JSON header of a safetensors file (8-byte little-endian length, then the JSON)."""
    with open(path, "rb") as f:
        size = int.from_bytes(f.read(8), "little")
        return json.loads(f.read(size)), 8 + size


def safetensors_metadata(path):
    return safetensors_header(path)[0].get("__metadata__", {})


def check_same_tensors(run_a, run_b, what):
    """Checks that two runs' last checkpoints hold the same tensors, byte for byte; returns run_a's."""
    a = read_tensor_bytes(os.path.join(run_a, "checkpoints", "last.safetensors"))
    b = read_tensor_bytes(os.path.join(run_b, "checkpoints", "last.safetensors"))
    differ = sorted(name for name in a if a[name] != b.get(name))
    check(sorted(a) == sorted(b) and not differ, what, f"tensors that differ: {differ[:5]}")
    return a


def read_tensor_bytes(path):
    """{name: raw bytes} of a safetensors file (8-byte header length, JSON header, data)."""
    header, begin = safetensors_header(path)
    with open(path, "rb") as f:
        data = f.read()[begin:]
    return {name: data[entry["data_offsets"][0]:entry["data_offsets"][1]]
            for name, entry in header.items() if name != "__metadata__"}


def main():
    global BINARY
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    case, BINARY = sys.argv[1], sys.argv[2]
    {"help": test_help, "models": test_models, "bench": test_bench, "errors": test_errors,
     "resume": test_resume, "preempt": test_preempt,
     "threads": test_threads, "aux_loss_weight": test_aux_loss_weight_warns}[case]()
    for f in failures:
        print("FAIL:", f, "\n")
    print(f"cli_test {case}: {'FAILED' if failures else 'passed'}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
