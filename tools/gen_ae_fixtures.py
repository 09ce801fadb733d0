#!/usr/bin/env python3
"""Reference fixtures for the autoencoder engine (tests/unit/test_ae_layers.c, test_ae_step.c),
computed by PyTorch (pinned in tools/requirements.txt: torch 2.3.1, CPU, one thread).

Writes tests/fixtures/ae/ (all safetensors, F32, with the generator's versions in __metadata__):
  layers.safetensors   per layer case <case>: <case>.x, .w, .b, .out, .dout (the upstream gradient,
                       random), .dx, .dw, .db for Conv2d(k3, s2, p1) and ConvTranspose2d(k3, s2, p1,
                       output_padding 1) on small odd and even shapes; relu/sigmoid/mse: .x, .out,
                       .dout, .dx (mse: .pred, .target, .loss, .dpred). Each layer's reference is
                       torch autograd in float64 on the float32 inputs (the exact answer to compare
                       float32 kernels against); dims in __metadata__ as "<case>.dims" = "B C H W OC".
  step_small.safetensors
                       a depth-2 autoencoder (3x16x16 -> 4 -> 8, batch 3), everything stored in full:
                       p0.<name> (initial weights, torch's own init), x, loss, grad.<name>, p1.<name>
                       (after one torch.optim.Adam(lr 1e-3, weight_decay 1e-5) step), float32 torch.
  step_paper.safetensors
                       the paper's architecture (16 32 64 128 256) at 3x64x64, batch 4, float32
                       torch. The 785k initial weights are not stored: they are drawn from
                       latentrsa's seeded RNG (xoshiro256** + splitmix64, re-implemented below and
                       bit-identical to src/core/rng.c) by the rule of lrsa_ae_init_pytorch, seed in
                       __metadata__ "init_seed"; x likewise (seed "x_seed", x = float(uniform)). Stored:
                       loss; per tensor, gradient and updated parameter either in full (numel <= 4096)
                       or at 1024 sampled indices (idx.<name>, as exact floats), plus full-tensor
                       statistics gstat.<name> / pstat.<name> = [sum, sum of squares] of the gradient
                       and of p1 - p0 (float64 sums stored as F32); init_bound = torch's own
                       kaiming/bias bound for each tensor (from torch.nn.init's fan computation).

Usage: .venv-tools/bin/python tools/gen_ae_fixtures.py [OUTDIR]
"""
import math
import os
import sys

import numpy as np
import safetensors
import torch
from safetensors.numpy import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VERSIONS = "generator=tools/gen_ae_fixtures.py torch=%s numpy=%s safetensors=%s" % (
    torch.__version__, np.__version__, safetensors.__version__)
MASK = (1 << 64) - 1


# ---- latentrsa's RNG (src/core/rng.c), bit for bit ----------------------------------------------
class Rng:
    def __init__(self, seed):
        x = seed & MASK
        self.s = []
        for _ in range(4):
            x = (x + 0x9E3779B97F4A7C15) & MASK
            z = x
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
            self.s.append(z ^ (z >> 31))

    def u64(self):
        s = self.s
        rotl = lambda v, k: ((v << k) | (v >> (64 - k))) & MASK
        result = (rotl((s[1] * 5) & MASK, 7) * 9) & MASK
        t = (s[1] << 17) & MASK
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def uniform(self):
        return float(self.u64() >> 11) * 2.0 ** -53


# ---- the paper's model --------------------------------------------------------------------------
def make_model(cin, channels):
    enc, dec = [], []
    widths = [cin] + list(channels)
    for i in range(len(channels)):
        enc += [torch.nn.Conv2d(widths[i], widths[i + 1], 3, stride=2, padding=1), torch.nn.ReLU()]
    rw = widths[::-1]
    for i in range(len(channels)):
        dec += [torch.nn.ConvTranspose2d(rw[i], rw[i + 1], 3, stride=2, padding=1, output_padding=1)]
        dec += [torch.nn.ReLU() if i < len(channels) - 1 else torch.nn.Sigmoid()]
    m = torch.nn.Module()
    m.encoder = torch.nn.Sequential(*enc)
    m.decoder = torch.nn.Sequential(*dec)
    m.forward = lambda x: m.decoder(m.encoder(x))
    return m


def torch_bound(p_name, p, weights):
    """The bound torch's reset_parameters uses: kaiming_uniform_(a=sqrt(5)) gives 1/sqrt(fan_in);
    the bias bound is 1/sqrt(fan_in) of the layer's weight."""
    w = weights[p_name.rsplit(".", 1)[0] + ".weight"]
    fan_in, _ = torch.nn.init._calculate_fan_in_and_fan_out(w)
    gain = torch.nn.init.calculate_gain("leaky_relu", math.sqrt(5))
    return gain * math.sqrt(3.0 / fan_in) if p_name.endswith("weight") else 1.0 / math.sqrt(fan_in)


def one_step(model, x):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-5)
    opt.zero_grad()
    loss = torch.nn.functional.mse_loss(model(x), x)
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    opt.step()
    return loss.item(), grads


def f32(t):
    return np.ascontiguousarray(t.detach().cpu().numpy().astype(np.float32))


# ---- fixtures -------------------------------------------------------------------------------------
def gen_layers(out):
    g = torch.Generator().manual_seed(5)
    tensors, meta = {}, {"versions": VERSIONS}

    def rnd(*shape):
        return (torch.rand(*shape, generator=g) * 2 - 1).float()

    convs = {"conv_a": (2, 3, 9, 7, 4), "conv_b": (3, 5, 8, 8, 6)}
    convts = {"convt_a": (2, 4, 5, 3, 3), "convt_b": (2, 6, 4, 4, 5)}
    for name, (B, C, H, W, OC) in list(convs.items()) + list(convts.items()):
        tr = name.startswith("convt")
        x = rnd(B, C, H, W)
        w = rnd(*((C, OC, 3, 3) if tr else (OC, C, 3, 3))) * 0.5
        b = rnd(OC)
        xd, wd, bd = (t.double().requires_grad_() for t in (x, w, b))
        if tr:
            y = torch.nn.functional.conv_transpose2d(xd, wd, bd, stride=2, padding=1, output_padding=1)
        else:
            y = torch.nn.functional.conv2d(xd, wd, bd, stride=2, padding=1)
        dout = rnd(*y.shape)
        y.backward(dout.double())
        for k, v in (("x", x), ("w", w), ("b", b), ("out", y), ("dout", dout), ("dx", xd.grad),
                     ("dw", wd.grad), ("db", bd.grad)):
            tensors["%s.%s" % (name, k)] = f32(v)
        meta[name + ".dims"] = "%d %d %d %d %d" % (B, C, H, W, OC)

    for name, fn in (("relu", torch.relu), ("sigmoid", torch.sigmoid)):
        x = rnd(2, 3, 4, 5) * 4
        x[0, 0, 0, :2] = 0.0  # exact zeros: relu's gradient there is 0, as torch's threshold_backward
        xd = x.double().requires_grad_()
        y = fn(xd)
        dout = rnd(*y.shape)
        y.backward(dout.double())
        for k, v in (("x", x), ("out", y), ("dout", dout), ("dx", xd.grad)):
            tensors["%s.%s" % (name, k)] = f32(v)

    pred, target = torch.rand(2, 3, 4, 5, generator=g), torch.rand(2, 3, 4, 5, generator=g)
    pd = pred.double().requires_grad_()
    loss = torch.nn.functional.mse_loss(pd, target.double())
    loss.backward()
    for k, v in (("pred", pred), ("target", target), ("loss", loss.reshape(1)), ("dpred", pd.grad)):
        tensors["mse.%s" % k] = f32(v)
    save_file(tensors, os.path.join(out, "layers.safetensors"), metadata=meta)


def gen_step_small(out):
    torch.manual_seed(7)
    model = make_model(3, [4, 8])
    x = torch.rand(3, 3, 16, 16)
    tensors = {"p0." + n: f32(p) for n, p in model.named_parameters()}
    loss, grads = one_step(model, x)
    tensors["x"] = f32(x)
    tensors["loss"] = np.array([loss], dtype=np.float32)
    for n, p in model.named_parameters():
        tensors["grad." + n] = f32(grads[n])
        tensors["p1." + n] = f32(p)
    meta = {"versions": VERSIONS, "config": "3 16 16 | 4 8", "batch": "3"}
    save_file(tensors, os.path.join(out, "step_small.safetensors"), metadata=meta)


def gen_step_paper(out):
    channels, H, B = [16, 32, 64, 128, 256], 64, 4
    init_seed, x_seed = 20240605, 20240606
    model = make_model(3, channels)
    weights = dict(model.named_parameters())
    rng = Rng(init_seed)
    p0 = {}
    bounds = []
    with torch.no_grad():
        for n, p in model.named_parameters():
            # lrsa_ae_init_pytorch: bound = 1/sqrt(weight.size(1) * 9), drawn in state_dict order
            w = weights[n.rsplit(".", 1)[0] + ".weight"]
            bound = 1.0 / math.sqrt(float(w.shape[1] * 9))
            vals = np.array([(2.0 * rng.uniform() - 1.0) * bound for _ in range(p.numel())],
                            dtype=np.float64).astype(np.float32)
            p.copy_(torch.from_numpy(vals.reshape(p.shape)))
            p0[n] = vals.astype(np.float64)
            bounds.append(torch_bound(n, p, weights))
    xr = Rng(x_seed)
    x = np.array([xr.uniform() for _ in range(B * 3 * H * H)], dtype=np.float64).astype(np.float32)
    x = torch.from_numpy(x.reshape(B, 3, H, H))
    loss, grads = one_step(model, x)
    sel = np.random.default_rng(11)
    tensors = {"loss": np.array([loss], dtype=np.float32),
               "init_bound": np.array(bounds, dtype=np.float32)}
    for n, p in model.named_parameters():
        g = grads[n].numpy().ravel().astype(np.float64)
        p1 = p.detach().numpy().ravel().astype(np.float64)
        d = p1 - p0[n]
        tensors["gstat." + n] = np.array([g.sum(), (g * g).sum()], dtype=np.float32)
        tensors["pstat." + n] = np.array([d.sum(), (d * d).sum()], dtype=np.float32)
        if g.size > 4096:
            idx = np.sort(sel.choice(g.size, 1024, replace=False))
            tensors["idx." + n] = idx.astype(np.float32)
            g, p1 = g[idx], p1[idx]
        tensors["grad." + n] = g.astype(np.float32)
        tensors["p1." + n] = p1.astype(np.float32)
    meta = {"versions": VERSIONS, "config": "3 %d %d | %s" % (H, H, " ".join(map(str, channels))),
            "batch": str(B), "init_seed": str(init_seed), "x_seed": str(x_seed)}
    save_file(tensors, os.path.join(out, "step_paper.safetensors"), metadata=meta)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "tests", "fixtures", "ae")
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    gen_layers(out)
    gen_step_small(out)
    gen_step_paper(out)


if __name__ == "__main__":
    main()
