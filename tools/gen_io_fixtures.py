#!/usr/bin/env python3
"""Reference fixtures for the .npy and safetensors readers and writers (tests/unit/test_npy.c,
tests/unit/test_safetensors.c).

Writes tests/fixtures/io/:
  *.npy                 arrays saved by numpy's own np.save / np.lib.format.write_array
  *.safetensors         files written by the safetensors package (its Rust serializer)
  expected.json         for every fixture: dtype, shape, fortran flag and the values in C order
                        (floats as JSON numbers, exact; half/bfloat16 also as raw bit patterns),
                        plus the generator's library versions

F16 tensors go through safetensors.numpy.save_file (numpy float16). BF16 tensors are ml_dtypes
bfloat16 arrays handed to safetensors.serialize (the package's own serializer, dtype "bfloat16"):
no safetensors bytes are written by hand. The library versions are recorded in expected.json and
in every safetensors file's __metadata__ (one key, "versions", so that the files are reproducible:
the package writes several metadata keys in a random order); .npy files have no room for them.

Usage: .venv-tools/bin/python tools/gen_io_fixtures.py [OUTDIR]
"""
import json
import os
import sys

import ml_dtypes
import numpy as np
import safetensors
from safetensors import serialize
from safetensors.numpy import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VERSIONS = {
    "generator": "tools/gen_io_fixtures.py",
    "numpy": np.__version__,
    "safetensors": safetensors.__version__,
    "ml_dtypes": ml_dtypes.__version__,
}
VERSIONS_STR = " ".join("%s=%s" % kv for kv in VERSIONS.items())


def values_of(a):
    """C-order values as Python floats (ints and bools become exact floats)."""
    return [float(v) for v in np.ascontiguousarray(a).astype(np.float64).ravel(order="C")]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "tests", "fixtures", "io")
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(20240501)
    expected = {"versions": VERSIONS, "npy": {}, "safetensors": {}}

    # ---- .npy ------------------------------------------------------------------------------
    base = (np.arange(12, dtype=np.float64).reshape(3, 4) - 5.5) / 4.0
    arrays = {
        "f4_c": base.astype("<f4"),
        "f4_f": np.asfortranarray(base.astype("<f4")),
        "f8_c": (rng.standard_normal((2, 3)) * 1e3).astype("<f8"),
        "f8_be": (rng.standard_normal((2, 3, 2))).astype(">f8"),
        "f8_be_f": np.asfortranarray(rng.standard_normal((2, 3, 2)).astype(">f8")),
        "f4_be": base.astype(">f4"),
        "f2": np.array([0.5, -2.0, 65504.0, 6e-8], dtype="<f2"),
        "i2": np.array([[-32768, -1, 0], [1, 1234, 32767]], dtype="<i2"),
        "i4_be": np.array([-7, 0, 2**31 - 1], dtype=">i4"),
        "i8": np.array([-(2**40), 3, 2**24], dtype="<i8"),
        "u1": np.arange(0, 256, 51, dtype=np.uint8).reshape(2, 3),
        "u2": np.array([0, 65535], dtype="<u2"),
        "u4": np.array([4000000000, 1], dtype="<u4"),
        "u8": np.array([2**53, 5], dtype="<u8"),
        "i1": np.array([-128, 127, 0], dtype="i1"),
        "bool": np.array([[True, False], [False, True]]),
        "bool_f": np.asfortranarray(np.array([[True, False, True], [False, False, True]])),
        "scalar0d": np.array(3.25, dtype="<f8"),
        "empty": np.zeros((0, 3), dtype="<f4"),
        "vec": np.array([1.5, -2.5, 3.0], dtype="<f4"),
        "i2_f3d": np.asfortranarray(np.arange(24, dtype="<i2").reshape(2, 3, 4) - 12),
    }
    for name, a in arrays.items():
        path = os.path.join(out, name + ".npy")
        np.save(path, a)
        back = np.load(path)
        assert back.dtype == a.dtype and back.shape == a.shape
        expected["npy"][name] = {
            "descr": a.dtype.str,
            "fortran_order": bool(a.flags.f_contiguous and not a.flags.c_contiguous),
            "shape": list(a.shape),
            "values": values_of(a),
        }
    # Header versions 2.0 and 3.0 (np.save picks 1.0 whenever it can).
    for ver in ((2, 0), (3, 0)):
        name = "f4_v%d" % ver[0]
        a = base.astype("<f4")
        with open(os.path.join(out, name + ".npy"), "wb") as f:
            np.lib.format.write_array(f, a, version=ver)
        expected["npy"][name] = {"descr": "<f4", "fortran_order": False, "shape": list(a.shape),
                                 "values": values_of(a)}
    # An object array (pickled): must be refused, never unpickled.
    np.save(os.path.join(out, "object.npy"), np.array([1, "a"], dtype=object), allow_pickle=True)

    # ---- safetensors -----------------------------------------------------------------------
    f32 = {
        "encoder.0.weight": rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
        "encoder.0.bias": rng.standard_normal(4).astype(np.float32),
        "decoder.fc.weight": rng.standard_normal((2, 5)).astype(np.float32),
        "scalar": np.array(1.25, dtype=np.float32),
        "empty": np.zeros((0, 2), dtype=np.float32),
    }
    # One metadata key only: the package writes __metadata__ in Rust HashMap order, which changes
    # from run to run, so a file with several keys would not be reproducible (and could not be
    # compared byte for byte with ours, which sorts the keys).
    meta = {"versions": VERSIONS_STR + '; escapes: quote " tab \t unicode \u00e9'}
    save_file(f32, os.path.join(out, "st_f32.safetensors"), metadata=meta)
    expected["safetensors"]["st_f32"] = {
        "metadata": meta,
        "tensors": {k: {"dtype": "F32", "shape": list(v.shape), "values": values_of(v)}
                    for k, v in f32.items()},
    }

    # F16: specials and subnormals, by bit pattern; numpy's float16 -> float32 is exact.
    bits = np.array([0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x0400, 0x3C00, 0xC000, 0x7BFF,
                     0x7C00, 0xFC00, 0x7E00, 0x3555, 0x1234], dtype=np.uint16)
    h = bits.view(np.float16)
    hm = np.concatenate([h, rng.standard_normal(10).astype(np.float16)]).reshape(4, 6)
    save_file({"h": hm}, os.path.join(out, "st_f16.safetensors"), metadata={"versions": VERSIONS_STR})
    expected["safetensors"]["st_f16"] = {
        "tensors": {"h": {"dtype": "F16", "shape": list(hm.shape),
                          "bits16": [int(b) for b in hm.view(np.uint16).ravel()],
                          "f32_bits": [int(b) for b in hm.astype(np.float32).view(np.uint32).ravel()]}},
    }

    # BF16 through ml_dtypes and the package's serializer.
    bb = np.array([0x0000, 0x8000, 0x0001, 0x3F80, 0xC040, 0x7F7F, 0x7F80, 0xFF80, 0x7FC0, 0x4049],
                  dtype=np.uint16).view(ml_dtypes.bfloat16)
    bm = np.concatenate([bb, rng.standard_normal(2).astype(ml_dtypes.bfloat16)]).reshape(3, 4)
    f32b = rng.standard_normal(3).astype(np.float32)
    data = serialize({"b": {"dtype": "bfloat16", "shape": list(bm.shape), "data": bm.tobytes()},
                      "f": {"dtype": "float32", "shape": [3], "data": f32b.tobytes()}},
                     metadata={"versions": VERSIONS_STR})
    with open(os.path.join(out, "st_bf16.safetensors"), "wb") as f:
        f.write(bytes(data))
    expected["safetensors"]["st_bf16"] = {
        "tensors": {"b": {"dtype": "BF16", "shape": list(bm.shape),
                          "bits16": [int(b) for b in bm.view(np.uint16).ravel()],
                          "f32_bits": [int(b) for b in bm.astype(np.float32).view(np.uint32).ravel()]},
                    "f": {"dtype": "F32", "shape": [3], "values": values_of(f32b)}},
    }

    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")
    print("wrote %d .npy and 3 .safetensors fixtures to %s" % (len(expected["npy"]) + 1, out))


if __name__ == "__main__":
    main()
