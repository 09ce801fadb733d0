"""Reference for bench_resize: Pillow's Image.resize(size, Image.BILINEAR) on an RGB image.

resize_672:  660x350 -> 672x672 (a rendered slice to the autoencoder's input)
resize_224:  500x375 -> 224x224 (a BOLD5000 stimulus to ViT's input)
The source is uniform noise. Prints "name seconds" lines: seconds per resize, the median of
REPEATS (each the mean of a batch of 5 calls), the same protocol as bench/bench_resize.c.
    usage: ref_resize.py [REPEATS]
"""
import sys
import time

import numpy as np
import PIL
from PIL import Image


def run(name, sw, sh, dw, dh, repeats, batch=5):
    rng = np.random.default_rng(42)
    img = Image.fromarray(rng.integers(0, 256, size=(sh, sw, 3), dtype=np.uint8), "RGB")
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(batch):
            img.resize((dw, dh), Image.BILINEAR)
        times.append((time.perf_counter() - t0) / batch)
    print("%s %.6f" % (name, sorted(times)[repeats // 2]))


def main():
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 11
    run("resize_672", 660, 350, 672, 672, repeats)
    run("resize_224", 500, 375, 224, 224, repeats)
    print("Pillow %s numpy %s" % (PIL.__version__, np.__version__), file=sys.stderr)


if __name__ == "__main__":
    main()
