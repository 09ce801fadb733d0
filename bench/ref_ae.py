#!/usr/bin/env python3
"""PyTorch reference for bench/bench_ae.c: the paper's autoencoder (Conv2d/ConvTranspose2d k3 s2 p1,
16 32 64 128 256), one training step (zero_grad + forward + MSE + backward + Adam(lr 1e-3,
weight_decay 1e-5)) and encoder-only inference under torch.no_grad(), on random inputs in [0, 1).
Prints the same "name seconds" lines as bench_ae (median of REPEATS after one warm-up).
Threads: torch.set_num_threads(OMP_NUM_THREADS, default 2). scripts/bench runs it under each
installed torch: the pinned PyPI 2.3.1 (tools/requirements.txt), Debian's 1.13 and the newest PyPI.
  usage: ref_ae.py [HW] [BATCH] [REPEATS]     (defaults 672 8 3)
"""
import os
import sys
import time

import torch


def make_model(channels=(16, 32, 64, 128, 256), cin=3):
    widths = [cin] + list(channels)
    enc, dec = [], []
    for i in range(len(channels)):
        enc += [torch.nn.Conv2d(widths[i], widths[i + 1], 3, stride=2, padding=1), torch.nn.ReLU()]
    rw = widths[::-1]
    for i in range(len(channels)):
        dec += [torch.nn.ConvTranspose2d(rw[i], rw[i + 1], 3, stride=2, padding=1, output_padding=1)]
        dec += [torch.nn.ReLU() if i < len(channels) - 1 else torch.nn.Sigmoid()]
    return torch.nn.Sequential(torch.nn.Sequential(*enc), torch.nn.Sequential(*dec))


def median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])


def main():
    hw = int(sys.argv[1]) if len(sys.argv) > 1 else 672
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    threads = int(os.environ.get("OMP_NUM_THREADS", "2"))
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    model = make_model()
    x = torch.rand(batch, 3, hw, hw)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-5)

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), x)
        loss.backward()
        opt.step()
        return loss

    times = []
    for r in range(repeats + 1):
        t0 = time.perf_counter()
        loss = step()
        if r:
            times.append(time.perf_counter() - t0)
    ts = median(times)
    print("ae_train_step %.4f" % ts)
    print("(torch %s, %d threads: %.2f img/s, loss %.5f)" % (torch.__version__, threads, batch / ts,
                                                             loss.item()), file=sys.stderr)
    times = []
    with torch.no_grad():
        for r in range(repeats + 1):
            t0 = time.perf_counter()
            model[0](x)
            if r:
                times.append(time.perf_counter() - t0)
    te = median(times)
    print("ae_encode %.4f" % te)
    print("(encode: %.2f img/s)" % (batch / te), file=sys.stderr)


if __name__ == "__main__":
    main()
