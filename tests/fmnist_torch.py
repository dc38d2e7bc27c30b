"""What the PyTorch-peer tests share (tests/train/torch_parity.py, tests/models/gradient_accuracy.py):
Debian's torch (or exit 77, ctest's SKIP_RETURN_CODE), Fashion-MNIST normalised exactly as
bigbatch does, the pure-Python safetensors reader and the PyTorch CIFAR ResNet of bench/pytorch,
and running the bigbatch binary."""

import gzip
import os
import struct
import subprocess
import sys
from pathlib import Path

SKIP = 77
ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = Path("/usr/share/datasets/fashion-mnist")
# src/bigbatch/data/idx.h: float constants, widened to double by channel_affine.
MEAN, STD = 0.2860, 0.3530
THREADS = 2

try:
    import torch
    import torch.nn.functional as F  # noqa: F401  re-exported for the tests
except ImportError as e:
    print(f"SKIP: /usr/bin/python3 cannot import torch ({e}); apt-get install python3-torch", flush=True)
    sys.exit(SKIP)

sys.path.insert(0, str(ROOT / "bench" / "pytorch"))
sys.path.insert(0, str(ROOT / "tests" / "io"))
import torch_interop as safetensors_py  # noqa: E402,F401  pure-Python safetensors reader/writer
import train_step  # noqa: E402,F401  the PyTorch CIFAR ResNet with torchvision's names


def fail(message):
    print(f"FAIL: {message}", flush=True)
    sys.exit(1)


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def read_idx(path, count=None):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return torch.frombuffer(bytearray(data[4 + 4 * ndim:]), dtype=torch.uint8).reshape(dims)[:count]


def load_split(train, count=None):
    """The split's first `count` examples (all by default), normalised in float32 exactly as
    data/dataset.cpp: scale and shift folded in double from the f32 constants, rounded once to
    f32, then x = float(p)·scale + shift in f32 (two roundings, no FMA)."""
    prefix = "train" if train else "t10k"
    pixels = read_idx(DATA_DIR / f"{prefix}-images-idx3-ubyte.gz", count)
    labels = read_idx(DATA_DIR / f"{prefix}-labels-idx1-ubyte.gz", count).long()
    m, s = f32(MEAN), f32(STD)
    scale = torch.tensor(1.0 / (255.0 * s), dtype=torch.float32)
    shift = torch.tensor(-m / s, dtype=torch.float32)
    return pixels.float().mul(scale).add(shift).unsqueeze(1).contiguous(), labels


def run(args):
    """Runs a command (passive OpenMP waits), fails the test on a non-zero exit; returns stdout."""
    print("+ " + " ".join(str(a) for a in args), flush=True)
    env = dict(os.environ, OMP_WAIT_POLICY="passive")
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env)
    if result.returncode != 0:
        fail(f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}")
    return result.stdout
