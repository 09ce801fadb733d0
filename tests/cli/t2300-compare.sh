#!/bin/bash
# latentrsa compare: two small RDMs written here as .npy with printf (float32 bit patterns of small
# integers), values checked against scipy 1.13 (written out here, so no Python is needed): r, the
# parametric p, the exact Mantel p (every permutation, computed with scipy in a loop), strata,
# --null-out (the null values reproduce the p-value).
# JSON keys always present, null handling (--permutations 0, --bootstrap 0), join by stimulus (B
# permuted relative to A gives the same output), and bad input with exit codes.
# Needs LRSA_BIN and LRSA_TMP. Ends with "compare: N passed, M failed".
set -eu
. "$(dirname "$0")/lib.sh" t2300

# f32 V: the 4 little-endian bytes of float32 V (V an integer 0 .. 2^24, or nan / inf)
f32() {
    local v=$1 bits e
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
    printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $((bits & 255)) $((bits >> 8 & 255)) \
        $((bits >> 16 & 255)) $((bits >> 24 & 255)))"
}
# npy FILE ROWS COLS V...: a float32 C-order .npy as np.save writes it (header padded to 64 bytes)
npy() {
    local f=$1 r=$2 c=$3 dict pad
    shift 3
    dict="{'descr': '<f4', 'fortran_order': False, 'shape': ($r, $c), }"
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
# labels FILE STIMULUS:SOURCE...: a labels sidecar
labels() {
    local f=$1
    shift
    printf 'stimulus\tsource\tsubject\tsession\trun\ttrial\n' >"$f"
    for s in "$@"; do printf '%s\t%s\tn/a\tn/a\tn/a\tn/a\n' "${s%%:*}" "${s#*:}" >>"$f"; done
}
# field FILE KEY: the value of KEY in cJSON's output ("key":<tab>value,)
field() { awk -v k="\"$2\":" '{ sub(/^[ \t]+/, ""); sub(/,$/, "") } index($0, k) == 1 { sub(/^[^\t]*\t/, ""); print; exit }' "$1"; }
# near A B TOL
near() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && d <= t) }'; }
run() { # run NAME ARGS...: stdout to $T/NAME.out, stderr to $T/NAME.err, exit status to rc
    local name=$1
    shift
    rc=0
    "$BIN" compare "$@" >"$T/$name.out" 2>"$T/$name.err" || rc=$?
}

# A: |x_i - x_j| for x = 0 1 3 6 10; B: |y_i - y_j| for y = 0 2 3 7 8 with two entries changed.
# Upper triangles: A = 1 3 6 10 2 5 9 3 7 4, B = 2 3 7 3 1 9 6 4 5 1.
npy "$T/A.npy" 5 5 0 1 3 6 10  1 0 2 5 9  3 2 0 3 7  6 5 3 0 4  10 9 7 4 0
npy "$T/B.npy" 5 5 0 2 3 7 3  2 0 1 9 6  3 1 0 4 5  7 9 4 0 1  3 6 5 1 0
labels "$T/A.labels.tsv" a.jpg:COCO b.jpg:COCO c.jpg:Scene d.jpg:Scene e.jpg:Scene
labels "$T/B.labels.tsv" a.jpg:COCO b.jpg:COCO c.jpg:Scene d.jpg:Scene e.jpg:Scene
# Bp: B with its stimuli in the order e c a d b (rows and columns), sidecar to match.
order="4 2 0 3 1"
vals=()
for i in $order; do
    for j in $order; do
        vals+=("$(awk -v i="$i" -v j="$j" 'BEGIN { split("0 2 3 7 3 2 0 1 9 6 3 1 0 4 5 7 9 4 0 1 3 6 5 1 0", b, " "); print b[i * 5 + j + 1] }')")
    done
done
npy "$T/Bp.npy" 5 5 "${vals[@]}"
labels "$T/Bp.labels.tsv" e.jpg:Scene c.jpg:Scene a.jpg:COCO d.jpg:Scene b.jpg:COCO

# ---- -h ------------------------------------------------------------------------------------
run help -h
check "-h exits 0" test "$rc" -eq 0
check "-h synopsis" grep -qF 'usage: latentrsa compare A.npy B.npy [--method pearson|spearman|kendall-tau-a|cosine] [--permutations P|all] [--bootstrap B] [--strata source] [--alternative greater|two-sided] [--seed S] [--json] [--null-out NULL.npy]' "$T/help.out"

# ---- the values (scipy 1.13: spearmanr r 0.5351706981826699, p greater 0.05545914433410292;
# pearsonr r 0.4229129058259507, p greater 0.11167039853023608; exact Mantel: spearman 8/120,
# pearson 16/120, two-sided pearson 24/120; strata {a,b} {c,d,e}: spearman 4 of 12) ---------------
run sp "$T/A.npy" "$T/B.npy" --permutations all --json
check "spearman exits 0" test "$rc" -eq 0
# (stderr: only the note that some resamples of 5 stimuli have an undefined r)
check "spearman: no error" sh -c "! grep -q error '$T/sp.err'"
check "spearman: undefined resamples counted" grep -q "bootstrap resamples had an undefined r" "$T/sp.err"
check "method" test "$(field "$T/sp.out" method)" = '"spearman"'
check "alternative" test "$(field "$T/sp.out" alternative)" = '"greater"'
check "n 5" test "$(field "$T/sp.out" n)" = 5
check "pairs 10" test "$(field "$T/sp.out" pairs)" = 10
check "spearman r" near "$(field "$T/sp.out" r)" 0.5351706981826699 1e-12
check "spearman p_parametric" near "$(field "$T/sp.out" p_parametric)" 0.05545914433410292 1e-12
check "exact p 8/120" near "$(field "$T/sp.out" p_permutation)" 0.0666666666666667 1e-12
check "permutations 120" test "$(field "$T/sp.out" permutations)" = 120
check "strata null" test "$(field "$T/sp.out" strata)" = null
check "ci95 is a pair" grep -qE '"ci95":[[:space:]]+\[-?[0-9.e-]+, -?[0-9.e-]+\]' "$T/sp.out"
check "12 keys" test "$(grep -cE '^[[:space:]]*"[a-z_0-9]+":' "$T/sp.out")" -eq 12
for k in method alternative n pairs r p_parametric p_permutation permutations strata ci95 bootstrap seed; do
    check "key $k" grep -q "\"$k\":" "$T/sp.out"
done
run pe "$T/A.npy" "$T/B.npy" --method pearson --permutations all --json
check "pearson r" near "$(field "$T/pe.out" r)" 0.4229129058259507 1e-12
check "pearson p_parametric" near "$(field "$T/pe.out" p_parametric)" 0.11167039853023608 1e-12
check "pearson exact p 16/120" near "$(field "$T/pe.out" p_permutation)" 0.1333333333333333 1e-12
run pe2 "$T/A.npy" "$T/B.npy" --method pearson --permutations all --alternative two-sided --json
check "two-sided exact p 24/120" near "$(field "$T/pe2.out" p_permutation)" 0.2 1e-12
check "two-sided parametric" near "$(field "$T/pe2.out" p_parametric)" 0.22334079706047216 1e-12
check "alternative two-sided" test "$(field "$T/pe2.out" alternative)" = '"two-sided"'
run st "$T/A.npy" "$T/B.npy" --permutations all --strata source --json
check "strata exits 0" test "$rc" -eq 0
check "strata source" test "$(field "$T/st.out" strata)" = '"source"'
check "strata: 2! 3! = 12 permutations" test "$(field "$T/st.out" permutations)" = 12
check "strata: exact p 4/12" near "$(field "$T/st.out" p_permutation)" 0.3333333333333333 1e-12

# ---- null handling ---------------------------------------------------------------------------
run off "$T/A.npy" "$T/B.npy" --permutations 0 --bootstrap 0 --json
check "off exits 0" test "$rc" -eq 0
check "off: p_permutation null" test "$(field "$T/off.out" p_permutation)" = null
check "off: permutations null" test "$(field "$T/off.out" permutations)" = null
check "off: ci95 null" test "$(field "$T/off.out" ci95)" = null
check "off: bootstrap null" test "$(field "$T/off.out" bootstrap)" = null
check "off: still 12 keys" test "$(grep -cE '^[[:space:]]*"[a-z_0-9]+":' "$T/off.out")" -eq 12
run ken "$T/A.npy" "$T/B.npy" --method kendall-tau-a --json
check "kendall exits 0" test "$rc" -eq 0
check "kendall tau-a 14/45" near "$(field "$T/ken.out" r)" 0.3111111111111111 1e-12
check "kendall: no permutation test" test "$(field "$T/ken.out" p_permutation)" = null
check "kendall: no parametric p" test "$(field "$T/ken.out" p_parametric)" = null
check "kendall: no default bootstrap" test "$(field "$T/ken.out" ci95)" = null
run ken2 "$T/A.npy" "$T/B.npy" --method kendall-tau-a --bootstrap 50 --permutations 99 --json
check "kendall --bootstrap 50 gives a ci" grep -qE '"ci95":[[:space:]]+\[' "$T/ken2.out"
check "kendall --permutations warns" grep -q "no permutation test" "$T/ken2.err"
run cos "$T/A.npy" "$T/B.npy" --method cosine --permutations 99 --seed 3 --json
check "cosine exits 0" test "$rc" -eq 0
check "cosine: no parametric p" test "$(field "$T/cos.out" p_parametric)" = null
check "cosine: 99 permutations" test "$(field "$T/cos.out" permutations)" = 99
check "seed 3" test "$(field "$T/cos.out" seed)" = 3

# ---- human-readable summary ------------------------------------------------------------------
run human "$T/A.npy" "$T/B.npy" --permutations 199 --bootstrap 100
check "summary exits 0" test "$rc" -eq 0
for k in method alternative n pairs r p_parametric p_permutation permutations strata ci95; do
    check "summary line $k" grep -qE "^$k +" "$T/human.out"
done

# ---- join by stimulus: B permuted relative to A gives the same output --------------------------
run j1 "$T/A.npy" "$T/B.npy" --permutations 99 --bootstrap 50 --seed 7 --json
run j2 "$T/A.npy" "$T/Bp.npy" --permutations 99 --bootstrap 50 --seed 7 --json
check "joined exits 0" test "$rc" -eq 0
check "B permuted: identical output" cmp -s "$T/j1.out" "$T/j2.out"
run j3 "$T/A.npy" "$T/Bp.npy" --threads 1 --permutations 99 --bootstrap 50 --seed 7 --json
check "--threads 1: identical output" cmp -s "$T/j1.out" "$T/j3.out"
run j4 "$T/A.npy" "$T/B.npy" --permutations 99 --bootstrap 50 --seed 8 --json
check "another seed: another p or ci" sh -c "! cmp -s '$T/j1.out' '$T/j4.out'"

# ---- sidecars: none (by position, warned), one missing, different sets -----------------------
mkdir -p "$T/bare"
cp "$T/A.npy" "$T/B.npy" "$T/bare/"
run bare "$T/bare/A.npy" "$T/bare/B.npy" --permutations 0 --bootstrap 0 --json
check "no sidecars: exits 0" test "$rc" -eq 0
check "no sidecars: warns" grep -q "comparing rows by position" "$T/bare.err"
check "no sidecars: same r" test "$(field "$T/bare.out" r)" = "$(field "$T/off.out" r)"
run half "$T/A.npy" "$T/bare/B.npy"
check "one sidecar missing: exit 3" test "$rc" -eq 3
check "one sidecar missing: names it" grep -q "B.labels.tsv" "$T/half.err"
check "one line" test "$(wc -l <"$T/half.err")" -eq 1
labels "$T/C.labels.tsv" a.jpg:COCO b.jpg:COCO c.jpg:Scene d.jpg:Scene z.jpg:Scene
cp "$T/B.npy" "$T/C.npy"
run sets "$T/A.npy" "$T/C.npy"
check "different sets: exit 3" test "$rc" -eq 3
check "different sets: counts" grep -q "has 5 stimuli.*has 5.*4 in common" "$T/sets.err"
npy "$T/D3.npy" 3 3 0 1 2 1 0 3 2 3 0
labels "$T/D3.labels.tsv" a.jpg:COCO b.jpg:COCO c.jpg:Scene
run sets2 "$T/A.npy" "$T/D3.npy"
check "subset: exit 3" test "$rc" -eq 3
check "subset: counts" grep -q "has 5 stimuli.*has 3.*3 in common" "$T/sets2.err"
cp "$T/B.npy" "$T/E.npy"
labels "$T/E.labels.tsv" a.jpg:COCO b.jpg:COCO c.jpg:Scene d.jpg:Scene
run rows "$T/A.npy" "$T/E.npy"
check "sidecar with 4 rows for 5: exit 3" test "$rc" -eq 3
check "sidecar rows: names the file" grep -q "E" "$T/rows.err"

# ---- bad input -------------------------------------------------------------------------------
npy "$T/rect.npy" 5 4 0 1 2 3 1 0 1 2 2 1 0 1 3 2 1 0 4 3 2 1
run rect "$T/rect.npy" "$T/B.npy"
check "non-square: exit 3" test "$rc" -eq 3
check "non-square: message" grep -q "not a square RDM (5 x 4)" "$T/rect.err"
npy "$T/nan.npy" 5 5 0 1 3 6 10  1 0 2 5 9  3 2 0 nan 7  6 5 3 0 4  10 9 7 4 0
cp "$T/A.labels.tsv" "$T/nan.labels.tsv"
run nan "$T/nan.npy" "$T/B.npy"
check "NaN: exit 3" test "$rc" -eq 3
check "NaN: names file and place" grep -q "nan.npy' has a non-finite value.*(2, 3)" "$T/nan.err"
npy "$T/inf.npy" 5 5 inf 1 3 6 10  1 0 2 5 9  3 2 0 3 7  6 5 3 0 4  10 9 7 4 0
cp "$T/A.labels.tsv" "$T/inf.labels.tsv"
run inf "$T/A.npy" "$T/inf.npy"
check "Inf on the diagonal: exit 3" test "$rc" -eq 3
npy "$T/two.npy" 2 2 0 1 1 0
run two "$T/two.npy" "$T/two.npy"
check "N < 3: exit 3" test "$rc" -eq 3
check "N < 3: message" grep -q "at least 3" "$T/two.err"
npy "$T/flat.npy" 5 5 0 1 1 1 1  1 0 1 1 1  1 1 0 1 1  1 1 1 0 1  1 1 1 1 0
cp "$T/A.labels.tsv" "$T/flat.labels.tsv"
run flat "$T/A.npy" "$T/flat.npy"
check "zero variance: exit 3" test "$rc" -eq 3
check "zero variance: names the file" grep -q "flat.npy' is constant" "$T/flat.err"
nine=()
for i in 0 1 2 3 4 5 6 7 8; do for j in 0 1 2 3 4 5 6 7 8; do nine+=($((i > j ? i - j : j - i))); done; done
npy "$T/n9.npy" 9 9 "${nine[@]}"
run n9 "$T/n9.npy" "$T/n9.npy" --permutations all
check "--permutations all with N 9: exit 2" test "$rc" -eq 2
check "--permutations all: message" grep -q "at most 8" "$T/n9.err"
run n9ok "$T/n9.npy" "$T/n9.npy" --permutations 99 --bootstrap 20 --json
check "N 9 with 99 permutations: exit 0" test "$rc" -eq 0
check "identical RDMs: r 1" near "$(field "$T/n9ok.out" r)" 1 1e-12
check "identical RDMs: p 1/100" near "$(field "$T/n9ok.out" p_permutation)" 0.01 1e-12
run negp "$T/A.npy" "$T/B.npy" --permutations -1
check "negative permutations: exit 2" test "$rc" -eq 2
run negb "$T/A.npy" "$T/B.npy" --bootstrap -5
check "negative bootstrap: exit 2" test "$rc" -eq 2
run badm "$T/A.npy" "$T/B.npy" --method kendall
check "unknown method: exit 2" test "$rc" -eq 2
run bads "$T/A.npy" "$T/B.npy" --strata subject
check "--strata subject: exit 2" test "$rc" -eq 2
run bada "$T/A.npy" "$T/B.npy" --alternative less
check "--alternative less: exit 2" test "$rc" -eq 2
run missing "$T/A.npy" "$T/nope.npy"
check "missing file: non-zero" test "$rc" -ne 0
run one "$T/A.npy"
check "one argument: exit 2" test "$rc" -eq 2
run strb "$T/bare/A.npy" "$T/bare/B.npy" --strata source
check "--strata without sidecars: exit 3" test "$rc" -eq 3

# ---- linear CKA on embeddings (numpy: 0.7128872029794182) -------------------------------------
npy "$T/X.npy" 6 2 0 0 1 0 0 2 3 1 1 3 2 2
npy "$T/Y.npy" 6 2 1 0 2 1 0 1 4 0 1 2 3 3
run cka "$T/X.npy" "$T/Y.npy" --method cka-linear --permutations all --json
check "cka exits 0" test "$rc" -eq 0
check "cka r" near "$(field "$T/cka.out" r)" 0.7128872029794182 1e-9
check "cka pairs null" test "$(field "$T/cka.out" pairs)" = null
check "cka 720 permutations" test "$(field "$T/cka.out" permutations)" = 720
check "cka ci95 null" test "$(field "$T/cka.out" ci95)" = null
check "cka p_parametric null" test "$(field "$T/cka.out" p_parametric)" = null
run ckad "$T/X.npy" "$T/Y.npy" --method cka-linear-debiased --permutations 99 --json
check "debiased cka exits 0" test "$rc" -eq 0

# ---- --null-out: the P null values as a P x 1 float32 .npy, in permutation order ----------------
# nullvals FILE: the values, one per line (od prints float32 to about 8 digits)
nullvals() { od -v -A n -t f4 -j 128 "$1" | tr -s ' ' '\n' | grep -v '^$'; }
# exceed FILE R TWO: #{v >= R - 1e-6} (|.| when TWO is 1); distinct r values of these 5-stimulus
# RDMs lie much further apart than float32 rounding
exceed() { nullvals "$1" | awk -v r="$2" -v two="$3" '{ v = $1 + 0; if (two) { v = v < 0 ? -v : v; r = r < 0 ? -r : r } if (v >= r - 1e-6) c++ } END { print c + 0 }'; }
run nu "$T/A.npy" "$T/B.npy" --method pearson --permutations 199 --bootstrap 0 --seed 5 --json --null-out "$T/null.npy"
check "--null-out exits 0" test "$rc" -eq 0
check "--null-out: the file" test -s "$T/null.npy"
check "--null-out: shape (199, 1)" grep -aqF "{'descr': '<f4', 'fortran_order': False, 'shape': (199, 1), }" "$T/null.npy"
check "--null-out: 199 values" test "$(wc -c <"$T/null.npy")" -eq $((128 + 199 * 4))
check "--null-out: no sidecar" test ! -e "$T/null.labels.tsv"
check "--null-out: still 12 keys on stdout" test "$(grep -cE '^[[:space:]]*"[a-z_0-9]+":' "$T/nu.out")" -eq 12
c=$(exceed "$T/null.npy" "$(field "$T/nu.out" r)" 0)
check "--null-out: (1 + #{null >= r}) / 200 = p_permutation ($c)" near "$(field "$T/nu.out" p_permutation)" "$(awk -v c="$c" 'BEGIN { printf "%.17g", (1 + c) / 200 }')" 1e-12
check "--null-out: values in [-1, 1], not all equal" sh -c "nullvals() { od -v -A n -t f4 -j 128 \"\$1\" | tr -s ' ' '\n' | grep -v '^\$'; }; nullvals '$T/null.npy' | awk '\$1 < -1 || \$1 > 1 { bad = 1 } { s[\$1] = 1 } END { n = 0; for (k in s) n++; exit bad || n < 3 }'"
run nu1 "$T/A.npy" "$T/B.npy" --method pearson --permutations 199 --bootstrap 0 --seed 5 --json --null-out "$T/null1.npy" --threads 1
check "--null-out: --threads 1 gives the same bytes" cmp -s "$T/null.npy" "$T/null1.npy"
run nu2 "$T/A.npy" "$T/B.npy" --method pearson --alternative two-sided --permutations 199 --bootstrap 0 --seed 5 --json --null-out "$T/null2.npy"
check "--null-out two-sided: the same signed values" cmp -s "$T/null.npy" "$T/null2.npy"
check "--null-out two-sided: negative values kept" sh -c "od -v -A n -t f4 -j 128 '$T/null2.npy' | grep -q -- '-0\.[0-9]'"
c=$(exceed "$T/null2.npy" "$(field "$T/nu2.out" r)" 1)
check "--null-out two-sided: count of |null| reproduces p ($c)" near "$(field "$T/nu2.out" p_permutation)" "$(awk -v c="$c" 'BEGIN { printf "%.17g", (1 + c) / 200 }')" 1e-12
run nua "$T/A.npy" "$T/B.npy" --method spearman --permutations all --bootstrap 0 --json --null-out "$T/nulla.npy"
check "--null-out all: exits 0" test "$rc" -eq 0
check "--null-out all: 120 rows" grep -aqF "'shape': (120, 1)" "$T/nulla.npy"
check "--null-out all: the identity first" near "$(nullvals "$T/nulla.npy" | head -1)" "$(field "$T/nua.out" r)" 1e-6
check "--null-out all: 8 of 120 reach r" test "$(exceed "$T/nulla.npy" "$(field "$T/nua.out" r)" 0)" -eq 8
run nus "$T/A.npy" "$T/B.npy" --permutations all --strata source --bootstrap 0 --json --null-out "$T/nulls.npy"
check "--null-out all within strata: 12 rows" grep -aqF "'shape': (12, 1)" "$T/nulls.npy"
run nuc "$T/X.npy" "$T/Y.npy" --method cka-linear --permutations 99 --json --null-out "$T/nullc.npy"
check "--null-out cka: exits 0" test "$rc" -eq 0
check "--null-out cka: 99 rows" grep -aqF "'shape': (99, 1)" "$T/nullc.npy"
c=$(exceed "$T/nullc.npy" "$(field "$T/nuc.out" r)" 0)
check "--null-out cka: count reproduces p ($c)" near "$(field "$T/nuc.out" p_permutation)" "$(awk -v c="$c" 'BEGIN { printf "%.17g", (1 + c) / 100 }')" 1e-12
run nu0 "$T/A.npy" "$T/B.npy" --permutations 0 --null-out "$T/null0.npy"
check "--null-out with --permutations 0: exit 2" test "$rc" -eq 2
check "--null-out with --permutations 0: says why" grep -q "needs a permutation test" "$T/nu0.err"
check "--null-out with --permutations 0: no file" test ! -e "$T/null0.npy"
run nuk "$T/A.npy" "$T/B.npy" --method kendall-tau-a --null-out "$T/nullk.npy"
check "--null-out with kendall-tau-a: exit 2" test "$rc" -eq 2
check "--null-out with kendall-tau-a: no file" test ! -e "$T/nullk.npy"
run nuw "$T/A.npy" "$T/B.npy" --permutations 99 --json --null-out "$T/no/dir/null.npy"
check "--null-out unwritable: exit 1" test "$rc" -eq 1
check "--null-out unwritable: names it" grep -qF "$T/no/dir/null.npy" "$T/nuw.err"
check "--null-out unwritable: no result printed" test ! -s "$T/nuw.out"

finish compare
