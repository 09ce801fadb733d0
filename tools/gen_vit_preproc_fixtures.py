#!/usr/bin/env python3
"""Reference fixtures for ViT preprocessing and embed-images (tests/unit/test_preprocess.c,
tests/cli/t4200-embed-images.sh).

The reference is transformers' slow, PIL-based ViTImageProcessor (use_fast=False) and ViTModel,
with Pillow and torch, all pinned in tools/requirements.txt; the versions used are recorded in
cases.json. Images are opened as Image.open(path).convert('RGB') (ViTImageProcessor 4.44 does not
convert by itself). The paper's OpenCV path (--channel-order bgr) is reproduced by
ImageOps.exif_transpose (what cv2.imread applies) and a channel swap before the processor.

Writes tests/fixtures/vit_preproc/:
  model/               a tiny random ViTModel (hidden 16, 2 layers, 2 heads, intermediate 32,
                       image 224, patch 16) as save_pretrained writes it: config.json,
                       model.safetensors (F32, no "vit." prefix), preprocessor_config.json
  inputs/              images made here with Pillow from skimage's chelsea.png: greyscale,
                       CMYK (Adobe), progressive, 4:4:4 and 4:2:2 JPEGs, a JPEG with EXIF
                       orientation 6, RGBA, LA, palette+transparency and 16-bit grey PNGs, and a
                       16-bit RGB PNG written by hand (Pillow cannot write one)
  cases.tsv            one row per (image, channel order): the image's source (skimage: Debian's
                       python3-skimage, under $LRSA_TESTDATA; fixture: inputs/), its size after
                       decoding, FNV-1a 64 hashes of the decoded RGB bytes (PIL convert('RGB')),
                       of the resized uint8 image and of pixel_values (float32, C order, CHW),
                       the per-channel sums of the resized image (for diagnosis), and the row of
                       the model outputs below (-1: not run through the model)
  out_<output>.npy     ViTModel on the rows with a model row: last_hidden_state (N x 197*16,
                       token-major, CLS first), cls, mean (over the 196 patch tokens), pooler,
                       layer1 (hidden_states[1] flattened); float32
  cli/                 expected embed-images outputs for the BOLD5000-shaped directory the CLI
                       test builds from inputs/ (see CLI_LAYOUT), float64 .npy of float32 values
  cases.json           versions, the skimage package version and the file hashes of its images

pixel_values are checked by hash (exact); the decoded and resized hashes say which stage differs
when one does not match. Usage: .venv-tools/bin/python tools/gen_vit_preproc_fixtures.py
"""
import io
import json
import os
import struct
import sys
import zlib

import numpy as np
import PIL
import torch
import transformers
from PIL import Image, ImageOps, features
from transformers import ViTConfig, ViTImageProcessor, ViTModel

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "vit_preproc")
TESTDATA = os.environ.get("LRSA_TESTDATA", os.path.join(ROOT, ".testdata"))
SKIMAGE_REL = "python3-skimage/usr/lib/python3/dist-packages/skimage/data"
SKIMAGE = os.path.join(TESTDATA, SKIMAGE_REL)

# skimage photographs run through the model (the rest are checked up to pixel_values only)
MODEL_SKIMAGE = ["astronaut.png", "rocket.jpg", "camera.png", "logo.png", "foo3x5x4indexed.png",
                 "retina.jpg"]
MODEL_FIXTURE = ["grey.jpg", "cmyk.jpg", "progressive.jpg", "alpha.png", "gray16.png",
                 "exif6.jpg"]
BGR_CASES = [("skimage", "astronaut.png"), ("skimage", "rocket.jpg"), ("fixture", "grey.jpg"),
             ("fixture", "exif6.jpg"), ("fixture", "progressive.jpg"), ("fixture", "cmyk.jpg"),
             ("fixture", "alpha.png")]
# the CLI test's BOLD5000-shaped directory: Presented_Stimuli/<source>/<file>
CLI_LAYOUT = [("COCO", "progressive.jpg"), ("COCO", "alpha.png"), ("ImageNet", "cmyk.jpg"),
              ("ImageNet", "grey.jpg"), ("Scene", "exif6.jpg"), ("Scene", "palette.png")]


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def fnv1a64_np(arr):
    """FNV-1a 64 of an array's bytes in C order (as the C test hashes its buffers)."""
    return fnv1a64(np.ascontiguousarray(arr).tobytes())


def png_rgb16(path, w, h):
    """A 16-bit RGB PNG written by hand (zlib + chunks): a gradient whose low bytes vary too."""
    y, x = np.mgrid[0:h, 0:w]
    r = (x * 65535 // (w - 1)).astype(np.uint16)
    g = (y * 65535 // (h - 1)).astype(np.uint16)
    b = ((x * 7919 + y * 104729) % 65536).astype(np.uint16)
    pix = np.stack([r, g, b], axis=-1).astype(">u2")
    raw = b"".join(b"\x00" + pix[i].tobytes() for i in range(h))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    with open(path, "wb") as f:
        f.write(data)


def make_inputs(d):
    os.makedirs(d, exist_ok=True)
    base = Image.open(os.path.join(SKIMAGE, "chelsea.png")).convert("RGB")   # 451 x 300
    small = base.resize((180, 120), Image.LANCZOS)
    small.convert("L").save(os.path.join(d, "grey.jpg"), quality=90)
    small.convert("CMYK").save(os.path.join(d, "cmyk.jpg"), quality=90)
    small.save(os.path.join(d, "progressive.jpg"), quality=85, progressive=True)
    small.save(os.path.join(d, "rgb444.jpg"), quality=90, subsampling=0)
    small.save(os.path.join(d, "rgb422.jpg"), quality=90, subsampling=1)
    exif = Image.Exif()
    exif[0x0112] = 6
    base.resize((160, 96), Image.LANCZOS).save(os.path.join(d, "exif6.jpg"), quality=90,
                                                exif=exif.tobytes())
    rgba = small.convert("RGBA")
    a = np.array(rgba)
    yy, xx = np.mgrid[0:a.shape[0], 0:a.shape[1]]
    a[..., 3] = (xx * 255 // (a.shape[1] - 1)).astype(np.uint8)          # alpha ramp
    a[:20, :20, 3] = 0                                                   # fully transparent
    Image.fromarray(a, "RGBA").save(os.path.join(d, "alpha.png"))
    la = np.stack([np.array(small.convert("L")), a[..., 3]], axis=-1)
    Image.fromarray(la, "LA").save(os.path.join(d, "la.png"))
    pal = small.convert("P", palette=Image.ADAPTIVE, colors=64)
    pal.info["transparency"] = 0
    pal.save(os.path.join(d, "palette.png"), transparency=0)
    g16 = (np.array(small.convert("L")).astype(np.uint16) * 4)          # 0..1020: many clip
    Image.fromarray(g16).save(os.path.join(d, "gray16.png"))
    png_rgb16(os.path.join(d, "rgb16.png"), 64, 48)


def opencv_rgb(im):
    """What cv2.imread(path, IMREAD_COLOR) gives, in RGB order: EXIF orientation applied; CMYK
    JPEGs converted by OpenCV's icvCvt_CMYK2BGR_8u_C4C3R on libjpeg's raw values (Pillow hands
    them over inverted: raw = 255 - value), R = k - ((255 - c) * k >> 8); the rest as PIL."""
    im = ImageOps.exif_transpose(im)
    if im.mode == "CMYK":
        raw = 255 - np.array(im).astype(np.int32)
        k = raw[..., 3:4]
        return (k - (((255 - raw[..., :3]) * k) >> 8)).astype(np.uint8)
    return np.array(im.convert("RGB"))


def load(origin, name):
    path = os.path.join(SKIMAGE if origin == "skimage" else os.path.join(OUT, "inputs"), name)
    return Image.open(path)


def main():
    torch.manual_seed(1234)
    np.random.seed(1234)
    if not os.path.isdir(SKIMAGE):
        sys.exit("no skimage data under %s: run tests/fetch-debian-data .testdata" % SKIMAGE)
    os.makedirs(OUT, exist_ok=True)
    make_inputs(os.path.join(OUT, "inputs"))

    # ---- the model -------------------------------------------------------------------------------
    cfg = ViTConfig(hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                    intermediate_size=32, image_size=224, patch_size=16, num_channels=3,
                    hidden_act="gelu", layer_norm_eps=1e-12, qkv_bias=True,
                    initializer_range=0.1)
    model = ViTModel(cfg, add_pooling_layer=True).eval()
    with torch.no_grad():                      # non-trivial layernorms and biases
        for name, p in model.named_parameters():
            if "layernorm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.copy_(0.05 * torch.randn_like(p))
    mdir = os.path.join(OUT, "model")
    model.save_pretrained(mdir, safe_serialization=True)
    proc = ViTImageProcessor()                 # the class defaults, as the in21k checkpoint has
    proc.save_pretrained(mdir)
    proc = ViTImageProcessor.from_pretrained(mdir)
    assert type(proc).__name__ == "ViTImageProcessor"

    # ---- the cases -------------------------------------------------------------------------------
    sk_files = sorted(f for f in os.listdir(SKIMAGE) if f.endswith((".png", ".jpg"))
                      and f != "truncated.jpg")
    fx_files = sorted(os.listdir(os.path.join(OUT, "inputs")))
    cases = [("skimage", f, "rgb") for f in sk_files] + [("fixture", f, "rgb") for f in fx_files]
    cases += [(o, f, "bgr") for o, f in BGR_CASES]
    rows, model_pixels = [], []
    for origin, name, order in cases:
        im = load(origin, name)
        rgb = opencv_rgb(im) if order == "bgr" else np.array(im.convert("RGB"))
        arr = rgb[..., ::-1].copy() if order == "bgr" else rgb
        pv = proc(images=arr if order == "bgr" else im.convert("RGB"), return_tensors="np",
                  input_data_format="channels_last")["pixel_values"][0]
        assert pv.dtype == np.float32 and pv.shape == (3, 224, 224)
        resized = np.array(Image.fromarray(arr).resize((224, 224), Image.BILINEAR))
        # pixel_values is the documented arithmetic on the resized uint8 image, bit for bit
        lut = ((resized.astype(np.float64) * (1 / 255)).astype(np.float32) - np.float32(0.5)) \
            / np.float32(0.5)
        assert np.array_equal(lut.transpose(2, 0, 1), pv), name
        mrow = -1
        if order == "rgb" and name in (MODEL_SKIMAGE if origin == "skimage" else MODEL_FIXTURE):
            mrow = len(model_pixels)
            model_pixels.append(pv)
        rows.append([name, origin, order, rgb.shape[1], rgb.shape[0],
                     "%016x" % fnv1a64_np(np.ascontiguousarray(arr)),
                     "%016x" % fnv1a64_np(resized), "%016x" % fnv1a64_np(pv),
                     int(resized[..., 0].sum()), int(resized[..., 1].sum()),
                     int(resized[..., 2].sum()), mrow])
    with open(os.path.join(OUT, "cases.tsv"), "w") as f:
        f.write("name\torigin\torder\twidth\theight\tdecoded_fnv\tresized_fnv\tpixels_fnv"
                "\tsum0\tsum1\tsum2\tmodel_row\n")
        for r in rows:
            f.write("\t".join(str(v) for v in r) + "\n")

    # ---- model outputs ---------------------------------------------------------------------------
    def outputs(pix):
        with torch.no_grad():
            o = model(pixel_values=torch.from_numpy(np.stack(pix)), output_hidden_states=True)
        lhs = o.last_hidden_state.numpy()
        return {
            "last_hidden_state": lhs.reshape(len(pix), -1),
            "cls": lhs[:, 0, :],
            "mean": lhs[:, 1:, :].mean(axis=1),
            "pooler": o.pooler_output.numpy(),
            "layer1": o.hidden_states[1].numpy().reshape(len(pix), -1),
            "layer1_cls": o.hidden_states[1].numpy()[:, 0, :],
        }
    for k, v in outputs(model_pixels).items():
        if k != "layer1_cls":
            np.save(os.path.join(OUT, "out_%s.npy" % k), v.astype(np.float32))

    # ---- the CLI test's directory: rows in byte order of the file name -----------------------------
    cdir = os.path.join(OUT, "cli")
    os.makedirs(cdir, exist_ok=True)
    order = sorted(CLI_LAYOUT, key=lambda sf: sf[1].encode())
    for chan in ("rgb", "bgr"):
        pix = []
        for _, name in order:
            im = load("fixture", name)
            if chan == "bgr":
                arr = opencv_rgb(im)[..., ::-1].copy()
                pix.append(proc(images=arr, return_tensors="np",
                                input_data_format="channels_last")["pixel_values"][0])
            else:
                pix.append(proc(images=im.convert("RGB"), return_tensors="np")["pixel_values"][0])
        o = outputs(pix)
        for k in (("cls", "mean", "pooler", "layer1_cls") if chan == "rgb" else ("mean",)):
            np.save(os.path.join(cdir, "%s_%s.npy" % (chan, k)), o[k].astype(np.float64))
    with open(os.path.join(cdir, "labels.tsv"), "w") as f:
        f.write("stimulus\tsource\tsubject\tsession\trun\ttrial\n")
        for src, name in order:
            f.write("%s\t%s\tn/a\tn/a\tn/a\tn/a\n" % (name, src))

    sk_hash = {f: "%016x" % fnv1a64(open(os.path.join(SKIMAGE, f), "rb").read())
               for f in sk_files}
    with open(os.path.join(TESTDATA, "python3-skimage", "VERSION")) as f:
        sk_version = f.read().strip()
    meta = {
        "generator": "tools/gen_vit_preproc_fixtures.py",
        "transformers": transformers.__version__, "torch": torch.__version__,
        "Pillow": PIL.__version__, "numpy": np.__version__,
        "pillow_libjpeg_turbo": features.version("libjpeg_turbo"),
        "processor": "ViTImageProcessor (slow, use_fast=False), class defaults",
        "python3-skimage": sk_version, "skimage_dir": SKIMAGE_REL, "skimage_fnv": sk_hash,
        "model_skimage": MODEL_SKIMAGE, "model_fixture": MODEL_FIXTURE,
        "cli_layout": CLI_LAYOUT,
        "tolerance": "outputs: |ours - ref| <= 1e-5 + 1e-4 * |ref|; pixel_values: exact",
    }
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    print("wrote %d cases, %d model rows to %s" % (len(rows), len(model_pixels), OUT))


if __name__ == "__main__":
    main()
