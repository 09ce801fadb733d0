#!/usr/bin/env python3
"""Reference fixtures for embed-voxels' run-wise preprocessing (tests/unit/test_embed_voxels.c).

Writes tests/fixtures/voxels/:
  run.nii.gz           a 4 x 3 x 2 x 11 float32 run (nibabel): per voxel an offset, a linear
                       trend and noise; voxel (0, 0, 0) constant, voxel (1, 0, 0) exactly linear
  detrend.npy          scipy.signal.detrend(data, axis=-1, type='linear'), float64, shaped
                       (volumes, voxels) with voxels in C order over (x, y, z)
  zscore.npy           (x - mean) / std over each voxel's volumes (numpy, ddof 0); 0 where std is
                       below 1e-10 of the RMS of the voxel's raw values (latentrsa's rule)
  detrend_zscore.npy   detrend, then that z-score (the exactly linear voxel is 0)
  manifest.json        what each file is, and the library versions

Usage: .venv-tools/bin/python tools/gen_voxel_fixtures.py [OUTDIR]
"""
import json
import os
import sys

import nibabel as nib
import numpy as np
import scipy
import scipy.signal


def zscore(x, raw):
    mean = x.mean(axis=-1, keepdims=True)
    sd = x.std(axis=-1, keepdims=True)
    rms = np.sqrt((raw ** 2).mean(axis=-1, keepdims=True))
    # a voxel whose sd is below 1e-10 of the RMS of its raw values is constant: 0, as
    # docs/cli/embed-voxels.md states (an exactly linear voxel is 0 after detrending)
    flat = sd <= 1e-10 * np.maximum(rms, np.finfo(np.float64).tiny)
    return np.where(flat, 0.0, (x - mean) / np.where(flat, 1.0, sd))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "voxels")
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(20261127)
    nx, ny, nz, nt = 4, 3, 2, 11
    t = np.arange(nt, dtype=np.float64)
    offset = rng.uniform(400, 600, size=(nx, ny, nz, 1))
    slope = rng.normal(0, 2, size=(nx, ny, nz, 1))
    data = offset + slope * t + rng.normal(0, 5, size=(nx, ny, nz, nt))
    data[0, 0, 0, :] = 500.0
    data[1, 0, 0, :] = 100.0 + 3.0 * t
    data = data.astype(np.float32)
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    img = nib.Nifti1Image(data, affine)
    img.header.set_xyzt_units("mm", "sec")
    img.header["pixdim"][4] = 2.0
    img.header.set_sform(affine, 1)
    img.header.set_qform(affine, 1)
    nib.save(img, os.path.join(out, "run.nii.gz"))

    x = data.astype(np.float64).reshape(nx * ny * nz, nt)       # rows: voxels in C order over (x, y, z)
    det = scipy.signal.detrend(x, axis=-1, type="linear")
    outputs = {"detrend": det, "zscore": zscore(x, x), "detrend_zscore": zscore(det, x)}
    for name, m in outputs.items():
        np.save(os.path.join(out, name + ".npy"), np.ascontiguousarray(m.T))   # (volumes, voxels)
    manifest = {
        "generator": "tools/gen_voxel_fixtures.py",
        "shape": [nx, ny, nz, nt],
        "files": {"run.nii.gz": "float32 run, TR 2 s",
                  "detrend.npy": "scipy.signal.detrend over each voxel's volumes",
                  "zscore.npy": "z-score over each voxel's volumes (ddof 0)",
                  "detrend_zscore.npy": "detrend then z-score"},
        "versions": {"numpy": np.__version__, "scipy": scipy.__version__, "nibabel": nib.__version__},
    }
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
