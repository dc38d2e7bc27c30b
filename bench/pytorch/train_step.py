#!/usr/bin/python3
"""PyTorch peer of `bigbatch bench`: times the same full training step (forward, softmax
cross-entropy summed / batch, plus 0.4 x the auxiliary head's for Inception-v3, backward, SGD
momentum 0.9 with weight decay 1e-4 on conv and fc weights only) on the same model, batch and
synthetic data shape.

Run with Debian's interpreter (/usr/bin/python3, which has python3-torch)."""

import argparse
import json
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# Matched by src/bigbatch/cli/bench_command.cpp.
LEARNING_RATE = 0.01
MOMENTUM = 0.9
WEIGHT_DECAY = 1e-4
IMAGENET_MODELS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "inception_v3")
AUX_LOSS_WEIGHT = 0.4  # inception_v3: bigbatch's --aux-loss-weight default (torchvision's recipe)
CIFAR_DEPTHS = {"resnet8": 8, "resnet14": 14, "resnet20": 20, "resnet32": 32, "resnet44": 44, "resnet56": 56,
                "resnet110": 110}


class BasicBlock(nn.Module):
    """torchvision's BasicBlock: names conv1/bn1/conv2/bn2/downsample.{0,1}."""

    def __init__(self, in_planes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or in_planes != planes:
            # Projection shortcut (option B), as bigbatch's CIFAR ResNets.
            self.downsample = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, 0, bias=False),
                                            nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(out + identity)


class CifarResNet(nn.Module):
    """He et al.'s 6n+2 CIFAR ResNet (16/32/64 channels) with torchvision's module names."""

    def __init__(self, depth, in_channels, num_classes):
        super().__init__()
        assert depth >= 8 and (depth - 2) % 6 == 0, depth
        blocks = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        in_planes = 16
        for stage, planes in enumerate((16, 32, 64)):
            layer = []
            for b in range(blocks):
                layer.append(BasicBlock(in_planes, planes, 2 if stage > 0 and b == 0 else 1))
                in_planes = planes
            setattr(self, f"layer{stage + 1}", nn.Sequential(*layer))
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)


def build_model(name, in_channels, num_classes):
    if name in CIFAR_DEPTHS:
        return CifarResNet(CIFAR_DEPTHS[name], in_channels, num_classes)
    if name in IMAGENET_MODELS:
        try:
            import torchvision.models
        except ImportError:
            sys.exit("train_step.py: error: torchvision is needed for " + name + " (apt-get install python3-torchvision)")
        if name == "inception_v3":  # with its auxiliary head, as bigbatch's inception_v3
            return torchvision.models.inception_v3(num_classes=num_classes, aux_logits=True, init_weights=True)
        model = getattr(torchvision.models, name)(num_classes=num_classes)
        if in_channels != 3:
            model.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        return model
    known = ", ".join(list(CIFAR_DEPTHS) + list(IMAGENET_MODELS))
    sys.exit(f"train_step.py: error: unknown model '{name}'; known: {known}")


def parse_input(text):
    parts = text.lower().split("x")
    try:
        dims = [int(p) for p in parts]
    except ValueError:
        dims = []
    if len(dims) != 3 or min(dims) <= 0:
        raise argparse.ArgumentTypeError(f"expected CxHxW with positive integers (e.g. 3x224x224), got '{text}'")
    return dims


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--input", type=parse_input,
                        help="CxHxW (default: 3x224x224 for resnet18..152, 3x299x299 for inception_v3, else 1x28x28)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--precision", choices=("f32", "bf16"), default="f32")
    parser.add_argument("--channels-last", action="store_true", help="NHWC activations and weights")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--classes", type=int, default=0, help="default: 1000 for resnet18..152, else 10")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="one JSON object on one line")
    args = parser.parse_args()
    if args.batch < 1 or args.threads < 1 or args.steps < 1 or args.warmup < 0:
        parser.error("--batch, --threads and --steps must be >= 1, --warmup >= 0")

    imagenet = args.model in IMAGENET_MODELS
    usual = (3, 299, 299) if args.model == "inception_v3" else (3, 224, 224) if imagenet else (1, 28, 28)
    channels, height, width = args.input or usual
    classes = args.classes or (1000 if imagenet else 10)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    model = build_model(args.model, channels, classes).train()
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    # Decay conv and fc weights only, as bigbatch's default (RECIPE §3): not BN γ/β nor biases.
    decay = [p for p in model.parameters() if p.dim() > 1]
    no_decay = [p for p in model.parameters() if p.dim() <= 1]
    optimizer = torch.optim.SGD([{"params": decay, "weight_decay": WEIGHT_DECAY},
                                 {"params": no_decay, "weight_decay": 0.0}], lr=LEARNING_RATE, momentum=MOMENTUM)
    params = sum(p.numel() for p in model.parameters())

    generator = torch.Generator().manual_seed(args.seed)
    src = torch.randn(args.batch, channels, height, width, generator=generator).contiguous(memory_format=memory_format)
    labels = torch.randint(0, classes, (args.batch,), generator=generator)

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16"):
            out = model(src)
        if isinstance(out, tuple):  # Inception-v3 in training: (logits, aux_logits)
            loss = (F.cross_entropy(out[0].float(), labels, reduction="sum") +
                    AUX_LOSS_WEIGHT * F.cross_entropy(out[1].float(), labels, reduction="sum")) / args.batch
        else:
            loss = F.cross_entropy(out.float(), labels, reduction="sum") / args.batch
        loss.backward()
        optimizer.step()
        return loss.item()

    log = sys.stderr
    print(f"pytorch: {args.model} {channels}x{height}x{width}, batch {args.batch}, {args.threads} threads, "
          f"{args.precision}{', channels_last' if args.channels_last else ''}: {args.warmup} warm-up steps", file=log)
    loss = 0.0
    for _ in range(args.warmup):
        loss = step()
    print(f"pytorch: {args.steps} timed steps", file=log)
    ms = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        loss = step()
        ms.append((time.perf_counter() - t0) * 1e3)

    median_ms = statistics.median(ms)
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    result = {
        "engine": "pytorch",
        "model": args.model,
        "input": f"{channels}x{height}x{width}",
        "classes": classes,
        "params": params,
        "batch": args.batch,
        "bn_group": args.batch,
        "threads": args.threads,
        "precision": args.precision,
        "channels_last": args.channels_last,
        "warmup": args.warmup,
        "steps": args.steps,
        "img_per_s": args.batch * 1e3 / median_ms,
        "img_per_s_min": args.batch * 1e3 / max(ms),
        "img_per_s_max": args.batch * 1e3 / min(ms),
        "median_ms": median_ms,
        "min_ms": min(ms),
        "max_ms": max(ms),
        "peak_rss_mib": rss_mib,
        "final_loss": loss if loss == loss and abs(loss) != float("inf") else None,
        "torch_version": torch.__version__,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"model       {args.model} ({result['input']}, {classes} classes, {params:,} params)")
        print(f"batch       {args.batch}")
        print(f"threads     {args.threads}")
        print(f"precision   {args.precision}{' (autocast bf16)' if args.precision == 'bf16' else ''}, "
              f"{'channels_last' if args.channels_last else 'contiguous (NCHW)'}")
        print(f"steps       {args.steps} timed after {args.warmup} warm-up")
        print(f"img/s       {result['img_per_s']:.1f} median (min {result['img_per_s_min']:.1f}, "
              f"max {result['img_per_s_max']:.1f})")
        print(f"ms/step     {median_ms:.2f} median (min {min(ms):.2f}, max {max(ms):.2f})")
        print(f"peak RSS    {rss_mib:.1f} MiB")
        print(f"final loss  {loss:.4f}")


if __name__ == "__main__":
    main()
