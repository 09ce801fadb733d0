#!/bin/bash
# latentrsa embed-voxels on a tiny synthetic dataset: each row equals `latentrsa extract` of the
# trial's volume byte for byte (C order over x, y, z); --trials gives the same bytes as a scan;
# --volume-rule picks other volumes; --detrend / --zscore-runs against a double reference computed
# here with awk from every volume of the run; --threads does not change a byte; a mask built here
# from a run's header keeps the right columns; the sidecar and OUT.json; bad input (mask of other
# dims or another space, a missing BOLD file, a volume outside its run, an unwritable output,
# usage errors) with exit statuses and no output left behind.
# Needs LRSA_BIN and LRSA_TMP. Ends with "embed-voxels: N passed, M failed".
set -u
. "$(dirname "$0")/lib.sh" t6200
D=$T/ds
"$BIN" synth -o "$D" --dims 10x9x8 --subjects 2 --runs 2 --trials 3 --image-size 16 -q ||
    { echo "synth failed"; exit 1; }
"$BIN" scan "$D" -o "$T/trials.tsv" -q || { echo "scan failed"; exit 1; }
NV=720       # 10 x 9 x 8 voxels
ROWB=2880    # bytes per row
NT=24        # volumes per run: (6 + 10 * 3 + 12) / 2
run() { # run NAME ARGS...: stdout/stderr to $T/NAME.out/.err, exit status to rc
    local name=$1
    shift
    rc=0
    "$BIN" embed-voxels "$@" >"$T/$name.out" 2>"$T/$name.err" || rc=$?
}
# row FILE.npy R NROWS: the raw bytes of row R (0-based) of a float32 NROWS x NV matrix
row() {
    local size hl
    size=$(wc -c <"$1")
    hl=$((size - $3 * ROWB))
    tail -c +$((hl + $2 * ROWB + 1)) "$1" | head -c $ROWB
}
# value FILE.npy R C NROWS: the float32 at (R, C)
value() {
    local size hl
    size=$(wc -c <"$1")
    hl=$((size - $4 * NV * 4))
    od -A n -t f4 -j $((hl + ($2 * NV + $3) * 4)) -N 4 "$1" | tr -d ' '
}
# field N of trials.tsv data row R (0-based)
tcol() { awk -F'\t' -v r="$1" -v c="$2" 'NR == r + 2 { print $c }' "$T/trials.tsv"; }

# ---- -h and usage ----------------------------------------------------------------------------
run help -h
check "-h exits 0" test "$rc" -eq 0
check "-h synopsis" grep -qF 'usage: latentrsa embed-voxels --bids DIR [--trials trials.tsv | --volume-rule lag:SECONDS|stimoff] [--mask MASK.nii.gz] [--detrend] [--zscore-runs] -o OUT.npy' "$T/help.out"
run u1 -o "$T/u.npy"
check "no --bids: exit 2" test "$rc" -eq 2
run u2 --bids "$D"
check "no -o: exit 2" test "$rc" -eq 2
run u3 --bids "$D" --trials "$T/trials.tsv" --volume-rule stimoff -o "$T/u.npy"
check "--trials with --volume-rule: exit 2" test "$rc" -eq 2
check "says why" grep -q "volume-rule" "$T/u3.err"
run u4 --bids "$D" --volume-rule lag:x -o "$T/u.npy"
check "bad --volume-rule: exit 2" test "$rc" -eq 2
run u5 --bids "$D" extra -o "$T/u.npy"
check "a positional argument: exit 2" test "$rc" -eq 2
run u6 --bids "$T/nothing" -o "$T/u.npy"
check "--bids not a folder: exit 3" test "$rc" -eq 3
check "no output after usage errors" test ! -e "$T/u.npy"

# ---- all voxels, scanned (lag:5) ---------------------------------------------------------------
run v --bids "$D" -o "$T/v.npy"
check "exit 0" test "$rc" -eq 0
check "shape (12, 720)" grep -aq "'shape': (12, 720)" "$T/v.npy"
check "size" test "$(wc -c <"$T/v.npy")" -eq $((128 + 12 * ROWB))
check "note" grep -q "12 trials x 720 voxels from 4 runs" "$T/v.err"
check "sidecar rows" test "$(wc -l <"$T/v.labels.tsv")" -eq 13
check "sidecar header" test "$(head -1 "$T/v.labels.tsv")" = "$(printf 'stimulus\tsource\tsubject\tsession\trun\ttrial')"
check "sidecar row 1 is trial 1 of sub-CSI1 run 1" test "$(sed -n 2p "$T/v.labels.tsv" | cut -f3-6)" = "$(printf 'CSI1\t01\t1\t1')"
check "sidecar stimuli are the table's" bash -c "diff <(tail -n +2 '$T/v.labels.tsv' | cut -f1) <(tail -n +2 '$T/trials.tsv' | cut -f5)"
check "sidecar sources" bash -c "tail -n +2 '$T/v.labels.tsv' | cut -f2 | grep -qvE '^(COCO|ImageNet|Scene)$' && exit 1 || exit 0"
for k in '"rows": 12,' '"voxels": 720,' '"mask": null,' '"detrend": false,' '"zscore_runs": false,' \
    '"volume_rule": "lag:5",' '"dims": [10, 9, 8],' '"trials": null'; do
    check "v.json has $k" grep -qF "$k" "$T/v.json"
done
# every row against extract of the same volume, byte for byte
bad=0
for r in 0 1 2 3 4 5 6 7 8 9 10 11; do
    bold=$(tcol $r 11)
    vol=$(tcol $r 10)
    "$BIN" extract "$D/$bold" --volume "$vol" -o "$T/x.npy" -q || bad=$((bad + 1))
    cmp -s <(row "$T/v.npy" $r 12) <(tail -c $ROWB "$T/x.npy") || bad=$((bad + 1))
done
check "every row == extract of its volume (bytes)" test "$bad" -eq 0

# ---- --trials: the same bytes; --volume-rule: other volumes ----------------------------------------
run t --bids "$D" --trials "$T/trials.tsv" -o "$T/t.npy"
check "--trials exit 0" test "$rc" -eq 0
check "--trials == scan (bytes)" cmp -s "$T/v.npy" "$T/t.npy"
check "--trials sidecar == scan sidecar" cmp -s "$T/v.labels.tsv" "$T/t.labels.tsv"
check "t.json volume_rule null" grep -qF '"volume_rule": null,' "$T/t.json"
check "t.json trials" grep -qF "\"trials\": \"$T/trials.tsv\"" "$T/t.json"
run s --bids "$D" --volume-rule stimoff -o "$T/s.npy"
check "stimoff exit 0" test "$rc" -eq 0
check "s.json volume_rule stimoff" grep -qF '"volume_rule": "stimoff",' "$T/s.json"
check "stimoff differs from lag:5" bash -c "! cmp -s '$T/v.npy' '$T/s.npy'"
"$BIN" scan "$D" --volume-rule stimoff -o "$T/trials_s.tsv" -q
bold=$(awk -F'\t' 'NR == 5 { print $11 }' "$T/trials_s.tsv")
vol=$(awk -F'\t' 'NR == 5 { print $10 }' "$T/trials_s.tsv")
"$BIN" extract "$D/$bold" --volume "$vol" -o "$T/xs.npy" -q
check "stimoff row 3 == extract of its volume $vol" cmp -s <(row "$T/s.npy" 3 12) <(tail -c $ROWB "$T/xs.npy")

# ---- --detrend, --zscore-runs against awk in double ------------------------------------------------
run dz --bids "$D" --detrend --zscore-runs -o "$T/dz.npy"
check "detrend+zscore exit 0" test "$rc" -eq 0
run d --bids "$D" --detrend -o "$T/d.npy"
run z --bids "$D" --zscore-runs -o "$T/z.npy"
check "d.json detrend" grep -qF '"detrend": true,' "$T/d.json"
check "dz.json zscore_runs" grep -qF '"zscore_runs": true,' "$T/dz.json"
run dz1 --bids "$D" --detrend --zscore-runs -o "$T/dz1.npy" --threads 1
run dz3 --bids "$D" --detrend --zscore-runs -o "$T/dz3.npy" --threads 3
check "--threads 1 == 3 (bytes)" cmp -s "$T/dz1.npy" "$T/dz3.npy"
check "--threads 1 == default (bytes)" cmp -s "$T/dz1.npy" "$T/dz.npy"
R=7
bold=$(tcol $R 11)
vol=$(tcol $R 10)
for v in $(seq 0 $((NT - 1))); do "$BIN" extract "$D/$bold" --volume "$v" -o "$T/all$v.npy" -q; done
# ref MODE C: the reference at the trial's volume for voxel C (C order), MODE d, z or dz
ref() {
    for v in $(seq 0 $((NT - 1))); do
        od -A n -t f4 -j $((128 + $2 * 4)) -N 4 "$T/all$v.npy"
    done | awk -v mode="$1" -v at="$vol" '
        { x[NR - 1] = $1 + 0; n++ }
        END {
            st = stt = sx = stx = sq = 0
            for (t = 0; t < n; t++) { st += t; stt += t * t; sx += x[t]; stx += t * x[t]; sq += x[t] * x[t] }
            a = 0; b = 0
            if (mode ~ /d/) { b = (n * stx - st * sx) / (n * stt - st * st); a = (sx - b * st) / n }
            for (t = 0; t < n; t++) r[t] = x[t] - ((mode ~ /d/) ? a + b * t : 0)
            if (mode ~ /z/) {
                m = 0; for (t = 0; t < n; t++) m += r[t]; m /= n
                s = 0; for (t = 0; t < n; t++) s += (r[t] - m) ^ 2; s /= n
                if (s == 0 || s <= 1e-20 * sq / n) { print 0; exit }
                printf "%.10g\n", (r[at] - m) / sqrt(s); exit
            }
            printf "%.10g\n", r[at]
        }'
}
near() { awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; if (d < 0) d = -d; m = b < 0 ? -b : b; if (m < 1) m = 1; exit !(a != "" && d <= 2e-6 * m) }'; }
# voxels: the centre (signal block), a brain voxel, a background corner
for c in 396 243 0; do
    for mode in d z dz; do
        want=$(ref $mode $c)
        got=$(value "$T/$mode.npy" $R $c 12)
        check "$mode voxel $c: $got vs reference $want" near "$got" "$want"
    done
done

# ---- a mask: the runs' header, 3-D, int16, non-zero where the storage index % 5 == 0 (NaN-free) ---
RUN1=$D/$(tcol 0 11)
gunzip -c "$RUN1" | head -c 352 >"$T/mask.nii"
printf '\x03\x00' | dd of="$T/mask.nii" bs=1 seek=40 conv=notrunc 2>/dev/null   # dim[0] = 3
printf '\x01\x00' | dd of="$T/mask.nii" bs=1 seek=48 conv=notrunc 2>/dev/null   # dim[4] = 1
printf "$(awk -v n=$NV 'BEGIN { for (s = 0; s < n; s++) printf (s % 5 == 0 ? "\\x02\\x00" : "\\x00\\x00") }')" >>"$T/mask.nii"
check "mask file size" test "$(wc -c <"$T/mask.nii")" -eq $((352 + 2 * NV))
run m --bids "$D" --mask "$T/mask.nii" -o "$T/m.npy"
check "mask exit 0" test "$rc" -eq 0
check "mask shape (12, 144)" grep -aq "'shape': (12, 144)" "$T/m.npy"
check "m.json mask" grep -qF "\"mask\": \"$T/mask.nii\"," "$T/m.json"
check "m.json voxels" grep -qF '"voxels": 144,' "$T/m.json"
# the kept columns of the full matrix, in C order (c = (i * 9 + j) * 8 + k, storage s = i + 10 (j + 9 k))
keep=$(awk 'BEGIN { for (i = 0; i < 10; i++) for (j = 0; j < 9; j++) for (k = 0; k < 8; k++) if ((i + 10 * (j + 9 * k)) % 5 == 0) printf "%d ", (i * 9 + j) * 8 + k }')
bad=0
for r in 0 6 11; do
    full=$(row "$T/v.npy" $r 12 | od -v -A n -t x4 | tr -s ' \n' '\n' | grep -v '^$' | tr '\n' ' ')
    want=$(echo "$full" | awk -v keep="$keep" '{ n = split(keep, K, " "); for (q = 1; q <= n; q++) printf "%s ", $(K[q] + 1) }')
    got=$(tail -c +$(($(wc -c <"$T/m.npy") - 12 * 576 + r * 576 + 1)) "$T/m.npy" | head -c 576 | od -v -A n -t x4 | tr -s ' \n' '\n' | grep -v '^$' | tr '\n' ' ')
    [ "$want" = "$got" ] || bad=$((bad + 1))
done
check "masked rows == the full rows' kept columns (bits)" test "$bad" -eq 0

# mask of other dims: nz 7
cp "$T/mask.nii" "$T/mask7.nii"
printf '\x07\x00' | dd of="$T/mask7.nii" bs=1 seek=46 conv=notrunc 2>/dev/null
truncate -s $((352 + 2 * 630)) "$T/mask7.nii"
run m7 --bids "$D" --mask "$T/mask7.nii" -o "$T/m7.npy"
check "mask of other dims: exit 3" test "$rc" -eq 3
check "names the mask and both dims" grep -qF "mask '$T/mask7.nii' is 10 x 9 x 7 but the runs are 10 x 9 x 8" "$T/m7.err"
check "one error line" test "$(grep -c "error:" "$T/m7.err")" -eq 1
check "no output" test ! -e "$T/m7.npy" -a ! -e "$T/m7.labels.tsv" -a ! -e "$T/m7.json"
# mask in another space: srow_x[3] (offset 292) set to 0
cp "$T/mask.nii" "$T/maskx.nii"
printf '\x00\x00\x00\x00' | dd of="$T/maskx.nii" bs=1 seek=292 conv=notrunc 2>/dev/null
run mx --bids "$D" --mask "$T/maskx.nii" -o "$T/mx.npy"
check "mask in another space: exit 3" test "$rc" -eq 3
check "names both files" bash -c "grep -qF \"'$T/maskx.nii'\" '$T/mx.err' && grep -q '_bold.nii.gz' '$T/mx.err'"
check "no output" test ! -e "$T/mx.npy"
run mn --bids "$D" --mask "$T/nomask.nii.gz" -o "$T/mn.npy"
check "missing mask: exit 3" test "$rc" -eq 3
check "names it" grep -qF "nomask.nii.gz" "$T/mn.err"

# ---- bad data ----------------------------------------------------------------------------------
# a missing BOLD file (the table from the full dataset, the folder without one run)
mkdir -p "$T/ds2" && cp -r "$D"/sub-* "$T/ds2/"
rm "$T/ds2/$(tcol 6 11)"
run nb --bids "$T/ds2" --trials "$T/trials.tsv" -o "$T/nb.npy"
check "missing BOLD: exit 3" test "$rc" -eq 3
check "names the file" grep -qF "$(basename "$(tcol 6 11)")" "$T/nb.err"
check "no output" test ! -e "$T/nb.npy" -a ! -e "$T/nb.labels.tsv" -a ! -e "$T/nb.json"
check "no temporary" bash -c "! ls '$T' | grep -q 'nb.npy.tmp'"
# a trials.tsv naming a volume outside its run
awk -F'\t' 'BEGIN { OFS = "\t" } NR == 4 { $10 = 99 } { print }' "$T/trials.tsv" >"$T/bad.tsv"
run bv --bids "$D" --trials "$T/bad.tsv" -o "$T/bv.npy"
check "volume outside its run: exit 3" test "$rc" -eq 3
check "names the table, the volume and the run" bash -c "grep -qF '$T/bad.tsv' '$T/bv.err' && grep -q 'volume 99 is outside' '$T/bv.err' && grep -q '24 volumes' '$T/bv.err'"
check "no output" test ! -e "$T/bv.npy"
# an unwritable output
run uw --bids "$D" -o "$T/no/such/dir/v.npy"
check "unwritable output: exit 1" test "$rc" -eq 1
check "names it" grep -qF "$T/no/such/dir/v.npy" "$T/uw.err"

finish embed-voxels
