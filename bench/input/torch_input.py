#!/usr/bin/python3
"""The PyTorch peer of input_bench: torchvision ImageFolder + DataLoader (PIL decoding) with
the same training transform, RandomResizedCrop(224) + RandomHorizontalFlip + ToTensor +
Normalize(ImageNet mean/std), shuffled batches. Epoch 0 warms up (page cache, worker start);
the other epochs are timed. Prints one JSON line like input_bench.
Usage: torch_input.py --dir D [--workers 0] [--epochs 3] [--batch 64] [--size 224]"""

import argparse
import json
import time

import torch
import torchvision.transforms as T
from torchvision.datasets import ImageFolder


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--size", type=int, default=224)
    a = p.parse_args()
    # One intra-op thread: the workers (or the main process with 0 workers) are the cores used.
    torch.set_num_threads(1)
    transform = T.Compose([T.RandomResizedCrop(a.size), T.RandomHorizontalFlip(), T.ToTensor(),
                           T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    dataset = ImageFolder(f"{a.dir}/train", transform=transform)
    loader = torch.utils.data.DataLoader(dataset, batch_size=a.batch, shuffle=True, drop_last=True,
                                         num_workers=a.workers, persistent_workers=a.workers > 0)
    timed_s, images = 0.0, 0
    for epoch in range(a.epochs + 1):
        start = time.perf_counter()
        count = 0
        for x, y in loader:
            count += x.shape[0]
        if epoch > 0:
            timed_s += time.perf_counter() - start
            images += count
    cores = max(a.workers, 1)
    rate = images / timed_s
    print(json.dumps({"reader": "torchvision", "workers": a.workers, "images": images,
                      "img_per_s": round(rate, 1), "img_per_s_per_core": round(rate / cores, 1)}))


if __name__ == "__main__":
    main()
