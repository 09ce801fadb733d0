#!/bin/bash
# latentrsa extract: one volume of a real NIfTI file (Debian's nibabel test data) as a float32
# C-order .npy, checked against nibabel 5.2.1's get_fdata() values written out here (so no Python
# is needed): file size, header, and voxels read back with od. Bad input: exit codes, one line,
# no output file left behind.
# Needs LRSA_BIN, LRSA_TESTDATA and LRSA_TMP. Ends with "extract: N passed, M failed".
set -eu
. "$(dirname "$0")/lib.sh" t1200
DATA=${LRSA_TESTDATA:?LRSA_TESTDATA not set}
NIB=$DATA/python3-nibabel/usr/lib/python3/dist-packages/nibabel/tests/data
# voxel NPY HEADER_BYTES NY NZ I J K: the float32 at C-order index (i, j, k)
voxel() { od -A n -t f4 -j $(($2 + 4 * (($5 * $3 + $6) * $4 + $7))) -N 4 "$1" | tr -d ' '; }
# near A B: |A - B| <= 1e-6 |B| (float32 precision; od prints about 8 digits)
near() { awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; if (d < 0) d = -d; m = b < 0 ? -b : b; exit !(a != "" && d <= 1e-6 * m + 1e-30) }'; }

# ---- -h ------------------------------------------------------------------------
rc=0
"$BIN" extract -h >"$T/help.out" 2>&1 || rc=$?
check "extract -h exits 0" test "$rc" -eq 0
check "-h synopsis" grep -qF 'usage: latentrsa extract FILE [--volume T] -o OUT.npy' "$T/help.out"

# ---- functional.nii, volume 5: int16 with scl_slope 0.0754 / scl_inter 3100.76 ---------------
rc=0
"$BIN" extract "$NIB/functional.nii" --volume 5 -o "$T/f5.npy" 2>"$T/f5.err" || rc=$?
check "functional --volume 5 exits 0" test "$rc" -eq 0
check "output exists" test -f "$T/f5.npy"
# np.save of a (17, 21, 3) float32 array: a 128-byte header and 17 * 21 * 3 * 4 bytes
check "file size 4412" test "$(wc -c <"$T/f5.npy")" -eq 4412
check "npy magic" test "$(head -c 6 "$T/f5.npy" | tail -c 5)" = NUMPY
check "npy header" grep -qF "{'descr': '<f4', 'fortran_order': False, 'shape': (17, 21, 3), }" "$T/f5.npy"
check "note on stderr" grep -qF "wrote volume 5 of 20" "$T/f5.err"
# nibabel: get_fdata()[8, 10, 1, 5] = 3897.3608, [3, 7, 2, 5] and the corners below
v=$(voxel "$T/f5.npy" 128 21 3 8 10 1)
check "f5[8,10,1] = 3897.3608 (got $v)" near "$v" 3897.3608
rc=0
"$BIN" extract "$NIB/functional.nii" --volume 0 -o "$T/f0.npy" -q 2>"$T/f0.err" || rc=$?
check "--volume 0 exits 0" test "$rc" -eq 0
check "-q: stderr empty" test ! -s "$T/f0.err"
v=$(voxel "$T/f0.npy" 128 21 3 0 0 0)
check "f0[0,0,0] = 4004.1372 (got $v)" near "$v" 4004.1372
"$BIN" extract "$NIB/functional.nii" --volume=19 -o "$T/f19.npy" 2>/dev/null
v=$(voxel "$T/f19.npy" 128 21 3 16 20 2)
check "f19[16,20,2] = 3129.341 (got $v)" near "$v" 3129.341
"$BIN" extract "$NIB/functional.nii" --volume 11 --output "$T/f11.npy" 2>/dev/null
v=$(voxel "$T/f11.npy" 128 21 3 3 7 2)
check "f11[3,7,2] = 3770.1494 (got $v)" near "$v" 3770.1494

# ---- anatomical.nii: big-endian 3-D int16; the default volume is 0 -------------------------
rc=0
"$BIN" extract "$NIB/anatomical.nii" -o "$T/anat.npy" 2>/dev/null || rc=$?
check "anatomical exits 0" test "$rc" -eq 0
check "anatomical size" test "$(wc -c <"$T/anat.npy")" -eq $((128 + 33 * 41 * 25 * 4))
v=$(voxel "$T/anat.npy" 128 41 25 16 20 12)
check "anat[16,20,12] = 11881 (got $v)" near "$v" 11881
v=$(voxel "$T/anat.npy" 128 41 25 5 30 20)
check "anat[5,30,20] = 9110 (got $v)" near "$v" 9110

# ---- bad input: exit status, one error line naming the file, no output file ---------------
head -c 200000 "$NIB/example4d.nii.gz" >"$T/trunc.nii.gz"
head -c 20000 "$NIB/anatomical.nii" >"$T/trunc.nii"
expect_fail() { # expect_fail NAME STATUS NEEDLE ARGS...
    local name=$1 status=$2 needle=$3
    shift 3
    local rc=0
    rm -f "$T/out.npy"
    "$BIN" extract "$@" >"$T/bad.out" 2>"$T/bad.err" || rc=$?
    check "$name: exit $status (got $rc)" test "$rc" -eq "$status"
    check "$name: one error line" test "$(grep -c 'error:' "$T/bad.err")" -eq 1
    check "$name: at most 2 lines on stderr" test "$(wc -l <"$T/bad.err")" -le $((status == 2 ? 2 : 1))
    check "$name: message mentions '$needle'" grep -qF -- "$needle" "$T/bad.err"
    check "$name: no output file" test ! -e "$T/out.npy"
    check "$name: no temporary left" test -z "$(find "$T" -name 'out.npy*')"
}
expect_fail "volume out of range" 3 "functional.nii': volume 20 is out of range: the file has 20 volumes" \
    "$NIB/functional.nii" --volume 20 -o "$T/out.npy"
expect_fail "negative volume" 3 "volume -1 is out of range" "$NIB/functional.nii" --volume -1 -o "$T/out.npy"
expect_fail "3-D file, volume 1" 3 "the file has 1 volume " "$NIB/anatomical.nii" --volume 1 -o "$T/out.npy"
expect_fail "truncated .nii.gz" 3 "trunc.nii.gz': cannot read volume 1 of 2" \
    "$T/trunc.nii.gz" --volume 1 -o "$T/out.npy"
expect_fail "truncated .nii" 3 "trunc.nii': file is truncated" "$T/trunc.nii" -o "$T/out.npy"
expect_fail "missing file" 3 "cannot open '$T/missing.nii'" "$T/missing.nii" -o "$T/out.npy"
expect_fail "header only" 3 "nifti1.hdr': no image file" "$NIB/nifti1.hdr" -o "$T/out.npy"
expect_fail "CIFTI" 3 "6-D image" "$NIB/row_major.dconn.nii" -o "$T/out.npy"
expect_fail "missing -o" 2 "missing -o OUT.npy" "$NIB/functional.nii" --volume 1
expect_fail "bad --volume" 2 "option '--volume' needs an integer, got 'x'" "$NIB/functional.nii" --volume x -o "$T/out.npy"
expect_fail "no file" 2 "missing argument" -o "$T/out.npy"
expect_fail "output dir missing" 1 "$T/nodir/out.npy" "$NIB/functional.nii" -o "$T/nodir/out.npy"

finish extract
