#!/usr/bin/python3
"""Tiny ImageFolder trees of real JPEG files for the tests, written with PIL (Debian's
python3-pil, installed by scripts/install-deps): make_tree(root) writes root/train/<class>/*.jpg
and root/val/<class>/*.jpg. Importing this module raises ImportError without PIL; the tests
catch it and skip."""

import os
import random

from PIL import Image


def make_tree(root, classes=("a", "b", "c"), train=4, val=2, noise=False, size=(40, 36)):
    """A colour per image with its inverse in a square, sizes from `size` to 19 pixels more each
    way, seeded; noise: half of every pixel seeded noise (textured maps: batch norm over
    near-constant maps amplifies rounding without bound)."""
    rng = random.Random(0)
    for split, count in (("train", train), ("val", val)):
        for name in classes:
            os.makedirs(os.path.join(root, split, name), exist_ok=True)
            for i in range(count):
                w, h = size[0] + rng.randrange(20), size[1] + rng.randrange(20)
                color = tuple(rng.randrange(256) for _ in range(3))
                img = Image.new("RGB", (w, h), color)
                img.paste(tuple(255 - c for c in color), (w // 4, h // 4, w // 2, h // 2))
                if noise:
                    grain = Image.frombytes("RGB", (w, h), bytes(rng.randrange(256) for _ in range(w * h * 3)))
                    img = Image.blend(img, grain, 0.5)
                img.save(os.path.join(root, split, name, f"{i}.jpg"), quality=90)
