#!/bin/bash
# make test-slow: the study at full size on a small synthetic dataset: ViT-B/16 (random weights),
# nilearn-canvas renders at 672x672, the paper's autoencoder widths, both presets. Minutes, not
# seconds, so it is not part of `make test`. Ends with "full-size: N passed, M failed".
set -u
. "$(dirname "$0")/../cli/lib.sh" t9100
D=$T/data
"$BIN" synth -o "$D" --subjects 4 --runs 1 --trials 12 --dims 72x88x68 --image-size 256 --seed 1 -q ||
    { echo "synth failed"; exit 1; }
FULL=(--epochs 1 --batch 16 --permutations 999 --bootstrap 199)
"$BIN" run --bids "$D" --stimuli "$D/stimuli" -o "$T/default" "${FULL[@]}" 2>"$T/err1"
check "default preset at 672x672 with ViT-B/16 exits 0" test $? -eq 0
check "report written" test -s "$T/default/report.html"
check "fMRI embedding is 256x21x21" bash -c "head -c 128 '$T/default/embed/fmri.npy' | grep -aq ', 112896)'"
check "image embedding is 197x768" bash -c "head -c 128 '$T/default/embed/images.npy' | grep -aq ', 151296)'"
"$BIN" run --bids "$D" --stimuli "$D/stimuli" -o "$T/paper" --preset paper "${FULL[@]}" 2>"$T/err2"
check "paper preset at full size exits 0" test $? -eq 0
check "paper preset trained on every volume" grep -q -- "--volumes all" "$T/paper/run.json"
finish full-size
