#!/usr/bin/env python3
"""Reference timings for bench_mantel.c: what a user does with numpy/scipy at N = 5000.

Same input shape and kind as the C bench (Euclidean-distance RDMs of random points in 20
dimensions, float32, the second sharing half the structure; numpy's RNG, so not the same numbers:
the timings do not depend on the values). Prints "name seconds" lines, medians of R repeats:
  mantel_per_permutation_pearson   one permutation: R[np.ix_(p, p)][iu], then the Pearson r
                                   (np.corrcoef) against the fixed upper triangle
  mantel_per_permutation_spearman  the same on the rank-transformed RDM (ranks once, then permute)
  spearman_compare                 scipy.stats.spearmanr on the two upper triangles
  bootstrap_per_resample_spearman  one stimulus resample: A[np.ix_(i, i)], pairs of different
                                   stimuli, scipy.stats.spearmanr
Usage: ref_mantel.py [N] [P] [R]   (defaults 5000, 3, 3; P = permutations timed per repeat)
Threads: numpy's BLAS follows OMP_NUM_THREADS / OPENBLAS_NUM_THREADS (these loops barely use it).
"""
import statistics
import sys
import time

import numpy as np
from scipy import stats


def rdm(points):
    sq = (points * points).sum(1)
    d2 = sq[:, None] + sq[None, :] - 2.0 * points @ points.T
    np.maximum(d2, 0, out=d2)
    out = np.sqrt(d2).astype(np.float32)
    np.fill_diagonal(out, 0)
    return out


def timed(fn, repeats):
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    P = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    R = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    rng = np.random.default_rng(20240601)
    pa = rng.standard_normal((n, 20))
    pb = 0.5 * pa + rng.standard_normal((n, 20))
    A, B = rdm(pa), rdm(pb)
    iu = np.triu_indices(n, 1)
    b = B[iu]

    def perms(M, y):
        for _ in range(P):
            p = rng.permutation(n)
            np.corrcoef(M[np.ix_(p, p)][iu], y)[0, 1]

    t = timed(lambda: perms(A, b), R) / P
    print(f"mantel_per_permutation_pearson {t:.6f}", flush=True)
    ra = np.zeros((n, n))
    ra[iu] = stats.rankdata(A[iu])
    ra += ra.T
    rb = stats.rankdata(b)
    t = timed(lambda: perms(ra, rb), R) / P
    print(f"mantel_per_permutation_spearman {t:.6f}", flush=True)
    t = timed(lambda: stats.spearmanr(A[iu], b), R)
    print(f"spearman_compare {t:.6f}", flush=True)

    def resample():
        i = rng.integers(0, n, n)
        keep = i[iu[0]] != i[iu[1]]
        stats.spearmanr(A[np.ix_(i, i)][iu][keep], B[np.ix_(i, i)][iu][keep])

    t = timed(resample, max(1, R - 1))
    print(f"bootstrap_per_resample_spearman {t:.6f}", flush=True)


if __name__ == "__main__":
    main()
