#!/usr/bin/env python3
"""PyTorch peer of `bigbatch bench --device cuda`: the same full training step (forward,
softmax cross-entropy summed / batch, backward, SGD momentum 0.9, weight decay 1e-4 on conv
and fc weights only) of ResNet-50 on one GPU, synthetic data resident on the device.
Modes: f32 (no TF32), tf32, bf16 (autocast); NCHW or channels_last; eager or torch.compile.
Prints one JSON line. Needs only torch (torchvision's ResNet-50 if present, else our own
torchvision-shaped copy)."""

import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

LEARNING_RATE, MOMENTUM, WEIGHT_DECAY = 0.01, 0.9, 1e-4  # as src/bigbatch/cli/bench_command.cpp


class Bottleneck(nn.Module):
    def __init__(self, in_planes, planes, stride):
        super().__init__()
        out = planes * 4
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)  # v1.5: stride on the 3x3
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.downsample = None
        if stride != 1 or in_planes != out:
            self.downsample = nn.Sequential(nn.Conv2d(in_planes, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class ResNet50(nn.Module):
    def __init__(self, num_classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        layers, in_planes = [], 64
        for planes, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
            for b in range(blocks):
                layers.append(Bottleneck(in_planes, planes, stride if b == 0 else 1))
                in_planes = planes * 4
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(2048, num_classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        x = self.layers(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def build():
    try:
        import torchvision.models
        return torchvision.models.resnet50(num_classes=1000), "torchvision"
    except ImportError:
        return ResNet50(1000), "own"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--precision", choices=("f32", "tf32", "bf16"), default="bf16")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--steps", type=int, default=20)
    args = p.parse_args()

    torch.backends.cudnn.benchmark = True
    tf32 = args.precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.manual_seed(0)
    dev = torch.device("cuda")
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    model, source = build()
    model = model.to(dev, memory_format=fmt).train()
    decay = [q for q in model.parameters() if q.dim() > 1]
    no_decay = [q for q in model.parameters() if q.dim() <= 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": WEIGHT_DECAY}, {"params": no_decay, "weight_decay": 0.0}],
                          lr=LEARNING_RATE, momentum=MOMENTUM)
    src = torch.randn(args.batch, 3, 224, 224, device=dev).contiguous(memory_format=fmt)
    labels = torch.randint(0, 1000, (args.batch,), device=dev)
    forward = torch.compile(model) if args.compile else model

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=args.precision == "bf16"):
            logits = forward(src)
        loss = F.cross_entropy(logits.float(), labels, reduction="sum") / args.batch
        loss.backward()
        opt.step()
        return loss.item()  # synchronises, as bigbatch's wait_loss

    t0 = time.perf_counter()
    for _ in range(args.warmup):
        loss = step()
    warm_s = time.perf_counter() - t0
    ms = []
    for _ in range(args.steps):
        t = time.perf_counter()
        loss = step()
        ms.append((time.perf_counter() - t) * 1e3)
    med = statistics.median(ms)
    print(json.dumps({"engine": "pytorch" + ("-compile" if args.compile else ""), "model": "resnet50", "model_source": source,
                      "batch": args.batch, "precision": args.precision, "channels_last": args.channels_last,
                      "img_per_s": args.batch * 1e3 / med, "median_ms": med, "min_ms": min(ms), "max_ms": max(ms),
                      "warmup_s": warm_s, "final_loss": loss, "torch": torch.__version__,
                      "gpu": torch.cuda.get_device_name(0),
                      "peak_mem_gib": torch.cuda.max_memory_allocated() / 2**30}))


if __name__ == "__main__":
    main()
