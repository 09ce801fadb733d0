#!/usr/bin/env python3
"""Reference fixtures for `reduce` (tests/unit/test_reduce.c, tests/cli/t2100-reduce.sh).

Writes tests/fixtures/reduce/:
  <case>.npy             the float32 input matrix
  <case>_zscored.npy     StandardScaler().fit_transform(input) (float32), for the z-scored cases
  <case>_proj.npy        TruncatedSVD(algorithm='arpack', tol=0).fit_transform of the matrix the SVD
                         sees (z-scored or raw), computed in float64 and stored as float32, with our
                         sign rule applied (the entry of largest magnitude of each row of
                         components_ made positive, the projection column flipped with it)
  <case>_components.npy components_ (k x d), same signs
  expected.json          per case: shape, zscore, k, sklearn's singular_values_,
                         explained_variance_ratio_, numpy.linalg.svd's full spectrum (float64), the
                         numerical rank (s > s_max * max(n, d) * eps(float32)), the full ratio
                         spectrum (from the full SVD, in singular-value order) and the k that
                         --variance F keeps for a few F; plus the library versions

Cases: wide (n < d, z-scored), tall (d < n, z-scored), raw (n < d, uncentred, not z-scored), const
(two constant columns, z-scored), rankdef (rank 4, raw, 8 components asked for: sklearn's extra
components are noise, so only the first 4 are compared).

Usage: .venv-tools/bin/python tools/gen_reduce_fixtures.py [OUTDIR]
"""
import json
import os
import sys

import numpy as np
import scipy
import sklearn
from sklearn.decomposition import TruncatedSVD
from sklearn.preprocessing import StandardScaler

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VERSIONS = {
    "generator": "tools/gen_reduce_fixtures.py",
    "numpy": np.__version__,
    "scipy": scipy.__version__,
    "scikit-learn": sklearn.__version__,
}
VARIANCE_TARGETS = [0.3, 0.5, 0.7, 0.9]


def decaying(rng, n, d, alpha=0.6, offset=True):
    """A full-rank matrix with singular values ~ j^-alpha, column offsets and scales."""
    m = min(n, d)
    a = np.linalg.qr(rng.standard_normal((n, m)))[0]
    b = np.linalg.qr(rng.standard_normal((d, m)))[0]
    s = 10.0 * np.arange(1, m + 1) ** -alpha
    x = (a * s) @ b.T
    if offset:
        x = x * rng.uniform(0.5, 3.0, size=d) + rng.uniform(-2.0, 2.0, size=d)
    return x.astype(np.float32)


def sign_rule(comp, proj):
    comp = comp.copy()
    proj = proj.copy()
    for j in range(comp.shape[0]):
        i = int(np.argmax(np.abs(comp[j])))
        if comp[j, i] < 0:
            comp[j] *= -1
            proj[:, j] *= -1
    return comp, proj


def make_case(out, name, x32, zscore, k, expected):
    np.save(os.path.join(out, name + ".npy"), x32)
    if zscore:
        z32 = StandardScaler().fit_transform(x32).astype(np.float32)
        np.save(os.path.join(out, name + "_zscored.npy"), z32)
    else:
        z32 = x32
    z = z32.astype(np.float64)
    n, d = z.shape
    svd = TruncatedSVD(n_components=k, algorithm="arpack", tol=0.0, random_state=0)
    proj = svd.fit_transform(z)
    comp, proj = sign_rule(svd.components_, proj)
    np.save(os.path.join(out, name + "_proj.npy"), proj.astype(np.float32))
    np.save(os.path.join(out, name + "_components.npy"), comp.astype(np.float32))
    # the full spectrum, and the ratios in singular-value order
    u, s, vt = np.linalg.svd(z, full_matrices=False)
    total = z.var(axis=0).sum()
    full_ratio = (z @ vt.T).var(axis=0) / total
    s32 = s * 1.0
    rank = int((s32 > s32[0] * max(n, d) * np.finfo(np.float32).eps).sum())
    cum = np.cumsum(full_ratio[:rank])
    k_for = {}
    for f in VARIANCE_TARGETS:
        k_for[str(f)] = int(np.searchsorted(cum, f * (1 - 1e-6)) + 1)
    expected["cases"][name] = {
        "n": n,
        "d": d,
        "zscore": bool(zscore),
        "k": k,
        "singular_values": svd.singular_values_.tolist(),
        "explained_variance_ratio": svd.explained_variance_ratio_.tolist(),
        "explained_variance": svd.explained_variance_.tolist(),
        "total_variance": float(total),
        "svd_all": s.tolist(),
        "rank": rank,
        "full_ratio": full_ratio[:rank].tolist(),
        "k_for_variance": k_for,
    }


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "tests", "fixtures", "reduce")
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(20240601)
    expected = {"versions": VERSIONS, "cases": {}}

    make_case(out, "wide", decaying(rng, 60, 150), True, 6, expected)
    make_case(out, "tall", decaying(rng, 150, 60), True, 6, expected)
    raw = decaying(rng, 60, 150, alpha=0.8, offset=False) + np.float32(0.3)  # uncentred
    make_case(out, "raw", raw.astype(np.float32), False, 6, expected)
    const = decaying(rng, 60, 100)
    const[:, 7] = 2.5
    const[:, 42] = -1.0
    make_case(out, "const", const, True, 5, expected)
    a = rng.standard_normal((60, 4))
    b = rng.standard_normal((4, 120))
    rankdef = (a @ b).astype(np.float32)
    make_case(out, "rankdef", rankdef, False, 8, expected)

    with open(os.path.join(out, "expected.json"), "w") as fp:
        json.dump(expected, fp, indent=1)
        fp.write("\n")


if __name__ == "__main__":
    main()
