#!/usr/bin/python3
"""Smoke test of experiments/mxnet_resnet152/*.toml: MXNet's published ResNet-152 runs (kn 256,
2560, 5120 with MXNet's hand-set eta) and the same jobs under Goyal et al.'s linear rule with
gradual warmup.

For each of the six configs:
1. the file's own keys are exactly the schedule its README states (model, kn, n, eta and how it
   is reached, warmup, decay epochs, augmentation stop, epochs, momentum, wd), and no other;
2. `bigbatch train --config FILE` trains one step of it on a tiny JPEG tree written here (no PIL:
   a baseline encoder below), with only the sizes overridden (--image-size, threads, n 32 -> 2, and
   kn and B0 shrunk by the same factor, so that kn/B0, and with it the linear rule's eta, is the
   config's), and bigbatch's own account of the job is checked: its learning-rate line (eta,
   warmup, decay epochs, 110 epochs) and its resolved config.toml (every key of the file not
   overridden, augment_until_epoch 100 included).
Usage: mxnet_configs_test.py PATH/TO/bigbatch EXPERIMENTS_DIR SCRATCH_DIR"""

import json
import math
import os
import random
import shutil
import struct
import subprocess
import sys
import time
import tomllib

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


# --- a baseline JPEG encoder (YCbCr 4:4:4, one flat quantisation table, Huffman tables of
# fixed-length codes), enough for libjpeg to read and small enough to need nothing installed.

ZIGZAG = sorted(range(64), key=lambda i: (i // 8 + i % 8, (i % 8) if (i // 8 + i % 8) % 2 else (i // 8)))
COS = [[(math.sqrt(0.5) if u == 0 else 1.0) * math.cos((2 * x + 1) * u * math.pi / 16) / 2 for x in range(8)]
       for u in range(8)]
QUANT = 6
DC_SYMBOLS = list(range(12))  # size categories 0..11, 4-bit codes
AC_SYMBOLS = [0x00, 0xF0] + [(run << 4) | size for run in range(16) for size in range(1, 11)]  # 8-bit codes
DC_CODE = {s: (i, 4) for i, s in enumerate(DC_SYMBOLS)}
AC_CODE = {s: (i, 8) for i, s in enumerate(AC_SYMBOLS)}


class Bits:
    def __init__(self):
        self.out, self.acc, self.n = bytearray(), 0, 0

    def put(self, value, length):
        for i in range(length - 1, -1, -1):
            self.acc = (self.acc << 1) | ((value >> i) & 1)
            self.n += 1
            if self.n == 8:
                self.out.append(self.acc)
                if self.acc == 0xFF:
                    self.out.append(0)  # byte stuffing
                self.acc, self.n = 0, 0

    def flush(self):
        if self.n:
            self.put((1 << (8 - self.n)) - 1, 8 - self.n)  # pad with 1-bits
        return bytes(self.out)


def magnitude(v):
    size = abs(v).bit_length()
    return size, (v if v >= 0 else v + (1 << size) - 1)


def encode_block(bits, block, previous_dc):
    """block: 64 samples (row-major) minus 128; returns its quantised DC."""
    coeffs = [0] * 64
    for u in range(8):
        for v in range(8):
            s = sum(COS[u][y] * COS[v][x] * block[y * 8 + x] for y in range(8) for x in range(8))
            coeffs[u * 8 + v] = int(round(s / QUANT))
    zz = [coeffs[i] for i in ZIGZAG]
    size, extra = magnitude(zz[0] - previous_dc)
    bits.put(*DC_CODE[size])
    bits.put(extra, size)
    run = 0
    for c in zz[1:]:
        if c == 0:
            run += 1
            continue
        while run > 15:
            bits.put(*AC_CODE[0xF0])
            run -= 16
        size, extra = magnitude(max(-1023, min(1023, c)))
        bits.put(*AC_CODE[(run << 4) | size])
        bits.put(extra, size)
        run = 0
    if run:
        bits.put(*AC_CODE[0x00])
    return zz[0]


def segment(marker, payload):
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def huffman_table(table_class, symbols, length):
    counts = [0] * 16
    counts[length - 1] = len(symbols)
    return bytes([table_class << 4]) + bytes(counts) + bytes(symbols)


def encode_jpeg(width, height, pixel):
    """pixel(x, y) -> (r, g, b); returns the bytes of a baseline JPEG."""
    planes = [[0.0] * (width * height) for _ in range(3)]
    for y in range(height):
        for x in range(width):
            r, g, b = pixel(x, y)
            i = y * width + x
            planes[0][i] = 0.299 * r + 0.587 * g + 0.114 * b
            planes[1][i] = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
            planes[2][i] = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b
    bits, dc = Bits(), [0, 0, 0]
    for by in range(0, height, 8):
        for bx in range(0, width, 8):
            for c in range(3):
                block = [planes[c][min(by + y, height - 1) * width + min(bx + x, width - 1)] - 128
                         for y in range(8) for x in range(8)]
                dc[c] = encode_block(bits, block, dc[c])
    header = b"\xff\xd8" + segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
    header += segment(0xDB, b"\x00" + bytes([QUANT] * 64))
    header += segment(0xC0, struct.pack(">BHHB", 8, height, width, 3) + b"\x01\x11\x00\x02\x11\x00\x03\x11\x00")
    header += segment(0xC4, huffman_table(0, DC_SYMBOLS, 4) + huffman_table(1, AC_SYMBOLS, 8))
    header += segment(0xDA, b"\x03\x01\x00\x02\x00\x03\x00\x00\x3f\x00")
    return header + bits.flush() + b"\xff\xd9"


def make_tree(root, classes=("a", "b", "c"), train=14, val=2):
    """D/train/<class>/*.jpg and D/val/<class>/*.jpg: a colour per class, a seeded square on it."""
    rng = random.Random(0)
    for split, count in (("train", train), ("val", val)):
        for k, name in enumerate(classes):
            os.makedirs(os.path.join(root, split, name), exist_ok=True)
            base = [(200, 40, 40), (40, 200, 40), (40, 40, 200)][k % 3]
            for i in range(count):
                w, h = 20 + rng.randrange(8), 18 + rng.randrange(8)
                x0, y0, side = rng.randrange(w // 2), rng.randrange(h // 2), 4 + rng.randrange(6)

                def pixel(x, y, x0=x0, y0=y0, side=side, base=base):
                    inside = x0 <= x < x0 + side and y0 <= y < y0 + side
                    return tuple(255 - c if inside else min(255, c + 3 * (x + y)) for c in base)

                with open(os.path.join(root, split, name, f"{i}.jpg"), "wb") as f:
                    f.write(encode_jpeg(w, h, pixel))


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
    make_tree(tree)
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
