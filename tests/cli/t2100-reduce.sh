#!/bin/bash
# latentrsa reduce end to end on the committed fixtures (tools/gen_reduce_fixtures.py): output
# shape, the labels sidecar passed through, OUT.json keys and k, --variance choosing k, each
# solver; bad input: exit codes, one error line, no output left behind. No Python.
# Needs LRSA_BIN, LRSA_SRC and LRSA_TMP. Ends with "reduce: N passed, M failed".
set -eu
. "$(dirname "$0")/lib.sh" t2100
FIX=${LRSA_SRC:?LRSA_SRC not set}/tests/fixtures/reduce

# npy_shape FILE: the shape tuple of a .npy header, e.g. "(60, 6)"
npy_shape() { head -c 128 "$1" | grep -ao "'shape': ([0-9, ]*)" | sed "s/'shape': //"; }
# json_num FILE KEY: a scalar value of OUT.json
json_num() { grep -o "\"$2\": [^,]*" "$1" | head -1 | sed 's/.*: //'; }

# ---- -h ------------------------------------------------------------------------------------------
rc=0
"$BIN" reduce -h >"$T/help.out" 2>&1 || rc=$?
check "reduce -h exits 0" test "$rc" -eq 0
check "-h synopsis" grep -qF 'usage: latentrsa reduce IN.npy [--zscore] (--components K | --variance F) [--solver topk|lanczos|exact|randomized] [--seed S] -o OUT.npy' "$T/help.out"

# ---- happy path: z-scored, 6 components, with a sidecar ---------------------------------------------
cp "$FIX/wide.npy" "$T/wide.npy"
{
    printf 'stimulus\tsource\tsubject\tsession\trun\ttrial\n'
    for i in $(seq 1 60); do printf 'img%02d.jpg\tCOCO\tn/a\tn/a\tn/a\tn/a\n' "$i"; done
} >"$T/wide.labels.tsv"
for solver in topk lanczos exact randomized; do
    rc=0
    "$BIN" reduce "$T/wide.npy" --zscore --components 6 --solver "$solver" --seed 3 -o "$T/p_$solver.npy" \
        2>"$T/p_$solver.err" || rc=$?
    check "$solver: exits 0" test "$rc" -eq 0
    check "$solver: shape (60, 6)" test "$(npy_shape "$T/p_$solver.npy")" = "(60, 6)"
    check "$solver: file size" test "$(wc -c <"$T/p_$solver.npy")" -eq $((128 + 60 * 6 * 4))
    check "$solver: sidecar copied" cmp -s "$T/wide.labels.tsv" "$T/p_$solver.labels.tsv"
    j="$T/p_$solver.json"
    check "$solver: OUT.json exists" test -f "$j"
    for key in k n d solver seed zscore components_requested variance_target capped total_variance \
        singular_values explained_variance explained_variance_ratio explained_variance_ratio_sum \
        iterations converged max_residual; do
        check "$solver: json has $key" grep -q "\"$key\":" "$j"
    done
    check "$solver: k 6" test "$(json_num "$j" k)" = 6
    check "$solver: n 60, d 150" test "$(json_num "$j" n)/$(json_num "$j" d)" = 60/150
    check "$solver: solver recorded" grep -qF "\"solver\": \"$solver\"" "$j"
    check "$solver: zscore true" test "$(json_num "$j" zscore)" = true
    check "$solver: seed 3" test "$(json_num "$j" seed)" = 3
    # sklearn (arpack): singular_values_[0] = 46.36106125, z-scored total variance = 150
    s0=$(grep -o '"singular_values": \[[^,]*' "$j" | sed 's/.*\[//')
    check "$solver: s0 = 46.3611 (got $s0)" awk -v a="$s0" 'BEGIN { d = a - 46.36106125; exit !(d < 1e-3 && d > -1e-3) }'
    tv=$(json_num "$j" total_variance)
    check "$solver: total variance 150 (got $tv)" awk -v a="$tv" 'BEGIN { d = a - 150; exit !(d < 1e-3 && d > -1e-3) }'
    check "$solver: note on stderr" grep -qF "wrote 60 x 6 projection" "$T/p_$solver.err"
done
check "no temporaries left" test -z "$(find "$T" -name '*.tmp*')"

# ---- --variance 0.7 keeps 11 components (numpy's full SVD of the z-scored matrix) -------------------
rc=0
"$BIN" reduce "$T/wide.npy" --zscore --variance 0.7 -q -o "$T/v.npy" 2>"$T/v.err" || rc=$?
check "--variance exits 0" test "$rc" -eq 0
check "-q: stderr empty" test ! -s "$T/v.err"
check "--variance 0.7: shape (60, 11)" test "$(npy_shape "$T/v.npy")" = "(60, 11)"
check "--variance: k 11 in json" test "$(json_num "$T/v.json" k)" = 11
check "--variance: target recorded" test "$(json_num "$T/v.json" variance_target)" = 0.69999999999999996
check "--variance: components_requested null" test "$(json_num "$T/v.json" components_requested)" = null
# F = 1 keeps the numerical rank of a z-scored 60 x 150 matrix: 59
"$BIN" reduce "$T/wide.npy" --zscore --variance 1 --solver exact -q -o "$T/v1.npy"
check "--variance 1: 59 components" test "$(npy_shape "$T/v1.npy")" = "(60, 59)"

# ---- without a sidecar, no sidecar is written; a name without .npy gets .json appended --------------
cp "$FIX/tall.npy" "$T/tall.npy"
"$BIN" reduce "$T/tall.npy" --components 3 -q -o "$T/tallout"
check "no sidecar in, none out" test ! -e "$T/tallout.labels.tsv"
check "OUT without .npy: OUT.json" test -f "$T/tallout.json"
check "raw: zscore false" test "$(json_num "$T/tallout.json" zscore)" = false

# ---- rank-deficient: 8 asked, rank 4 kept, with a warning --------------------------------------------
rc=0
"$BIN" reduce "$FIX/rankdef.npy" --components 8 -o "$T/rd.npy" 2>"$T/rd.err" || rc=$?
check "rank-deficient exits 0" test "$rc" -eq 0
check "rank-deficient: 4 kept" test "$(npy_shape "$T/rd.npy")" = "(60, 4)"
check "rank-deficient: capped" test "$(json_num "$T/rd.json" capped)" = true
check "rank-deficient: warning" grep -qF "numerical rank 4" "$T/rd.err"

# ---- bad input: exit status, one error line, no output --------------------------------------------------
printf '\x93NUMPY\x01\x00v\x00{'"'"'descr'"'"': '"'"'<f4'"'"', '"'"'fortran_order'"'"': False, '"'"'shape'"'"': (2, 3, 2), }' >"$T/3d.npy"
printf '%*s\n' $((127 - $(wc -c <"$T/3d.npy"))) '' >>"$T/3d.npy"
head -c 48 /dev/zero >>"$T/3d.npy"
# a NaN at row 0, column 0 of a copy of wide.npy (data starts at byte 128)
cp "$FIX/wide.npy" "$T/nan.npy"
printf '\x00\x00\xc0\x7f' | dd of="$T/nan.npy" bs=1 seek=128 conv=notrunc 2>/dev/null
cp "$FIX/wide.npy" "$T/short.npy"
{ printf 'stimulus\tsource\tsubject\tsession\trun\ttrial\n'; printf 'a.jpg\tCOCO\tn/a\tn/a\tn/a\tn/a\n'; } >"$T/short.labels.tsv"
expect_fail() { # expect_fail NAME STATUS NEEDLE ARGS...
    local name=$1 status=$2 needle=$3
    shift 3
    local rc=0
    rm -f "$T/out.npy" "$T/out.json" "$T/out.labels.tsv"
    "$BIN" reduce "$@" >"$T/bad.out" 2>"$T/bad.err" || rc=$?
    check "$name: exit $status (got $rc)" test "$rc" -eq "$status"
    check "$name: one error line" test "$(grep -c 'error:' "$T/bad.err")" -eq 1
    check "$name: message mentions '$needle'" grep -qF -- "$needle" "$T/bad.err"
    check "$name: no output" test ! -e "$T/out.npy" -a ! -e "$T/out.json" -a ! -e "$T/out.labels.tsv"
    check "$name: no temporary left" test -z "$(find "$T" -name 'out.*')"
}
expect_fail "K > min(N, D)" 3 "61 components asked for, but a 60 x 150 matrix has at most 60" \
    "$T/wide.npy" --components 61 -o "$T/out.npy"
expect_fail "K = 0" 2 "--components needs K >= 1" "$T/wide.npy" --components 0 -o "$T/out.npy"
expect_fail "F = 0" 2 "--variance needs 0 < F <= 1" "$T/wide.npy" --variance 0 -o "$T/out.npy"
expect_fail "F > 1" 2 "--variance needs 0 < F <= 1" "$T/wide.npy" --variance 1.2 -o "$T/out.npy"
expect_fail "both K and F" 2 "exactly one of --components K and --variance F" \
    "$T/wide.npy" --components 3 --variance 0.5 -o "$T/out.npy"
expect_fail "neither K nor F" 2 "exactly one of --components K and --variance F" "$T/wide.npy" -o "$T/out.npy"
expect_fail "unknown solver" 2 "unknown solver 'arpack'" "$T/wide.npy" --components 3 --solver arpack -o "$T/out.npy"
expect_fail "missing -o" 2 "missing -o OUT.npy" "$T/wide.npy" --components 3
expect_fail "NaN in input" 3 "nan.npy': row 0, column 0 is nan" "$T/nan.npy" --components 3 -o "$T/out.npy"
expect_fail "3-d input" 3 "expected a 2-d matrix" "$T/3d.npy" --components 1 -o "$T/out.npy"
expect_fail "sidecar rows disagree" 3 "short.labels.tsv" "$T/short.npy" --components 3 -o "$T/out.npy"
expect_fail "missing input" 3 "missing.npy" "$T/missing.npy" --components 3 -o "$T/out.npy"
expect_fail "output dir missing" 1 "$T/nodir/out.npy" "$T/wide.npy" --components 3 -o "$T/nodir/out.npy"

finish reduce
