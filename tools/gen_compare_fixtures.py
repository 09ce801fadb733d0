#!/usr/bin/env python3
"""Reference values for the RDM comparisons, parametric p-values and linear CKA
(tests/unit/test_compare.c, tests/unit/test_cka.c).

Writes tests/fixtures/compare/expected.json:
  versions   the generator's library versions
  vectors    pairs of vectors (random, with ties from rounding to a few levels, scipy's docstring
             examples, tiny and huge magnitudes) with
               ranks_x, ranks_y     scipy.stats.rankdata(method='average')
               pearson, spearman    scipy.stats.pearsonr / spearmanr statistics
               p                    their p-values, alternative 'two-sided' and 'greater'
               tau_a, counts        Kendall tau-a = (C - D) / (m(m-1)/2) from a direct O(m^2) numpy
                                    count over all pairs (a pair tied in x or y counts for neither),
                                    checked here against rsatoolbox's _tau_a formula on scipy's
                                    private _kendall_dis, and against kendalltau (tau-b) when there
                                    are no ties (tau-a = tau-b then)
               cosine               x.y / (|x||y|) in numpy
  pvalues    rows [method, alternative, r, n, p]: scipy 1.13's own code paths, pearsonr's
             _get_pvalue on beta(n/2-1, n/2-1, loc=-1, scale=2) (Boost) and spearmanr's on
             t(n-2) (stdtr) for r = scipy-rounded values in [-1, 1] and n = 3 .. 12,497,500.
             NaN is written as null.
  cka        float32 X (n x dx), Y (n x dy) and linear CKA in float64 from those float32 values:
               biased    |Y^T X|_F^2 / (|X^T X|_F |Y^T Y|_F) after centring columns, checked
                         against HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)) with H K H
               debiased  the unbiased HSIC of Song et al. 2012 on Gram matrices with zeroed
                         diagonals (specs/align.md 2.2), checked against the feature-space form
                         of google-research's representation_similarity demo
Values are JSON numbers written with repr (round-trip exact).

Usage: .venv-tools/bin/python tools/gen_compare_fixtures.py [OUTDIR]
"""
import json
import os
import sys
import warnings

import numpy as np
import scipy
import scipy.stats as st
from scipy.stats._stats import _kendall_dis

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VERSIONS = {
    "generator": "tools/gen_compare_fixtures.py",
    "numpy": np.__version__,
    "scipy": scipy.__version__,
}
ALTS = ("two-sided", "greater")


def num(v):
    """A float for JSON; NaN becomes None (cJSON has no NaN)."""
    v = float(v)
    return None if v != v else v


# ---- Kendall tau-a ----------------------------------------------------------------------------

def tau_a_direct(x, y):
    """(C - D) / n0 over all pairs i < j, with the tie counts, by brute force."""
    m = len(x)
    iu = np.triu_indices(m, 1)
    sx = np.sign(x[:, None] - x[None, :])[iu]
    sy = np.sign(y[:, None] - y[None, :])[iu]
    prod = sx * sy
    n0 = m * (m - 1) // 2
    counts = {
        "n0": n0,
        "ties_x": int((sx == 0).sum()),
        "ties_y": int((sy == 0).sum()),
        "ties_xy": int(((sx == 0) & (sy == 0)).sum()),
        "concordant": int((prod > 0).sum()),
        "discordant": int((prod < 0).sum()),
    }
    tau = (counts["concordant"] - counts["discordant"]) / n0
    return tau, counts


def tau_a_rsatoolbox(x, y):
    """rsagroup/rsatoolbox src/rsatoolbox/rdm/compare.py _tau_a (with _sort_and_rank and
    _count_rank_tie), re-typed here; uses scipy's private _kendall_dis as rsatoolbox does."""
    size = x.size
    perm = np.argsort(y)
    x, y = x[perm], y[perm]
    y = np.r_[True, y[1:] != y[:-1]].cumsum(dtype=np.intp)
    perm = np.argsort(x, kind="mergesort")
    x, y = x[perm], y[perm]
    x = np.r_[True, x[1:] != x[:-1]].cumsum(dtype=np.intp)
    dis = _kendall_dis(x, y)
    obs = np.r_[True, (x[1:] != x[:-1]) | (y[1:] != y[:-1]), True]
    cnt = np.diff(np.nonzero(obs)[0]).astype("int64", copy=False)
    ntie = (cnt * (cnt - 1) // 2).sum()

    def tie(v):
        c = np.bincount(v).astype("int64", copy=False)
        c = c[c > 1]
        return (c * (c - 1) // 2).sum()

    xtie, ytie = tie(x), tie(y)
    tot = (size * (size - 1)) // 2
    tau = ((tot - (xtie + ytie - ntie)) - 2 * dis) / tot
    return min(1.0, max(-1.0, tau))


def cosine(x, y):
    """x.y / (|x||y|), scaled by max|.| first so tiny or huge values neither under- nor overflow."""
    xs, ys = x / np.abs(x).max(), y / np.abs(y).max()
    return float(np.dot(xs, ys) / (np.linalg.norm(xs) * np.linalg.norm(ys)))


def vector_case(name, x, y):
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pr = {alt: st.pearsonr(x, y, alternative=alt) for alt in ALTS}
        sr = {alt: st.spearmanr(x, y, alternative=alt) for alt in ALTS}
    tau, counts = tau_a_direct(x, y)
    tau_rsa = tau_a_rsatoolbox(x, y)
    assert abs(tau - tau_rsa) < 1e-14, (name, tau, tau_rsa)
    if len(np.unique(x)) == len(x) and len(np.unique(y)) == len(y):
        tau_b = st.kendalltau(x, y).statistic
        assert abs(tau - tau_b) < 1e-14, (name, tau, tau_b)
    return {
        "name": name,
        "x": [float(v) for v in x],
        "y": [float(v) for v in y],
        "ranks_x": [float(v) for v in st.rankdata(x)],
        "ranks_y": [float(v) for v in st.rankdata(y)],
        "pearson": num(pr["two-sided"].statistic),
        "spearman": num(sr["two-sided"].statistic),
        "p": {
            "pearson": {alt: num(pr[alt].pvalue) for alt in ALTS},
            "spearman": {alt: num(sr[alt].pvalue) for alt in ALTS},
        },
        "tau_a": float(tau),
        "counts": counts,
        "cosine": cosine(x, y),
    }


def vectors(rng):
    cases = []
    # scipy's docstring / test_stats.py examples (specs/rsa.md 4.3)
    cases.append(vector_case("scipy_pearsonr_doc", [1, 2, 3, 4, 5, 6, 7], [10, 9, 2.5, 6, 4, 3, 2]))
    cases.append(vector_case("scipy_spearmanr_doc", [1, 2, 3, 4, 5], [5, 6, 7, 8, 7]))
    cases.append(vector_case("scipy_kendalltau_doc", [12, 2, 1, 12, 2], [1, 4, 7, 1, 0]))
    cases.append(vector_case("scipy_basic", [-1, 0, 1], [0, 0, 3]))
    cases.append(vector_case("two_values", [1.0, 2.0], [5.0, 3.0]))
    cases.append(vector_case("very_small", [0.004434375, 0.004756007, 0.003911996, 0.0038005,
                                            0.003409971],
                             [2.48e-188, 7.41e-181, 4.09e-208, 2.08e-223, 2.66e-245]))
    cases.append(vector_case("very_large", 1e90 * np.array([0, 0, 0, 1, 1, 1, 1.0]),
                             1e90 * np.arange(7.0)))
    # random, no ties
    x = rng.standard_normal(50)
    cases.append(vector_case("normal_50", x, 0.4 * x + rng.standard_normal(50)))
    # ties from rounding to a few levels; negative and signed zeros
    x = np.round(rng.standard_normal(300) * 1.5)
    y = np.round(0.5 * x + rng.standard_normal(300))
    cases.append(vector_case("ties_300", x, y))
    x = np.round(rng.standard_normal(1000) * 1.2) * 0.5
    y = np.round(-0.3 * x + rng.standard_normal(1000) * 0.8)
    x[x == 0] = np.where(rng.random((x == 0).sum()) < 0.5, -0.0, 0.0)
    cases.append(vector_case("ties_1000_signed_zero", x, y))
    # an RDM-like pair in float32 (n = 25 stimuli, m = 300), anti-correlated
    pts = rng.standard_normal((25, 6))
    d1 = np.sqrt(((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1))
    d2 = 1.0 / (1.0 + d1) + 0.05 * rng.standard_normal(d1.shape)
    iu = np.triu_indices(25, 1)
    cases.append(vector_case("rdm_float32_300", d1[iu].astype(np.float32),
                             d2[iu].astype(np.float32)))
    # perfectly related and reversed
    x = rng.standard_normal(30)
    cases.append(vector_case("identical_30", x, x))
    cases.append(vector_case("reversed_30", x, -x))
    return cases


# ---- p-values -----------------------------------------------------------------------------------

def pvalues():
    rows = []
    ns = [3, 4, 5, 6, 7, 8, 9, 10, 12, 20, 100, 4186, 10000, 1000000, 12497500]
    rs = [0.0, 1e-6, 5e-4, 1e-3, 5e-3, 0.01, 0.0105, 0.05, 0.3, 0.5, 0.9, 0.99, 0.999999,
          0.9999999999999998, 1.0]
    for n in ns:
        for r0 in rs:
            for r in ([np.float64(r0), np.float64(-r0)] if r0 else [np.float64(r0)]):
                for alt in ALTS:
                    ab = n / 2 - 1
                    p = st._stats_py._get_pvalue(r, st.beta(ab, ab, loc=-1, scale=2), alt)
                    rows.append(["pearson", alt, float(r), n, num(p)])
                    dof = n - 2
                    with np.errstate(divide="ignore"):
                        t = r * np.sqrt(np.clip(dof / ((r + 1.0) * (1.0 - r)), 0, None))
                    p = st._stats_py._get_pvalue(t, st.distributions.t(dof), alt)
                    rows.append(["spearman", alt, float(r), n, num(p)])
    # the n = 2 special cases
    for alt in ALTS:
        rows.append(["pearson", alt, 1.0, 2, num(st.pearsonr([1, 2], [3, 4], alternative=alt).pvalue)])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rows.append(["spearman", alt, 1.0, 2,
                         num(st.spearmanr([1, 2], [3, 4], alternative=alt).pvalue)])
    return rows


# ---- CKA ----------------------------------------------------------------------------------------

def cka_biased(X, Y):
    X = X - X.mean(0)
    Y = Y - Y.mean(0)
    return np.linalg.norm(Y.T @ X) ** 2 / (np.linalg.norm(X.T @ X) * np.linalg.norm(Y.T @ Y))


def cka_biased_gram(X, Y):
    n = X.shape[0]
    H = np.eye(n) - np.ones((n, n)) / n
    K, L = X @ X.T, Y @ Y.T

    def hsic(A, B):
        return np.trace(A @ H @ B @ H) / (n - 1) ** 2

    return hsic(K, L) / np.sqrt(hsic(K, K) * hsic(L, L))


def hsic_unbiased(K, L):
    """Song et al. 2012 (specs/align.md 2.2; minyoungg/platonic-rep metrics.py hsic_unbiased)."""
    n = K.shape[0]
    Kt = K - np.diag(np.diag(K))
    Lt = L - np.diag(np.diag(L))
    one = np.ones(n)
    return (np.trace(Kt @ Lt) + (one @ Kt @ one) * (one @ Lt @ one) / ((n - 1) * (n - 2))
            - 2.0 / (n - 2) * (one @ Kt @ Lt @ one)) / (n * (n - 3))


def cka_debiased(X, Y):
    X = X - X.mean(0)
    Y = Y - Y.mean(0)
    K, L = X @ X.T, Y @ Y.T
    return hsic_unbiased(K, L) / np.sqrt(hsic_unbiased(K, K) * hsic_unbiased(L, L))


def cka_debiased_feature(X, Y):
    """google-research representation_similarity feature_space_linear_cka(debiased=True)."""
    X = X - X.mean(0)
    Y = Y - Y.mean(0)
    n = X.shape[0]

    def helper(xty, rx, ry, nx, ny):
        return xty - n / (n - 2.0) * rx.dot(ry) + nx * ny / ((n - 1) * (n - 2))

    rx, ry = (X ** 2).sum(1), (Y ** 2).sum(1)
    nx, ny = rx.sum(), ry.sum()
    num_ = helper(np.linalg.norm(X.T @ Y) ** 2, rx, ry, nx, ny)
    den_x = np.sqrt(helper(np.linalg.norm(X.T @ X) ** 2, rx, rx, nx, nx))
    den_y = np.sqrt(helper(np.linalg.norm(Y.T @ Y) ** 2, ry, ry, ny, ny))
    return num_ / (den_x * den_y)


def cka_case(name, X, Y):
    X = np.asarray(X, dtype=np.float32)
    Y = np.asarray(Y, dtype=np.float32)
    X64, Y64 = X.astype(np.float64), Y.astype(np.float64)
    b = cka_biased(X64, Y64)
    assert abs(b - cka_biased_gram(X64, Y64)) < 1e-12, name
    case = {"name": name, "n": X.shape[0], "dx": X.shape[1], "dy": Y.shape[1],
            "X": [float(v) for v in X.ravel()], "Y": [float(v) for v in Y.ravel()],
            "biased": float(b), "debiased": None}
    if X.shape[0] >= 4:
        d = cka_debiased(X64, Y64)
        assert abs(d - cka_debiased_feature(X64, Y64)) < 1e-12, name
        case["debiased"] = float(d)
    return case


def cka_cases(rng):
    cases = []
    # n >= dx + dy: our feature-space path
    X = rng.standard_normal((20, 5))
    cases.append(cka_case("indep_20x5_20x7", X, rng.standard_normal((20, 7))))
    # n < dx + dy: our Gram path
    X = rng.standard_normal((12, 30)) * 3 + 1
    cases.append(cka_case("indep_12x30_12x8", X, rng.standard_normal((12, 8))))
    # related: Y = X W + noise, with column offsets (centring matters)
    X = rng.standard_normal((40, 6)) + np.arange(6)
    Y = X @ rng.standard_normal((6, 4)) + 0.5 * rng.standard_normal((40, 4)) - 7
    cases.append(cka_case("related_40x6_40x4", X, Y))
    # the smallest debiased case, and a one-column one
    cases.append(cka_case("tiny_4x3_4x2", rng.standard_normal((4, 3)), rng.standard_normal((4, 2))))
    cases.append(cka_case("one_column_9x1", rng.standard_normal((9, 1)), rng.standard_normal((9, 1))))
    # high-dimensional: biased is inflated, debiased near 0
    cases.append(cka_case("wide_16x50_16x30", rng.standard_normal((16, 50)),
                          rng.standard_normal((16, 30))))
    return cases


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "tests", "fixtures", "compare")
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(20240611)
    expected = {
        "versions": VERSIONS,
        "vectors": vectors(rng),
        "pvalues": pvalues(),
        "cka": cka_cases(rng),
    }
    path = os.path.join(out, "expected.json")
    with open(path, "w") as f:
        json.dump(expected, f, separators=(",", ":"), allow_nan=False)
        f.write("\n")
    print("wrote %s (%d bytes)" % (path, os.path.getsize(path)))


if __name__ == "__main__":
    main()
