#!/bin/bash
# latentrsa run end to end on a synthetic BOLD5000-shaped dataset with a planted signal, at the CI
# profile (tiny random ViT, 64x64 square renders, a two-layer autoencoder for 2 epochs, 40
# stimuli): the default preset finds the signal, the paper preset runs and its lag sweep shows the
# signal at later lags, caching reuses unchanged stages and reruns only what an option change
# touches, --dry-run writes nothing, --config, and the bad inputs of issue 7.
# Ends with "run: N passed, M failed".
set -u
. "$(dirname "$0")/lib.sh" t7200
D=$T/data
"$BIN" synth -o "$D" --subjects 4 --runs 2 --trials 23 --image-size 64 --seed 1 -q || { echo "synth failed"; exit 1; }
CI=(--size 64 --canvas square --channels 8,16 --epochs 2 --batch 32 --random-vit tiny --permutations 999
    --bootstrap 199)
# Numbers out of results.json without Python or jq: the key's first number after it.
num() { tr -d '\n\t ' <"$1" | grep -o "\"$2\":{[^}]*\"r\":[-0-9.e]*" | head -1 | sed 's/.*"r"://'; }
pperm() { tr -d '\n\t ' <"$1" | grep -o "\"$2\":{[^}]*\"p_permutation\":[-0-9.e]*" | head -1 | sed 's/.*"p_permutation"://'; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 < b + 0) }'; }

check "-h exits 0" bash -c "'$BIN' run -h >/dev/null"
check "-h lists --preset" bash -c "'$BIN' run -h | grep -q -- '--preset'"

# ---- the default preset finds the planted signal ---------------------------------------------
O=$T/study
"$BIN" run --bids "$D" --stimuli "$D/stimuli" -o "$O" "${CI[@]}" >"$T/out" 2>"$T/err"
check "run exits 0" test $? -eq 0
R=$O/results.json
check "results.json written" test -s "$R"
check "report.html written" test -s "$O/report.html"
check "run.json written" test -s "$O/run.json"
r=$(num "$R" rsa)
p=$(pperm "$R" rsa)
echo "default preset: r = $r, p = $p"
check "signal found: r > 0" lt 0 "$r"
check "signal found: permutation p < 0.01" lt "$p" 0.01
check "40 stimuli" grep -q '"n_stimuli":[[:space:]]*40' "$R"
check "truth correlations reported" grep -q '"truth":[[:space:]]*{' "$R"
check "random ViT said in results.json" grep -q '"random_vit":[[:space:]]*true' "$R"
check "random ViT said on stderr" grep -q "RANDOM ViT weights" "$T/err"
check "random ViT said in the headline" grep -q "RANDOM ViT weights" "$T/out"
check "headline has the report path" grep -q "report: .*report.html" "$T/out"
check "lag sweep has 8 rules" test "$(tr -d '\n' <"$R" | grep -o '"rule":' | wc -l)" -eq 8
check "voxel baseline reported" grep -q '"rsa_voxels":[[:space:]]*{' "$R"
check "alignment report in results" grep -q '"stimuli_both":[[:space:]]*40' "$R"
check "every stage ran" bash -c "! grep -q '\"status\":[[:space:]]*\"cached\"' '$R'"
check "run.json records commands" grep -q '"command":[[:space:]]*"latentrsa compare rdm/ae.fmri.npy' "$O/run.json"

# ---- caching: the same command does no work; one changed option reruns only what it touches ---
cp "$R" "$T/results1.json"
"$BIN" run --bids "$D" --stimuli "$D/stimuli" -o "$O" "${CI[@]}" >"$T/out2" 2>"$T/err2"
check "second run exits 0" test $? -eq 0
ran=$(tr -d '\n\t ' <"$R" | grep -o '"name":"[^"]*","command":"[^"]*","status":"ran"' | sed 's/","command.*//; s/"name":"//' | tr '\n' ' ')
check "second run reruns no stage (ran: $ran)" test -z "$ran"
check "second run says cached" grep -q "cached" "$T/err2"
check "second run: same r" test "$(num "$R" rsa)" = "$r"
"$BIN" run --bids "$D" --stimuli "$D/stimuli" -o "$O" "${CI[@]}" --method pearson >"$T/out3" 2>"$T/err3"
check "changed --method exits 0" test $? -eq 0
ran=$(tr -d '\n\t ' <"$R" | grep -o '"name":"[^"]*","command":"[^"]*","status":"ran"' | sed 's/","command.*//; s/"name":"//' | tr '\n' ' ')
check "--method change reruns only compare stages (ran: $ran)" \
    bash -c "[ -z \"\$(echo '$ran' | tr ' ' '\n' | grep -v -e '^compare\.' -e '^results$' -e '^report$' -e '^$')\" ]"
check "--method change reruns the main compare" bash -c "echo '$ran' | grep -q 'compare.ae '"
check "--method pearson in results" grep -q '"method":[[:space:]]*"pearson"' "$R"

# ---- --dry-run: the plan, sizes and time; nothing written ------------------------------------
"$BIN" run --bids "$D" --stimuli "$D/stimuli" -o "$T/dry" "${CI[@]}" --dry-run >"$T/dry.out" 2>&1
check "dry run exits 0" test $? -eq 0
check "dry run writes nothing" test ! -e "$T/dry"
check "dry run lists train-ae" grep -q "latentrsa train-ae" "$T/dry.out"
check "dry run gives sizes" grep -q "184 trials" "$T/dry.out"
check "dry run gives a time" grep -q "estimated time" "$T/dry.out"
"$BIN" run --bids "$D" --stimuli "$D/stimuli" -o "$O" "${CI[@]}" --method pearson --dry-run >"$T/dry2.out" 2>&1
check "dry run on a finished study shows cached stages" grep -q "cached" "$T/dry2.out"
"$BIN" run --bids "$D" --stimuli "$D/stimuli" -o "$T/dryk" "${CI[@]}" --components 5,7 --dry-run >"$T/dryk.out" 2>&1
check "--components K_FMRI,K_IMAGES: fMRI side" grep -q "reduce align/ae.fmri.npy --zscore --components 5" "$T/dryk.out"
check "--components K_FMRI,K_IMAGES: image side" grep -q "reduce align/ae.images.npy --zscore --components 7" "$T/dryk.out"
check "--components: the voxel baseline and lag sweep take K_FMRI" \
    grep -q "reduce lags/lag-5/align.fmri.npy --zscore --components 5" "$T/dryk.out"

# ---- --config: values between the preset and the command line ---------------------------------
printf '{"method": "kendall-tau-a", "bootstrap": 0, "lag-sweep": false}\n' >"$T/cfg.json"
"$BIN" run --bids "$D" --stimuli "$D/stimuli" -o "$T/cfg" "${CI[@]}" --config "$T/cfg.json" --permutations 0 \
    --bootstrap 0 >/dev/null 2>"$T/cfg.err"
check "--config run exits 0" test $? -eq 0
check "--config method used" grep -q '"method":[[:space:]]*"kendall-tau-a"' "$T/cfg/results.json"
check "--config lag-sweep off" grep -q '"lag_sweep":[[:space:]]*null' "$T/cfg/results.json"
printf '{"metod": "pearson"}\n' >"$T/bad.json"
"$BIN" run --bids "$D" --stimuli "$D/stimuli" -o "$T/badcfg" --config "$T/bad.json" 2>"$T/e"
check "unknown config key: exit 2" test $? -eq 2
check "unknown config key named" grep -q "metod" "$T/e"

# ---- the paper preset: runs, reports; its lag sweep shows the signal at later lags ------------
P=$T/paper
"$BIN" run --bids "$D" --stimuli "$D/stimuli" -o "$P" --preset paper "${CI[@]}" --volumes trials >/dev/null 2>"$T/perr"
check "paper preset exits 0" test $? -eq 0
check "paper preset: pearson" grep -q '"method":[[:space:]]*"pearson"' "$P/results.json"
check "paper preset: clip-negative recorded" grep -q '"clip-negative":[[:space:]]*"on"' "$P/results.json"
check "paper preset: stimoff" grep -q '"volume_rule":[[:space:]]*"stimoff"' "$P/results.json"
check "paper preset: bgr" grep -q '"channel_order":[[:space:]]*"bgr"' "$P/results.json"
check "paper preset: two-sided" grep -q '"alternative":[[:space:]]*"two-sided"' "$P/results.json"
check "paper preset: rdm --clip-negative ran" grep -q 'latentrsa rdm reduce/ae.fmri.npy --metric correlation --clip-negative' "$P/run.json"
rt() { tr -d '\n\t ' <"$P/results.json" | grep -o "\"rule\":\"$1\"[^}]*\"r_truth\":[-0-9.e]*" | sed 's/.*"r_truth"://'; }
r0=$(rt stimoff)
r5=$(rt lag:5)
echo "paper preset lag sweep, voxel RDM vs truth: stimoff $r0, lag:5 $r5"
check "lag sweep: lag:5 sees the signal (r_truth > 0.2)" lt 0.2 "$r5"
check "lag sweep: stimoff sees much less (r_truth(stimoff) < r_truth(lag:5) - 0.1)" lt "$r0" "$(awk -v x="$r5" 'BEGIN{print x - 0.1}')"

# ---- --assign per-subject: each subject's RSA and their mean ----------------------------------
"$BIN" run --bids "$D" --stimuli "$D/stimuli" -o "$T/persub" "${CI[@]}" --assign per-subject --bootstrap 0 \
    >"$T/ps.out" 2>"$T/ps.err"
check "per-subject run exits 0" test $? -eq 0
check "per-subject: four subjects' RSA" test "$(tr -d '\n\t ' <"$T/persub/results.json" | grep -o '"subject":"CSI[1-4]","n":' | wc -l)" -eq 4
check "per-subject: the mean r" grep -Eq '"per_subject_mean_r":[[:space:]]*-?[0-9]' "$T/persub/results.json"
check "per-subject: no pooled rsa" grep -q '"rsa":[[:space:]]*null' "$T/persub/results.json"
check "per-subject: headline per subject" grep -q "RSA CSI4:" "$T/ps.out"
check "per-subject: report written" test -s "$T/persub/report.html"

# ---- bad input ---------------------------------------------------------------------------------
S2=$T/stim-missing
cp -r "$D/stimuli" "$S2"
victim=$(find "$S2" -name 'COCO_*' | sort | head -1)
rm "$victim"
"$BIN" run --bids "$D" --stimuli "$S2" -o "$T/miss" "${CI[@]}" 2>"$T/e"
check "missing stimulus image: exit 3" test $? -eq 3
check "missing stimulus named" grep -q "$(basename "$victim")" "$T/e"
check "missing stimulus: one line" test "$(wc -l <"$T/e")" -eq 1
check "missing stimulus: nothing written" test ! -e "$T/miss/results.json"
"$BIN" run --bids "$D" --stimuli "$S2" -o "$T/miss" "${CI[@]}" --allow-missing --lag-sweep off >/dev/null 2>"$T/e"
check "--allow-missing goes on" test $? -eq 0
check "--allow-missing warns" grep -q "no image file" "$T/e"
check "--allow-missing: 39 stimuli" grep -q '"n_stimuli":[[:space:]]*39' "$T/miss/results.json"
check "--allow-missing: warning in results" grep -q "have no image file" "$T/miss/results.json"

mkdir -p "$T/other-stimuli"
cp "$D/stimuli/Scene_Stimuli/Presented_Stimuli/COCO/"*.jpg "$T/other-stimuli/" 2>/dev/null
for f in "$T/other-stimuli/"*; do mv "$f" "${f%.jpg}_x.jpg"; done
"$BIN" run --bids "$D" --stimuli "$T/other-stimuli" -o "$T/none" "${CI[@]}" --allow-missing 2>"$T/e"
check "empty intersection: exit 3" test $? -eq 3
check "empty intersection said" grep -q "none of the" "$T/e"

"$BIN" run --bids "$D" --stimuli "$D/stimuli" -o "$T/task" --task nosuchtask "${CI[@]}" 2>"$T/e"
check "no matching task: exit 3" test $? -eq 3
check "no matching task said" grep -q "nosuchtask" "$T/e"

D2=$T/data2
"$BIN" synth -o "$D2" --subjects 2 --runs 1 --trials 8 --image-size 32 --seed 2 -q
"$BIN" run --bids "$D2" --stimuli "$D2/stimuli" -o "$O" "${CI[@]}" 2>"$T/e"
check "another study's folder: exit 1" test $? -eq 1
check "another study's folder said" grep -q "another study" "$T/e"
mkdir -p "$T/junk" && echo x >"$T/junk/file.txt"
"$BIN" run --bids "$D" --stimuli "$D/stimuli" -o "$T/junk" "${CI[@]}" 2>"$T/e"
check "non-empty non-study folder: exit 1" test $? -eq 1
check "non-study folder said" grep -q "not a latentrsa study folder" "$T/e"
"$BIN" run --bids "$D" --stimuli "$D/stimuli" -o "$T/x" --assign thirds 2>"$T/e"
check "bad --assign: exit 2" test $? -eq 2
"$BIN" run --bids "$D" --stimuli "$D/stimuli" -o "$T/x" --preset fancy 2>"$T/e"
check "bad --preset: exit 2" test $? -eq 2
"$BIN" run --bids "$T/nope" --stimuli "$D/stimuli" -o "$T/x" 2>"$T/e"
check "missing BIDS folder: exit 3" test $? -eq 3
check "missing BIDS folder named" grep -q "nope" "$T/e"

finish run
