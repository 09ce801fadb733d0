#!/bin/bash
# latentrsa train-ae on a tiny synthetic dataset (synth --dims 16x16x10, 2 subjects, 12 trials;
# 32x32 images, channels 4,8, 2 epochs: seconds even under ASan): --bids with its render cache,
# --images, the outputs, --dry-run, exact resume after a simulated crash
# (LRSA_TRAIN_STOP_AFTER_STEPS), --init from PyTorch's state_dict (tests/fixtures/ae_ckpt), and bad
# input (an undecodable image, an empty training set, missing/misshapen tensors, metadata that
# disagrees, a size not divisible by 2^depth, bad options). Ends with "train-ae: N passed, M failed".
set -u
. "$(dirname "$0")/lib.sh" t5100
FIX=${LRSA_SRC:?LRSA_SRC not set}/tests/fixtures/ae_ckpt
D=$T/ds
"$BIN" synth -o "$D" --dims 16x16x10 --subjects 2 --runs 2 --trials 3 --image-size 16 -q ||
    { echo "synth failed"; exit 1; }
SMALL="--size 32 --channels 4,8 --epochs 2 --batch 4 --test-subjects CSI2"

# ---- help ---------------------------------------------------------------------------------
check "-h exits 0" "$BIN" train-ae -h
check "-h shows the synopsis" bash -c "'$BIN' train-ae -h | grep -q -- '--early-stop epoch-mean|last-batch|test'"

# ---- --bids: render cache, outputs ------------------------------------------------------------
"$BIN" train-ae --bids "$D" -o "$T/m/AE.safetensors" $SMALL --canvas square 2>"$T/bids.err"
check "train --bids exits 0" test $? -eq 0
for f in AE.safetensors AE.state.safetensors AE.json AE.loss.png AE.recon.png AE.cache/manifest.tsv AE.cache/render.key; do
    check "writes $f" test -s "$T/m/$f"
done
check "cache holds 12 renders" test "$(find "$T/m/AE.cache" -name 'fMRI_*.png' | wc -l)" -eq 12
check "plan printed" grep -q "plan: 6 training and 6 test images" "$T/bids.err"
check "plan has images/s" grep -q "images/s" "$T/bids.err"
check "cache bytes per image stated" grep -q "kB per image" "$T/bids.err"
check "one line per epoch" test "$(grep -c '^latentrsa train-ae: epoch [0-9]/2:' "$T/bids.err")" -eq 2
check "json epochs_done" grep -q '"epochs_done":	2' "$T/m/AE.json"
check "json per-epoch test loss" grep -q '"test_loss":	0\.' "$T/m/AE.json"
check "state_dict names" bash -c "head -c 2000 '$T/m/AE.safetensors' | grep -q '\"decoder.2.bias\"'"
check "no optimiser state in the model" bash -c "! head -c 4000 '$T/m/AE.safetensors' | grep -q 'adam'"
check "metadata: canvas" bash -c "head -c 4000 '$T/m/AE.safetensors' | grep -q '\"render_canvas\":\"square\"'"
check "metadata: volume rule" bash -c "head -c 4000 '$T/m/AE.safetensors' | grep -q '\"volume_rule\":\"lag:5\"'"
"$BIN" train-ae --bids "$D" -o "$T/m/AE.safetensors" $SMALL --canvas square 2>"$T/bids2.err"
check "cache reused" grep -q "0 rendered now, 12 reused" "$T/bids2.err"

# ---- --dry-run -----------------------------------------------------------------------------------
"$BIN" train-ae --images "$T/m/AE.cache" -o "$T/dry/AE.safetensors" $SMALL --dry-run 2>"$T/dry.err"
check "dry run exits 0" test $? -eq 0
check "dry run prints the plan" grep -q "estimated\|per epoch" "$T/dry.err"
check "dry run writes nothing" test ! -e "$T/dry/AE.safetensors"
"$BIN" train-ae --bids "$D" -o "$T/paper/AE.safetensors" --preset paper --size 32 --channels 4,8 \
    --canvas square --dry-run 2>"$T/paper.err"
check "--preset paper renders every volume" grep -q "plan: 96 training and 0 test images" "$T/paper.err"

# ---- resume after a simulated crash reaches the same weights --------------------------------
C=$T/m/AE.cache
"$BIN" train-ae --images "$C" -o "$T/r1/AE.safetensors" $SMALL --epochs 3 -q
check "uninterrupted run" test -s "$T/r1/AE.safetensors"
LRSA_TRAIN_STOP_AFTER_STEPS=3 "$BIN" train-ae --images "$C" -o "$T/r2/AE.safetensors" $SMALL --epochs 3 -q 2>"$T/crash.err"
check "crash exits 1" test $? -eq 1
check "crash says so" grep -q "simulated crash" "$T/crash.err"
check "epoch 1 checkpoint kept" bash -c "head -c 4000 '$T/r2/AE.safetensors' | grep -q '\"epochs_done\":\"1\"'"
"$BIN" train-ae --images "$C" -o "$T/r2/AE.safetensors" $SMALL --epochs 3 --resume 2>"$T/resume.err"
check "resume exits 0" test $? -eq 0
check "resume says where" grep -q "resuming after epoch 1" "$T/resume.err"
check "resumed == uninterrupted (bytes)" cmp -s "$T/r1/AE.safetensors" "$T/r2/AE.safetensors"
"$BIN" train-ae --images "$C" -o "$T/r2/AE.safetensors" $SMALL --epochs 3 --batch 2 --resume 2>"$T/err"
check "resume with another batch refused" test $? -eq 3
check "names the option" grep -q "batch was 4, now 2" "$T/err"
"$BIN" train-ae --images "$C" -o "$T/r3/AE.safetensors" $SMALL --resume 2>"$T/err"
check "resume without state exit 3" test $? -eq 3

# ---- --init from PyTorch's state_dict ---------------------------------------------------------
"$BIN" train-ae --images "$FIX/images" -o "$T/i/AE.safetensors" --size 32 --channels 4,8 --epochs 1 \
    --batch 2 --init "$FIX/torch_init.safetensors" -q
check "--init from PyTorch" test -s "$T/i/AE.safetensors"
"$BIN" train-ae --images "$FIX/images" -o "$T/i2/AE.safetensors" --size 32 --channels 4,8 --epochs 1 \
    --init "$FIX/missing_tensor.safetensors" 2>"$T/err"
check "missing tensor exit 3" test $? -eq 3
check "missing tensor named" grep -q "decoder.2.bias" "$T/err"
check "missing tensor: one line" test "$(wc -l <"$T/err")" -eq 1
check "missing tensor: no output" test ! -e "$T/i2/AE.safetensors"
"$BIN" train-ae --images "$FIX/images" -o "$T/i2/AE.safetensors" --size 32 --channels 4,8 --epochs 1 \
    --init "$FIX/bad_shape.safetensors" 2>"$T/err"
check "misshapen tensor exit 3" test $? -eq 3
check "misshapen tensor named" grep -q "encoder.2.weight" "$T/err"
"$BIN" train-ae --images "$FIX/images" -o "$T/i2/AE.safetensors" --size 32 --channels 4,8 --epochs 1 \
    --init "$FIX/torch_init.safetensors" --channels 4,16 2>"$T/err"
check "other widths exit 3" test $? -eq 3
"$BIN" train-ae --images "$FIX/images" -o "$T/i2/AE.safetensors" --size 32 --channels 4,8 --epochs 1 \
    --init "$FIX/meta_mismatch.safetensors" 2>"$T/err"
check "metadata disagreement exit 3" test $? -eq 3
check "metadata disagreement named" grep -q "size 64" "$T/err"
"$BIN" train-ae --images "$FIX/images" -o "$T/i2/AE.safetensors" --size 32 --channels 4,8 --epochs 1 \
    --init "$FIX/meta_mismatch.safetensors" --force -q
check "--force accepts it" test -s "$T/i2/AE.safetensors"

# ---- bad input -----------------------------------------------------------------------------------
mkdir -p "$T/bad/sub-CSI1"
printf '\x89PNG\r\n\x1a\nnot a png at all' >"$T/bad/sub-CSI1/fMRI_sub-CSI1_ses-1_run-1_trial-1_x.png"
"$BIN" train-ae --images "$T/bad" -o "$T/b/AE.safetensors" --size 32 --channels 4,8 --epochs 1 2>"$T/err"
check "undecodable image exit 3" test $? -eq 3
check "undecodable image named" grep -q "fMRI_sub-CSI1_ses-1_run-1_trial-1_x.png" "$T/err"
check "undecodable: no output" test ! -e "$T/b/AE.safetensors"
"$BIN" train-ae --images "$C" -o "$T/b/AE.safetensors" --size 32 --channels 4,8 --train-subjects CSI9 2>"$T/err"
check "empty training set exit 3" test $? -eq 3
check "empty training set says so" grep -q "no training image" "$T/err"
"$BIN" train-ae --images "$C" -o "$T/b/AE.safetensors" --size 32 --channels 4,8 --test-subjects none --early-stop test 2>"$T/err"
check "early stop on no test set exit 3" test $? -eq 3
"$BIN" train-ae --images "$C" -o "$T/b/AE.safetensors" --size 30 --channels 4,8 2>"$T/err"
check "size not divisible is usage" test $? -eq 2
check "size message" grep -q "multiple of 2^2 = 4" "$T/err"
"$BIN" train-ae --images "$C" -o "$T/b/AE.safetensors" --train-subjects CSI1 --test-subjects CSI1 2>/dev/null
check "subject in both sets is usage" test $? -eq 2
"$BIN" train-ae --images "$C" --bids "$D" -o "$T/b/AE.safetensors" 2>/dev/null
check "both sources is usage" test $? -eq 2
"$BIN" train-ae --images "$C" 2>/dev/null
check "no -o is usage" test $? -eq 2
"$BIN" train-ae --images "$C" -o "$T/b/AE.safetensors" --early-stop never 2>/dev/null
check "bad --early-stop is usage" test $? -eq 2
"$BIN" train-ae --images "$C" -o "$T/b/AE.safetensors" --channels 4,,8 2>/dev/null
check "bad --channels is usage" test $? -eq 2
"$BIN" train-ae --images "$T/nowhere" -o "$T/b/AE.safetensors" 2>/dev/null
check "missing folder exit 3" test $? -eq 3
check "nothing left behind" test ! -e "$T/b/AE.safetensors"

finish train-ae
