"""Reference for bench_reduce: scikit-learn StandardScaler + TruncatedSVD(n_components=K,
algorithm='randomized', n_iter=5, random_state=0), the paper's pipeline, timed together on the
same .npy (bench/make_reduce_input.py) with the caller's OMP_NUM_THREADS / OPENBLAS_NUM_THREADS.
Prints "name seconds" lines (median of REPEATS): reduce_topk, reduce_lanczos and reduce_randomized
(the same scikit-learn figure: it is the reference for each of our iterative solvers), and on
stderr the process CPU seconds of the median repeat.
With --save DIR it also writes DIR/sklearn_proj.npy (float32, N x K, our sign rule applied) and
DIR/sklearn_sv.npy (float64) from the last repeat, which bench_reduce can score against exact.
    usage: ref_reduce.py IN.npy [K] [REPEATS] [--save DIR]
"""
import os
import sys
import time

import numpy as np
import sklearn
from sklearn.decomposition import TruncatedSVD
from sklearn.preprocessing import StandardScaler


def main():
    argv = [a for a in sys.argv[1:]]
    save = None
    if "--save" in argv:
        i = argv.index("--save")
        save = argv[i + 1]
        del argv[i:i + 2]
    path = argv[0]
    k = int(argv[1]) if len(argv) > 1 else 715
    repeats = int(argv[2]) if len(argv) > 2 else 3
    x0 = np.load(path)
    times = []
    for _ in range(repeats):
        x = x0.copy()
        t0 = time.perf_counter()
        c0 = time.process_time()
        z = StandardScaler().fit_transform(x)
        svd = TruncatedSVD(n_components=k, algorithm="randomized", n_iter=5, random_state=0)
        proj = svd.fit_transform(z)
        times.append((time.perf_counter() - t0, time.process_time() - c0))
    med, cpu = sorted(times)[repeats // 2]
    print("reduce_topk %.4f" % med)
    print("reduce_lanczos %.4f" % med)
    print("reduce_randomized %.4f" % med)
    print("# scikit-learn: %.3f s wall, %.3f s cpu" % (med, cpu), file=sys.stderr)
    if save:
        comp = svd.components_
        for j in range(comp.shape[0]):
            if comp[j, np.argmax(np.abs(comp[j]))] < 0:
                proj[:, j] *= -1
        np.save(os.path.join(save, "sklearn_proj.npy"), proj.astype(np.float32))
        np.save(os.path.join(save, "sklearn_sv.npy"), svd.singular_values_.astype(np.float64))
    print("scikit-learn %s numpy %s, %d x %d -> %d" % (sklearn.__version__, np.__version__, x0.shape[0],
                                                      x0.shape[1], k), file=sys.stderr)


if __name__ == "__main__":
    main()
