#!/bin/bash
# latentrsa render, end to end on a tiny synthetic dataset (latentrsa synth --dims 16x16x10):
# trial and all-volume renders, names and manifest, square canvas, --limit, --trials, the
# contact sheet, determinism across thread counts, and bad input (missing directory, a 2-D BOLD
# file, a threshold above the maximum, an unwritable output folder, bad options).
# Needs LRSA_BIN and LRSA_TMP. Ends with "render: N passed, M failed".
set -u
. "$(dirname "$0")/lib.sh" t3100

D=$T/ds
"$BIN" synth -o "$D" --dims 16x16x10 --subjects 1 --runs 2 --trials 3 --image-size 16 -q ||
    { echo "synth failed"; exit 1; }
RUN1=sub-CSI1/ses-01/run_1

# ---- trials, paper canvas -----------------------------------------------------
check "render trials" "$BIN" render "$D" -o "$T/out" -q
check "one png per trial" test "$(find "$T/out" -name 'fMRI_*.png' | wc -l)" -eq 6
check "paper file name" test -f "$T/out/$RUN1/$(cd "$T/out/$RUN1" && ls | head -1)"
check "name pattern" bash -c "ls '$T/out/$RUN1' | grep -Eq '^fMRI_sub-CSI1_ses-01_run-1_trial-1_[^.]+\.png$'"
check "manifest header" test "$(head -1 "$T/out/manifest.tsv")" = "$(printf 'stimulus\tsource\tsubject\tsession\trun\ttrial\tvolume\tpath')"
check "manifest rows" test "$(wc -l <"$T/out/manifest.tsv")" -eq 7
check "manifest paths exist" bash -c "cd '$T/out' && tail -n +2 manifest.tsv | cut -f8 | xargs -n1 test -f"
check "manifest sources" bash -c "tail -n +2 '$T/out/manifest.tsv' | cut -f2 | grep -qvE '^(COCO|ImageNet|Scene)$' && exit 1 || exit 0"
check "contact sheet" test -s "$T/out/contact.png"
check "672x672 png" bash -c "od -An -tu1 -j16 -N8 '$T/out/$RUN1/'\$(ls '$T/out/$RUN1' | head -1) | tr -s ' ' | grep -q '0 0 2 160 0 0 2 160'"

# ---- determinism across threads ------------------------------------------------
check "render with 1 thread" "$BIN" render "$D" -o "$T/out1" --threads 1 -q
check "same bytes with 1 and 2 threads" diff -r "$T/out" "$T/out1"

# ---- all volumes, square canvas, limit ------------------------------------------
check "render all volumes" "$BIN" render "$D" -o "$T/all" --volumes all --canvas square --size 64 --limit 5 -q
check "limit 5" test "$(find "$T/all" -name 'fMRI_*.png' | wc -l)" -eq 5
check "timestep names 1-based" test -f "$T/all/$RUN1/fMRI_sub-CSI1_ses-01_run-1_timestep-1.png"
check "no timestep 0" test ! -e "$T/all/$RUN1/fMRI_sub-CSI1_ses-01_run-1_timestep-0.png"
check "64x64 png" bash -c "od -An -tu1 -j16 -N8 '$T/all/$RUN1/fMRI_sub-CSI1_ses-01_run-1_timestep-1.png' | tr -s ' ' | grep -q '0 0 0 64 0 0 0 64'"

# ---- --trials from scan, linear, 660x350 ------------------------------------------
"$BIN" scan "$D" --volume-rule stimoff -o "$T/trials.tsv" -q
check "render --trials" "$BIN" render "$D" --trials "$T/trials.tsv" -o "$T/tt" --size 0 --interp linear -q
check "660x350 png" bash -c "od -An -tu1 -j16 -N8 '$T/tt/$RUN1/'\$(ls '$T/tt/$RUN1' | head -1) | tr -s ' ' | grep -q '0 0 2 148 0 0 1 94'"
check "stimoff volumes in manifest" bash -c "tail -n +2 '$T/tt/manifest.tsv' | cut -f7 | head -1 | grep -q '^3$'"

# ---- threshold above the maximum: blank images, exit 0, a warning ----------------
"$BIN" render "$D" -o "$T/blank" --threshold 100000 --limit 1 2>"$T/blank.err"
check "above max exits 0" test $? -eq 0
check "above max warns" grep -q "nothing above the threshold" "$T/blank.err"
check "above max writes the image" test "$(find "$T/blank" -name 'fMRI_*.png' | wc -l)" -eq 1

# ---- bad input ----------------------------------------------------------------------
"$BIN" render "$T/missing" -o "$T/x" 2>"$T/err"; rc=$?
check "missing dir exit 3" test $rc -eq 3
check "missing dir one line" test "$(wc -l <"$T/err")" -eq 1
check "missing dir names it" grep -q "missing" "$T/err"
"$BIN" render "$D" 2>/dev/null; check "no -o is usage" test $? -eq 2
"$BIN" render "$D" -o "$T/x" --canvas round 2>/dev/null; check "bad canvas is usage" test $? -eq 2
"$BIN" render "$D" -o "$T/x" --canvas square --size 0 2>/dev/null; check "square size 0 is usage" test $? -eq 2
"$BIN" render "$D" -o "$T/x" --threshold -1 2>/dev/null; check "negative threshold is usage" test $? -eq 2
"$BIN" render "$D" -o "$T/x" --volumes some 2>/dev/null; check "bad --volumes is usage" test $? -eq 2
# unwritable output folder: a regular file where the directory should be
: >"$T/afile"
"$BIN" render "$D" -o "$T/afile/out" -q 2>"$T/err"; rc=$?
check "unwritable output fails" test $rc -ne 0 -a $rc -ne 2
check "unwritable output one line" test "$(wc -l <"$T/err")" -eq 1
# a 2-D BOLD file: replace run 1 with a 16x16x1 series (same events)
B2=$T/ds2
cp -r "$D" "$B2"
F=$(ls "$B2"/sub-CSI1/ses-01/func/*5000scenes_run-01_bold.nii.gz)
python_free_2d() { # a NIfTI-1 16x16x1x20 int16 series written by hand
    le16() { for n in "$@"; do printf "\\x$(printf %02x $((n & 255)))\\x$(printf %02x $(((n >> 8) & 255)))"; done; }
    {
        le16 348 0; head -c 36 /dev/zero
        le16 4 16 16 1 20 1 1 1; head -c 12 /dev/zero
        le16 0 4 16 0
        printf '\x00\x00\x80\x3f\x00\x00\x00\x40\x00\x00\x00\x40\x00\x00\x00\x40\x00\x00\x00\x40'
        head -c 12 /dev/zero; printf '\x00\x00\xb0\x43'; head -c 8 /dev/zero
        printf '\x00\x00\x00\x0a'; head -c 220 /dev/zero; printf 'n+1\x00'; head -c 4 /dev/zero
        head -c $((16 * 16 * 20 * 2)) /dev/zero | tr '\0' '\x7f'
    } | gzip -n >"$1"
}
python_free_2d "$F"
"$BIN" render "$B2" -o "$T/flat" 2>"$T/err"; rc=$?
check "2-D file exit 3" test $rc -eq 3
check "2-D file message" grep -q "3-D volume" "$T/err"
check "2-D file names the file" grep -q "run-01_bold.nii.gz" "$T/err"
check "2-D file: no manifest" test ! -e "$T/flat/manifest.tsv"

finish render
