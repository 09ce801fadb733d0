#!/bin/bash
# latentrsa synth: layout, events.tsv schema (13 columns, CRLF), NIfTI shape, stimuli by magic
# bytes, determinism, usage errors (exit 2), refusing a non-empty directory.
# status saves the command's output in $T/sout and $T/serr for the checks that follow it.
# Env: LRSA_BIN (the binary), LRSA_TMP (scratch).
set -u
BIN=${LRSA_BIN:?}
T=${LRSA_TMP:-/tmp}/t1400
rm -rf "$T" && mkdir -p "$T"
pass=0 fail=0

ok() { # ok NAME COMMAND...
    local name=$1; shift
    if "$@" >"$T/out" 2>"$T/err"; then pass=$((pass + 1)); else
        fail=$((fail + 1)); echo "FAIL: $name" >&2; sed 's/^/  /' "$T/err" >&2; fi
}
status() { # status NAME WANT COMMAND...: the command exits with WANT
    local name=$1 want=$2; shift 2
    "$@" >"$T/sout" 2>"$T/serr"
    local got=$?
    if [ "$got" = "$want" ]; then pass=$((pass + 1)); else
        fail=$((fail + 1)); echo "FAIL: $name: exit $got, want $want" >&2; sed 's/^/  /' "$T/serr" >&2; fi
}

TINY="--dims 12x12x8 --trials 3"
D=$T/ds
F=sub-CSI1/ses-01/func
EV=$D/$F/sub-CSI1_ses-01_task-5000scenes_run-01_events.tsv
STIM=$D/stimuli/Scene_Stimuli/Presented_Stimuli

# --- help --------------------------------------------------------------------------------------
status "-h exits 0" 0 "$BIN" synth -h
ok "-h shows the synopsis" grep -q "^usage: latentrsa synth -o DIR" "$T/sout"

# --- a tiny dataset ----------------------------------------------------------------------------
status "tiny dataset" 0 "$BIN" synth -o "$D" $TINY -q
for f in dataset_description.json participants.tsv .bidsignore truth.json \
    $F/sub-CSI1_ses-01_task-5000scenes_run-01_bold.nii.gz $F/sub-CSI1_ses-01_task-5000scenes_run-02_events.tsv \
    $F/sub-CSI1_ses-01_task-localizer_bold.nii.gz $F/sub-CSI1_ses-01_task-localizer_events.tsv \
    sub-CSI4/ses-01/func/sub-CSI4_ses-01_task-5000scenes_run-02_bold.nii.gz \
    sub-CSI1/ses-01/tmp_dcm2bids/sub-CSI1_ses-01_task-5000scenes_run-01_bold.nii.gz \
    stimuli/Scene_Stimuli/repeated_stimuli_1_list.txt; do
    ok "file $f" test -s "$D/$f"
done
ok "no subject 5" test ! -e "$D/sub-CSI5"
ok "no run 3" test ! -e "$D/$F/sub-CSI1_ses-01_task-5000scenes_run-03_events.tsv"
ok "no temporaries left" test -z "$(find "$D" -name '*.tmp.*')"
for s in COCO ImageNet Scene; do ok "stimulus folder $s" test -n "$(ls "$STIM/$s")"; done
ok "COCO names" test -z "$(ls "$STIM/COCO" | grep -v -E '^COCO_train2014_[0-9]{12}\.jpg$')"
ok "ImageNet names" test -z "$(ls "$STIM/ImageNet" | grep -v -E '^n[0-9]{8}_[0-9]+\.JPEG$')"
# 6 trials per subject hold one repeated image (the default 2 shrinks): 6 - 3*1 = 3 unique images
ok "3 stimuli" test "$(find "$STIM" -type f | wc -l)" = 3
ok "1 repeated listed" test "$(wc -l <"$D/stimuli/Scene_Stimuli/repeated_stimuli_1_list.txt")" = 1

# events.tsv: the exact header, 13 fields and CRLF on every line, 3 trials
HDR=$'onset\tduration\tSubj\tSess\tRun\tTrial\tImgName\tImgType\tStimOn(s)\tStimOff(s)\tResponse\tRT\tstim_file\r'
ok "events header" test "$(head -n 1 "$EV")" = "$HDR"
ok "events 4 lines" test "$(wc -l <"$EV")" = 4
ok "events all CRLF" test "$(grep -c $'\r$' "$EV")" = 4
ok "events 13 fields" awk -F'\t' 'NF != 13 { exit 1 }' "$EV"
ok "events onset == StimOn, stim_file == ImgName" \
    awk -F'\t' 'NR > 1 { sub(/\r$/, "", $13); if ($1 != $9 || $7 != $13) exit 1 }' "$EV"
ok "events StimOff volume 3 + 5(k-1)" \
    awk -F'\t' 'NR > 1 { if (int($10 / 2) != 3 + 5 * ($6 - 1)) exit 1 }' "$EV"
ok "events ImgType values" \
    awk -F'\t' 'NR > 1 && $8 !~ /^(rep_)?(coco|imagenet|scenes)$/ { exit 1 }' "$EV"
ok "localizer schema" test "$(head -n 1 "$D/$F/sub-CSI1_ses-01_task-localizer_events.tsv")" = \
    $'onset\tduration\tTR\tTrial\tStimOn\tStimOff\tcond\timage\t1back\tResponse\tRT\tAccuracy\r'
# rep_ on all but one presentation: per subject, each repeated image 1 plain + 3 rep_
cat "$D"/sub-CSI2/ses-01/func/*5000scenes*_events.tsv | tr -d '\r' |
    awk -F'\t' '$1 != "onset" { n[$7]++; if ($8 ~ /^rep_/) r[$7]++ }
        END { for (k in n) if (!((n[k] == 1 && r[k] == 0) || (n[k] == 4 && r[k] == 3))) exit 1 }' &&
    pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: rep_ counts" >&2; }

# NIfTI: int16 (datatype 4), 4-D with (6 + 10*3 + 12)/2 = 24 volumes, 12x12x8
dims=$(gzip -dc "$D/$F/sub-CSI1_ses-01_task-5000scenes_run-01_bold.nii.gz" | head -c 72 | od -An -t d2 -j 40 -N 32 | xargs)
# dim[0..7], then intent_p1..p3 and intent_code (zeros), then datatype
ok "nifti dims and datatype" test "$dims" = "4 12 12 8 24 1 1 1 0 0 0 0 0 0 0 4"
# One stimulus is a PNG under a .jpg name; the rest are JPEG whatever the extension.
npng=0 njpg=0
for f in $(find "$STIM" -type f); do
    m=$(head -c 4 "$f" | od -An -t x1 | tr -d ' ')
    case $m in 89504e47) npng=$((npng + 1)) ;; ffd8ff*) njpg=$((njpg + 1)) ;; esac
done
ok "one png, two jpeg" test "$npng $njpg" = "1 2"
ok "truth.json has the rdm" grep -q '"rdm":{"definition"' "$D/truth.json"

# --- scan round trip: the trial table matches what synth planted --------------------------------
# (events.tsv rows with the lag:5 volume floor((onset + 5)/2 + 0.5); truth.json has as many trials)
if "$BIN" scan "$D" -o "$T/scan.tsv" -q 2>"$T/scanerr"; then
    for f in $(find "$D" -path '*tmp_dcm2bids*' -prune -o -name '*_task-5000scenes_run-*_events.tsv' -print); do
        b=$(basename "$f"); sub=${b#sub-}; sub=${sub%%_*}; ses=${b#*_ses-}; ses=${ses%%_*}
        tr -d '\r' <"$f" | awk -F'\t' -v subj="$sub" -v sess="$ses" 'NR > 1 {
            printf "%s\t%s\t%d\t%d\t%s\t%.3f\t%d\n", subj, sess, $5, $6, $7, $1, int(($1 + 5) / 2 + 0.5) }'
    done | sort >"$T/scan.want"
    awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
        { printf "%s\t%s\t%d\t%d\t%s\t%.3f\t%d\n", $c["subject"], $c["session"], $c["run"], $c["trial"],
          $c["stimulus"], $c["onset"], $c["volume"] }' "$T/scan.tsv" | sort >"$T/scan.got"
    ok "scan round trip" cmp "$T/scan.want" "$T/scan.got"
    ok "scan: 4 subjects x 2 runs x 3 trials" test "$(wc -l <"$T/scan.got")" = 24
    ok "truth.json: 24 trials" test "$(grep -o '"volume_lag5"' "$D/truth.json" | wc -l)" = 24
elif grep -q "not implemented" "$T/scanerr"; then
    echo "SKIP: scan round trip (scan not implemented yet)" >&2
else
    fail=$((fail + 1)); echo "FAIL: scan of a synth dataset" >&2; sed 's/^/  /' "$T/scanerr" >&2
fi

# --- determinism ------------------------------------------------------------------------------
status "same seed" 0 "$BIN" synth -o "$T/ds2" $TINY -q
status "other seed" 0 "$BIN" synth -o "$T/ds3" $TINY --seed 7 -q
ok "same seed: same events" cmp "$EV" "$T/ds2/$F/sub-CSI1_ses-01_task-5000scenes_run-01_events.tsv"
ok "same seed: same bold" cmp "$D/$F/sub-CSI1_ses-01_task-5000scenes_run-01_bold.nii.gz" \
    "$T/ds2/$F/sub-CSI1_ses-01_task-5000scenes_run-01_bold.nii.gz"
ok "same seed: same truth" cmp "$D/truth.json" "$T/ds2/truth.json"
ok "other seed: other events" test -n "$(cmp "$EV" "$T/ds3/$F/sub-CSI1_ses-01_task-5000scenes_run-01_events.tsv" 2>&1)"

# --- refusing to overwrite --------------------------------------------------------------------
status "non-empty dir refused" 1 "$BIN" synth -o "$D" $TINY
ok "says --force" grep -q "use --force" "$T/serr"
status "--force writes" 0 "$BIN" synth -o "$D" $TINY --force -q
: >"$T/plainfile"
status "-o a file" 1 "$BIN" synth -o "$T/plainfile" $TINY

# --- usage errors: exit 2, one error line, nothing written -------------------------------------
usage() { # usage NAME ARGS...
    local name=$1; shift
    rm -rf "$T/bad"
    status "$name exits 2" 2 "$BIN" synth "$@"
    ok "$name: error line" grep -q "^latentrsa synth: error: " "$T/serr"
    ok "$name: one error line" test "$(grep -c 'error:' "$T/serr")" = 1
    ok "$name: nothing written" test ! -e "$T/bad"
}
usage "no -o" $TINY
usage "--trials 0" -o "$T/bad" --trials 0
usage "--trials 201" -o "$T/bad" --trials 201
usage "--dims 7" -o "$T/bad" --dims 7x12x8
usage "--dims 257" -o "$T/bad" --dims 12x257x8
usage "--dims abc" -o "$T/bad" --dims abc
usage "--dims 2-d" -o "$T/bad" --dims 12x12
usage "--runs 21" -o "$T/bad" --runs 21
usage "--sessions 0" -o "$T/bad" --sessions 0
usage "--subjects 10" -o "$T/bad" --subjects 10
usage "--repeated-images 2" -o "$T/bad" $TINY --repeated-images 2
usage "--repeated-images -1" -o "$T/bad" $TINY --repeated-images -1
usage "--signal -1" -o "$T/bad" --signal -1
usage "--noise nan" -o "$T/bad" --noise nan
usage "--seed x" -o "$T/bad" --seed x
usage "unknown option" -o "$T/bad" --bogus
usage "positional" -o "$T/bad" extra

# --- edge values and the default size ---------------------------------------------------------
status "null dataset" 0 "$BIN" synth -o "$T/null" $TINY --signal 0 --noise 0 --subjects 1 --repeated-images 0 -q
ok "null: planted false" grep -q '"planted":false' "$T/null/truth.json"
status "one trial" 0 "$BIN" synth -o "$T/one" --dims 8x8x8 --trials 1 --runs 1 --subjects 1 --repeated-images 0 -q
status "default size" 0 "$BIN" synth -o "$T/default" -q
dims=$(gzip -dc "$T/default/sub-CSI4/ses-01/func/sub-CSI4_ses-01_task-5000scenes_run-02_bold.nii.gz" | head -c 72 | od -An -t d2 -j 40 -N 10 | xargs)
ok "default dims 24x24x16, 59 volumes" test "$dims" = "4 24 24 16 59"

echo "synth: $pass passed, $fail failed"
[ "$fail" = 0 ]
