#!/usr/bin/env python3
"""Writes the seed corpus of the png harness (tests/fuzz/corpus/png/).

Tiny PNG files built byte by byte with zlib and struct (no imaging library):
every colour type at its bit depths, transparency, Adam7 interlacing, the
five row filters, split IDAT chunks, and near misses (truncated, no IDAT,
no IEND, a bad CRC, too little image data, a huge declared size). The
raw-*.png files carry their scanlines uncompressed in a zRAW chunk, which
fuzz_png.c compresses into an IDAT of the size the header asks for (see
its header comment). Deterministic: running it again rewrites the same
bytes.

    python3 tests/fuzz/make_png_corpus.py
"""
import os
import struct
import zlib

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "png")
SIG = b"\x89PNG\r\n\x1a\n"
# colour type: samples per pixel
SAMPLES = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def chunk(kind, data, crc=None):
    if crc is None:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def ihdr(w, h, depth, ctype, interlace=0):
    return chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, interlace))


def sample(x, y, s, depth):
    """A pattern value of sample s of pixel (x, y) at this depth (16 bits: both bytes vary)."""
    v = x * 7 + y * 13 + s * 5 + 3
    return v * 4099 % 65536 if depth == 16 else v % (1 << depth)


def row_bytes(xs, y, depth, ctype):
    """The packed samples of the pixels at columns xs of row y (MSB first below 8 bits)."""
    n = SAMPLES[ctype]
    vals = [sample(x, y, s, depth) for x in xs for s in range(n)]
    if depth == 16:
        return b"".join(struct.pack(">H", v) for v in vals)
    if depth == 8:
        return bytes(vals)
    out, acc, bits = bytearray(), 0, 0
    for v in vals:
        acc, bits = (acc << depth) | v, bits + depth
        if bits == 8:
            out.append(acc)
            acc, bits = 0, 0
    if bits:
        out.append(acc << (8 - bits))
    return bytes(out)


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def filtered(rows, bpp, filters):
    """Rows with filter types from @filters (cycled) applied, each behind its filter byte."""
    out, prev = bytearray(), None
    for i, r in enumerate(rows):
        f = filters[i % len(filters)]
        up = prev if prev is not None else bytes(len(r))
        enc = bytearray()
        for j, v in enumerate(r):
            a = r[j - bpp] if j >= bpp else 0
            b = up[j]
            c = up[j - bpp] if j >= bpp else 0
            pred = [0, a, b, (a + b) // 2, paeth(a, b, c)][f]
            enc.append((v - pred) & 0xFF)
        out += bytes([f]) + enc
        prev = r
    return bytes(out)


def scanlines(w, h, depth, ctype, interlace=0, filters=(0,)):
    bpp = max(1, SAMPLES[ctype] * depth // 8)
    if not interlace:
        return filtered([row_bytes(range(w), y, depth, ctype) for y in range(h)], bpp, filters)
    out = b""
    for x0, y0, dx, dy in ADAM7:
        xs = range(x0, w, dx)
        if len(xs) == 0:
            continue
        rows = [row_bytes(xs, y, depth, ctype) for y in range(y0, h, dy)]
        out += filtered(rows, bpp, filters)  # each pass filtered on its own
    return out


def png(w, h, depth, ctype, interlace=0, extra=b"", filters=(0,), idat_parts=1, raw=False):
    data = scanlines(w, h, depth, ctype, interlace, filters)
    if raw:
        idat = chunk(b"zRAW", data)
    else:
        z = zlib.compress(data, 9)
        step = -(-len(z) // idat_parts)
        idat = b"".join(chunk(b"IDAT", z[i:i + step]) for i in range(0, len(z), step))
    return SIG + ihdr(w, h, depth, ctype, interlace) + extra + idat + chunk(b"IEND", b"")


def plte(n):
    return chunk(b"PLTE", bytes((i * 37 + c * 91) % 256 for i in range(n) for c in range(3)))


def main():
    files = {
        "gray1.png": png(11, 3, 1, 0),
        "gray2.png": png(7, 3, 2, 0),
        "gray4.png": png(5, 3, 4, 0),
        "gray8.png": png(4, 3, 8, 0),
        "gray16.png": png(3, 2, 16, 0),
        "gray8-trns.png": png(4, 2, 8, 0, extra=chunk(b"tRNS", struct.pack(">H", 3))),
        "graya8.png": png(3, 2, 8, 4),
        "graya16.png": png(2, 2, 16, 4),
        "rgb8.png": png(3, 2, 8, 2),
        "rgb16-trns.png": png(2, 2, 16, 2, extra=chunk(b"tRNS", struct.pack(">HHH", 1, 2, 3))),
        "rgba8.png": png(3, 2, 8, 6),
        "rgba16.png": png(2, 2, 16, 6),
        "pal8-trns.png": png(4, 2, 8, 3, extra=plte(256) + chunk(b"tRNS", bytes(range(0, 256, 16)))),
        "pal2.png": png(9, 2, 2, 3, extra=plte(4)),
        "pal4-adam7.png": png(6, 5, 4, 3, interlace=1, extra=plte(16)),
        "rgb8-adam7.png": png(9, 9, 8, 2, interlace=1, filters=(0, 1, 2, 3, 4)),
        "gray1-adam7.png": png(10, 10, 1, 0, interlace=1),
        "rgba16-adam7.png": png(3, 5, 16, 6, interlace=1),
        "rgb8-filters.png": png(5, 5, 8, 2, filters=(0, 1, 2, 3, 4)),
        "one-pixel.png": png(1, 1, 8, 0),
        # ancillary chunks, data in three IDATs
        "rgb8-chunks.png": png(4, 4, 8, 2, idat_parts=3,
                               extra=chunk(b"gAMA", struct.pack(">I", 45455)) + chunk(b"tEXt", b"k\0v")),
        # raw scanlines for the harness to compress (and fit to the header)
        "raw-rgb8.png": png(3, 3, 8, 2, raw=True),
        "raw-gray4-adam7.png": png(7, 7, 4, 0, interlace=1, raw=True),
        "raw-pal1.png": png(12, 2, 1, 3, extra=plte(2), raw=True),
        "raw-graya16.png": png(2, 3, 16, 4, filters=(4,), raw=True),
        "sig-only.png": SIG,
    }
    good = files["rgb8.png"]
    files["truncated.png"] = good[:len(good) - 20]  # inside IDAT
    files["no-idat.png"] = SIG + ihdr(3, 2, 8, 2) + chunk(b"IEND", b"")
    files["no-iend.png"] = good[:len(good) - 12]
    # a damaged ancillary chunk after the pixels: a warning, the image reads
    files["bad-crc-text.png"] = good[:-12] + chunk(b"tEXt", b"k\0v", crc=1) + chunk(b"IEND", b"")
    # 8 x 8 declared, two rows of data
    files["short-data.png"] = (SIG + ihdr(8, 8, 8, 0) + chunk(b"IDAT", zlib.compress(scanlines(8, 2, 8, 0)))
                               + chunk(b"IEND", b""))
    # 16384 x 16384 RGBA 16-bit (2^28 pixels, the reader's limit) in 60-odd bytes
    files["huge-rgba16.png"] = (SIG + ihdr(16384, 16384, 16, 6) + chunk(b"IDAT", zlib.compress(bytes(64)))
                                + chunk(b"IEND", b""))
    # 1,000,000 x 268 gray (libpng's width limit), a few rows of zeros
    files["huge-wide.png"] = (SIG + ihdr(1000000, 268, 8, 0) + chunk(b"IDAT", zlib.compress(bytes(3 * 1000001)))
                              + chunk(b"IEND", b""))
    os.makedirs(OUT, exist_ok=True)
    for name, data in sorted(files.items()):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
