#!/bin/bash
# latentrsa rdm: end to end on tests/fixtures/rdm/cli.npy (3 x 4) against scipy's pdist for every
# metric (tools/gen_rdm_fixtures.py wrote the float64 references; read here with od, no Python),
# the labels sidecar copied through, --clip-negative, bad input (exit status, one error line, no
# output file, no sidecar, no temporary), -h.
# Needs LRSA_BIN, LRSA_SRC and LRSA_TMP. Ends with "rdm: N passed, M failed".
set -eu
. "$(dirname "$0")/lib.sh" t2200
FIX=${LRSA_SRC:?LRSA_SRC not set}/tests/fixtures/rdm
IO=$LRSA_SRC/tests/fixtures/io
# values FILE TYPE: every element after the 128-byte header (np.save of a small array), one a line
values() { od -A n -v -t "$2" -j 128 "$1" | tr -s ' ' '\n' | sed '/^$/d'; }
# close OURS.npy REF.npy TOL: every float32 of OURS within TOL of the float64 of REF
close() {
    paste <(values "$1" f4) <(values "$2" f8) | awk -v tol="$3" '
        { n++; d = $1 - $2; if (d < 0) d = -d; if (d > tol) bad++ }
        END { exit !(n == 9 && bad == 0) }'
}
labels() { # labels FILE STIMULUS...: a sidecar with one row per stimulus
    local f=$1
    shift
    printf 'stimulus\tsource\tsubject\tsession\trun\ttrial\n' >"$f"
    local i=1
    for s in "$@"; do
        printf '%s\tCOCO\tCSI1\t01\t1\t%d\n' "$s" "$i" >>"$f"
        i=$((i + 1))
    done
}

# ---- -h ------------------------------------------------------------------------------------------
rc=0
"$BIN" rdm -h >"$T/help.out" 2>&1 || rc=$?
check "rdm -h exits 0" test "$rc" -eq 0
check "-h synopsis" grep -qxF \
    'usage: latentrsa rdm IN.npy [--metric correlation|cosine|euclidean|sqeuclidean] [--clip-negative] -o RDM.npy' \
    "$T/help.out"
check "-h lists --metric" grep -qF -- "--metric M" "$T/help.out"

# ---- the default (correlation), with a sidecar --------------------------------------------------
cp "$FIX/cli.npy" "$T/in.npy"
labels "$T/in.labels.tsv" a.jpg b.jpg c.jpg
rc=0
"$BIN" rdm "$T/in.npy" -o "$T/r.npy" 2>"$T/r.err" || rc=$?
check "rdm exits 0" test "$rc" -eq 0
check "output exists" test -f "$T/r.npy"
check "file size 164 (128-byte header + 9 float32)" test "$(wc -c <"$T/r.npy")" -eq 164
check "npy header" grep -qF "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 3), }" "$T/r.npy"
check "correlation = scipy pdist (1e-6)" close "$T/r.npy" "$FIX/cli.correlation.npy" 1e-6
check "correlation = 1 - corrcoef off the diagonal" close "$T/r.npy" "$FIX/cli.corrcoef.npy" 1e-6
check "diagonal exactly 0" test "$(values "$T/r.npy" f4 | sed -n '1p;5p;9p' | tr '\n' ' ')" = "0 0 0 "
check "symmetric" test "$(values "$T/r.npy" x4 | sed -n 2p)" = "$(values "$T/r.npy" x4 | sed -n 4p)"
check "sidecar copied" cmp -s "$T/in.labels.tsv" "$T/r.labels.tsv"
check "note on stderr" grep -qF "wrote the 3 x 3 correlation rdm of '$T/in.npy' to '$T/r.npy' (labels '$T/r.labels.tsv')" "$T/r.err"

# ---- every metric --------------------------------------------------------------------------------
for m in correlation cosine euclidean sqeuclidean; do
    rc=0
    "$BIN" rdm "$T/in.npy" --metric "$m" -o "$T/$m.npy" -q 2>"$T/$m.err" || rc=$?
    check "--metric $m exits 0" test "$rc" -eq 0
    check "--metric $m: -q prints nothing" test ! -s "$T/$m.err"
    check "--metric $m = scipy pdist" close "$T/$m.npy" "$FIX/cli.$m.npy" 2e-6
done
"$BIN" rdm --metric=euclidean --output "$T/eq.npy" "$T/in.npy" -q
check "--metric=euclidean --output form" cmp -s "$T/eq.npy" "$T/euclidean.npy"
"$BIN" rdm "$T/in.npy" --threads 1 -q -o "$T/t1.npy"
check "--threads 1: the same bytes" cmp -s "$T/t1.npy" "$T/r.npy"
"$BIN" rdm "$T/in.npy" --clip-negative -q -o "$T/clip.npy"
check "--clip-negative: the same bytes (entries are never negative)" cmp -s "$T/clip.npy" "$T/r.npy"

# ---- no sidecar: none written, and a stale one removed -------------------------------------------
cp "$FIX/cli.npy" "$T/bare.npy"
labels "$T/old.labels.tsv" x.jpg y.jpg z.jpg
rc=0
"$BIN" rdm "$T/bare.npy" -o "$T/old.npy" 2>"$T/bare.err" || rc=$?
check "no sidecar: exits 0" test "$rc" -eq 0
check "no sidecar: none written, the stale one removed" test ! -e "$T/old.labels.tsv"
check "no sidecar: says so" grep -qF "removed the stale sidecar '$T/old.labels.tsv'" "$T/bare.err"

# ---- bad input: exit status, one error line, no output, no sidecar, no temporary ----------------
# patch FILE OFFSET HEXBYTES: overwrite bytes in place
patch() { printf "$(echo "$3" | sed 's/../\\x&/g')" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }
cp "$FIX/cli.npy" "$T/nan.npy"
patch "$T/nan.npy" $((128 + (1 * 4 + 2) * 4)) 0000c07f # row 1, column 2 = NaN
cp "$FIX/cli.npy" "$T/inf.npy"
patch "$T/inf.npy" $((128 + 3 * 4)) 0000807f # row 0, column 3 = +Inf
cp "$FIX/cli.npy" "$T/const.npy"
patch "$T/const.npy" $((128 + 8 * 4)) 0000803f0000803f0000803f0000803f # row 2 = 1 1 1 1
cp "$T/const.npy" "$T/constl.npy"
labels "$T/constl.labels.tsv" a.jpg b.jpg c.jpg
cp "$FIX/cli.npy" "$T/zero.npy"
patch "$T/zero.npy" $((128 + 4 * 4)) 00000000000000000000000000000000 # row 1 = 0 0 0 0
{ sed 's/(3, 4)/(1, 4)/' "$FIX/cli.npy" | head -c $((128 + 16)); } >"$T/onerow.npy"
cp "$FIX/cli.npy" "$T/short.npy"
labels "$T/short.labels.tsv" a.jpg b.jpg
expect_fail() { # expect_fail NAME STATUS NEEDLE ARGS...
    local name=$1 status=$2 needle=$3
    shift 3
    local rc=0
    rm -f "$T/out.npy" "$T/out.labels.tsv"
    "$BIN" rdm "$@" >"$T/bad.out" 2>"$T/bad.err" || rc=$?
    check "$name: exit $status (got $rc)" test "$rc" -eq "$status"
    check "$name: one error line" test "$(grep -c 'error:' "$T/bad.err")" -eq 1
    check "$name: at most 2 lines on stderr" test "$(wc -l <"$T/bad.err")" -le $((status == 2 ? 2 : 1))
    check "$name: message mentions '$needle'" grep -qF -- "$needle" "$T/bad.err"
    check "$name: nothing on stdout" test ! -s "$T/bad.out"
    check "$name: no output file" test ! -e "$T/out.npy"
    check "$name: no sidecar" test ! -e "$T/out.labels.tsv"
    check "$name: no temporary left" test -z "$(find "$T" -name 'out.*' -o -name '.out.*')"
}
expect_fail "NaN" 3 "nan.npy': row 1 column 2 is NaN: an rdm needs finite values" "$T/nan.npy" -o "$T/out.npy"
expect_fail "Inf" 3 "inf.npy': row 0 column 3 is +Inf" "$T/inf.npy" --metric euclidean -o "$T/out.npy"
expect_fail "constant row" 3 "const.npy': row 2 is constant (zero variance): its correlation distance is undefined" \
    "$T/const.npy" -o "$T/out.npy"
expect_fail "constant row, named by its stimulus" 3 "constl.npy': stimulus 'c.jpg': row 2 is constant" \
    "$T/constl.npy" -o "$T/out.npy"
expect_fail "all-zero row (cosine)" 3 "zero.npy': row 1 is all zeros: its cosine distance is undefined" \
    "$T/zero.npy" --metric cosine -o "$T/out.npy"
expect_fail "one row" 3 "onerow.npy': an rdm needs at least 2 rows and 1 column, got 1 x 4" "$T/onerow.npy" -o "$T/out.npy"
expect_fail "3-D input" 3 "i2_f3d.npy': expected a 2-d matrix (rows x columns), got 3-d" "$IO/i2_f3d.npy" -o "$T/out.npy"
expect_fail "1-D input" 3 "expected a 2-d matrix" "$IO/vec.npy" -o "$T/out.npy"
expect_fail "sidecar with 2 rows" 3 "short.labels.tsv" "$T/short.npy" -o "$T/out.npy"
expect_fail "missing file" 3 "$T/missing.npy" "$T/missing.npy" -o "$T/out.npy"
expect_fail "not a .npy" 3 "help.out" "$T/help.out" -o "$T/out.npy"
expect_fail "unknown metric" 2 "unknown --metric 'pearson'" "$T/in.npy" --metric pearson -o "$T/out.npy"
expect_fail "missing -o" 2 "missing -o RDM.npy" "$T/in.npy"
expect_fail "two inputs" 2 "" "$T/in.npy" "$T/in.npy" -o "$T/out.npy"
expect_fail "no input" 2 "missing argument" -o "$T/out.npy"
expect_fail "output dir missing" 1 "$T/nodir/out.npy" "$T/in.npy" -o "$T/nodir/out.npy"
check "output dir missing: no directory created" test ! -e "$T/nodir"

finish rdm
