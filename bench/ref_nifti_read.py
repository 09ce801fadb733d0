"""Reference for bench_nifti_read: nibabel reading one BOLD run.

whole_run:      nib.load(f).get_fdata(dtype=np.float32), a fresh image each time (no cache)
trial_volumes:  the paper's per-trial reads, img.slicer[..., t].get_fdata() for its 37 volumes
                (stimulus_timed_fmri_image.py; each slice re-decompresses the .nii.gz from the start)
Prints "name seconds" lines (median of REPEATS).
    usage: ref_nifti_read.py FILE.nii.gz [REPEATS] [--skip-trials]
"""
import sys
import time

import nibabel as nib
import numpy as np


def main():
    path = sys.argv[1]
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2].isdigit() else 3
    skip_trials = "--skip-trials" in sys.argv
    whole, trials = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        data = nib.load(path).get_fdata(dtype=np.float32)
        whole.append(time.perf_counter() - t0)
        nt = data.shape[3]
        del data
        if not skip_trials:
            t0 = time.perf_counter()
            img = nib.load(path)
            for k in range(37):
                t = 3 + 5 * k
                if t >= nt:
                    break
                img.slicer[..., t].get_fdata(dtype=np.float32)
            trials.append(time.perf_counter() - t0)
    print("whole_run %.4f" % sorted(whole)[repeats // 2])
    if trials:
        print("trial_volumes %.4f" % sorted(trials)[repeats // 2])
    print("nibabel %s numpy %s" % (nib.__version__, np.__version__), file=sys.stderr)


if __name__ == "__main__":
    main()
