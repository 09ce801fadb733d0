#!/usr/bin/env python3
"""Reference for bench/bench_render.c: nilearn 0.10.4 plot_stat_map + PNG save, the paper's call,
on the volume bench_render wrote. Prints "name seconds" (median of REPEATS, seconds per volume,
one volume at a time as the paper's loop ran):
    render_cubic_png       plot_stat_map(..., output_file=png) of the float32 volume
    render_cubic_png_cpu   the same, CPU seconds of the process (time.process_time)
    render_cubic_png_660x350[_cpu]  the same numbers, for bench_render's row without the resize
Usage: MPLBACKEND=Agg bench/ref_render.py VOLUME.nii.gz [REPEATS]
"""
import os
import sys
import tempfile
import time
import warnings

os.environ.setdefault("MPLBACKEND", "Agg")
import nibabel as nib  # noqa: E402
import numpy as np  # noqa: E402
from nilearn import plotting  # noqa: E402

warnings.filterwarnings("ignore")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    im = nib.load(sys.argv[1])
    img = nib.Nifti1Image(im.get_fdata().astype(np.float32), im.affine)
    times, cpu = [], []
    with tempfile.TemporaryDirectory() as tmp:
        png = os.path.join(tmp, "ref.png")
        plotting.plot_stat_map(img, bg_img=None, threshold=1e2, annotate=False, draw_cross=False,
                               colorbar=False, output_file=png)  # warm-up (imports, caches)
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            plotting.plot_stat_map(img, bg_img=None, threshold=1e2, annotate=False,
                                   draw_cross=False, colorbar=False, output_file=png)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        size = os.path.getsize(png)
    # nilearn writes its 660x350 figure: the reference for both of bench_render's PNG rows (the
    # paper resized to 672x672 later, when loading each image for training)
    for name in ("render_cubic_png", "render_cubic_png_660x350"):
        print(f"{name} {sorted(times)[len(times) // 2]:.6f}")
        print(f"{name}_cpu {sorted(cpu)[len(cpu) // 2]:.6f}")
    print(f"# bytes_per_png_660x350 {size}")


if __name__ == "__main__":
    main()
