#!/usr/bin/env python3
"""Checkpoint round-trip fixtures between latentrsa's train-ae and PyTorch's Autoencoder
(tests/unit/test_train.c, tests/cli/t5100-train-ae.sh, tests/cli/t5200-embed-fmri.sh).

The network is the paper's Autoencoder (JeffTheNinja57/research_workshop final_ae.py) with its
widths as a parameter: Sequential(Conv2d(3,c0,3,2,1), ReLU, Conv2d(c0,c1,3,2,1), ReLU, ...) and
Sequential(ConvTranspose2d(c_last, ..., 3, 2, 1, output_padding=1), ReLU, ..., Sigmoid), so the
state_dict names are the paper's (encoder.0.weight ... decoder.{2*depth-2}.bias). Fixture scale:
widths 4,8 (depth 2), 32x32 images.

Writes tests/fixtures/ae_ckpt/:
  images/                 4 small RGB PNGs (sub-CSI1: 3, sub-CSI4: 1) with our manifest.tsv
  ours.safetensors        written by `latentrsa train-ae --images images ...` (2 epochs): OUR
                          checkpoint, loaded below into PyTorch with load_state_dict(strict=True)
  torch_init.safetensors  a PyTorch-initialised model's state_dict saved with
                          safetensors.torch.save_file (no metadata): for --init in ours
  torch_io.safetensors    x: the 4 images as ToTensor gives them (PIL -> uint8 -> float / 255);
                          recon_ours, latent_ours: PyTorch's model(x) and model.encoder(x) with
                          ours.safetensors loaded; recon_init, latent_init: the same for
                          torch_init; its __metadata__ records the library versions
  missing_tensor.safetensors   torch_init without decoder.2.bias
  bad_shape.safetensors        torch_init with encoder.2.weight of shape (8, 4, 1, 9)
  meta_mismatch.safetensors    torch_init with metadata size = 64 (one key: reproducible bytes)

Usage: .venv-tools/bin/python tools/gen_ae_checkpoint_fixtures.py [--bin build/latentrsa] [OUTDIR]
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import PIL
import safetensors
import torch
import torch.nn as nn
from PIL import Image
from safetensors.torch import load_file, save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHANNELS = (4, 8)
SIZE = 32
VERSIONS = "generator=tools/gen_ae_checkpoint_fixtures.py torch=%s safetensors=%s numpy=%s Pillow=%s" % (
    torch.__version__, safetensors.__version__, np.__version__, PIL.__version__)


class Autoencoder(nn.Module):
    """The paper's Autoencoder with configurable widths (same module names)."""

    def __init__(self, channels=(16, 32, 64, 128, 256), in_channels=3):
        super().__init__()
        enc, cin = [], in_channels
        for c in channels:
            enc += [nn.Conv2d(cin, c, kernel_size=3, stride=2, padding=1), nn.ReLU()]
            cin = c
        self.encoder = nn.Sequential(*enc)
        dec, widths = [], list(channels[::-1][1:]) + [in_channels]
        for i, c in enumerate(widths):
            dec += [nn.ConvTranspose2d(cin, c, kernel_size=3, stride=2, padding=1, output_padding=1),
                    nn.ReLU() if i + 1 < len(widths) else nn.Sigmoid()]
            cin = c
        self.decoder = nn.Sequential(*dec)

    def forward(self, x):
        return self.decoder(self.encoder(x))


def make_images(folder):
    """Four smooth 32x32 RGB images and our manifest.tsv."""
    rng = np.random.default_rng(5)
    rows = []
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    for i in range(4):
        sub = "CSI1" if i < 3 else "CSI4"
        rel = "sub-%s/ses-01/run_1/fMRI_sub-%s_ses-01_run-1_trial-%d_img%d.png" % (sub, sub, i + 1, i)
        img = np.zeros((SIZE, SIZE, 3))
        for c in range(3):
            a, b, p = rng.uniform(1, 6, 3)
            img[..., c] = 0.5 + 0.45 * np.sin(a * 6.28 * xx + p) * np.cos(b * 6.28 * yy)
        img += rng.normal(0, 0.03, img.shape)
        u8 = np.clip(np.round(img * 255), 0, 255).astype(np.uint8)
        path = os.path.join(folder, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        Image.fromarray(u8, "RGB").save(path)
        rows.append("img%d.jpg\tCOCO\t%s\t01\t1\t%d\t%d\t%s" % (i, sub, i + 1, i, rel))
    with open(os.path.join(folder, "manifest.tsv"), "w") as f:
        f.write("stimulus\tsource\tsubject\tsession\trun\ttrial\tvolume\tpath\n")
        f.write("\n".join(rows) + "\n")
    return [os.path.join(folder, r.split("\t")[-1]) for r in rows]


def to_tensor(paths):
    """torchvision's ToTensor on PIL.Image.open(p).convert('RGB'): uint8 HWC -> float CHW / 255."""
    xs = []
    for p in paths:
        a = np.asarray(Image.open(p).convert("RGB"))
        xs.append(torch.from_numpy(a.copy()).permute(2, 0, 1).float().div(255))
    return torch.stack(xs).contiguous()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "latentrsa"))
    ap.add_argument("out", nargs="?", default=os.path.join(ROOT, "tests", "fixtures", "ae_ckpt"))
    args = ap.parse_args()
    out = args.out
    if os.path.isdir(os.path.join(out, "images")):
        shutil.rmtree(os.path.join(out, "images"))
    os.makedirs(out, exist_ok=True)
    paths = make_images(os.path.join(out, "images"))
    x = to_tensor(paths)

    # ours -> PyTorch: our own train-ae writes the checkpoint, PyTorch loads it strictly
    with tempfile.TemporaryDirectory() as tmp:
        ck = os.path.join(tmp, "ours.safetensors")
        subprocess.run([args.bin, "train-ae", "--images", os.path.join(out, "images"), "-o", ck,
                        "--size", str(SIZE), "--channels", ",".join(map(str, CHANNELS)),
                        "--epochs", "2", "--batch", "2", "--seed", "3", "--threads", "1", "-q"],
                       check=True)
        shutil.copy(ck, os.path.join(out, "ours.safetensors"))
    torch.set_num_threads(1)
    ours = Autoencoder(CHANNELS)
    ours.load_state_dict(load_file(os.path.join(out, "ours.safetensors")), strict=True)
    ours.eval()

    # PyTorch -> ours: a PyTorch-initialised state_dict
    torch.manual_seed(0)
    init = Autoencoder(CHANNELS)
    init.eval()
    sd = {k: v.contiguous() for k, v in init.state_dict().items()}
    save_file(sd, os.path.join(out, "torch_init.safetensors"))

    with torch.no_grad():
        io = {
            "x": x,
            "recon_ours": ours(x), "latent_ours": ours.encoder(x).flatten(1),
            "recon_init": init(x), "latent_init": init.encoder(x).flatten(1),
        }
    save_file({k: v.contiguous() for k, v in io.items()}, os.path.join(out, "torch_io.safetensors"),
              metadata={"versions": VERSIONS})

    # bad checkpoints
    bad = dict(sd)
    del bad["decoder.2.bias"]
    save_file(bad, os.path.join(out, "missing_tensor.safetensors"))
    bad = dict(sd)
    bad["encoder.2.weight"] = bad["encoder.2.weight"].reshape(8, 4, 1, 9).contiguous()
    save_file(bad, os.path.join(out, "bad_shape.safetensors"))
    save_file(sd, os.path.join(out, "meta_mismatch.safetensors"),
              metadata={"size": "64"})
    print("wrote fixtures to %s (%s)" % (out, VERSIONS))


if __name__ == "__main__":
    sys.exit(main())
