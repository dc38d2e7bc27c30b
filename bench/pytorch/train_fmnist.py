#!/usr/bin/python3
"""PyTorch peer of `bigbatch train` for time-to-accuracy on Fashion-MNIST (or MNIST): the same
model, data normalisation and large-minibatch recipe (RECIPE.md), driven by the same TOML
configuration, writing the same metrics.jsonl, so `bigbatch plot` draws both runs side by side.

usage: /usr/bin/python3 bench/pytorch/train_fmnist.py --config experiments/fmnist_resnet20.toml \\
           [--out DIR] [--threads T] [--ghost-bn on|off] [--channels-last] [--epochs E] [...]

Every key of a bigbatch config is also a flag here, with - for _ (--global-batch 1024,
--warmup-epochs 2, ...); flags override the file, as in bigbatch. PyTorch-only options:
  --ghost-bn on|off   on (default): BN statistics per group of n = per_worker_batch consecutive
                      examples (bigbatch's virtual workers); off: plain BN over the whole batch.
  --channels-last     NHWC activations and weights (often PyTorch's fastest CPU layout).
  --threads T         torch.set_num_threads(T); default: the config's threads, else 2.
  --resume DIR        continue the run in DIR after its last whole epoch (DIR/checkpoint.pt, written
                      at every epoch's end; DIR/config.toml is the configuration, flags over it).

The recipe, as bigbatch (src/bigbatch/train/trainer.cpp):
  loss = sum of cross-entropy / kn; SGD momentum m (u-form: u <- m.u + g + wd.w; w <- w - lr.u),
  weight decay on conv and fc weights only (unless wd_on_bn); optimizer = lars scales each conv/fc
  weight's g + wd.w by eta_lars.|w|/(|g| + wd.|w|) before momentum (RECIPE 9, apply_lars() below;
  BN and biases too with lars_on_bn); lr = lr0 . kn/ref_batch (linear),
  gradual warmup per iteration from lr0 over W epochs, then step, cosine or poly decay
  (lr_at() below is src/bigbatch/optim/lr_policy.cpp); zero-gamma on the last BN of each block,
  He fan-out init, fc N(0, 0.01^2); one seeded permutation per epoch, last incomplete batch
  dropped; augmentation none or standard (random crop with 4 px of black padding + horizontal
  flip, drawn per example); test evaluation every epoch. The random streams (initial weights,
  order, augmentation) are PyTorch's/NumPy's, not bigbatch's, so runs match in distribution, not
  bit for bit.

Run with Debian's interpreter (/usr/bin/python3, which has python3-torch)."""

import argparse
import gzip
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_step import BasicBlock, build_model  # noqa: E402  (same models, same names)

PROG = "train_fmnist.py"
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"  # src/bigbatch/data/idx.h kFashionMnistDir
# Per-dataset (mean, stddev) on the [0, 1] scale, as float32 like bigbatch's Dataset::mean/stddev
# (src/bigbatch/data/idx.h, src/bigbatch/train/datasets.cpp).
NORMALIZATION = {"fashion-mnist": (0.2860, 0.3530), "mnist": (0.1307, 0.3081)}
AUGMENT_PAD = 4  # src/bigbatch/data/augment.h AugmentOptions::pad
BN_EPS = 1e-5  # src/bigbatch/ops/batch_norm.h
BN_MOMENTUM = 0.1  # PyTorch's convention; the paper's 0.9


# --- configuration: the keys of `bigbatch train` (src/bigbatch/cli/train_options.cpp) ---------

def _int(key, text):
    try:
        return int(text, 10)
    except ValueError:
        raise ValueError(f"{key}: expected an integer, got '{text}'") from None


def _float(key, text):
    try:
        x = float(text)
    except ValueError:
        x = float("nan")
    if not math.isfinite(x):
        raise ValueError(f"{key}: expected a number, got '{text}'")
    return x


def _bool(key, text):
    if text in ("on", "true", "1", "yes"):
        return True
    if text in ("off", "false", "0", "no"):
        return False
    raise ValueError(f"{key}: expected on or off, got '{text}'")


def _choice(*names):
    def parse(key, text):
        if text not in names:
            raise ValueError(f"{key}: expected {', '.join(names[:-1])} or {names[-1]}, got '{text}'")
        return text
    return parse


def _epoch_list(key, text):
    if text.strip() == "":
        return []
    try:
        return [int(item.strip(), 10) for item in text.split(",")]
    except ValueError:
        raise ValueError(f"{key}: expected a comma-separated list of epochs such as 30,60,80, got '{text}'") from None


def _str(key, text):
    return text


# key -> (parser of the text a flag carries, default); defaults are TrainConfig's (train_config.h).
KEYS = {
    "model": (_str, "resnet20"),
    "dataset": (_str, "fashion-mnist"),
    "data_dir": (_str, ""),
    "synthetic_size": (_int, 4096),
    "global_batch": (_int, 1024),
    "per_worker_batch": (_int, 32),
    "micro_batch": (_int, 0),
    "lr": (_float, 0.1),
    "ref_batch": (_int, 256),
    "scaling": (_choice("linear", "sqrt", "none"), "linear"),
    "warmup": (_choice("gradual", "constant", "none"), "gradual"),
    "warmup_epochs": (_int, 5),
    "epochs": (_int, 90),
    "decay": (_choice("step", "cosine", "poly"), "step"),
    "decay_epochs": (_epoch_list, [30, 60, 80]),
    "decay_factor": (_float, 0.1),
    "final_lr": (_float, 0.0),
    "poly_power": (_float, 2.0),
    "momentum": (_float, 0.9),
    "momentum_form": (_choice("u", "v"), "u"),
    "nesterov": (_bool, False),
    "wd": (_float, 1e-4),
    "wd_on_bn": (_bool, False),
    "optimizer": (_choice("sgd", "lars"), "sgd"),
    "lars_eta": (_float, 0.001),
    "lars_on_bn": (_bool, False),
    "zero_gamma": (_bool, True),
    "shuffle": (_bool, True),
    "augment": (_choice("standard", "none"), "standard"),
    "augment_until_epoch": (_int, -1),
    "max_iters": (_int, 0),
    "seed": (_int, 0),
    "threads": (_int, 0),
    "precision": (_choice("f32", "bf16"), "f32"),
    "init": (_str, ""),
    "resume": (_str, ""),
    "out": (_str, "runs/default"),
    "log_every": (_int, 10),
    "checkpoint_every": (_int, 1),
    "eval_batch": (_int, 500),
    "progress": (_bool, True),
}


def load_toml(path):
    try:
        import tomllib  # Python >= 3.11
        with open(path, "rb") as f:
            return tomllib.load(f)
    except ImportError:
        import toml  # Debian's python3-toml
        with open(path, encoding="utf-8") as f:
            return toml.load(f)


def toml_value_text(key, value, origin):
    """A TOML value as the text a flag would have carried (bigbatch's value_text)."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (int, float, str)):
        return str(value) if not isinstance(value, float) else repr(value)
    if isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return ",".join(str(v) for v in value)
    raise ValueError(f"[config] {origin}: {key}: unsupported value type")


def resolve_config(config_path, flag_values):
    config = {key: default for key, (_, default) in KEYS.items()}
    if config_path:
        try:
            table = load_toml(config_path)
        except OSError as e:
            raise ValueError(f"[config] {config_path}: cannot open: {e.strerror}") from None
        except Exception as e:  # tomllib.TOMLDecodeError / toml.TomlDecodeError
            raise ValueError(f"[config] {config_path}: {e}") from None
        for key, value in table.items():
            if key not in KEYS:
                raise ValueError(f"[config] {config_path}: unknown key '{key}' (every key is a flag of "
                                 "`bigbatch train --help`, with _ for -)")
            try:
                config[key] = KEYS[key][0](key, toml_value_text(key, value, config_path))
            except ValueError as e:
                raise ValueError(f"[config] {config_path}: {e}") from None
    for key, text in flag_values.items():
        try:
            config[key] = KEYS[key][0](key, text)
        except ValueError as e:
            raise ValueError(f"[config] --{key.replace('_', '-')}{str(e)[len(key):]}") from None
    validate(config)
    return config


def validate(c):
    """train::validate (src/bigbatch/train/train_config.cpp), plus what this peer does not do."""
    def check(ok, message):
        if not ok:
            raise ValueError("[config] " + message)
    check(c["per_worker_batch"] > 0, f"per-worker-batch: expected > 0, got {c['per_worker_batch']}")
    check(c["global_batch"] > 0, f"global-batch: expected > 0, got {c['global_batch']}")
    check(c["global_batch"] % c["per_worker_batch"] == 0,
          f"global-batch {c['global_batch']} is not divisible by per-worker-batch {c['per_worker_batch']} "
          "(kn must be k whole workers of n)")
    check(c["micro_batch"] >= 0, f"micro-batch: expected >= 0, got {c['micro_batch']}")
    if c["micro_batch"] > 0:
        check(c["micro_batch"] % c["per_worker_batch"] == 0,
              f"micro-batch {c['micro_batch']} must be whole workers: a multiple of per-worker-batch "
              f"{c['per_worker_batch']} (RECIPE §8)")
        check(c["global_batch"] % c["micro_batch"] == 0,
              f"global-batch {c['global_batch']} is not divisible by micro-batch {c['micro_batch']}")
    check(c["lr"] > 0, f"lr: expected > 0, got {c['lr']}")
    check(c["ref_batch"] > 0, f"ref-batch: expected > 0, got {c['ref_batch']}")
    check(c["epochs"] > 0, f"epochs: expected > 0, got {c['epochs']}")
    check(c["warmup_epochs"] >= 0, f"warmup-epochs: expected >= 0, got {c['warmup_epochs']}")
    check(0 <= c["momentum"] < 1, f"momentum: expected in [0, 1), got {c['momentum']}")
    check(c["wd"] >= 0, f"wd: expected >= 0, got {c['wd']}")
    check(c["lars_eta"] > 0, f"lars-eta: expected > 0, got {c['lars_eta']}")
    check(c["max_iters"] >= 0, f"max-iters: expected >= 0, got {c['max_iters']}")
    check(c["threads"] >= 0, f"threads: expected >= 0, got {c['threads']}")
    check(c["log_every"] > 0, f"log-every: expected > 0, got {c['log_every']}")
    check(c["checkpoint_every"] > 0, f"checkpoint-every: expected > 0, got {c['checkpoint_every']}")
    check(c["eval_batch"] > 0, f"eval-batch: expected > 0, got {c['eval_batch']}")
    check(c["out"] != "", "out: expected a run directory")
    check(c["dataset"] in NORMALIZATION,
          f"dataset: the PyTorch peer reads fashion-mnist or mnist idx files, got '{c['dataset']}'")
    check(c["dataset"] == "fashion-mnist" or c["data_dir"] != "",
          "data-dir: mnist needs its directory (only Fashion-MNIST has a default)")
    check(c["init"] == "", "init: not supported by the PyTorch peer")
    check(c["resume"] == "" or c["resume"] == c["out"], "resume: the run directory continued is the run's out")


def to_toml(c):
    def value(x):
        if isinstance(x, bool):
            return '"on"' if x else '"off"'
        if isinstance(x, float):
            return repr(x)
        if isinstance(x, list):
            return "[" + ", ".join(str(v) for v in x) + "]"
        if isinstance(x, str):
            return json.dumps(x)
        return str(x)
    lines = ["# bigbatch training configuration (resolved by the PyTorch peer: defaults, file, then flags)"]
    lines += [f"{key} = {value(c[key])}" for key in KEYS]
    return "\n".join(lines) + "\n"


# --- learning-rate policy: src/bigbatch/optim/lr_policy.{h,cpp}, formula for formula ----------

class LrPolicy:
    def __init__(self, c, iters_per_epoch):
        self.c = c
        self.ipe = iters_per_epoch
        ratio = float(c["global_batch"]) / float(c["ref_batch"])
        self.eta0 = c["lr"]
        self.eta = {"linear": c["lr"] * ratio, "sqrt": c["lr"] * math.sqrt(ratio), "none": c["lr"]}[c["scaling"]]
        asked = c["warmup"] != "none" and c["warmup_epochs"] > 0
        if asked and c["warmup_epochs"] >= c["epochs"]:
            raise ValueError(f"[lr] expected warmup epochs < epochs, got {c['warmup_epochs']} warmup of "
                             f"{c['epochs']} epochs")
        # Warmup starts at min(eta0, eta): at or below the reference batch there is none.
        self.warmup_skipped = asked and not self.eta > self.eta0
        self.warmup_epochs = c["warmup_epochs"] if asked and not self.warmup_skipped else 0
        self.warmup_iters = self.warmup_epochs * iters_per_epoch
        self.total_iters = c["epochs"] * iters_per_epoch
        if c["decay"] == "step":
            if not 0 < c["decay_factor"] <= 1:
                raise ValueError(f"[lr] expected decay factor in (0, 1], got {c['decay_factor']}")
            previous = self.warmup_epochs
            for e in c["decay_epochs"]:
                if not e > previous:
                    raise ValueError(f"[lr] expected decay epochs strictly increasing and after the "
                                     f"{self.warmup_epochs} warmup epochs, got {e} after {previous}")
                if not e <= c["epochs"]:
                    raise ValueError(f"[lr] expected decay epochs <= {c['epochs']} epochs, got {e}")
                previous = e
        else:
            if c["decay"] == "poly" and not c["poly_power"] > 0:
                raise ValueError(f"[lr] expected poly power > 0, got {c['poly_power']}")
            if not 0 <= c["final_lr"] <= self.eta:
                raise ValueError(f"[lr] expected final lr in [0, {self.eta}], got {c['final_lr']}")

    def lr_at(self, t):
        c = self.c
        if t < self.warmup_iters:
            if c["warmup"] == "gradual":
                return self.eta0 + (self.eta - self.eta0) * (float(t) / float(self.warmup_iters))
            return self.eta0  # constant
        if c["decay"] == "step":
            lr = self.eta
            for e in c["decay_epochs"]:
                if t >= e * self.ipe:
                    lr *= c["decay_factor"]
            return lr
        post = self.total_iters - self.warmup_iters
        done = min(t, self.total_iters) - self.warmup_iters
        x = float(done) / float(post)
        shape = 0.5 * (1.0 + math.cos(math.pi * x)) if c["decay"] == "cosine" else (1.0 - x) ** c["poly_power"]
        return c["final_lr"] + (self.eta - c["final_lr"]) * shape

    def describe(self):
        c = self.c
        s = f"lr: {c['lr']:.8g}"
        if c["scaling"] == "linear":
            s += f" x {c['global_batch']}/{c['ref_batch']}"
        elif c["scaling"] == "sqrt":
            s += f" x sqrt({c['global_batch']}/{c['ref_batch']})"
        s += f" ({c['scaling']}) = {self.eta:.8g}; "
        if self.warmup_iters > 0:
            s += f"{c['warmup']} warmup from {c['lr']:.8g} over {c['warmup_epochs']} epochs ({self.warmup_iters} iters); "
        elif self.warmup_skipped:
            s += f"no warmup ({c['warmup']} asked, but eta <= eta0 at kn <= B0); "
        else:
            s += "no warmup; "
        if c["decay"] == "step":
            epochs = ",".join(str(e) for e in c["decay_epochs"]) or "(none)"
            s += f"step x{c['decay_factor']:.8g} at epochs {epochs}"
        elif c["decay"] == "cosine":
            s += f"cosine to {c['final_lr']:.8g}"
        else:
            s += f"poly power {c['poly_power']:.8g} to {c['final_lr']:.8g}"
        return s + f"; {c['epochs']} epochs x {self.ipe} iters = {self.total_iters} iters"


# --- data: idx files, bigbatch's normalisation and augmentation --------------------------------

def read_idx(path):
    """One idx file (gzipped when PATH.gz exists, as bigbatch's load_mnist) as a numpy array."""
    if os.path.exists(path + ".gz"):
        with gzip.open(path + ".gz", "rb") as f:
            data = f.read()
        path += ".gz"
    else:
        with open(path, "rb") as f:
            data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"[data:idx] {path}: not an idx file of unsigned bytes")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise ValueError(f"[data:idx] {path}: {body.size} bytes of data, the header says {dims}")
    return body.reshape(dims)


def channel_affine(mean, std):
    """(scale, shift) of x = pixel . scale + shift: channel_affine() of src/bigbatch/data/dataset.cpp.
    mean and std are float32 there, folded in double, rounded once to float32."""
    m, s = float(np.float32(mean)), float(np.float32(std))
    return np.float32(1.0 / (255.0 * s)), np.float32(-m / s)


def load_split(c, train):
    directory = c["data_dir"] or FASHION_MNIST_DIR
    prefix = "train" if train else "t10k"
    images = read_idx(os.path.join(directory, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(os.path.join(directory, f"{prefix}-labels-idx1-ubyte"))
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise ValueError(f"[data:idx] {directory}: {prefix} images {images.shape} and labels {labels.shape} disagree")
    if labels.max() >= 10:
        raise ValueError(f"[data:idx] {directory}: label {labels.max()} outside [0, 10)")
    scale, shift = channel_affine(*NORMALIZATION[c["dataset"]])
    # float32(p) * scale + shift in float32, one value per pixel value, as write_normalized.
    lut = np.arange(256, dtype=np.float32) * scale + shift
    x = torch.from_numpy(lut[images][:, None, :, :].copy())  # N x 1 x H x W
    y = torch.from_numpy(labels.astype(np.int64))
    return x, y, float(shift)


def epoch_rng(seed, epoch, stream):
    return np.random.default_rng([seed, epoch, stream])


def crop_flip(images, indices, draws, pad, fill):
    """Random crop with `pad` pixels of black padding (value `fill` once normalised) and a
    horizontal flip, each example with its own draw (draws: per dataset index dy, dx, flip).
    Output pixel (y, x) reads source (y + dy, (flip ? W-1-x : x) + dx), as augment.cpp."""
    dy, dx, flip = (d[indices] for d in draws)
    b, ch, h, w = images.shape
    padded = images.new_full((b, ch, h + 2 * pad, w + 2 * pad), fill)
    padded[:, :, pad:pad + h, pad:pad + w] = images
    ys = torch.arange(h)[None, :] + dy[:, None] + pad                      # b x H
    xs = torch.arange(w)[None, :].expand(b, w)
    xs = torch.where(flip[:, None], w - 1 - xs, xs) + dx[:, None] + pad    # b x W
    bi = torch.arange(b)[:, None, None, None]
    ci = torch.arange(ch)[None, :, None, None]
    return padded[bi, ci, ys[:, None, :, None], xs[:, None, None, :]]


# --- model: ghost batch norm, bigbatch's initialisation ----------------------------------------

class GhostBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are computed per group of `group_size`
    consecutive examples (bigbatch's virtual workers, RECIPE §6); the running statistics move
    towards the mean over groups of each group's mean and unbiased variance, as
    src/bigbatch/ops/batch_norm.h. Same parameters, buffers and state-dict names as BatchNorm2d.
    Vectorised: the N x C x H x W batch is viewed as G groups and normalised as one
    n x (G.C) x H x W batch norm (what F.instance_norm does internally), one copy each way."""

    group_size = 0  # 0: the whole batch (plain BN)

    def forward(self, x):
        n = self.group_size
        batch = x.shape[0]
        if not self.training or n <= 0 or batch <= n:
            return super().forward(x)
        if batch % n != 0:
            raise ValueError(f"ghost batch norm: batch {batch} is not a multiple of the group size {n}")
        groups, ch = batch // n, x.shape[1]
        channels_last = x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)
        xs = x.reshape(groups, n, ch, -1).transpose(0, 1).reshape(n, groups * ch, -1)
        running_mean = self.running_mean.repeat(groups)
        running_var = self.running_var.repeat(groups)
        y = F.batch_norm(xs, running_mean, running_var, self.weight.repeat(groups), self.bias.repeat(groups),
                         True, self.momentum, self.eps)
        with torch.no_grad():
            self.running_mean.copy_(running_mean.view(groups, ch).mean(0))
            self.running_var.copy_(running_var.view(groups, ch).mean(0))
            self.num_batches_tracked.add_(1)
        y = y.view(n, groups, ch, -1).transpose(0, 1).reshape(x.shape)
        return y.contiguous(memory_format=torch.channels_last) if channels_last else y


def use_ghost_bn(model, group_size):
    """Turns every BatchNorm2d into a GhostBatchNorm2d in place (parameters and buffers kept)."""
    for module in model.modules():
        if type(module) is nn.BatchNorm2d:
            module.__class__ = GhostBatchNorm2d
            module.group_size = group_size


def initialize(model, zero_gamma):
    """src/bigbatch/nn/init.cpp: He normal fan-out on convs, N(0, 0.01^2) on fc, bias 0, BN
    gamma 1 and beta 0, gamma 0 on the last BN of each residual block (zero-gamma)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
            m.reset_running_stats()
            m.momentum, m.eps = BN_MOMENTUM, BN_EPS
    if zero_gamma:
        for m in model.modules():
            if isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)
            elif hasattr(m, "bn3") and hasattr(m, "conv3"):  # torchvision's Bottleneck
                nn.init.zeros_(m.bn3.weight)


# --- training ------------------------------------------------------------------------------------

def evaluate(model, x, y, eval_batch, memory_format, autocast):
    model.eval()
    loss_sum, top1, top5 = 0.0, 0, 0
    with torch.no_grad():
        for begin in range(0, x.shape[0], eval_batch):
            xb = x[begin:begin + eval_batch].contiguous(memory_format=memory_format)
            yb = y[begin:begin + eval_batch]
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                logits = model(xb)
            logits = logits.float()
            loss_sum += F.cross_entropy(logits, yb, reduction="sum").item()
            k = min(5, logits.shape[1])
            top = logits.topk(k, dim=1).indices
            hit = top == yb[:, None]
            top1 += int(hit[:, 0].sum())
            top5 += int(hit.any(dim=1).sum())
    model.train()
    n = x.shape[0]
    return loss_sum / n, 1.0 - top1 / n, 1.0 - top5 / n


def format_duration(seconds):
    if not seconds >= 0 or seconds > 1e7:
        return "--:--"
    s = int(seconds + 0.5)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60:02d}:{s % 60:02d}"


def apply_lars(params, eta):
    """LARS (RECIPE 9; src/bigbatch/optim/sgd.h, u-form): turns each gradient g into l.(g + wd.w), where
    l = eta.|w|/(|g| + wd.|w|) for the tensors LARS scales (1 when a norm is 0) and l = 1 for the
    others; torch's SGD then runs with weight_decay 0: buf <- m.buf + l.(g + wd.w); w <- w - lr.buf."""
    with torch.no_grad():
        for p, wd, scaled in params:
            if p.grad is None:
                continue
            local = 1.0
            if scaled:
                w_norm, g_norm = float(p.norm()), float(p.grad.norm())
                if w_norm > 0 and g_norm > 0:
                    local = eta * w_norm / (g_norm + wd * w_norm)
            p.grad.add_(p, alpha=wd).mul_(local)


def run_identity(c):
    """The configuration a checkpoint must match to be resumed: all but how the run is driven."""
    return to_toml(dict(c, resume="", max_iters=0, threads=0, progress=False))


def train(c, ghost_bn, channels_last, threads):
    torch.set_num_threads(threads)
    torch.manual_seed(c["seed"])
    train_x, train_y, fill = load_split(c, True)
    test_x, test_y, _ = load_split(c, False)
    kn, n = c["global_batch"], c["per_worker_batch"]
    if kn > train_x.shape[0]:
        raise ValueError(f"[data:sampler] global batch {kn} exceeds the dataset size {train_x.shape[0]}: no iterations")
    ipe = train_x.shape[0] // kn  # the last incomplete batch is dropped
    policy = LrPolicy(c, ipe)

    model = build_model(c["model"], train_x.shape[1], 10)
    initialize(model, c["zero_gamma"])
    if ghost_bn:
        use_ghost_bn(model, n)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format).train()
    decay = [p for p in model.parameters() if p.dim() > 1 or c["wd_on_bn"]]
    no_decay = [p for p in model.parameters() if not (p.dim() > 1 or c["wd_on_bn"])]
    # PyTorch's SGD is the u-form (buf <- m.buf + g + wd.w; w <- w - lr.buf); bigbatch's v-form
    # with momentum correction gives the same weights, so momentum_form does not change it.
    lars = c["optimizer"] == "lars"
    # (p, its weight decay, whether LARS scales it): LARS adds the decay itself (apply_lars).
    lars_params = [(p, c["wd"] if (p.dim() > 1 or c["wd_on_bn"]) else 0.0, p.dim() > 1 or c["lars_on_bn"])
                   for p in model.parameters()]
    optimizer = torch.optim.SGD([{"params": decay, "weight_decay": 0.0 if lars else c["wd"]},
                                 {"params": no_decay, "weight_decay": 0.0}],
                                lr=policy.lr_at(0), momentum=c["momentum"], nesterov=c["nesterov"])
    micro = c["micro_batch"] or kn
    parts = kn // micro
    bn_buffers = [b for name, b in model.named_buffers() if name.endswith(("running_mean", "running_var"))]
    autocast = c["precision"] == "bf16"

    os.makedirs(c["out"], exist_ok=True)
    metrics_path = os.path.join(c["out"], "metrics.jsonl")
    checkpoint_path = os.path.join(c["out"], "checkpoint.pt")
    resumed = None
    if c["resume"]:
        # The state after the last whole epoch; the record is cut back to what it had then.
        resumed = torch.load(checkpoint_path)
        if resumed["config"] != run_identity(c):
            raise ValueError(f"[train] {checkpoint_path}: written by another configuration than "
                             f"{c['out']}/config.toml")
        model.load_state_dict(resumed["model"])
        optimizer.load_state_dict(resumed["optimizer"])
        with open(metrics_path, "r+b") as f:
            f.truncate(resumed["metrics_bytes"])
    else:
        with open(os.path.join(c["out"], "config.toml"), "w", encoding="utf-8") as f:
            f.write(to_toml(c))
        if os.path.exists(metrics_path):
            os.remove(metrics_path)  # a new run starts a new record
    metrics = open(metrics_path, "a", encoding="utf-8")

    def write(obj):
        metrics.write(json.dumps(obj) + "\n")
        metrics.flush()

    label = os.path.basename(os.path.normpath(c["out"])) or os.path.basename(os.path.abspath(c["out"]))
    if resumed is None:
        write({"kind": "run", "model": c["model"], "dataset": c["dataset"], "global_batch": kn, "per_worker_batch": n,
           "workers": kn // n, "lr_policy": policy.describe(), "label": label, "engine": "pytorch",
               "optimizer": c["optimizer"], **({"lars_eta": c["lars_eta"]} if lars else {}),
               "torch_version": torch.__version__, "threads": threads, "ghost_bn": ghost_bn,
               "channels_last": channels_last, "precision": c["precision"]})
    log = sys.stderr
    tty = log.isatty()
    bn_text = f"BN per worker of {n}" if ghost_bn else f"BN over the whole batch of {micro}"
    print(f"pytorch: {c['model']} on {c['dataset']}, {kn // n} workers x {n} = {kn} ({bn_text}); "
          f"{policy.describe()}; {threads} threads{', channels_last' if channels_last else ''}, torch "
          f"{torch.__version__}", file=log, flush=True)

    total = c["epochs"] * ipe
    stop = min(total, c["max_iters"]) if c["max_iters"] > 0 else total
    step = resumed["step"] if resumed else 0
    start = time.perf_counter() - (resumed["wall_s"] if resumed else 0.0)
    interval_start, interval_steps = time.perf_counter(), 0
    final = None
    evaluated_last = False
    if resumed:
        print(f"pytorch: resumed {c['out']} after epoch {resumed['epoch']} (step {step})", file=log, flush=True)
    for epoch in range(resumed["epoch"] if resumed else 0, c["epochs"]):
        if step >= stop:
            break
        order = (torch.from_numpy(epoch_rng(c["seed"], epoch, 0).permutation(train_x.shape[0]))
                 if c["shuffle"] else torch.arange(train_x.shape[0]))
        augment = c["augment"] == "standard" and not (0 <= c["augment_until_epoch"] <= epoch)
        if augment:
            rng = epoch_rng(c["seed"], epoch, 1)
            size = train_x.shape[0]
            draws = (torch.from_numpy(rng.integers(-AUGMENT_PAD, AUGMENT_PAD + 1, size)),
                     torch.from_numpy(rng.integers(-AUGMENT_PAD, AUGMENT_PAD + 1, size)),
                     torch.from_numpy(rng.integers(0, 2, size).astype(bool)))
        loss_sum, correct, seen = 0.0, 0, 0
        for it in range(ipe):
            if step >= stop:
                break
            idx = order[it * kn:(it + 1) * kn]
            xb = train_x[idx]
            if augment:
                xb = crop_flip(xb, idx, draws, AUGMENT_PAD, fill)
            xb = xb.contiguous(memory_format=memory_format)
            yb = train_y[idx]
            lr = policy.lr_at(step)
            for group in optimizer.param_groups:
                group["lr"] = lr
            optimizer.zero_grad(set_to_none=True)
            if parts > 1:
                start_stats = [b.clone() for b in bn_buffers]
                sum_stats = [torch.zeros_like(b) for b in bn_buffers]
            loss = 0.0
            for j in range(parts):
                # Micro-batches are whole workers (RECIPE §8); each starts from the step's running
                # statistics and their results are averaged, as bigbatch's trainer.
                if parts > 1 and j > 0:
                    for b, s in zip(bn_buffers, start_stats):
                        b.copy_(s)
                xm, ym = xb[j * micro:(j + 1) * micro], yb[j * micro:(j + 1) * micro]
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                    logits = model(xm)
                logits = logits.float()
                # Each worker's loss is its examples' sum divided by the global kn (RECIPE §4).
                part_loss = F.cross_entropy(logits, ym, reduction="sum") / kn
                part_loss.backward()
                loss += part_loss.item()
                correct += int((logits.detach().argmax(1) == ym).sum())
                if parts > 1:
                    for s, b in zip(sum_stats, bn_buffers):
                        s.add_(b)
            if parts > 1:
                for b, s in zip(bn_buffers, sum_stats):
                    b.copy_(s / parts)
            if not math.isfinite(loss):
                raise RuntimeError(f"[train] the loss is {loss} at step {step} (epoch {epoch}, iteration {it}, "
                                   f"lr {lr}): training diverged (try a lower --lr or a longer --warmup-epochs)")
            if lars:
                apply_lars(lars_params, c["lars_eta"])
            optimizer.step()
            loss_sum += loss
            seen += kn
            step += 1
            interval_steps += 1
            now = time.perf_counter()
            img_per_s = interval_steps * kn / (now - interval_start) if now > interval_start else 0.0
            if step % c["log_every"] == 0:
                write({"kind": "iter", "iter": step, "epoch": epoch, "lr": lr, "loss": loss, "img_per_s": img_per_s})
                interval_start, interval_steps = time.perf_counter(), 0
            if c["progress"] and (step % c["log_every"] == 0 or step == stop):
                eta = (now - start) / step * (stop - step)
                text = (f"step {step}/{stop} epoch {epoch} loss {loss:.4f} lr {lr:.4g} {img_per_s:.0f} img/s "
                        f"ETA {format_duration(eta)}")
                print("\r" + text + "\033[K" if tty else text, end="" if tty else "\n", file=log, flush=True)
            evaluated_last = False
        else:
            test_loss, top1_err, top5_err = evaluate(model, test_x, test_y, c["eval_batch"], memory_format, autocast)
            wall = time.perf_counter() - start
            train_loss, train_err = loss_sum / ipe, 1.0 - correct / seen
            write({"kind": "epoch", "epoch": epoch + 1, "train_loss": train_loss, "train_top1_err": train_err,
                   "test_loss": test_loss, "test_top1_err": top1_err, "test_top5_err": top5_err, "wall_s": wall})
            line = (f"epoch {epoch + 1}/{c['epochs']}: train loss {train_loss:.4f} err {100 * train_err:.2f}%, "
                    f"test loss {test_loss:.4f} err {100 * top1_err:.2f}% ({wall:.0f} s)")
            print(("\r\033[K" if tty and c["progress"] else "") + line, file=log, flush=True)
            final = (test_loss, top1_err, top5_err)
            evaluated_last = True
            # Every epoch, the state a resume continues from: written aside, then renamed over.
            metrics.flush()
            torch.save({"config": run_identity(c), "epoch": epoch + 1, "step": step,
                        "wall_s": wall, "metrics_bytes": os.path.getsize(metrics_path),
                        "model": model.state_dict(), "optimizer": optimizer.state_dict()}, checkpoint_path + ".tmp")
            os.replace(checkpoint_path + ".tmp", checkpoint_path)
    if not evaluated_last:
        if tty and c["progress"]:
            print(file=log)
        final = evaluate(model, test_x, test_y, c["eval_batch"], memory_format, autocast)
    wall = time.perf_counter() - start
    metrics.close()
    torch.save(model.state_dict(), os.path.join(c["out"], "model.pt"))
    print(f"test error {100 * final[1]:.2f}% (top-5 {100 * final[2]:.2f}%) after {step} steps, {wall:.0f} s")
    print(f"run directory: {c['out']}")


def main():
    parser = argparse.ArgumentParser(
        prog=PROG, description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Every other flag is a bigbatch configuration key (see `bigbatch train --help`).")
    parser.add_argument("--config", help="TOML file of bigbatch configuration keys (flags override it)")
    parser.add_argument("--ghost-bn", choices=("on", "off"), default="on",
                        help="on: BN statistics per group of per_worker_batch examples (default); off: over the batch")
    parser.add_argument("--channels-last", action="store_true", help="NHWC activations and weights")
    for key in KEYS:
        parser.add_argument("--" + key.replace("_", "-"), dest="key_" + key, metavar="VALUE")
    args = parser.parse_args()
    flags = {key: getattr(args, "key_" + key) for key in KEYS if getattr(args, "key_" + key) is not None}
    try:
        if "resume" in flags:
            # As bigbatch: the run's own configuration, flags (say --max-iters) over it.
            directory = flags.pop("resume")
            if args.config:
                raise ValueError("--resume: the run's own config.toml is read; give no --config")
            flags["out"] = directory
            config = resolve_config(os.path.join(directory, "config.toml"), flags)
            config["resume"] = directory
        else:
            config = resolve_config(args.config, flags)
        threads = config["threads"] if config["threads"] > 0 else 2
        train(config, args.ghost_bn == "on", args.channels_last, threads)
    except ValueError as e:
        sys.exit(f"{PROG}: error: {e}")


if __name__ == "__main__":
    main()
