"""Reference for bench_rdm: the paper's RDM, 1 - np.corrcoef(X), on the same float32 matrix.

bench_rdm --write-input PATH writes the matrix (seeded, 5000 x 715 by default); this script loads
it and times, median of REPEATS:
  rdm_correlation      1 - np.corrcoef(X): numpy promotes the float32 input to float64 (corrcoef
                       computes in float64 whatever the input), so this is a float64 GEMM
  rdm_correlation_f32  the fastest plain-numpy float32 route a user could write: centre and
                       scale the rows in float32, then 1 - U @ U.T (a float32 GEMM of the full
                       matrix), for comparison
Threads: numpy's BLAS reads OMP_NUM_THREADS / OPENBLAS_NUM_THREADS; run it with the same value
as bench_rdm (scripts/bench sets them). The BLAS numpy uses is printed on stderr.
    usage: ref_rdm.py INPUT.npy [REPEATS]
"""
import os
import sys
import time

import numpy as np


def median_time(fn, repeats):
    fn()  # warm up (thread pool, allocations)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
        del out
    return sorted(times)[repeats // 2]


def rdm_f32(x):
    u = x - x.mean(axis=1, keepdims=True)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    return 1.0 - u @ u.T


def main():
    path = sys.argv[1]
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    x = np.load(path)
    assert x.dtype == np.float32 and x.ndim == 2
    print("rdm_correlation %.4f" % median_time(lambda: 1.0 - np.corrcoef(x), repeats))
    print("rdm_correlation_f32 %.4f" % median_time(lambda: rdm_f32(x), repeats))
    blas = "unknown"
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]["name"] + " " + cfg["Build Dependencies"]["blas"]["version"]
    except Exception:
        pass
    print("(%d x %d float32; numpy %s, BLAS %s; OMP_NUM_THREADS=%s OPENBLAS_NUM_THREADS=%s)"
          % (x.shape[0], x.shape[1], np.__version__, blas, os.environ.get("OMP_NUM_THREADS"),
             os.environ.get("OPENBLAS_NUM_THREADS")), file=sys.stderr)


if __name__ == "__main__":
    main()
