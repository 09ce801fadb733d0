#!/usr/bin/env python3
"""Reference fixtures for the renderer (tests/unit/test_render.c): nilearn 0.10.4's plot_stat_map.

For each case a volume is rendered as the paper did,
    plot_stat_map(img, bg_img=None, threshold=T, annotate=False, draw_cross=False, colorbar=False)
(img = Nifti1Image(data.astype(float32), affine)), saved as a 660x350 PNG, and what the C renderer
must reproduce is recorded in expected.json: vmin/vmax, the cut coordinates, the world-aligned grid
(shape, affine), the slice index of each cut, the axis limits (visible bounding box), each panel's
axes box in pixels, and resampled values at a few voxels of the displayed slices.

Inputs: small volumes from `latentrsa synth --dims 24x24x16` (stored here as .npy with their
affine, plus variants: NaNs, negative values, an axis-permuted affine, a binary map, all zeros, a
threshold above the maximum) and the real NIfTI files of Debian's python3-nibabel and
python3-nipy packages (read by the C test from LRSA_TESTDATA; not copied).

Usage: MPLBACKEND=Agg tools/gen_render_fixtures.py LATENTRSA_BIN TESTDATA_DIR OUT_DIR
(pinned: nilearn 0.10.4, matplotlib 3.8.0, scipy 1.13.0, numpy 1.26.4; tools/requirements.txt).
"""
import json
import os
import subprocess
import sys
import tempfile
import warnings

os.environ.setdefault("MPLBACKEND", "Agg")
import matplotlib  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import nibabel as nib  # noqa: E402
import nilearn  # noqa: E402
import numpy as np  # noqa: E402
import scipy  # noqa: E402
from nilearn import plotting  # noqa: E402
from nilearn._utils.niimg import is_binary_niimg  # noqa: E402
from nilearn.image import reorder_img  # noqa: E402
from nilearn.plotting.img_plotting import get_colorbar_and_data_ranges  # noqa: E402

warnings.filterwarnings("ignore")


def render(data, affine, threshold, png, interp="continuous"):
    data = np.asarray(data, dtype=np.float32)
    img = nib.Nifti1Image(data, affine)
    finite = np.where(np.isfinite(data), data, 0).astype(np.float32)
    _, _, vmin, vmax = get_colorbar_and_data_ranges(finite, symmetric_cbar="auto")
    display = plotting.plot_stat_map(img, bg_img=None, threshold=threshold, annotate=False,
                                     draw_cross=False, colorbar=False,
                                     resampling_interpolation=interp)
    display.savefig(png)
    fig = display.frame_axes.figure
    W, H = fig.canvas.get_width_height()
    panels, limits = [], []
    for d in "yxz":
        ax = display.axes[d].ax
        x0, y0, x1, y1 = ax.get_position().extents
        panels.append([x0 * W, (1 - y1) * H, x1 * W, (1 - y0) * H])
        limits.append(list(ax.get_xlim()) + list(ax.get_ylim()))
    cut = [float(c) for c in display.cut_coords]
    display.close()
    plt.close("all")
    # the world-aligned grid, as _map_show builds it
    fimg = nib.Nifti1Image(finite, affine)
    r = reorder_img(fimg, resample="nearest" if is_binary_niimg(fimg) else interp)
    rdata = np.asarray(r.dataobj)
    inv = np.linalg.inv(r.affine)
    cut_index = []
    for a in range(3):
        c = [0.0, 0.0, 0.0]
        c[a] = cut[a]
        t = inv @ np.array(c + [1.0])
        i = int(np.round(t[a]))
        if -rdata.shape[a] <= i < rdata.shape[a]:
            cut_index.append(i % rdata.shape[a])
        else:
            cut_index.append(-1)
    # a few values of each displayed slice: the largest, and some spread over it
    samples = []
    rng = np.random.default_rng(0)
    for a in range(3):
        if cut_index[a] < 0:
            continue
        sl = np.take(rdata, cut_index[a], axis=a)
        picks = [np.unravel_index(np.argmax(np.abs(sl)), sl.shape)]
        picks += [tuple(rng.integers(0, s) for s in sl.shape) for _ in range(5)]
        for p in picks:
            ijk = list(p)
            ijk.insert(a, cut_index[a])
            samples.append([int(x) for x in ijk] + [float(rdata[tuple(ijk)])])
    return {
        "threshold": threshold, "interp": "cubic" if interp == "continuous" else interp,
        "vmin": float(vmin), "vmax": float(vmax), "cut": cut,
        "grid_dims": list(rdata.shape), "grid_affine": r.affine.tolist(),
        "cut_index": cut_index, "limits": limits, "panels": panels, "samples": samples,
        "png": os.path.basename(png), "width": W, "height": H,
    }


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    lbin, testdata, out = sys.argv[1:]
    os.makedirs(out, exist_ok=True)
    cases = []
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([lbin, "synth", "-o", tmp + "/ds", "--dims", "24x24x16", "--subjects", "1",
                        "--runs", "1", "--trials", "3", "--seed", "7", "-q"], check=True)
        bold = tmp + "/ds/sub-CSI1/ses-01/func/sub-CSI1_ses-01_task-5000scenes_run-01_bold.nii.gz"
        im = nib.load(bold)
        vol = im.get_fdata()[..., 5].astype(np.float32)
        aff = im.affine

    def add_npy(name, data, affine, threshold, interp="continuous"):
        np.save(os.path.join(out, name + ".npy"), np.ascontiguousarray(data, dtype=np.float32))
        c = render(data, affine, threshold, os.path.join(out, name + ".png"), interp)
        c.update(name=name, source="npy", file=name + ".npy", affine=np.asarray(affine).tolist())
        cases.append(c)

    add_npy("synth", vol, aff, 100.0)
    add_npy("synth_linear", vol, aff, 100.0, interp="linear")
    nanvol = vol.copy()
    nanvol[3:6, 4:7, 2:4] = np.nan
    nanvol[10, 10, 8] = np.inf
    add_npy("synth_nan", nanvol, aff, 100.0)
    add_npy("synth_signed", vol - np.float32(400.0), aff, 50.0)
    perm = np.zeros((4, 4))
    perm[0, 1], perm[1, 2], perm[2, 0], perm[3, 3] = -2.0, 3.0, 2.5, 1.0
    perm[:3, 3] = [20.0, -30.0, -10.0]
    add_npy("synth_permuted", vol, perm, 100.0)
    add_npy("synth_binary", (vol > 600).astype(np.float32), aff, 0.5)
    add_npy("zeros", np.zeros((12, 10, 8), np.float32), aff, 100.0)
    add_npy("above_max", vol, aff, 5000.0)

    nib_dir = "python3-nibabel/usr/lib/python3/dist-packages/nibabel/tests/data/"
    nipy_dir = "python3-nipy/usr/lib/python3/dist-packages/nipy/"
    for name, rel, t, thr in [
        ("example4d_t0", nib_dir + "example4d.nii.gz", 0, 100.0),
        ("example4d_t1", nib_dir + "example4d.nii.gz", 1, 300.0),
        ("example_nifti2", nib_dir + "example_nifti2.nii.gz", 1, 100.0),
        ("anatomical", nib_dir + "anatomical.nii", -1, 100.0),
        ("functional", nib_dir + "functional.nii", 4, 100.0),
        ("resampled_anat_moved", nib_dir + "resampled_anat_moved.nii", -1, 100.0),
        ("reoriented_anat_moved", nib_dir + "reoriented_anat_moved.nii", -1, 100.0),
        ("standard", nib_dir + "standard.nii.gz", -1, 100.0),
        ("some_blobs", nipy_dir + "labs/spatial_models/tests/some_blobs.nii", -1, 2.0),
        ("nipy_functional", nipy_dir + "testing/functional.nii.gz", 7, 1000.0),
    ]:
        im = nib.load(os.path.join(testdata, rel))
        d = im.get_fdata()
        if d.ndim == 4:
            d = d[..., t]
        c = render(d.astype(np.float32), im.affine, thr, os.path.join(out, name + ".png"))
        c.update(name=name, source="testdata", file=rel, volume=max(t, 0))
        cases.append(c)

    meta = {"generator": "tools/gen_render_fixtures.py", "nilearn": nilearn.__version__,
            "matplotlib": matplotlib.__version__, "scipy": scipy.__version__,
            "numpy": np.__version__, "nibabel": nib.__version__, "cases": cases}
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
