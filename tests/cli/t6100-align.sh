#!/bin/bash
# latentrsa align: small trial-level fMRI and stimulus-level image matrices written here as .npy
# with printf (float32 bit patterns of small integers) plus their sidecars. Quarters (balance, only
# to a subject who saw the image, the seed), per-subject, average (values checked by hand), the
# join report (PREFIX.json = --json), the warning for stimuli without an image row, shuffling the
# rows of either input leaves every output byte the same, and bad input (exit status, one error
# line naming the file, nothing left behind).
# Needs LRSA_BIN and LRSA_TMP. Ends with "align: N passed, M failed".
set -eu
. "$(dirname "$0")/lib.sh" t6100

# f32 V: the 4 little-endian bytes of float32 V (V an integer 0 .. 2^24, -V, nan or inf)
f32() {
    local v=$1 bits e sign=0
    case $v in -*) sign=1 v=${v#-} ;; esac
    case $v in
    nan) bits=$((0x7fc00000)) ;;
    inf) bits=$((0x7f800000)) ;;
    0) bits=0 ;;
    *)
        e=0
        while [ $((v >> (e + 1))) -gt 0 ]; do e=$((e + 1)); done
        bits=$(((127 + e) << 23 | ((v - (1 << e)) << (23 - e))))
        ;;
    esac
    bits=$((bits | sign << 31))
    printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $((bits & 255)) $((bits >> 8 & 255)) \
        $((bits >> 16 & 255)) $((bits >> 24 & 255)))"
}
# npy FILE SHAPE V...: a float32 C-order .npy as np.save writes it; SHAPE as numpy prints it ("3, 2")
npy() {
    local f=$1 shape=$2 dict pad
    shift 2
    dict="{'descr': '<f4', 'fortran_order': False, 'shape': ($shape), }"
    pad=$((64 - (10 + ${#dict} + 1) % 64))
    [ "$pad" -eq 64 ] && pad=0
    {
        printf '\x93NUMPY\x01\x00'
        local hl=$((${#dict} + pad + 1))
        printf "$(printf '\\x%02x\\x%02x' $((hl & 255)) $((hl >> 8)))"
        printf '%s%*s\n' "$dict" "$pad" ''
        for v in "$@"; do f32 "$v"; done
    } >"$f"
}
# fmri STEM ROW...: STEM.npy and STEM.labels.tsv from rows "stimulus subject session run trial v1,v2,v3"
fmri() {
    local stem=$1 vals=() n=0
    shift
    printf 'stimulus\tsource\tsubject\tsession\trun\ttrial\n' >"$stem.labels.tsv"
    for row in "$@"; do
        set -- $row
        printf '%s\tCOCO\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >>"$stem.labels.tsv"
        vals+=(${6//,/ })
        n=$((n + 1))
    done
    npy "$stem.npy" "$n, 3" "${vals[@]}"
}
# images STEM ROW...: rows "stimulus v1,v2" (subject n/a)
images() {
    local stem=$1 vals=() n=0
    shift
    printf 'stimulus\tsource\tsubject\tsession\trun\ttrial\n' >"$stem.labels.tsv"
    for row in "$@"; do
        set -- $row
        printf '%s\tScene\tn/a\tn/a\tn/a\tn/a\n' "$1" >>"$stem.labels.tsv"
        vals+=(${2//,/ })
        n=$((n + 1))
    done
    npy "$stem.npy" "$n, 2" "${vals[@]}"
}
# values FILE: the float32 values of an output (header 128 bytes), one a line
values() { od -A n -v -t f4 -j 128 "$1" | tr -s ' ' '\n' | sed '/^$/d'; }
# field FILE KEY: the value of KEY in cJSON's output ("key":<tab>value,)
field() { awk -v k="\"$2\":" '{ sub(/^[ \t]+/, ""); sub(/,$/, "") } index($0, k) == 1 { sub(/^[^\t]*\t/, ""); print; exit }' "$1"; }
run() { # run NAME ARGS...: stdout to $T/NAME.out, stderr to $T/NAME.err, exit status to rc
    local name=$1
    shift
    rc=0
    "$BIN" align "$@" >"$T/$name.out" 2>"$T/$name.err" || rc=$?
}

# ---- -h ------------------------------------------------------------------------------------------
run help -h
check "-h exits 0" test "$rc" -eq 0
check "-h synopsis" grep -qxF \
    'usage: latentrsa align FMRI.npy IMAGES.npy --assign quarters|per-subject|average [--seed S] -o PREFIX [--json]' \
    "$T/help.out"
check "-h lists --assign" grep -qF -- "--assign A" "$T/help.out"

# ---- the data --------------------------------------------------------------------------------------
# 4 subjects saw 8 stimuli s1..s8 once; CSI1 saw s1 twice more (values 3 and 5 -> mean of 1,3,5 = 3);
# CSI2 saw z.jpg (no image). Images: s1..s8 plus two never shown. Rows: stimulus k, subject j
# have values (10k + j, 100 + j, k).
ROWS=()
t=0
for k in 1 2 3 4 5 6 7 8; do
    for j in 1 2 3 4; do
        t=$((t + 1))
        ROWS+=("s$k.jpg CSI$j 01 1 $t $((10 * k + j)),$((100 + j)),$k")
    done
done
ROWS+=("s1.jpg CSI1 02 1 1 13,103,3" "s1.jpg CSI1 02 2 1 15,105,5" "z.jpg CSI2 01 2 1 7,7,7")
IMGS=()
for k in 1 2 3 4 5 6 7 8; do IMGS+=("s$k.jpg $k,-$k"); done
IMGS+=("never1.jpg 1,1" "never2.jpg 2,2")
mkdir -p "$T/a" "$T/b" "$T/c"
fmri "$T/a/f" "${ROWS[@]}"
images "$T/a/i" "${IMGS[@]}"
# the same rows in two other orders (reversed; every third first)
REV=()
for ((n = ${#ROWS[@]} - 1; n >= 0; n--)); do REV+=("${ROWS[$n]}"); done
MIX=()
for s in 0 1 2; do for ((n = s; n < ${#ROWS[@]}; n += 3)); do MIX+=("${ROWS[$n]}"); done; done
IREV=()
for ((n = ${#IMGS[@]} - 1; n >= 0; n--)); do IREV+=("${IMGS[$n]}"); done
fmri "$T/b/f" "${REV[@]}"
images "$T/b/i" "${IREV[@]}"
fmri "$T/c/f" "${MIX[@]}"
cp "$T/a/i.npy" "$T/c/i.npy"
cp "$T/a/i.labels.tsv" "$T/c/i.labels.tsv"

# ---- quarters --------------------------------------------------------------------------------------
rc=0
(cd "$T/a" && "$BIN" align f.npy i.npy --assign quarters --seed 3 -o q >../q.out 2>../q.err) || rc=$?
check "quarters exits 0" test "$rc" -eq 0
for f in q.fmri.npy q.fmri.labels.tsv q.images.npy q.images.labels.tsv q.json; do
    check "quarters wrote $f" test -f "$T/a/$f"
done
check "nothing on stdout without --json" test ! -s "$T/q.out"
check "fmri shape (8, 3)" grep -qF "'shape': (8, 3)" "$T/a/q.fmri.npy"
check "images shape (8, 2): its own column count" grep -qF "'shape': (8, 2)" "$T/a/q.images.npy"
check "rows in stimulus order" test "$(cut -f1 "$T/a/q.fmri.labels.tsv" | tail -n +2 | tr '\n' ' ')" = \
    "s1.jpg s2.jpg s3.jpg s4.jpg s5.jpg s6.jpg s7.jpg s8.jpg "
check "image rows: the same stimuli" cmp -s <(cut -f1 "$T/a/q.fmri.labels.tsv") <(cut -f1 "$T/a/q.images.labels.tsv")
check "image labels verbatim (subject n/a)" test "$(sed -n 2p "$T/a/q.images.labels.tsv")" = "$(printf 's1.jpg\tScene\tn/a\tn/a\tn/a\tn/a')"
check "equal quarters: each subject twice" test \
    "$(cut -f3 "$T/a/q.fmri.labels.tsv" | tail -n +2 | sort | uniq -c | awk '{ print $1 }' | tr '\n' ' ')" = "2 2 2 2 "
# each row is its subject's trial: (10 k + j, 100 + j, k) for stimulus k, subject j; CSI1's s1 is
# the mean of three trials, (13, 103, 3)
rows_ok() {
    paste <(tail -n +2 "$1" | cut -f1,3) <(values "$2" | paste - - -) | awk '
        { k = substr($1, 2) + 0; j = substr($2, 4) + 0; off = (k == 1 && j == 1) ? 2 : 0
          if ($3 != 10 * k + j + off || $4 != 100 + j + off || $5 != k + off) bad++; n++ }
        END { exit !(n == 8 && bad == 0) }'
}
check "each row is its subject's trial (or mean)" rows_ok "$T/a/q.fmri.labels.tsv" "$T/a/q.fmri.npy"
check "image values are the image rows" test "$(values "$T/a/q.images.npy" | head -4 | tr '\n' ' ')" = "1 -1 2 -2 "
J=$T/a/q.json
check "json assign" test "$(field "$J" assign)" = '"quarters"'
check "json seed" test "$(field "$J" seed)" = 3
check "json fmri_rows 35" test "$(field "$J" fmri_rows)" = 35
check "json image_rows 10" test "$(field "$J" image_rows)" = 10
check "json subjects" test "$(field "$J" subjects)" = '["CSI1", "CSI2", "CSI3", "CSI4"]'
check "json stimuli_fmri 9" test "$(field "$J" stimuli_fmri)" = 9
check "json stimuli_images 10" test "$(field "$J" stimuli_images)" = 10
check "json stimuli_both 8" test "$(field "$J" stimuli_both)" = 8
check "json only_fmri lists z.jpg" test "$(field "$J" only_fmri)" = '["z.jpg"]'
check "json only_fmri_count 1" test "$(field "$J" only_fmri_count)" = 1
check "json only_images_count 2" test "$(field "$J" only_images_count)" = 2
check "json rows_out 8" test "$(field "$J" rows_out)" = 8
check "json outputs" test "$(field "$J" outputs)" = '["q.fmri.npy", "q.images.npy"]'
for k in assign seed fmri_rows image_rows subjects stimuli_fmri stimuli_images stimuli_both only_fmri \
    only_fmri_count only_images_count rows_out averaged_rows trials_used per_subject outputs; do
    check "json key $k" grep -q "\"$k\":" "$J"
done
check "json per_subject 2 each" test "$(grep -cE '"CSI[1-4]":[[:space:]]+2$|"CSI[1-4]":[[:space:]]+2,' "$J")" -eq 4
check "warning names z.jpg" grep -qF "warning: 1 stimulus shown in 'f.npy' has no image row in 'i.npy' and is left out: z.jpg" "$T/q.err"
check "summary on stderr" grep -qF "8 stimuli aligned (quarters, seed 3)" "$T/q.err"

# --json: the same object on stdout; -q: nothing on stderr
rc=0
(cd "$T/a" && "$BIN" align f.npy i.npy --assign quarters --seed 3 -o qj --json -q >../qj.out 2>../qj.err) || rc=$?
check "--json exits 0" test "$rc" -eq 0
check "--json prints PREFIX.json (but its outputs)" cmp -s <(grep -v '"outputs"' "$T/qj.out") <(grep -v '"outputs"' "$J")
check "--json = qj.json" cmp -s "$T/qj.out" "$T/a/qj.json"
check "-q: nothing on stderr" test ! -s "$T/qj.err"
check "the same seed: the same bytes" cmp -s "$T/a/q.fmri.npy" "$T/a/qj.fmri.npy"

# shuffled inputs: every output byte the same (JSON too: same relative names)
for d in b c; do
    rc=0
    (cd "$T/$d" && "$BIN" align f.npy i.npy --assign quarters --seed 3 -o q -q) || rc=$?
    check "shuffled ($d) exits 0" test "$rc" -eq 0
    for f in q.fmri.npy q.fmri.labels.tsv q.images.npy q.images.labels.tsv q.json; do
        check "shuffled ($d): $f identical" cmp -s "$T/a/$f" "$T/$d/$f"
    done
done
# another seed: another split, the same image side
"$BIN" align "$T/a/f.npy" "$T/a/i.npy" --assign quarters --seed 4 -o "$T/a/q4" -q
check "--seed 4: another assignment" sh -c "! cmp -s '$T/a/q.fmri.labels.tsv' '$T/a/q4.fmri.labels.tsv'"
check "--seed 4: the same images" cmp -s "$T/a/q.images.npy" "$T/a/q4.images.npy"
check "--seed=4 form" sh -c "'$BIN' align '$T/a/f.npy' '$T/a/i.npy' --assign=quarters --seed=4 --output '$T/a/q4b' -q && cmp -s '$T/a/q4.fmri.npy' '$T/a/q4b.fmri.npy'"

# only the subject who saw it: CSI4 saw only s8 (the others everything)
PART=()
for r in "${ROWS[@]}"; do case $r in *" CSI4 "*) ;; *) PART+=("$r") ;; esac; done
PART+=("s8.jpg CSI4 01 1 99 84,104,8")
mkdir -p "$T/p"
fmri "$T/p/f" "${PART[@]}"
"$BIN" align "$T/p/f.npy" "$T/a/i.npy" --assign quarters -o "$T/p/q" -q
csi4=$(awk -F'\t' '$3 == "CSI4" { print $1 }' "$T/p/q.fmri.labels.tsv" | tr '\n' ' ')
check "CSI4 gets at most s8 (got '$csi4')" test "$csi4" = "s8.jpg " -o -z "$csi4"
check "the others share the rest (2 or 3 each)" test \
    "$(cut -f3 "$T/p/q.fmri.labels.tsv" | tail -n +2 | sort | uniq -c | awk '$2 != "CSI4" { print ($1 >= 2 && $1 <= 3) }' | tr -d '\n')" = 111

# ---- per-subject ------------------------------------------------------------------------------------
run ps "$T/a/f.npy" "$T/a/i.npy" --assign per-subject -o "$T/a/ps"
check "per-subject exits 0" test "$rc" -eq 0
for j in 1 2 3 4; do
    check "per-subject CSI$j pair" test -f "$T/a/ps.CSI$j.fmri.npy" -a -f "$T/a/ps.CSI$j.images.npy" \
        -a -f "$T/a/ps.CSI$j.fmri.labels.tsv" -a -f "$T/a/ps.CSI$j.images.labels.tsv"
done
check "per-subject: no combined pair" test ! -e "$T/a/ps.fmri.npy"
check "per-subject: CSI1 has 8 rows" grep -qF "'shape': (8, 3)" "$T/a/ps.CSI1.fmri.npy"
check "per-subject: CSI1 s1 = mean of 11, 13, 15" test "$(values "$T/a/ps.CSI1.fmri.npy" | head -3 | tr '\n' ' ')" = "13 103 3 "
check "per-subject: CSI1 s1 labels (a mean)" test "$(sed -n 2p "$T/a/ps.CSI1.fmri.labels.tsv")" = "$(printf 's1.jpg\tCOCO\tCSI1\tn/a\tn/a\tn/a')"
check "per-subject: CSI2 s1 labels (one trial)" test "$(sed -n 2p "$T/a/ps.CSI2.fmri.labels.tsv")" = "$(printf 's1.jpg\tCOCO\tCSI2\t01\t1\t2')"
check "per-subject: json outputs" test "$(field "$T/a/ps.json" outputs | tr -cd ',' | wc -c)" -eq 7
check "per-subject: rows_out 32" test "$(field "$T/a/ps.json" rows_out)" = 32
check "per-subject: averaged_rows 1" test "$(field "$T/a/ps.json" averaged_rows)" = 1
check "per-subject: trials_used 34" test "$(field "$T/a/ps.json" trials_used)" = 34

# ---- average ----------------------------------------------------------------------------------------
run avg "$T/a/f.npy" "$T/a/i.npy" --assign average -o "$T/a/avg" --json
check "average exits 0" test "$rc" -eq 0
# s1: CSI1's mean 13 (of 11, 13, 15), then (13 + 12 + 13 + 14) / 4 = 13; column 2: (103 + 102 + 103 + 104) / 4
# = 103; column 3: (3 + 1 + 1 + 1) / 4 = 1.5 (a mean over all 6 trials would give 2)
check "average: s1 = mean of subject means" test "$(values "$T/a/avg.fmri.npy" | head -3 | tr '\n' ' ')" = "13 103 1.5 "
check "average: s2" test "$(values "$T/a/avg.fmri.npy" | sed -n '4,6p' | tr '\n' ' ')" = "22.5 102.5 2 "
check "average: subject n/a" test "$(cut -f3 "$T/a/avg.fmri.labels.tsv" | sort -u | tr '\n' ' ')" = "n/a subject "
check "average: --json on stdout" test "$(field "$T/avg.out" assign)" = '"average"'
check "average: per_subject counts stimuli" grep -qE '"CSI2":[[:space:]]+8' "$T/avg.out"

# ---- bad input: exit status, one error line, nothing on stdout, no output, no temporary -------------
mkdir -p "$T/bad"
cp "$T/a/f.npy" "$T/bad/nolab.npy"
cp "$T/a/f.npy" "$T/bad/short.npy"
head -5 "$T/a/f.labels.tsv" >"$T/bad/short.labels.tsv"
fmri "$T/bad/fsub" "s1.jpg CSI1 01 1 1 1,2,3"
cp "$T/bad/fsub.npy" "$T/bad/isub.npy"
cut -f1-6 "$T/bad/fsub.labels.tsv" >"$T/bad/isub.labels.tsv"
images "$T/bad/dup" "s1.jpg 1,2" "s2.jpg 3,4" "s1.jpg 5,6"
images "$T/bad/other" "q.jpg 1,2" "r.jpg 3,4"
fmri "$T/bad/nan" "s1.jpg CSI1 01 1 1 1,nan,3" "s2.jpg CSI1 01 1 2 1,2,3"
fmri "$T/bad/nanunused" "s1.jpg CSI1 01 1 1 1,2,3" "zz.jpg CSI1 01 1 2 1,nan,3"
images "$T/bad/iinf" "s1.jpg 1,-inf" "s2.jpg 3,4"
npy "$T/bad/vec.npy" "4," 1 2 3 4
cp "$T/bad/isub.labels.tsv" "$T/bad/vec.labels.tsv"
fmri "$T/bad/nosubj" "s1.jpg n/a 01 1 1 1,2,3"
expect_fail() { # expect_fail NAME STATUS NEEDLE ARGS...
    local name=$1 status=$2 needle=$3
    shift 3
    rm -f "$T/bad/out."*
    rc=0
    "$BIN" align "$@" >"$T/bad.out" 2>"$T/bad.err" || rc=$?
    check "$name: exit $status (got $rc)" test "$rc" -eq "$status"
    check "$name: one error line" test "$(grep -c 'error:' "$T/bad.err")" -eq 1
    check "$name: message mentions '$needle'" grep -qF -- "$needle" "$T/bad.err"
    check "$name: nothing on stdout" test ! -s "$T/bad.out"
    check "$name: no output, no temporary" test -z "$(find "$T/bad" -name 'out.*')"
}
B=$T/bad
expect_fail "missing sidecar" 3 "'$B/nolab.npy' has no labels sidecar '$B/nolab.labels.tsv'" \
    "$B/nolab.npy" "$T/a/i.npy" --assign quarters -o "$B/out"
expect_fail "sidecar row count" 3 "'$B/short.npy' has 35 rows but its labels '$B/short.labels.tsv' have 4" \
    "$B/short.npy" "$T/a/i.npy" --assign quarters -o "$B/out"
expect_fail "image side with a subject" 3 "'$B/isub.npy': row 0 (stimulus 's1.jpg') has subject 'CSI1'" \
    "$T/a/f.npy" "$B/isub.npy" --assign average -o "$B/out"
expect_fail "image stimulus twice" 3 "'$B/dup.npy': stimulus 's1.jpg' appears twice (rows 0 and 2)" \
    "$T/a/f.npy" "$B/dup.npy" --assign quarters -o "$B/out"
expect_fail "empty intersection" 3 "no stimulus in common between '$T/a/f.npy' and '$B/other.npy'" \
    "$T/a/f.npy" "$B/other.npy" --assign quarters -o "$B/out"
expect_fail "NaN in a used row" 3 "'$B/nan.npy': row 0 (stimulus 's1.jpg', subject CSI1) column 1 is NaN" \
    "$B/nan.npy" "$T/a/i.npy" --assign quarters -o "$B/out"
expect_fail "Inf in an image row (after the fMRI file)" 3 "'$B/iinf.npy': row 0 (stimulus 's1.jpg') column 1 is -Inf" \
    "$T/a/f.npy" "$B/iinf.npy" --assign quarters -o "$B/out"
expect_fail "1-d input" 3 "'$B/vec.npy': expected a 2-d matrix (rows x columns), got 1-d" \
    "$B/vec.npy" "$T/a/i.npy" --assign quarters -o "$B/out"
expect_fail "fMRI row without a subject" 3 "'$B/nosubj.npy': row 0 (stimulus 's1.jpg') has no subject" \
    "$B/nosubj.npy" "$T/a/i.npy" --assign average -o "$B/out"
expect_fail "missing input" 3 "$B/missing.npy" "$B/missing.npy" "$T/a/i.npy" --assign quarters -o "$B/out"
expect_fail "unknown --assign" 2 "unknown --assign 'halves'" "$T/a/f.npy" "$T/a/i.npy" --assign halves -o "$B/out"
expect_fail "missing --assign" 2 "missing --assign" "$T/a/f.npy" "$T/a/i.npy" -o "$B/out"
expect_fail "missing -o" 2 "missing -o PREFIX" "$T/a/f.npy" "$T/a/i.npy" --assign quarters
expect_fail "negative seed" 2 "--seed needs S >= 0, got -1" "$T/a/f.npy" "$T/a/i.npy" --assign quarters --seed -1 -o "$B/out"
expect_fail "one input" 2 "" "$T/a/f.npy" --assign quarters -o "$B/out"
expect_fail "output dir missing" 1 "$B/nodir/out.fmri.npy" "$T/a/f.npy" "$T/a/i.npy" --assign quarters -o "$B/nodir/out"
check "output dir missing: no directory created" test ! -e "$B/nodir"
run unused "$B/nanunused.npy" "$T/a/i.npy" --assign quarters -o "$B/unused" -q
check "NaN in an unused row (no image): exit 0" test "$rc" -eq 0

finish align
