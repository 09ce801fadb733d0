#!/usr/bin/env python3
"""Write the input of bench_reduce / ref_reduce.py once: an N x D float32 matrix (default
5000 x 20000) with a decaying spectrum like z-scored network embeddings: a rank-R signal whose
singular values fall as j^-0.45 (variance as j^-0.9), plus isotropic noise, with column offsets
and scales (so that z-scoring matters). At the default size 715 components explain 59.7% of the
z-scored variance.
    usage: make_reduce_input.py OUT.npy [N D [SEED]]
"""
import sys

import numpy as np


def main():
    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
    d = int(sys.argv[3]) if len(sys.argv) > 3 else 20000
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    rng = np.random.default_rng(seed)
    r = min(n, d, 2000)
    a = rng.standard_normal((n, r), dtype=np.float32)
    a *= (np.arange(1, r + 1, dtype=np.float32) ** -0.45)
    b = rng.standard_normal((r, d), dtype=np.float32)
    x = a @ b
    x *= np.float32(1.0 / np.sqrt(d))
    x += np.float32(0.02) * rng.standard_normal((n, d), dtype=np.float32)
    x *= rng.uniform(0.5, 3.0, size=d).astype(np.float32)
    x += rng.uniform(-2.0, 2.0, size=d).astype(np.float32)
    np.save(out, np.ascontiguousarray(x, dtype=np.float32))


if __name__ == "__main__":
    main()
