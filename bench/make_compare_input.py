#!/usr/bin/env python3
"""Input for bench_compare_measures / ref_compare_measures.py: two RDM upper triangles of
N = 5000 stimuli (m = N(N-1)/2 = 12,497,500 values), float32 like our RDMs, seeded.

x is 1 - Pearson r between random 64-d patterns, so it has the structure of a correlation RDM;
y = x + noise, rounded to float32 (so both have ties, as float32 RDM entries do).
Writes OUTDIR/compare_x.npy and OUTDIR/compare_y.npy (50 MB each).

Usage: .venv-tools/bin/python bench/make_compare_input.py OUTDIR [N]
"""
import os
import sys

import numpy as np


def main():
    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(5000)
    pat = rng.standard_normal((n, 64)).astype(np.float32)
    pat -= pat.mean(1, keepdims=True)
    pat /= np.linalg.norm(pat, axis=1, keepdims=True)
    rdm = 1.0 - pat @ pat.T
    iu = np.triu_indices(n, 1)
    x = rdm[iu].astype(np.float32)
    del rdm
    y = (x + 0.3 * rng.standard_normal(x.size).astype(np.float32)).astype(np.float32)
    np.save(os.path.join(out, "compare_x.npy"), x)
    np.save(os.path.join(out, "compare_y.npy"), y)
    print("wrote %s/compare_{x,y}.npy: m = %d float32" % (out, x.size))


if __name__ == "__main__":
    main()
