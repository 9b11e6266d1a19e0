#!/usr/bin/env python3
"""Writes Fashion-MNIST images as PNG files, one folder per class (the
layout `strata pack-images` and torchvision's ImageFolder read), so the
own-images workflow of docs/tutorial.md can be tried on a known data set.

    tools/fashion-png.py OUT TRAIN_COUNT TEST_COUNT

writes OUT/train/<class>/NNNNN.png (the first TRAIN_COUNT training images)
and OUT/test/<class>/NNNNN.png (the first TEST_COUNT test images). Only the
Python standard library (gzip, zlib, struct); the data comes from Debian's
dataset-fashion-mnist package.
"""
import gzip
import os
import struct
import sys
import zlib

NAMES = ["T-shirt-top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
SRC = "/usr/share/datasets/fashion-mnist"


def write_png(path, width, height, pixels):
    """An 8-bit gray PNG: signature, IHDR, one IDAT of unfiltered rows, IEND."""
    rows = b"".join(b"\0" + pixels[y * width:(y + 1) * width] for y in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: tools/fashion-png.py OUT TRAIN_COUNT TEST_COUNT")
    out, counts = sys.argv[1], {"train": int(sys.argv[2]), "test": int(sys.argv[3])}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images = gzip.open(f"{SRC}/{prefix}-images-idx3-ubyte.gz").read()
        labels = gzip.open(f"{SRC}/{prefix}-labels-idx1-ubyte.gz").read()
        n, rows, cols = struct.unpack(">III", images[4:16])
        for i in range(min(counts[split], n)):
            folder = os.path.join(out, split, NAMES[labels[8 + i]])
            os.makedirs(folder, exist_ok=True)
            start = 16 + i * rows * cols
            write_png(os.path.join(folder, f"{i:05d}.png"), cols, rows, images[start:start + rows * cols])


if __name__ == "__main__":
    main()
