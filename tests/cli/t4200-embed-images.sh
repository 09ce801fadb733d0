#!/bin/bash
# latentrsa embed-images: end to end with the tiny ViTModel of tests/fixtures/vit_preproc/model on
# a BOLD5000-shaped folder built from the committed Pillow-made images (progressive, CMYK, grey and
# EXIF JPEGs; RGBA and palette PNGs), against transformers 4.44.2 + torch 2.3.1
# (tools/gen_vit_preproc_fixtures.py wrote cli/*.npy as float64; read here with od, no Python).
# Tolerance: |ours - ref| <= 1e-5 + 1e-4 |ref| per value. Also: the labels sidecar, --list, a
# mislabelled file, skipped non-images, and bad input (exit status, one error line, no output, no
# sidecar, no temporary).
# Needs LRSA_BIN, LRSA_SRC and LRSA_TMP. Ends with "embed-images: N passed, M failed".
set -eu
. "$(dirname "$0")/lib.sh" t4200
FIX=${LRSA_SRC:?LRSA_SRC not set}/tests/fixtures/vit_preproc
MODEL=$FIX/model

# values FILE TYPE: every element after the 128-byte header (small arrays), one a line
values() { od -A n -v -t "$2" -j 128 "$1" | tr -s ' ' '\n' | sed '/^$/d'; }
# close OURS.npy REF.npy N: N float32 values of OURS within 1e-5 + 1e-4 |ref| of REF's float64
close() {
    paste <(values "$1" f4) <(values "$2" f8) | awk -v want="$3" '
        { n++; d = $1 - $2; if (d < 0) d = -d; r = $2 < 0 ? -$2 : $2;
          if (d > 1e-5 + 1e-4 * r) bad++; if (d > max) max = d }
        END { printf "    max |ours - torch| = %.3g over %d values\n", max, n > "/dev/stderr";
              exit !(n == want && bad == 0) }'
}
# no_leftovers DIR: nothing but the files named after DIR
only_files() {
    local dir=$1
    shift
    test "$(cd "$dir" && ls -A | sort | tr '\n' ' ')" = "$*"
}

PS=$T/Presented_Stimuli
mkdir -p "$PS/COCO" "$PS/ImageNet" "$PS/Scene" "$T/out"
cp "$FIX/inputs/progressive.jpg" "$FIX/inputs/alpha.png" "$PS/COCO/"
cp "$FIX/inputs/cmyk.jpg" "$FIX/inputs/grey.jpg" "$PS/ImageNet/"
cp "$FIX/inputs/exif6.jpg" "$FIX/inputs/palette.png" "$PS/Scene/"

# ---- -h ------------------------------------------------------------------------------------------
rc=0
"$BIN" embed-images -h >"$T/help.out" 2>&1 || rc=$?
check "-h exits 0" test "$rc" -eq 0
check "-h synopsis" grep -qxF \
    'usage: latentrsa embed-images --vit DIR (--images DIR | --list FILE) [--output last_hidden_state|cls|mean|pooler] [--layer L] [--batch N] [--channel-order rgb|bgr] -o OUT.npy' \
    "$T/help.out"

# ---- the default output: last_hidden_state, 197 x 16 per image -----------------------------------
rc=0
"$BIN" embed-images --vit "$MODEL" --images "$PS" -o "$T/out/lhs.npy" 2>"$T/lhs.err" || rc=$?
check "default exits 0" test "$rc" -eq 0
check "npy header (6, 3152)" grep -qF "{'descr': '<f4', 'fortran_order': False, 'shape': (6, 3152), }" "$T/out/lhs.npy"
check "file size: 128 + 6 x 3152 x 4" test "$(wc -c <"$T/out/lhs.npy")" -eq $((128 + 6 * 3152 * 4))
check "labels: byte order of the file name, source from the folder" cmp -s "$T/out/lhs.labels.tsv" "$FIX/cli/labels.tsv"
check "note with images/s" grep -qE "embedded 6 images \(3152 floats each\) in .* images/s\) into '$T/out/lhs.npy'" "$T/lhs.err"
check "cls = the first 16 values of each row" test \
    "$(values "$T/out/lhs.npy" x4 | awk 'NR % 3152 >= 1 && NR % 3152 <= 16' | tr '\n' ' ')" != ""

# ---- every output against transformers -----------------------------------------------------------
for k in cls mean pooler; do
    rc=0
    "$BIN" embed-images --vit "$MODEL" --images "$PS" --output "$k" -o "$T/out/$k.npy" -q 2>"$T/$k.err" || rc=$?
    check "--output $k exits 0" test "$rc" -eq 0
    check "--output $k: -q prints nothing" test ! -s "$T/$k.err"
    check "--output $k = ViTModel (1e-5 + 1e-4 rel)" close "$T/out/$k.npy" "$FIX/cli/rgb_$k.npy" 96
done
"$BIN" embed-images --vit "$MODEL" --images "$PS" --output cls --layer 1 --batch 4 -o "$T/out/l1.npy" -q
check "--layer 1 --output cls = hidden_states[1][:, 0]" close "$T/out/l1.npy" "$FIX/cli/rgb_layer1_cls.npy" 96
"$BIN" embed-images --vit "$MODEL" --images "$PS" --output mean --channel-order bgr --batch 1 --threads 1 -o "$T/out/bgr.npy" -q
check "--channel-order bgr = exif_transpose + swapped channels" close "$T/out/bgr.npy" "$FIX/cli/bgr_mean.npy" 96
"$BIN" embed-images --vit "$MODEL" --images "$PS" --output cls --batch 5 -o "$T/out/b5.npy" -q
check "--batch 5 (a partial batch)" close "$T/out/b5.npy" "$FIX/cli/rgb_cls.npy" 96

# ---- --list: any order, relative paths, comments, CRLF --------------------------------------------
{
    printf '# the six stimuli\r\n'
    printf 'Presented_Stimuli/Scene/palette.png\r\n'
    printf '%s\n' "$PS/COCO/progressive.jpg" "Presented_Stimuli/ImageNet/grey.jpg" ""
    printf '%s\n' "$PS/ImageNet/cmyk.jpg" "$PS/Scene/exif6.jpg" "Presented_Stimuli/COCO/alpha.png"
} >"$T/list.txt"
rc=0
(cd "$T" && "$BIN" embed-images --vit "$MODEL" --list list.txt --output cls -o out/list.npy -q) || rc=$?
check "--list exits 0" test "$rc" -eq 0
check "--list: the same rows as --images" close "$T/out/list.npy" "$FIX/cli/rgb_cls.npy" 96
check "--list: the same labels" cmp -s "$T/out/list.labels.tsv" "$FIX/cli/labels.tsv"

# ---- magic bytes, not names: a PNG called .jpg is embedded, other files are skipped -----------------
cp -r "$PS" "$T/PS2"
cp "$FIX/inputs/alpha.png" "$T/PS2/ImageNet/n01440764_0001.JPEG"
echo "notes" >"$T/PS2/README.txt"
touch "$T/PS2/Scene/.DS_Store"
rc=0
"$BIN" embed-images --vit "$MODEL" --images "$T/PS2" --output cls -o "$T/out/mis.npy" 2>"$T/mis.err" || rc=$?
check "mislabelled: exits 0" test "$rc" -eq 0
check "mislabelled: 7 rows" grep -qF "'shape': (7, 16)" "$T/out/mis.npy"
check "mislabelled: labelled by its name" grep -qP '^n01440764_0001.JPEG\tImageNet\t' "$T/out/mis.labels.tsv"
check "a skipped file is counted" grep -qF "skipped 1 files" "$T/mis.err"

# ---- bad input --------------------------------------------------------------------------------------
# refuse NAME STATUS MESSAGE ARGS...: exit status, one line naming the problem, nothing written
refuse() {
    local name=$1 want=$2 msg=$3
    shift 3
    rm -rf "$T/bad" && mkdir -p "$T/bad"
    local rc=0
    "$BIN" embed-images "$@" -o "$T/bad/x.npy" 2>"$T/bad.err" || rc=$?
    check "$name: exit $want (got $rc)" test "$rc" -eq "$want"
    # a usage error adds one line pointing to -h
    check "$name: one error line" test "$(wc -l <"$T/bad.err")" -eq $((want == 2 ? 2 : 1))
    check "$name: message '$msg'" grep -qF -- "$msg" "$T/bad.err"
    check "$name: no output, no sidecar, no temporary" only_files "$T/bad" ""
}
cp -r "$PS" "$T/corrupt"
head -c 3000 "$FIX/inputs/cmyk.jpg" >"$T/corrupt/ImageNet/cmyk.jpg"
refuse "truncated jpeg" 3 "'$T/corrupt/ImageNet/cmyk.jpg': bad jpeg" --vit "$MODEL" --images "$T/corrupt"
cp "$FIX/inputs/grey.jpg" "$T/corrupt/ImageNet/cmyk.jpg"
printf 'not an image' >"$T/corrupt/Scene/fake.jpg"
refuse "a .jpg that is not an image" 3 "'$T/corrupt/Scene/fake.jpg': not a jpeg or png file" --vit "$MODEL" --images "$T/corrupt"
mkdir -p "$T/empty/COCO" && echo x >"$T/empty/COCO/notes.txt"
refuse "no images" 3 "no jpeg or png images under '$T/empty'" --vit "$MODEL" --images "$T/empty"
refuse "no folder" 3 "no folder '$T/nowhere'" --vit "$MODEL" --images "$T/nowhere"
refuse "unknown --output" 2 "unknown --output 'logits'" --vit "$MODEL" --images "$PS" --output logits
refuse "unknown --channel-order" 2 "unknown --channel-order 'rbg'" --vit "$MODEL" --images "$PS" --channel-order rbg
refuse "both --images and --list" 2 "give one of --images DIR or --list FILE" --vit "$MODEL" --images "$PS" --list "$T/list.txt"
refuse "no --vit" 2 "missing --vit DIR" --images "$PS"
refuse "--layer past the blocks" 3 "--layer 3: the model in '$MODEL' has 2 blocks" --vit "$MODEL" --images "$PS" --layer 3
refuse "--layer with pooler" 2 "--output pooler is only defined on the final output" --vit "$MODEL" --images "$PS" --layer 1 --output pooler
refuse "--batch 0" 2 "--batch must be in 1..4096" --vit "$MODEL" --images "$PS" --batch 0
refuse "not a model" 3 "config.json" --vit "$T/empty" --images "$PS"
cp -r "$PS" "$T/dup" && cp "$FIX/inputs/grey.jpg" "$T/dup/Scene/grey.jpg"
refuse "a stimulus twice" 3 "stimulus 'grey.jpg' twice" --vit "$MODEL" --images "$T/dup"
printf '%s\n' "$PS/COCO/alpha.png" "$T/missing.jpg" >"$T/badlist.txt"
refuse "--list: a missing file" 3 "line 2: no file '$T/missing.jpg'" --vit "$MODEL" --list "$T/badlist.txt"

finish embed-images
