#!/usr/bin/env python3
"""Reference fixtures for the Pillow-exact bilinear resize (tests/unit/test_imgproc.c).

Every case is Image.resize((dw, dh), Image.BILINEAR) on an RGB image with Pillow (pinned in
tools/requirements.txt; the version is recorded in cases.json).

Writes tests/fixtures/imgproc/:
  src_<name>.png     small random RGB sources (uniform noise: the hardest input for exactness),
                     and drawn pictures (white runs and repeated rows, as renders)
  out_<name>.png     Pillow's resize of each source (PNG is lossless, 8-bit RGB)
  cases.json         the list of cases, the library versions, and for large outputs (which would
                     not fit the ~200 KB fixture budget) one FNV-1a 64-bit hash per output row
                     instead of a PNG

Large sources are not stored either: they are "synthetic photos" computed by synth_pixel() below,
which tests/unit/test_imgproc.c implements identically (integer arithmetic only): a colour
gradient, two soft discs and a +-12 hash noise, so the filter sees both smooth regions and edges.

Usage: .venv-tools/bin/python tools/gen_resize_fixtures.py [OUTDIR]
"""
import json
import os
import sys

import numpy as np
import PIL
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VERSIONS = {
    "generator": "tools/gen_resize_fixtures.py",
    "Pillow": PIL.__version__,
    "numpy": np.__version__,
}

M32 = 0xFFFFFFFF


def hash32(x, y, c):
    h = (x * 73856093 ^ y * 19349663 ^ c * 83492791) & M32
    h ^= h >> 13
    h = (h * 0x5BD1E995) & M32
    h ^= h >> 15
    return h


def synth_pixel(x, y, c, w, h):
    """Integer-only 'photo'; tests/unit/test_imgproc.c synth_pixel() must match it exactly."""
    if c == 0:
        v = x * 255 // (w - 1)
    elif c == 1:
        v = y * 255 // (h - 1)
    else:
        v = (x + y) * 255 // (w + h - 2)
    # two discs: one bright with a hard edge, one dark with a soft (linear) edge
    dx, dy = x - w // 3, y - h // 2
    if dx * dx + dy * dy < (h // 4) ** 2:
        v = 255 - v // 2
    dx, dy = x - 2 * w // 3, y - h // 3
    r2 = dx * dx + dy * dy
    rr = (h // 5) ** 2
    if r2 < 4 * rr:
        v = v * r2 // (4 * rr)
    v += int(hash32(x, y, c) % 25) - 12
    return min(255, max(0, v))


def synth_image(w, h):
    a = np.empty((h, w, 3), dtype=np.uint8)
    for y in range(h):
        for x in range(w):
            for c in range(3):
                a[y, x, c] = synth_pixel(x, y, c, w, h)
    return a


def fnv1a64(b):
    h = 0xCBF29CE484222325
    for byte in b:
        h ^= byte
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def drawn_image(rng, w, h):
    """A picture like a render: white, three ellipses of banded colour drawn at half resolution
    and doubled (so rows repeat and pixels come in pairs), colours that share channels with white
    (so runs of equal bytes start mid-pixel), and isolated dots at full resolution."""
    hw, hh = (w + 1) // 2, (h + 1) // 2
    a = np.full((hh, hw, 3), 255, dtype=np.uint8)
    yy, xx = np.mgrid[0:hh, 0:hw]
    ellipses = ((0.17, 0.5, 0.13, 0.25), (0.5, 0.45, 0.15, 0.2), (0.82, 0.55, 0.12, 0.35))
    for cx, cy, rx, ry in ellipses:
        inside = ((xx - cx * hw) / (rx * hw)) ** 2 + ((yy - cy * hh) / (ry * hh)) ** 2 < 1
        band = (xx // 3 + yy // 2) % 4
        a[inside] = np.stack([20 + 30 * band, 90 + 20 * band, np.full_like(band, 250)], -1)[inside]
    a = a.repeat(2, 0).repeat(2, 1)[:h, :w].copy()
    colours = np.array([[0, 255, 255], [255, 255, 0], [255, 0, 255], [0, 0, 0]], dtype=np.uint8)
    for _ in range(max(1, w * h // 400)):
        a[rng.integers(0, h), rng.integers(0, w)] = colours[rng.integers(0, 4)]
    return a


def resize(a, dw, dh):
    out = Image.fromarray(a, "RGB").resize((dw, dh), Image.BILINEAR)
    assert out.mode == "RGB" and out.size == (dw, dh)
    return np.asarray(out)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "tests", "fixtures", "imgproc")
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(20240611)
    cases = []

    # (name, sw, sh, dw, dh): random sources, stored with their output
    small = [
        ("up_17x11", 5, 4, 17, 11),          # upscale, non-integer factors
        ("down_16x11", 37, 23, 16, 11),      # downscale, non-integer factors
        ("down_big", 200, 120, 7, 3),        # wide support (ksize 59 horizontally)
        ("mixed", 40, 9, 13, 30),            # down in x, up in y
        ("mixed2", 9, 40, 30, 13),           # up in x, down in y
        ("h_only", 13, 7, 5, 7),             # vertical pass skipped
        ("v_only", 13, 7, 13, 20),           # horizontal pass skipped
        ("same", 8, 6, 8, 6),                # copy
        ("one_to_many", 1, 1, 5, 3),         # 1x1 source
        ("many_to_one", 7, 4, 1, 1),         # 1x1 output
        ("col", 1, 9, 1, 4),
        ("row", 9, 1, 3, 1),
        ("row_up", 4, 1, 9, 5),
        ("x2", 6, 5, 12, 10),                # exact integer factors
        ("half", 12, 10, 6, 5),
        ("near", 61, 59, 60, 60),            # just off identity
    ]
    for name, sw, sh, dw, dh in small:
        a = rng.integers(0, 256, size=(sh, sw, 3), dtype=np.uint8)
        # a few saturated pixels, so that clipping paths are exercised
        a.reshape(-1)[:: 7] = 255
        a.reshape(-1)[3:: 11] = 0
        Image.fromarray(a, "RGB").save(os.path.join(out, "src_%s.png" % name))
        Image.fromarray(resize(a, dw, dh), "RGB").save(os.path.join(out, "out_%s.png" % name))
        cases.append({"name": name, "source": "png", "sw": sw, "sh": sh, "dw": dw, "dh": dh,
                      "expected": "png"})

    # synthetic photos: the sizes the pipeline uses
    large = [
        ("render_672", 660, 350, 672, 672),  # a rendered slice to the autoencoder's input
        ("vit_224", 500, 375, 224, 224),     # a BOLD5000 stimulus to ViT's input
        ("synth_up", 120, 90, 331, 207),
    ]
    synth_cache = {}
    for name, sw, sh, dw, dh in large:
        if (sw, sh) not in synth_cache:
            synth_cache[(sw, sh)] = synth_image(sw, sh)
        r = resize(synth_cache[(sw, sh)], dw, dh)
        rows = [format(fnv1a64(r[y].tobytes()), "016x") for y in range(dh)]
        cases.append({"name": name, "source": "synth", "sw": sw, "sh": sh, "dw": dw, "dh": dh,
                      "expected": "row_fnv1a64", "rows": rows,
                      # a few pixels spelled out, so that a failure shows values
                      "probe": [[x, y] + [int(v) for v in r[y, x]]
                                for x, y in ((0, 0), (dw - 1, dh - 1), (dw // 2, dh // 3),
                                             (dw // 3, dh // 2))]})

    # drawn pictures (white runs, repeated rows and pixels: the resize's shortcuts), sources as PNG;
    # a generator of their own so that the cases above keep their bytes
    rng = np.random.default_rng(20250611)
    drawn = [
        ("drawn_up", 66, 35, 67, 67),          # the render's factors, small
        ("drawn_down", 67, 41, 29, 17),
        ("drawn_render", 660, 350, 672, 672),  # the render's size (rows stored as hashes)
    ]
    for name, sw, sh, dw, dh in drawn:
        a = drawn_image(rng, sw, sh)
        r = resize(a, dw, dh)
        Image.fromarray(a, "RGB").save(os.path.join(out, "src_%s.png" % name))
        case = {"name": name, "source": "png", "sw": sw, "sh": sh, "dw": dw, "dh": dh}
        if dw * dh <= 10000:
            Image.fromarray(r, "RGB").save(os.path.join(out, "out_%s.png" % name))
            case["expected"] = "png"
        else:
            case["expected"] = "row_fnv1a64"
            case["rows"] = [format(fnv1a64(r[y].tobytes()), "016x") for y in range(dh)]
            case["probe"] = [[x, y] + [int(v) for v in r[y, x]]
                             for x, y in ((0, 0), (dw - 1, dh - 1), (dw // 2, dh // 3),
                                          (dw // 3, dh // 2))]
        cases.append(case)

    with open(os.path.join(out, "cases.json"), "w") as f:
        json.dump({"versions": VERSIONS, "cases": cases}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
