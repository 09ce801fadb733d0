#!/usr/bin/env python3
"""Reference for bench/bench_vit.c: transformers' ViTModel forward, batch 8 at 224 x 224.

The model is DIR (a Hugging Face directory, e.g. from `latentrsa vit-init --config base --seed 1`)
or, without DIR, ViTModel(ViTConfig()) with transformers' random init (ViT-B/16; speed does not
depend on the values). torch.set_num_threads(THREADS) (default: OMP_NUM_THREADS, else 2),
torch.no_grad(), eval mode, default attention (SDPA). One warm-up forward, then the median of
REPEATS (default 3). Prints "vit_b16_batch8 S" and the img/s and GFLOP/s lines as bench_vit does.

Usage: .venv-tools/bin/python bench/ref_vit.py [DIR] [REPEATS] [THREADS]
"""
import os
import sys
import time

import numpy as np
import torch
import transformers
from transformers import ViTConfig, ViTModel


def main():
    args = sys.argv[1:]
    model_dir = args[0] if args and args[0] else None
    repeats = int(args[1]) if len(args) > 1 else 3
    threads = int(args[2]) if len(args) > 2 else int(os.environ.get("OMP_NUM_THREADS", "2"))
    torch.set_num_threads(threads)
    if model_dir:
        model = ViTModel.from_pretrained(model_dir)
    else:
        torch.manual_seed(1)
        model = ViTModel(ViTConfig())
    model.eval()
    cfg = model.config
    S = cfg.image_size
    B = 8
    pixels = torch.from_numpy(np.random.default_rng(7).uniform(-1, 1, (B, 3, S, S)).astype(np.float32))
    times = []
    with torch.no_grad():
        for r in range(repeats + 1):
            t0 = time.perf_counter()
            out = model(pixel_values=pixels).last_hidden_state
            t = time.perf_counter() - t0
            if r:
                times.append(t)
    med = float(np.median(times))
    g = S // cfg.patch_size
    P, T, C, I = g * g, g * g + 1, cfg.hidden_size, cfg.intermediate_size
    K = cfg.num_channels * cfg.patch_size ** 2
    gflop = 2.0 * (P * K * C + cfg.num_hidden_layers * (T * C * 3 * C + T * C * C + 2 * T * C * I + 2 * T * T * C)) * 1e-9
    print("vit_b16_batch8 %.4f" % med)
    print("vit_b16_batch8_img_per_s %.3f" % (B / med))
    print("vit_b16_batch8_gflops %.1f" % (B * gflop / med))
    print("(torch %s, transformers %s, %d threads, attn %s, median of %d, checksum %.6g)"
          % (torch.__version__, transformers.__version__, torch.get_num_threads(),
             cfg._attn_implementation, repeats, float(out.flatten()[out.numel() // 2])), file=sys.stderr)


if __name__ == "__main__":
    main()
