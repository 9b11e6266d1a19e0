#!/usr/bin/env python3
"""The pixels of image grids. A GAN's samples (tools/cmd_gan.c,
gan_pixel_range): the generator's values are mapped back to bytes by
undoing the data's scaling. A generator with a sigmoid on data scaled to
[0, 1] had its grids drawn as if it made [-1, 1] (no pixel darker than 128,
and its FID scored washed-out images); a generator with NaN weights was
drawn black, exit 0. An autoencoder's reconstructions of (3, H, W) data
(tools/cmd_autoencoder.c) were drawn as gray tiles of H x W, each example's
colour planes apart and the rows out of step: now in colour. Data
normalised per channel (data.mean, data.std lists) is drawn with each
channel's scaling undone.

usage: gan_pixels_check.py BUILD SOURCE"""
import os, shutil, struct, subprocess, sys, tempfile, zlib

import numpy as np

from run_compare import check, failures, strata_runner, safetensors, write_safetensors  # tests/run_compare.py

build = sys.argv[1]
run = strata_runner(build)


def png_header(path):
    """(width, height, bit depth, colour type) of a PNG"""
    with open(path, "rb") as f:
        data = f.read(33)
    return struct.unpack(">IIBB", data[16:26])


def png_pixels(path):
    """an 8-bit gray or RGB PNG as a numpy array (height, width, channels), its five row filters undone"""
    with open(path, "rb") as f:
        data = f.read()
    pos, idat = 8, b""
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (0, 2), "an 8-bit gray or RGB PNG"
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    bpp = 3 if colour == 2 else 1
    stride = w * bpp
    raw, rows, prev = zlib.decompress(idat), [], np.zeros(stride, np.int32)
    for r in range(h):
        kind = raw[r * (stride + 1)]
        line = np.frombuffer(raw[r * (stride + 1) + 1:(r + 1) * (stride + 1)], np.uint8).astype(np.int32)
        out = np.zeros(stride, np.int32)
        for i in range(stride):
            a, b, c = (out[i - bpp] if i >= bpp else 0), prev[i], (prev[i - bpp] if i >= bpp else 0)
            p = a + b - c
            pred = [0, a, b, (a + b) // 2,
                    a if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - c) else b if abs(p - b) <= abs(p - c) else c]
            out[i] = (line[i] + pred[kind]) & 255
        rows.append(out)
        prev = out
    return np.array(rows).reshape(h, w, bpp)


def png_gray(path):
    """the rows of an 8-bit gray PNG as a numpy array"""
    px = png_pixels(path)
    assert px.shape[2] == 1, "an 8-bit gray PNG"
    return px[:, :, 0]


def set_tensor(path, name, values):
    """overwrites the F32 tensor @name of the safetensors file @path with @values (its shape)"""
    header, data = safetensors(path)
    b, e = header[name]["data_offsets"]
    with open(path, "rb") as f:
        blob = bytearray(f.read())
    start = len(blob) - len(data) + b
    blob[start:start + (e - b)] = np.asarray(values, np.float32).tobytes()
    with open(path, "wb") as f:
        f.write(blob)


SPEC = """seed: 1
task: gan
data: {{format: safetensors, train: {{file: {tmp}/images.safetensors, inputs: x}}, scale: 255}}
gan: {{loss: non_saturating, noise_dim: 4, sample_every: 0, sample_count: 16}}
generator:
  model:
    input: [4]
    layers:
      - {{type: linear, out_features: 64}}
      - {{type: sigmoid}}
      - {{type: unflatten, shape: [1, 8, 8]}}
  optimizer: {{type: adam, lr: 0.001}}
discriminator:
  model:
    input: [1, 8, 8]
    layers:
      - {{type: flatten}}
      - {{type: linear, out_features: 1}}
  optimizer: {{type: adam, lr: 0.001}}
train: {{steps: 2, batch_size: 8}}
"""

tmp = tempfile.mkdtemp(prefix="strata-gan-pixels-")
try:
    x = np.random.default_rng(1).uniform(0, 255, size=(32, 1, 8, 8)).round().astype(np.float32)
    write_safetensors(f"{tmp}/images.safetensors", {"x": x})
    with open(f"{tmp}/gan.yaml", "w") as f:
        f.write(SPEC.format(tmp=tmp))
    run(["train", f"{tmp}/gan.yaml", "--out", f"{tmp}/run", "--quiet", "--backend", "ref"])
    run(["sample", "--checkpoint", f"{tmp}/run", "--count", "16", "--out", f"{tmp}/s.png", "--backend", "ref"])
    px = png_gray(f"{tmp}/s.png")
    inside = px[px < 255]  # the gaps between tiles are white
    check(inside.size > 0 and inside.min() < 110,
          f"a sigmoid generator on data scaled to [0, 1]: its grid reaches dark pixels (darkest {inside.min()}; "
          "drawn as [-1, 1] none was below 128)")

    # safetensors data already in [-1, 1] (a tanh GAN's usual normalisation): drawn as such, nothing said (it
    # printed "error: the training inputs range over [-0.99, 0.99]" and a note that they could not be read)
    sym = np.random.default_rng(3).uniform(-1, 1, size=(32, 1, 8, 8)).astype(np.float32)
    write_safetensors(f"{tmp}/sym.safetensors", {"x": sym})
    with open(f"{tmp}/sym.yaml", "w") as f:
        f.write(SPEC.format(tmp=tmp).replace("images.safetensors", "sym.safetensors").replace(", scale: 255", "")
                .replace("type: sigmoid", "type: tanh"))
    p = run(["train", f"{tmp}/sym.yaml", "--out", f"{tmp}/symrun", "--quiet", "--backend", "ref"])
    p2 = run(["sample", "--checkpoint", f"{tmp}/symrun", "--count", "4", "--out", f"{tmp}/sym.png", "--backend", "ref"])
    check("error" not in p.stderr + p2.stderr and "note" not in p.stderr + p2.stderr,
          "a GAN on safetensors data in [-1, 1]: trained and sampled without a false error or note")

    # NaN weights: refused, nothing written
    gen = f"{tmp}/run/generator.safetensors"
    header, data = safetensors(gen)
    b, _ = header["0.bias"]["data_offsets"]
    with open(gen, "rb") as f:
        blob = bytearray(f.read())
    start = len(blob) - len(data) + b
    blob[start:start + 4] = np.float32(np.nan).tobytes()
    with open(f"{tmp}/nan.safetensors", "wb") as f:
        f.write(blob)
    shutil.copy(f"{tmp}/gan.yaml", f"{tmp}/nan.yaml")
    p = run(["sample", "--checkpoint", f"{tmp}/nan.safetensors", "--spec", f"{tmp}/nan.yaml", "--count", "4",
             "--out", f"{tmp}/nan.png", "--backend", "ref"], expect=1)
    check("are NaN or Inf" in p.stderr and not os.path.exists(f"{tmp}/nan.png"),
          "a generator with a NaN weight: sample refuses, naming it, and writes nothing")

    # data.mean and data.std per channel (torchvision's Normalize): each channel's scaling undone. The
    # generator is made to give the values that stand for the bytes 30, 120 and 200 in its three channels.
    mean, std, want = [0.2, 0.5, 0.7], [0.3, 0.25, 0.4], [30, 120, 200]
    colour = np.random.default_rng(4).uniform(0, 255, size=(32, 3, 8, 8)).round().astype(np.float32)
    write_safetensors(f"{tmp}/colour.safetensors", {"x": colour})
    with open(f"{tmp}/norm.yaml", "w") as f:
        f.write(SPEC.format(tmp=tmp).replace("images.safetensors", "colour.safetensors")
                .replace("scale: 255}", "scale: 255, mean: [0.2, 0.5, 0.7], std: [0.3, 0.25, 0.4]}")
                .replace("out_features: 64}\n      - {type: sigmoid}", "out_features: 192}")
                .replace("shape: [1, 8, 8]", "shape: [3, 8, 8]").replace("input: [1, 8, 8]", "input: [3, 8, 8]"))
    run(["train", f"{tmp}/norm.yaml", "--out", f"{tmp}/normrun", "--quiet", "--backend", "ref"])
    gen = f"{tmp}/normrun/generator.safetensors"
    set_tensor(gen, "0.weight", np.zeros((192, 4)))
    set_tensor(gen, "0.bias", np.repeat([(b / 255 - m) / s for b, m, s in zip(want, mean, std)], 64))
    run(["sample", "--checkpoint", gen, "--spec", f"{tmp}/norm.yaml", "--count", "4", "--out", f"{tmp}/norm.png",
         "--backend", "ref"])
    px = png_pixels(f"{tmp}/norm.png").reshape(-1, 3)
    tiles = px[(px != 255).any(axis=1)]  # the gaps between tiles are white
    check(tiles.size > 0 and (np.abs(tiles - want) <= 1).all(),
          f"a GAN on data normalised per channel: its grid's channels are the bytes {want} the generator's values "
          f"stand for (got {sorted(set(map(tuple, tiles.tolist())))[:4]})")

    # an autoencoder of (3, 4, 6) examples: its reconstructions in colour
    rgb = np.random.default_rng(2).uniform(0, 255, size=(24, 3, 4, 6)).round().astype(np.float32)
    write_safetensors(f"{tmp}/rgb.safetensors", {"x": rgb})
    with open(f"{tmp}/ae.yaml", "w") as f:
        f.write(f"""seed: 1
task: autoencoder
data: {{format: safetensors, train: {{file: {tmp}/rgb.safetensors, inputs: x}},
        test: {{file: {tmp}/rgb.safetensors, inputs: x}}, scale: 255}}
autoencoder: {{code_size: 4}}
model:
  input: [3, 4, 6]
  layers:
    - {{type: flatten}}
    - {{type: linear, out_features: 4}}
    - {{type: linear, out_features: 72}}
    - {{type: sigmoid}}
    - {{type: unflatten, shape: [3, 4, 6]}}
optimizer: {{type: adam, lr: 0.01}}
train: {{epochs: 1, batch_size: 8}}
""")
    run(["train", f"{tmp}/ae.yaml", "--out", f"{tmp}/ae", "--quiet", "--backend", "ref"])
    w, h, depth, colour = png_header(f"{tmp}/ae/reconstructions.png")
    check(colour == 2 and depth == 8, f"an autoencoder of (3, 4, 6) examples draws its reconstructions in colour "
                                      f"(PNG colour type {colour}, {w} x {h})")
    # ... and with data.mean and data.std per channel, its first test image drawn as its bytes (a channel of
    # another mean was drawn at another brightness: one range for all the standardised values)
    with open(f"{tmp}/ae.yaml") as f:
        text = f.read()
    with open(f"{tmp}/aen.yaml", "w") as f:
        f.write(text.replace("scale: 255}", "scale: 255, mean: [0.25, 0.5, 0.6], std: [0.15, 0.29, 0.2]}"))
    run(["train", f"{tmp}/aen.yaml", "--out", f"{tmp}/aen", "--quiet", "--backend", "ref"])
    px, first = png_pixels(f"{tmp}/aen/reconstructions.png"), rgb[0].transpose(1, 2, 0)  # (4, 6, 3)
    err = min(np.abs(px[oy:oy + 8:2, ox:ox + 12:2] - first).max() for oy in range(6) for ox in range(6)
              if px[oy:oy + 8:2, ox:ox + 12:2].shape[:2] == (4, 6))
    check(err <= 1, f"an autoencoder on data standardised per channel draws a test image as its bytes (off by {err})")
finally:
    shutil.rmtree(tmp, ignore_errors=True)

if failures:
    sys.exit(f"{len(failures)} check(s) failed")
print("all checks passed")
