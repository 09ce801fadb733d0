#!/usr/bin/env python3
"""Write tests/fixtures/nifti/expected.json: what nibabel says about every NIfTI file in the
Debian test data (python3-nibabel, python3-nipy), for tests/unit/test_nifti.c.

Usage: /work/main/.venv-tools/bin/python tools/gen_nifti_expected.py [TESTDATA] [OUT]
  TESTDATA defaults to $LRSA_TESTDATA or .testdata; OUT to tests/fixtures/nifti/expected.json.

Per file (key: path relative to TESTDATA, e.g. "python3-nibabel/usr/.../example4d.nii.gz"):
  dims [nx,ny,nz,nt], datatype (numpy dtype name), pixdim [dx,dy,dz,dt], tr (seconds, from
  pixdim[4] and the xyzt_units time code), affine (sform if sform_code > 0, else qform if
  qform_code > 0; otherwise null with a note: nibabel centres a fallback affine, we do not),
  scl_slope/scl_inter as stored (null when not finite), nifti_version, swapped, header_only,
  and values: for the first few volumes sum, sum of squares, min, max of the finite values of
  get_fdata(), the count of NaN/Inf voxels, and voxels sampled at seeded positions
  [i, j, k, t, value] (value null when not finite). The JSON holds no NaN, so any parser reads it.
Files latentrsa must reject carry "rejected": one of "not_nifti" (ANALYZE 7.5), "ndim"
(more than 4-D, e.g. CIFTI), "complex", "rgb".
"""
import json
import os
import sys

import numpy as np
import nibabel as nib
from nibabel.openers import ImageOpener

MAX_VOLUMES = 4      # value checks for the first volumes of each file
NSAMPLES = 20
SEED = 20240611


def as_float(x):
    x = float(x)
    return x if np.isfinite(x) else None


def describe(path):
    img = nib.load(path)
    out = {}
    if isinstance(img, nib.Cifti2Image):
        return {"rejected": "ndim", "reason": "CIFTI-2 (Cifti2Image)"}
    if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image, nib.Nifti1Pair, nib.Nifti2Pair)):
        return {"rejected": "not_nifti", "reason": type(img).__name__}
    # The header as stored: nibabel's loaded header has scl_slope/inter and vox_offset reset.
    fmap = img.file_map
    with ImageOpener(fmap["header"].filename if "header" in fmap else fmap["image"].filename) as f:
        hdr = img.header_class.from_fileobj(f)
    dt = hdr.get_data_dtype()
    shape = hdr.get_data_shape()
    if len(shape) > 4 or int(hdr["dim"][0]) > 4:
        return {"rejected": "ndim", "reason": f"dim {list(map(int, hdr['dim']))}"}
    if dt.kind == "c":
        return {"rejected": "complex", "reason": dt.name}
    if dt.fields is not None:
        return {"rejected": "rgb", "reason": str(dt)}
    dims = list(shape) + [1] * (4 - len(shape))
    out["dims"] = [int(d) for d in dims]
    out["datatype"] = dt.name
    out["nifti_version"] = 2 if isinstance(img, (nib.Nifti2Image, nib.Nifti2Pair)) else 1
    pix = [float(p) for p in hdr["pixdim"][1:5]]
    out["pixdim"] = pix
    tunit = hdr.get_xyzt_units()[1]
    scale = {"msec": 1e-3, "usec": 1e-6}.get(tunit, 1.0)
    out["tr"] = pix[3] * scale
    out["time_units"] = tunit
    scode, qcode = int(hdr["sform_code"]), int(hdr["qform_code"])
    out["sform_code"], out["qform_code"] = scode, qcode
    if scode > 0:
        aff = hdr.get_sform()
    elif qcode > 0:
        aff = hdr.get_qform()
    else:
        aff = None
        out["affine_note"] = "sform_code and qform_code are 0: nibabel centres its fallback affine"
    out["affine"] = None if aff is None else [[float(v) for v in row] for row in aff]
    out["scl_slope"] = as_float(hdr["scl_slope"])
    out["scl_inter"] = as_float(hdr["scl_inter"])
    out["swapped"] = hdr.endianness != nib.volumeutils.native_code
    out["vox_offset"] = int(hdr["vox_offset"])
    header_only = False
    if path.endswith(".hdr"):
        header_only = not any(os.path.exists(path[:-4] + e) for e in (".img", ".img.gz"))
    out["header_only"] = header_only
    if header_only:
        return out
    data = img.get_fdata()
    if data.ndim < 4:
        data = data.reshape(dims)
    out["nonfinite"] = int(np.count_nonzero(~np.isfinite(data)))
    rng = np.random.default_rng(SEED)
    vols = []
    for t in range(min(dims[3], MAX_VOLUMES)):
        v = data[..., t]
        samples = []
        for _ in range(NSAMPLES):
            i, j, k = (int(rng.integers(0, d)) for d in dims[:3])
            samples.append([i, j, k, t, as_float(v[i, j, k])])
        # NaN/Inf voxels (kept, as nibabel keeps them) are counted, and left out of the sums.
        fin = v[np.isfinite(v)]
        vols.append({"t": t, "nonfinite": int(v.size - fin.size),
                     "sum": float(fin.sum()), "sumsq": float((fin * fin).sum()),
                     "min": float(fin.min()) if fin.size else None,
                     "max": float(fin.max()) if fin.size else None, "samples": samples})
    out["volumes"] = vols
    return out


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("LRSA_TESTDATA", ".testdata")
    here = os.path.dirname(os.path.abspath(__file__))
    dest = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
        here, "..", "tests", "fixtures", "nifti", "expected.json")
    files = {}
    for pkg in sorted(os.listdir(root)):
        if not pkg.startswith("python3-"):
            continue  # skip the downloaded .debs and anything else beside the packages
        for dirpath, dirnames, names in os.walk(os.path.join(root, pkg)):
            dirnames.sort()
            for name in sorted(names):
                if not name.endswith((".nii", ".nii.gz", ".hdr")):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root)
                files[rel] = describe(path)
    doc = {
        "generator": "tools/gen_nifti_expected.py",
        "nibabel": nib.__version__,
        "numpy": np.__version__,
        "seed": SEED,
        "tolerance": "values rel 1e-6 (float32), sums rel 1e-4",
        "files": files,
    }
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    with open(dest, "w") as f:
        json.dump(doc, f, indent=1, sort_keys=False, allow_nan=False)
        f.write("\n")
    print(f"wrote {dest}: {len(files)} files", file=sys.stderr)


if __name__ == "__main__":
    main()
