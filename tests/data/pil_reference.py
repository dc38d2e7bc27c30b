#!/usr/bin/python3
"""The PyTorch peer's pixels for the JPEG tests: torchvision's functional transforms on PIL
images, written as raw interleaved RGB bytes (H x W x 3).
Usage: pil_reference.py IMAGE OUT decode
       pil_reference.py IMAGE OUT resized_crop TOP LEFT HEIGHT WIDTH SIZE
       pil_reference.py IMAGE OUT eval RESIZE SIZE
       pil_reference.py IMAGE OUT cmyk      (writes a CMYK JPEG to IMAGE first, as Adobe does)
Exits 77 (skip) when PIL or torchvision is missing."""

import sys

try:
    from PIL import Image
    import torchvision.transforms.functional as F
    from torchvision.transforms import InterpolationMode
except ImportError as e:
    print(f"pil_reference: skipped: {e}", file=sys.stderr)
    sys.exit(77)


def main():
    path, out, mode, *args = sys.argv[1:]
    if mode == "cmyk":
        pixels = bytes((i * 37 + (i // 4) * 11) % 256 for i in range(80 * 60 * 4))
        Image.frombytes("CMYK", (80, 60), pixels).save(path, quality=95)
    with open(path, "rb") as f:
        img = Image.open(f).convert("RGB")
    if mode in ("decode", "cmyk"):
        pass
    elif mode == "resized_crop":
        top, left, height, width, size = map(int, args)
        img = F.resized_crop(img, top, left, height, width, [size, size], InterpolationMode.BILINEAR)
    elif mode == "eval":
        resize, size = map(int, args)
        img = F.center_crop(F.resize(img, resize, InterpolationMode.BILINEAR), size)
    else:
        sys.exit(f"unknown mode {mode}")
    with open(out, "wb") as f:
        f.write(img.tobytes())


if __name__ == "__main__":
    main()
