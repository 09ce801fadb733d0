#!/usr/bin/env python3
"""Reference for bench_compare_measures: scipy on the same two float32 vectors (read as float64).

rank_12.5M      scipy.stats.rankdata(x)            (average ties)
spearman_r      scipy.stats.spearmanr(x, y)        (statistic and p)
kendall_tau_a   scipy.stats.kendalltau(x, y)       (tau-b, the O(m log m) mergesort; rsatoolbox's
                                                    tau-a calls the same _kendall_dis)
pearson_r       scipy.stats.pearsonr(x, y)
Prints "name seconds" lines (median of REPEATS; default 1: each call takes seconds).
    usage: ref_compare_measures.py X.npy Y.npy [REPEATS]
"""
import sys
import time

import numpy as np
import scipy
import scipy.stats as st


def timed(fn, repeats):
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return sorted(ts)[len(ts) // 2]


def main():
    x = np.load(sys.argv[1]).astype(np.float64)
    y = np.load(sys.argv[2]).astype(np.float64)
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    print("rank_12.5M %.4f" % timed(lambda: st.rankdata(x), repeats))
    print("spearman_r %.4f" % timed(lambda: st.spearmanr(x, y), repeats))
    print("kendall_tau_a %.4f" % timed(lambda: st.kendalltau(x, y), repeats))
    print("pearson_r %.4f" % timed(lambda: st.pearsonr(x, y), repeats))
    print("m %d numpy %s scipy %s" % (x.size, np.__version__, scipy.__version__), file=sys.stderr)


if __name__ == "__main__":
    main()
