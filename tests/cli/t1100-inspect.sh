#!/bin/bash
# latentrsa inspect: the header of real files (Debian's nibabel and nipy test data) as JSON,
# checked against what nibabel 5.2.1 says (values written out here, so no Python is needed);
# a header-only .hdr; rejected files (CIFTI, ANALYZE) and bad input with exit codes.
# Needs LRSA_BIN, LRSA_TESTDATA and LRSA_TMP. Ends with "inspect: N passed, M failed".
set -eu
. "$(dirname "$0")/lib.sh" t1100
DATA=${LRSA_TESTDATA:?LRSA_TESTDATA not set}
NIB=$DATA/python3-nibabel/usr/lib/python3/dist-packages/nibabel/tests/data
NIPY=$DATA/python3-nipy/usr/lib/python3/dist-packages/nipy/testing
# has FILE KEY VALUE: the JSON line of KEY carries exactly VALUE (cJSON prints "key":<tab>value)
has() { awk -v k="\"$2\":" -v v="$3" '{ sub(/^[ \t]+/, ""); sub(/,$/, ""); if ($0 == k "\t" v) f = 1 } END { exit !f }' "$1"; }

# ---- -h ------------------------------------------------------------------------
rc=0
"$BIN" inspect -h >"$T/help.out" 2>&1 || rc=$?
check "inspect -h exits 0" test "$rc" -eq 0
check "-h synopsis" grep -q '^usage: latentrsa inspect FILE$' "$T/help.out"

# ---- example4d.nii.gz: 4-D int16, oblique sform, pixdim[4] 2000 in seconds ---------------
rc=0
"$BIN" inspect "$NIB/example4d.nii.gz" >"$T/e4d.json" 2>"$T/e4d.err" || rc=$?
check "example4d exits 0" test "$rc" -eq 0
check "example4d stderr empty" test ! -s "$T/e4d.err"
check "example4d dims" has "$T/e4d.json" dims '[128, 96, 24, 2]'
check "example4d datatype" has "$T/e4d.json" datatype '"int16"'
check "example4d pixdim" grep -qE '"pixdim":[[:space:]]+\[2, 2, 2\.19999909400940?, 2000\]' "$T/e4d.json"
check "example4d tr" has "$T/e4d.json" tr 2000
check "example4d version" has "$T/e4d.json" nifti_version 1
check "example4d slope" has "$T/e4d.json" scl_slope 1
check "example4d inter" has "$T/e4d.json" scl_inter 0
check "example4d affine row 1 offset" grep -q '117.8551025390625\]' "$T/e4d.json"
check "example4d affine last row" grep -q '\[0, 0, 0, 1\]\]' "$T/e4d.json"
check "exactly 8 keys" test "$(grep -cE '^[[:space:]]*"[a-z_]+":' "$T/e4d.json")" -eq 8
check "one JSON object" test "$(head -c 1 "$T/e4d.json")" = "{"

# ---- functional.nii: scl_slope/inter, TR 2 s ---------------------------------------------
rc=0
"$BIN" inspect "$NIB/functional.nii" >"$T/func.json" || rc=$?
check "functional exits 0" test "$rc" -eq 0
check "functional dims" has "$T/func.json" dims '[17, 21, 3, 20]'
check "functional tr" has "$T/func.json" tr 2
check "functional slope" grep -qE '"scl_slope":[[:space:]]+0\.07540696859359' "$T/func.json"
check "functional inter" has "$T/func.json" scl_inter 3100.76171875

# ---- a big-endian .nii, a gzipped one, NIfTI-2 ---------------------------------------------
rc=0
"$BIN" inspect "$NIB/anatomical.nii" >"$T/anat.json" || rc=$?
check "big-endian anatomical exits 0" test "$rc" -eq 0
check "anatomical 3-D dims, nt 1" has "$T/anat.json" dims '[33, 41, 25, 1]'
rc=0
"$BIN" inspect "$NIPY/anatomical.nii.gz" >"$T/anatgz.json" || rc=$?
check "nipy anatomical.nii.gz exits 0" test "$rc" -eq 0
check "same header as the .nii" cmp -s "$T/anat.json" "$T/anatgz.json"
rc=0
"$BIN" inspect "$NIB/example_nifti2.nii.gz" >"$T/n2.json" || rc=$?
check "NIfTI-2 exits 0" test "$rc" -eq 0
check "NIfTI-2 version" has "$T/n2.json" nifti_version 2
check "NIfTI-2 dims" has "$T/n2.json" dims '[32, 20, 12, 2]'
rc=0
"$BIN" inspect "$NIB/standard.nii.gz" >"$T/std.json" || rc=$?
check "uint8 exits 0" test "$rc" -eq 0
check "uint8 datatype" has "$T/std.json" datatype '"uint8"'

# ---- a .hdr without its .img: the header alone is fine ---------------------------------------
rc=0
"$BIN" inspect "$NIB/nifti1.hdr" >"$T/hdr.json" || rc=$?
check "header-only .hdr exits 0" test "$rc" -eq 0
check "header-only dims" has "$T/hdr.json" dims '[91, 109, 91, 1]'

# ---- rejected and bad input: exit status, one line naming the file ---------------------------
printf 'not a nifti file at all, just some text that is long enough to be read' >"$T/text.nii"
head -c 100 "$NIB/anatomical.nii" >"$T/short.nii"
head -c 20000 "$NIB/anatomical.nii" >"$T/trunc.nii"
head -c 30 "$NIB/example4d.nii.gz" >"$T/trunc.nii.gz"
expect_fail() { # expect_fail NAME STATUS NEEDLE ARGS...
    local name=$1 status=$2 needle=$3
    shift 3
    local rc=0
    "$BIN" inspect "$@" >"$T/bad.out" 2>"$T/bad.err" || rc=$?
    check "$name: exit $status (got $rc)" test "$rc" -eq "$status"
    check "$name: one error line on stderr" test "$(grep -c 'error:' "$T/bad.err")" -eq 1
    # usage errors add a hint line to run -h; data errors are one line
    check "$name: at most 2 lines on stderr" test "$(wc -l <"$T/bad.err")" -le $((status == 2 ? 2 : 1))
    check "$name: message mentions '$needle'" grep -qF -- "$needle" "$T/bad.err"
    check "$name: nothing on stdout" test ! -s "$T/bad.out"
}
expect_fail "CIFTI" 3 "row_major.dconn.nii': 6-D image" "$NIB/row_major.dconn.nii"
expect_fail "ANALYZE" 3 "analyze.hdr': no NIfTI-1 magic" "$NIB/analyze.hdr"
expect_fail "missing file" 3 "cannot open '$T/missing.nii'" "$T/missing.nii"
expect_fail "not NIfTI" 3 "text.nii': not a NIfTI file" "$T/text.nii"
expect_fail "short file" 3 "short.nii': file too short" "$T/short.nii"
expect_fail "truncated .nii" 3 "trunc.nii': file is truncated" "$T/trunc.nii"
expect_fail "truncated .nii.gz header" 3 "trunc.nii.gz'" "$T/trunc.nii.gz"
expect_fail "no file argument" 2 "missing argument"
expect_fail "two files" 2 "unexpected argument" "$NIB/anatomical.nii" "$NIB/functional.nii"
expect_fail "unknown option" 2 "unknown option '--bogus'" --bogus "$NIB/anatomical.nii"

finish inspect
