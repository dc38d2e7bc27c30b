#!/usr/bin/python3
"""Tiny ImageFolder trees of real JPEG files for the tests, with nothing installed (no PIL):
make_tree(root) writes root/train/<class>/*.jpg and root/val/<class>/*.jpg."""

import math
import os
import random
import struct

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
