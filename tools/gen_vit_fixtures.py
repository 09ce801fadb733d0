#!/usr/bin/env python3
"""Reference outputs of transformers' ViTModel for the C engine (tests/unit/test_vit.c and
tests/unit/test_vit_base.c).

Two modes.

1. Tiny models (default): writes tests/fixtures/vit/:
     <model>/config.json + model.safetensors  Hugging Face directories written by save_pretrained
                                               (F32, F16, BF16) or by safetensors.torch.save_file
                                               with the "vit." prefix (as ViTFor* checkpoints)
     <model>/pixels.npy                        B x 3 x S x S float32, np.random.default_rng(0) uniform [-1, 1)
     <model>/last_hidden_state.npy             B x T x C   (ViTModel(...).last_hidden_state)
     <model>/cls.npy, mean.npy, pooler.npy     B x C: token 0; mean over tokens 1..P (in float64);
                                               pooler_output
     <model>/hidden_1.npy                      B x T x C   hidden_states[1] (after block 1, no final LN)
     expected.json                             the models, their configs and the versions used
   The weights are drawn so that every code path shows: Linear weights N(0, 1/fan_in) (peaked
   attention), nonzero biases (N(0, 0.1)) and layernorm affine terms (1 + N(0, 0.1), N(0, 0.1)).
   F16/BF16 models hold rounded weights; their outputs are those of the rounded weights in
   float32. Prefixed models share the outputs of the unprefixed one of the same dtype.

2. --base DIR: DIR is what `latentrsa vit-init --config base --seed 1 -o DIR` wrote. Loads it with
   ViTModel.from_pretrained (no missing or unexpected keys allowed), checks the initialisation
   statistics (sd 0.02 weights, zero biases, layernorm 1/0), and runs two 224 x 224 images whose
   pixels come from latentrsa's own RNG (xoshiro256** seeded by splitmix64 with seed 7;
   p = float32(2 u - 1), u = (next >> 11) 2^-53, in C order), re-implemented below, so the C test
   regenerates them without a 1.2 MB fixture. Writes tests/fixtures/vit/base_seed1/{cls,mean,pooler}.npy
   and base_seed1/expected.json.

Usage: .venv-tools/bin/python tools/gen_vit_fixtures.py [--base DIR] [OUTDIR]
"""
import json
import os
import sys

import numpy as np
import safetensors
import torch
import transformers
from safetensors.torch import save_file
from transformers import ViTConfig, ViTModel

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VERSIONS = {
    "generator": "tools/gen_vit_fixtures.py",
    "numpy": np.__version__,
    "torch": torch.__version__,
    "transformers": transformers.__version__,
    "safetensors": safetensors.__version__,
}

TINY = {
    # hidden 32, 2 layers, 4 heads, patch 8, image 32: T = 17
    "tiny_a": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                   patch_size=8, image_size=32, qkv_bias=True, layer_norm_eps=1e-12),
    # no qkv bias, eps 1e-6, head dim 8, odd MLP size, patch 4, image 12: T = 10
    "tiny_b": dict(hidden_size=24, num_hidden_layers=3, num_attention_heads=3, intermediate_size=40,
                   patch_size=4, image_size=12, qkv_bias=False, layer_norm_eps=1e-6),
    # the dtype / prefix variants: 1 layer, hidden 16, image 8, patch 4: T = 5
    "tiny_c": dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                   patch_size=4, image_size=8, qkv_bias=True, layer_norm_eps=1e-12),
}
BATCH = 3


def randomize(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif "layernorm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith("cls_token") or name.endswith("position_embeddings"):
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            else:  # Linear [out, in] or the conv [C, ch, p, p]
                fan_in = int(np.prod(p.shape[1:]))
                p.copy_(torch.randn(p.shape, generator=g) / np.sqrt(fan_in))


def run(model, pixels):
    with torch.no_grad():
        out = model(pixel_values=torch.from_numpy(pixels), output_hidden_states=True)
    lhs = out.last_hidden_state.numpy().astype(np.float32)
    return {
        "last_hidden_state": lhs,
        "cls": lhs[:, 0, :].copy(),
        "mean": lhs[:, 1:, :].astype(np.float64).mean(axis=1).astype(np.float32),
        "pooler": out.pooler_output.numpy().astype(np.float32),
        "hidden_1": out.hidden_states[1].numpy().astype(np.float32),
    }


def save_outputs(d, pixels, outs):
    np.save(os.path.join(d, "pixels.npy"), pixels)
    for k, v in outs.items():
        np.save(os.path.join(d, k + ".npy"), v)


def save_prefixed(model, d, dtype):
    os.makedirs(d, exist_ok=True)
    model.config.save_pretrained(d)
    sd = {"vit." + k: v.detach().to(dtype).contiguous() for k, v in model.state_dict().items()}
    save_file(sd, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})


def tiny(out):
    os.makedirs(out, exist_ok=True)
    expected = {"versions": VERSIONS, "batch": BATCH, "models": {}}
    for i, (name, kw) in enumerate(TINY.items()):
        cfg = ViTConfig(**kw, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
        torch.manual_seed(100 + i)
        model = ViTModel(cfg).eval()
        randomize(model, 1000 + i)
        S = kw["image_size"]
        pixels = np.random.default_rng(0).uniform(-1, 1, (BATCH, 3, S, S)).astype(np.float32)
        variants = [(name, torch.float32, False)]
        if name == "tiny_c":
            variants = [(name, torch.float32, False), (name + "_f32_prefix", torch.float32, True),
                        (name + "_f16", torch.float16, False), (name + "_f16_prefix", torch.float16, True),
                        (name + "_bf16", torch.bfloat16, False), (name + "_bf16_prefix", torch.bfloat16, True)]
        for vname, dtype, prefix in variants:
            d = os.path.join(out, vname)
            os.makedirs(d, exist_ok=True)
            m = model.to(dtype).to(torch.float32)  # the rounded weights, run in float32
            if prefix:
                save_prefixed(m, d, dtype)
            else:
                m.to(dtype).save_pretrained(d, safe_serialization=True)
                m = m.to(torch.float32)
            outs = run(m, pixels)
            save_outputs(d, pixels, outs)
            expected["models"][vname] = {"config": kw, "dtype": str(dtype).replace("torch.", ""),
                                         "prefix": "vit." if prefix else "",
                                         "attn_implementation": m.config._attn_implementation,
                                         "tokens": (S // kw["patch_size"]) ** 2 + 1}
            model = model.to(torch.float32)
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")


# ---- latentrsa's RNG (src/core/rng.c), for the base test's pixels -------------------------------
M64 = (1 << 64) - 1


def lrsa_rng(seed):
    x = seed
    s = []
    for _ in range(4):
        x = (x + 0x9E3779B97F4A7C15) & M64
        z = x
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        s.append(z ^ (z >> 31))

    def rotl(v, k):
        return ((v << k) | (v >> (64 - k))) & M64

    while True:
        result = (rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        yield result


def lrsa_pixels(seed, n):
    g = lrsa_rng(seed)
    u = np.fromiter(((next(g) >> 11) for _ in range(n)), dtype=np.float64, count=n) * 2.0**-53
    return (2.0 * u - 1.0).astype(np.float32)


def base(model_dir, out):
    out = os.path.join(out, "base_seed1")
    os.makedirs(out, exist_ok=True)
    model, info = ViTModel.from_pretrained(model_dir, output_loading_info=True)
    model.eval()
    for k in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs"):
        assert not info[k], (k, info[k])
    stats = {}
    for name, p in model.named_parameters():
        a = p.detach().numpy().astype(np.float64)
        if name.endswith("bias"):
            assert np.all(a == 0), name
        elif "layernorm" in name:
            assert np.all(a == 1), name
        else:
            sd = a.std()
            assert abs(sd - 0.02) < 0.02 * (0.02 + 5 / np.sqrt(a.size)), (name, sd)
            assert np.abs(a).max() <= 2.0
            stats[name] = sd
    S = model.config.image_size
    pixels = lrsa_pixels(7, 2 * 3 * S * S).reshape(2, 3, S, S)
    outs = run(model, pixels)
    for k in ("cls", "mean", "pooler"):
        np.save(os.path.join(out, k + ".npy"), outs[k])
    sds = np.array(list(stats.values()))
    expected = {"versions": VERSIONS, "checkpoint": "latentrsa vit-init --config base --seed 1",
                "pixels": "2 x 3 x 224 x 224, lrsa_rng seed 7, float32(2 u - 1) in C order",
                "first_pixels": [float(v) for v in pixels.ravel()[:4]],
                "weight_sd_min": float(sds.min()), "weight_sd_max": float(sds.max()),
                "attn_implementation": model.config._attn_implementation}
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")


def main():
    args = sys.argv[1:]
    base_dir = None
    if args and args[0] == "--base":
        base_dir = args[1]
        args = args[2:]
    out = args[0] if args else os.path.join(ROOT, "tests", "fixtures", "vit")
    torch.set_num_threads(1)
    if base_dir:
        base(base_dir, out)
    else:
        tiny(out)


if __name__ == "__main__":
    main()
