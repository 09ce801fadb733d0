#!/bin/bash
# latentrsa embed-fmri on a tiny synthetic dataset with a 2-epoch 32x32 model: --bids (renders as
# the model was trained), --images (ours, and the paper's file names resolved through --trials),
# --pool none|mean, the labels sidecar, metadata disagreements (refused unless --force), bad
# models and inputs. Ends with "embed-fmri: N passed, M failed".
set -u
. "$(dirname "$0")/lib.sh" t5200
FIX=${LRSA_SRC:?LRSA_SRC not set}/tests/fixtures/ae_ckpt
D=$T/ds
"$BIN" synth -o "$D" --dims 16x16x10 --subjects 2 --runs 2 --trials 3 --image-size 16 -q ||
    { echo "synth failed"; exit 1; }
"$BIN" train-ae --bids "$D" -o "$T/m/AE.safetensors" --size 32 --channels 4,8 --epochs 2 --batch 4 \
    --test-subjects CSI2 --canvas square -q || { echo "train-ae failed"; exit 1; }
M=$T/m/AE.safetensors

check "-h exits 0" "$BIN" embed-fmri -h
check "-h shows --pool" bash -c "'$BIN' embed-fmri -h | grep -q -- '--pool none|mean'"

# ---- --bids: rendered with the model's options -------------------------------------------------
"$BIN" embed-fmri --model "$M" --bids "$D" -o "$T/e/fmri.npy" 2>"$T/err"
check "embed --bids exits 0" test $? -eq 0
check "npy written" test -s "$T/e/fmri.npy"
check "shape (12, 512)" bash -c "head -c 128 '$T/e/fmri.npy' | grep -aq \"'shape': (12, 512)\""
check "sidecar written" test -s "$T/e/fmri.labels.tsv"
check "sidecar rows" test "$(wc -l <"$T/e/fmri.labels.tsv")" -eq 13
check "sidecar header" test "$(head -1 "$T/e/fmri.labels.tsv")" = "$(printf 'stimulus\tsource\tsubject\tsession\trun\ttrial')"
check "sidecar has full ImgNames" bash -c "tail -n +2 '$T/e/fmri.labels.tsv' | cut -f1 | grep -qE '\.(jpg|JPEG|jpeg)$'"
check "rendered with the model's canvas" grep -q "canvas=square" "$T/e/fmri.cache/render.key"
"$BIN" embed-fmri --model "$M" --bids "$D" -o "$T/e/mean.npy" --pool mean -q
check "--pool mean shape (12, 8)" bash -c "head -c 128 '$T/e/mean.npy' | grep -aq \"'shape': (12, 8)\""

# ---- --images: ours (manifest) gives the same rows ------------------------------------------------
"$BIN" embed-fmri --model "$M" --images "$T/e/fmri.cache" -o "$T/e/img.npy" -q
check "--images == --bids (bytes)" cmp -s "$T/e/fmri.npy" "$T/e/img.npy"
check "--images sidecar == --bids sidecar" cmp -s "$T/e/fmri.labels.tsv" "$T/e/img.labels.tsv"

# ---- the paper's folder (no manifest): stems resolved through the trial table -------------------
mkdir -p "$T/paper"
(cd "$T/e/fmri.cache" && find . -name 'fMRI_*.png' | cpio -pdm "$T/paper" 2>/dev/null) ||
    (cd "$T/e/fmri.cache" && tar cf - $(find . -name 'fMRI_*.png') | tar xf - -C "$T/paper")
"$BIN" embed-fmri --model "$M" --images "$T/paper" -o "$T/e/p.npy" 2>"$T/err"
check "paper names without --trials exit 3" test $? -eq 3
check "asks for --trials" grep -q -- "--trials" "$T/err"
check "no output left" test ! -e "$T/e/p.npy"
"$BIN" scan "$D" -o "$T/trials.tsv" -q
"$BIN" embed-fmri --model "$M" --images "$T/paper" --trials "$T/trials.tsv" -o "$T/e/p.npy" -q
check "paper names with --trials" test -s "$T/e/p.npy"
check "paper names: full ImgName" bash -c "tail -n +2 '$T/e/p.labels.tsv' | cut -f1 | grep -qE '\.(jpg|JPEG|jpeg)$'"
check "paper names: same stimuli" bash -c "diff <(tail -n +2 '$T/e/p.labels.tsv' | cut -f1 | sort) <(tail -n +2 '$T/e/fmri.labels.tsv' | cut -f1 | sort)"

# ---- disagreements -------------------------------------------------------------------------------
"$BIN" embed-fmri --model "$M" --bids "$D" -o "$T/e/x.npy" --canvas nilearn 2>"$T/err"
check "other canvas exit 3" test $? -eq 3
check "names the key" grep -q "render_canvas square" "$T/err"
check "nothing rendered or written" test ! -e "$T/e/x.npy" -a ! -e "$T/e/x.cache"
"$BIN" embed-fmri --model "$M" --bids "$D" -o "$T/e/x.npy" --canvas nilearn --force 2>"$T/err"
check "--force embeds" test -s "$T/e/x.npy"
check "--force warns" grep -q "warning" "$T/err"
"$BIN" embed-fmri --model "$M" --bids "$D" -o "$T/e/y.npy" --volume-rule stimoff 2>"$T/err"
check "other volume rule exit 3" test $? -eq 3
"$BIN" render "$D" -o "$T/r64" --canvas square --size 64 -q
"$BIN" embed-fmri --model "$M" --images "$T/r64" -o "$T/e/y.npy" 2>"$T/err"
check "image size disagreement exit 3" test $? -eq 3
check "image size named" grep -q "image_width 32, these images have 64" "$T/err"

# ---- bad models and options ----------------------------------------------------------------------
"$BIN" embed-fmri --model "$FIX/missing_tensor.safetensors" --images "$T/e/fmri.cache" -o "$T/e/z.npy" 2>"$T/err"
check "missing tensor exit 3" test $? -eq 3
check "missing tensor named" grep -q "decoder.2.bias" "$T/err"
check "no output" test ! -e "$T/e/z.npy"
"$BIN" embed-fmri --model "$T/none.safetensors" --images "$T/e/fmri.cache" -o "$T/e/z.npy" 2>/dev/null
check "missing model exit 3" test $? -eq 3
"$BIN" embed-fmri --model "$M" --images "$T/e/fmri.cache" -o "$T/e/z.npy" --pool max 2>/dev/null
check "bad --pool is usage" test $? -eq 2
"$BIN" embed-fmri --model "$M" -o "$T/e/z.npy" 2>/dev/null
check "no input is usage" test $? -eq 2
"$BIN" embed-fmri --bids "$D" -o "$T/e/z.npy" 2>/dev/null
check "no model is usage" test $? -eq 2

finish embed-fmri
