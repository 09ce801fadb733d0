#!/bin/bash
# latentrsa run on null data (synth --signal 0) over 20 seeds at the CI profile: the permutation
# test of the main RSA must reject at most 3 times at the 5 % level (20 runs at a true 5 % rate
# give 4 or more rejections with probability 0.016). Labelled heavy (not in the sanitizer tree).
# Ends with "run-null: N passed, M failed".
set -u
. "$(dirname "$0")/lib.sh" t7300
CI=(--size 64 --canvas square --channels 8,16 --epochs 1 --batch 32 --random-vit tiny --permutations 199
    --bootstrap 0 --lag-sweep off)
rejected=0
ps=""
for seed in $(seq 1 20); do
    D=$T/data$seed
    "$BIN" synth -o "$D" --subjects 4 --runs 2 --trials 23 --image-size 64 --signal 0 --seed "$seed" -q ||
        { bad "synth seed $seed"; continue; }
    "$BIN" run --bids "$D" --stimuli "$D/stimuli" -o "$T/study$seed" --seed "$seed" "${CI[@]}" --threads 1 -q >/dev/null 2>"$T/err" ||
        { bad "run seed $seed: $(tail -1 "$T/err")"; continue; }
    p=$(tr -d '\n\t ' <"$T/study$seed/results.json" | grep -o '"rsa":{[^}]*"p_permutation":[-0-9.e]*' | sed 's/.*"p_permutation"://')
    ps="$ps $p"
    awk -v p="$p" 'BEGIN { exit !(p < 0.05) }' && rejected=$((rejected + 1))
    rm -rf "$D" "$T/study$seed"
done
echo "null data, 20 seeds: permutation p =$ps; $rejected below 0.05"
check "at most 3 of 20 null runs have p < 0.05 ($rejected)" test "$rejected" -le 3
finish run-null
