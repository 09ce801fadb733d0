#!/usr/bin/env python3
"""Reference fixtures for the RDM (tests/unit/test_rdm.c, tests/cli/t2200-rdm.sh).

Writes tests/fixtures/rdm/:
  <name>.npy                  the input matrix, float32 (N x D)
  <name>.<metric>.npy         squareform(pdist(X, metric)) in float64, for metric in
                              correlation, cosine, euclidean, sqeuclidean (scipy converts the
                              float32 input to float64 first, so this is the exact reference for
                              the float32 data)
  <name>.corrcoef.npy         1 - np.corrcoef(X) in float64 (the paper's formula), diagonal as
                              numpy leaves it (not forced to 0)
  manifest.json               the fixtures, their shapes and what each one exercises, plus the
                              generator's library versions

Matrices:
  wide       N < D: 12 x 30 standard normal
  tall       N > D: 40 x 6 standard normal (many negative correlations)
  anti       8 x 20: rows in pairs x, -x + small noise (correlations near -1, distances near 2)
  dup        10 x 16 around an offset of 1000: rows 1, 2 are row 0 plus 1e-3 and 1e-5 noise, row 4
             is row 3 exactly (nearly duplicate and duplicate rows; the euclidean pairs where the
             Gram form cancels)
  rsatoolbox the 6 x 3 `measurements_deterministic` of rsatoolbox's tests/test_calc_rdm.py: row 1
             is row 0 + 0.01, so its correlation distance is 0 in exact arithmetic (specs/rsa.md
             4.2 a; about 4e-15 after rounding to float32)
  cli        3 x 4 small integers, for the command-line test

Usage: .venv-tools/bin/python tools/gen_rdm_fixtures.py [OUTDIR]
"""
import json
import os
import sys

import numpy as np
import scipy
from scipy.spatial.distance import pdist, squareform

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VERSIONS = {
    "generator": "tools/gen_rdm_fixtures.py",
    "numpy": np.__version__,
    "scipy": scipy.__version__,
}
METRICS = ["correlation", "cosine", "euclidean", "sqeuclidean"]


def matrices():
    rng = np.random.default_rng(20240611)
    out = {}
    out["wide"] = (rng.standard_normal((12, 30)), "N < D, standard normal")
    out["tall"] = (rng.standard_normal((40, 6)), "N > D, standard normal, negative correlations")
    base = rng.standard_normal((4, 20))
    anti = np.empty((8, 20))
    anti[0::2] = base
    anti[1::2] = -base + 0.05 * rng.standard_normal((4, 20))
    out["anti"] = (anti, "pairs x, -x + noise: correlations near -1")
    dup = 1000.0 + rng.standard_normal((10, 16))
    dup[1] = dup[0] + 1e-3 * rng.standard_normal(16)
    dup[2] = dup[0] + 1e-5 * rng.standard_normal(16)
    dup[4] = dup[3]
    out["dup"] = (dup, "offset 1000, nearly duplicate rows (0, 1, 2) and a duplicate (3, 4)")
    out["rsatoolbox"] = (np.array([[0.11, 0.13, 0.10], [0.12, 0.14, 0.11], [0.21, 0.24, 0.24],
                                   [0.22, 0.21, 0.25], [0.30, 0.29, 0.32], [0.31, 0.28, 0.33]]),
                         "rsatoolbox measurements_deterministic (row 1 = row 0 + 0.01)")
    out["cli"] = (np.array([[1, 2, 3, 4], [4, 3, 2, 1], [1, 2, 3, 5]], dtype=np.float64),
                  "3 x 4 integers for tests/cli/t2200-rdm.sh")
    return out


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "tests", "fixtures", "rdm")
    os.makedirs(out, exist_ok=True)
    manifest = {"versions": VERSIONS, "fixtures": {}}
    for name, (x, what) in matrices().items():
        x32 = np.ascontiguousarray(x, dtype="<f4")
        np.save(os.path.join(out, name + ".npy"), x32)
        x64 = x32.astype(np.float64)  # exactly the float32 values, as pdist converts them
        for metric in METRICS:
            ref = squareform(pdist(x64, metric))
            assert np.all(np.isfinite(ref))
            np.save(os.path.join(out, "%s.%s.npy" % (name, metric)), ref.astype("<f8"))
        np.save(os.path.join(out, name + ".corrcoef.npy"), (1.0 - np.corrcoef(x64)).astype("<f8"))
        manifest["fixtures"][name] = {"shape": list(x32.shape), "what": what}
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")
    print("wrote %d fixtures to %s (%s)" % (len(manifest["fixtures"]), out,
                                            " ".join("%s=%s" % kv for kv in VERSIONS.items())))


if __name__ == "__main__":
    main()
