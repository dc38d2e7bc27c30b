#!/usr/bin/python3
"""Writes an ImageNet-like JPEG tree for the input benchmark: OUT/train/<class>/*.jpg (and a
small OUT/val), about 500x375 (sizes vary by +-10%, some portrait), quality 90, with smooth
structure plus texture so that files are photo-sized (~85 KiB), not flat or pure noise.
Usage: make_images.py OUT [--images 512] [--classes 10] [--seed 0]"""

import argparse
import os

import numpy as np
from PIL import Image


def make_image(rng, width, height):
    # Low-frequency colour field (a coarse random grid upsampled), edges from a few shapes,
    # and grain: roughly the spectrum of a photograph.
    coarse = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
    img = np.asarray(Image.fromarray(coarse).resize((width, height), Image.BICUBIC), dtype=np.float32)
    yy, xx = np.mgrid[0:height, 0:width]
    for _ in range(4):
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(20, 120)
        mask = (xx - cx) ** 2 + (yy - cy) ** 2 < r * r
        img[mask] = img[mask] * 0.4 + rng.uniform(0, 255, size=3) * 0.6
    img += rng.normal(0, 16, size=img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--images", type=int, default=512)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    rng = np.random.default_rng(a.seed)
    total = 0
    for split, count in (("train", a.images), ("val", max(a.classes, a.images // 16))):
        for i in range(count):
            cls = f"n{i % a.classes:08d}"
            folder = os.path.join(a.out, split, cls)
            os.makedirs(folder, exist_ok=True)
            w, h = int(500 * rng.uniform(0.9, 1.1)), int(375 * rng.uniform(0.9, 1.1))
            if rng.uniform() < 0.2:
                w, h = h, w
            path = os.path.join(folder, f"{split}_{i:06d}.JPEG")
            make_image(rng, w, h).save(path, quality=90)
            total += os.path.getsize(path)
    print(f"make_images: {a.images} train images in {a.classes} classes under {a.out}, "
          f"{total / (a.images + count) / 1024:.0f} KiB per file on average")


if __name__ == "__main__":
    main()
