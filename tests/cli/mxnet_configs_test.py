#!/usr/bin/python3
"""Smoke test of experiments/mxnet_resnet152/*.toml: MXNet's published ResNet-152 runs (kn 256,
2560, 5120 with MXNet's hand-set eta) and the same jobs under Goyal et al.'s linear rule with
gradual warmup.

For each of the six configs:
1. the file's own keys are exactly the schedule its README states (model, kn, n, eta and how it
   is reached, warmup, decay epochs, augmentation stop, epochs, momentum, wd), and no other;
2. `bigbatch train --config FILE` trains one step of it on a tiny JPEG tree (tests/testing/
   jpeg_tree.py, PIL; skipped without), with only the sizes overridden (--image-size, threads, n 32 -> 2, and
   kn and B0 shrunk by the same factor, so that kn/B0, and with it the linear rule's eta, is the
   config's), and bigbatch's own account of the job is checked: its learning-rate line (eta,
   warmup, decay epochs, 110 epochs) and its resolved config.toml (every key of the file not
   overridden, augment_until_epoch 100 included).
Usage: mxnet_configs_test.py PATH/TO/bigbatch EXPERIMENTS_DIR SCRATCH_DIR"""

import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "testing"))
try:
    from jpeg_tree import make_tree  # noqa: E402  the tests' ImageFolder trees (PIL)
except ImportError:
    print("mxnet_configs_test: skipped: PIL missing")
    sys.exit(77)

# The README's table: kn -> (MXNet's hand-set eta, MXNet's decay epochs); the rule is
# eta = 0.1 * kn / 256 with 5 epochs of gradual warmup and MXNet's kn 256 decays.
MXNET = {256: (0.1, [30, 60, 90]), 2560: (0.5, [30, 60, 90]), 5120: (1.0, [50, 70, 90])}
COMMON = {"model": "resnet152", "dataset": "imagefolder", "per_worker_batch": 32, "epochs": 110,
          "decay": "step", "decay_factor": 0.1, "momentum": 0.9, "wd": 1e-4, "augment": "standard",
          "augment_until_epoch": 100}


def expected_keys(kind, kn):
    keys = dict(COMMON, global_batch=kn, out=f"runs/mxnet_resnet152/{kind}-kn{kn}")
    if kind == "mxnet":
        eta, decays = MXNET[kn]
        keys.update(lr=eta, scaling="none", warmup="none", warmup_epochs=0, decay_epochs=decays)
    else:
        keys.update(lr=0.1, ref_batch=256, scaling="linear", warmup="gradual", warmup_epochs=5,
                    decay_epochs=[30, 60, 90])
    return keys


def eta_of(keys):
    """eta as RECIPE.md 1 resolves it from a config's keys."""
    if keys["scaling"] == "none":
        return keys["lr"]
    if keys["scaling"] != "linear":
        return float("nan")
    return keys["lr"] * keys["global_batch"] / keys.get("ref_batch", 256)


# --- the checks

failures = []


def check(condition, what, detail=""):
    if not condition:
        failures.append(f"{what}\n{detail}".rstrip())
    return condition


def close(a, b):
    return abs(a - b) <= 1e-12 * max(1.0, abs(b))


def same_value(resolved, expected):
    if isinstance(expected, bool) or isinstance(resolved, bool):
        return resolved == expected
    if isinstance(expected, (int, float)) and isinstance(resolved, (int, float)):
        return close(float(resolved), float(expected))
    return resolved == expected


def smoke(binary, path, kind, kn, tree, scratch):
    name = os.path.basename(path)
    try:
        with open(path, "rb") as f:
            keys = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        check(False, f"{name}: not TOML: {e}")
        return 0.0
    want = expected_keys(kind, kn)
    for key in sorted(set(keys) | set(want)):
        check(key in keys and key in want and same_value(keys[key], want[key]),
              f"{name}: {key} = {keys.get(key, '(absent)')!r}, the README says {want.get(key, '(absent)')!r}")
    eta = eta_of(want)
    check(close(eta_of(keys) if {"scaling", "lr", "global_batch"} <= set(keys) else float("nan"), eta),
          f"{name}: eta resolves to {eta}", str(keys))

    # One step at the config's kn/B0: kn and B0 divided by 128 (B0 256 -> 2; kn 256 / 2560 / 5120 ->
    # 2 / 20 / 40), n 32 -> 2 (n enters no learning rate). The schedule keys are the file's.
    factor = 128
    small = {"global_batch": kn // factor, "per_worker_batch": 2, "ref_batch": 256 // factor}
    run_dir = os.path.join(scratch, name[:-5])
    args = [binary, "train", "--config", path, "--data-dir", tree, "--out", run_dir, "--image-size", "16",
            "--global-batch", str(small["global_batch"]), "--per-worker-batch", str(small["per_worker_batch"]),
            "--ref-batch", str(small["ref_batch"]), "--max-iters", "1", "--threads", "1", "--decode-threads", "1",
            "--eval-batch", "6", "--log-every", "1", "--progress", "off"]
    start = time.monotonic()
    proc = subprocess.run(args, capture_output=True, text=True, timeout=240)
    seconds = time.monotonic() - start
    detail = f"args: {args}\nrc: {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    if not check(proc.returncode == 0 and "test error" in proc.stdout, f"{name}: one step trains", detail):
        return seconds
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        records = [json.loads(line) for line in f]
    runs = [r for r in records if r.get("kind") == "run"]
    policy = runs[0].get("lr_policy", "") if runs else ""
    check(any(r.get("kind") == "iter" and close(r["lr"], eta if kind == "mxnet" or kn <= 256 else 0.1)
              for r in records),
          f"{name}: step 1 runs at {'eta' if kind == 'mxnet' or kn <= 256 else 'eta0 (warmup start)'}",
          json.dumps(records))
    if kind == "mxnet":
        lr_text = f"lr: {eta:g} (none) = {eta:g}; no warmup;"
    elif kn <= 256:
        lr_text = (f"lr: 0.1 x {small['global_batch']}/{small['ref_batch']} (linear) = {eta:g}; "
                   "no warmup (gradual asked, but eta <= eta0 at kn <= B0);")
    else:
        lr_text = (f"lr: 0.1 x {small['global_batch']}/{small['ref_batch']} (linear) = {eta:g}; "
                   "gradual warmup from 0.1 over 5 epochs")
    decays = ",".join(str(e) for e in want["decay_epochs"])
    for needle in (lr_text, f"step x0.1 at epochs {decays}; 110 epochs x "):
        check(needle in policy, f"{name}: bigbatch's learning-rate line has '{needle}'", policy)
    with open(os.path.join(run_dir, "config.toml"), "rb") as f:
        resolved = tomllib.load(f)
    overridden = {"global_batch", "per_worker_batch", "ref_batch", "out"}
    for key, value in keys.items():
        if key in overridden:
            continue
        on_off = {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value
        check(same_value(resolved.get(key), on_off),
              f"{name}: the run's config.toml has {key} = {resolved.get(key)!r}, the file {value!r}")
    check(resolved.get("augment_until_epoch") == 100 and resolved.get("epochs") == 110,
          f"{name}: the run's config.toml stops augmenting at 100 of 110 epochs", str(resolved))
    return seconds


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    binary, experiments, scratch = sys.argv[1:]
    shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(scratch)
    tree = os.path.join(scratch, "tree")
    make_tree(tree, train=14, val=2)
    folder = os.path.join(experiments, "mxnet_resnet152")
    found = sorted(f for f in os.listdir(folder) if f.endswith(".toml"))
    names = [f"{kind}-kn{kn}.toml" for kind in ("mxnet", "linear") for kn in sorted(MXNET)]
    check(found == sorted(names), f"{folder} holds exactly the six configs", str(found))
    for name in names:
        kind, kn = name[:-5].split("-kn")
        path = os.path.join(folder, name)
        if check(os.path.exists(path), f"{path} exists"):
            seconds = smoke(binary, path, kind, int(kn), tree, scratch)
            print(f"{name}: {seconds:.1f} s")
    for f in failures:
        print("FAIL:", f, "\n")
    print(f"mxnet_configs_test: {'FAILED' if failures else 'passed'}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
