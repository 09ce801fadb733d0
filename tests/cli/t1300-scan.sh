#!/bin/bash
# latentrsa scan, end to end: BOLD5000-shaped datasets built here with printf + gzip (a NIfTI-1
# header and zero voxels), CRLF events, a localizer, stray files in tmp_dcm2bids/ and derivatives/,
# the flattened layout; stdout vs -o, exit codes, one-line errors, no output file on error.
# Needs LRSA_BIN and LRSA_TMP. Ends with "scan: N passed, M failed".
set -u
. "$(dirname "$0")/lib.sh" t1300
SRC=${LRSA_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}

# ---- dataset builders -------------------------------------------------------
le16() { for n in "$@"; do printf "\\x$(printf %02x $((n & 255)))\\x$(printf %02x $(((n >> 8) & 255)))"; done; }
zeros() { head -c "$1" /dev/zero; }
# mk_bold PATH NT TR_BYTES: a 4x4x3xNT int16 NIfTI-1 .nii.gz, TR given as float32 LE bytes.
mk_bold() {
    mkdir -p "$(dirname "$1")"
    {
        le16 348 0          # sizeof_hdr (int32)
        zeros 36
        le16 4 4 4 3 "$2" 1 1 1   # dim[8]
        zeros 12            # intent_p1..3
        le16 0 4 16 0       # intent_code datatype=int16 bitpix=16 slice_start
        printf '\x00\x00\x80\x3f\x00\x00\x00\x40\x00\x00\x00\x40\x00\x00\x00\x40'  # pixdim 1,2,2,2
        printf "$3"         # pixdim[4] = TR
        zeros 12
        printf '\x00\x00\xb0\x43'  # vox_offset 352
        zeros 8             # scl_slope, scl_inter
        printf '\x00\x00\x00\x0a'  # slice_end, slice_code, xyzt_units = mm + s
        zeros 220
        printf 'n+1\x00'
        zeros 4             # no extensions
        zeros $((96 * $2))  # 48 int16 voxels per volume
    } | gzip -n >"$1"
}
TR2='\x00\x00\x00\x40'
TR15='\x00\x00\xc0\x3f'
# mk_events PATH SESS RUN NTRIALS STIM: BOLD5000's 13 columns, CRLF, onset 6.024 + 10 (k-1).
mk_events() {
    mkdir -p "$(dirname "$1")"
    {
        printf 'onset\tduration\tSubj\tSess\tRun\tTrial\tImgName\tImgType\tStimOn(s)\tStimOff(s)\tResponse\tRT\tstim_file\r\n'
        for k in $(seq 1 "$4"); do
            on=$(awk -v k="$k" 'BEGIN { printf "%.3f", 6.024 + 10 * (k - 1) }')
            off=$(awk -v k="$k" 'BEGIN { printf "%.3f", 7.0 + 10 * (k - 1) }')
            printf '%s\t0.976\t1\t%s\t%s\t%s\t%s%s.jpg\tscenes\t%s\t%s\t1\t0.8\t%s%s.jpg\r\n' \
                "$on" "$2" "$3" "$k" "$5" "$k" "$on" "$off" "$5" "$k"
        done
    } >"$1"
}
# mk_run ROOT STEM SESS RUN NTRIALS STIM NT
mk_run() {
    mk_bold "$1/$2_bold.nii.gz" "$7" "$TR2"
    mk_events "$1/$2_events.tsv" "$3" "$4" "$5" "$6"
}

D=$T/ds
F=sub-CSI1/ses-01/func
mk_run "$D" "$F/sub-CSI1_ses-01_task-5000scenes_run-01" 1 1 3 a 20
mk_run "$D" "$F/sub-CSI1_ses-01_task-5000scenes_run-02" 1 2 3 b 20
mk_run "$D" "sub-CSI10/ses-02/func/sub-CSI10_ses-02_task-5000scenes_run-01" 2 1 2 a 20
mk_run "$D" "sub-CSI2/ses-01/func/sub-CSI2_ses-01_task-5000scenes_run-1" 1 1 2 a 20
mk_bold "$D/$F/sub-CSI1_ses-01_task-localizer_bold.nii.gz" 10 "$TR2"
printf 'onset\tTR\tcond\r\n0\t2\tface\r\n' >"$D/$F/sub-CSI1_ses-01_task-localizer_events.tsv"
mk_bold "$D/tmp_dcm2bids/sub-CSI1_ses-01/sub-CSI1_ses-01_task-5000scenes_run-05_bold.nii.gz" 5 "$TR2"
mk_bold "$D/sub-CSI1/ses-01/tmp_dcm2bids/sub-CSI1_ses-01_task-5000scenes_run-06_bold.nii.gz" 5 "$TR2"
mk_run "$D" "derivatives/fmriprep/sub-CSI1/ses-01/func/sub-CSI1_ses-01_task-5000scenes_run-07" 1 7 3 z 20
HEADER=$(printf 'subject\tsession\trun\ttrial\tstimulus\timg_type\tonset\tstim_off\ttr\tvolume\tbold')

# ---- help -------------------------------------------------------------------
"$BIN" scan -h >"$T/help.txt" 2>"$T/help.err"
check "scan -h exits 0" test $? -eq 0
check "-h prints the synopsis" grep -q '^usage: latentrsa scan BIDS_DIR \[--task TASK\] \[--volume-rule lag:SECONDS|stimoff\] \[--verify\] \[-o FILE\]$' "$T/help.txt"
syn=$(sed -n 's/^usage: //p' "$T/help.txt")
check "docs/cli/scan.md carries the -h synopsis" grep -qF "$syn" "$SRC/docs/cli/scan.md"

# ---- happy path: stdout -----------------------------------------------------
(cd "$T" && "$BIN" scan ds >"$T/out.tsv" 2>"$T/out.err")
check "scan to stdout exits 0" test $? -eq 0
check "header row" test "$(head -n 1 "$T/out.tsv")" = "$HEADER"
check "10 trial rows" test "$(tail -n +2 "$T/out.tsv" | wc -l)" -eq 10
check "no CR in the output" test "$(grep -c $'\r' "$T/out.tsv")" -eq 0
check "11 columns everywhere" test "$(awk -F'\t' 'NF != 11' "$T/out.tsv" | wc -l)" -eq 0
# order: CSI1 (runs 1, 2), CSI2, CSI10 (natural order)
check "subject order" test "$(awk -F'\t' 'NR > 1 { print $1 }' "$T/out.tsv" | uniq | tr '\n' ' ')" = "CSI1 CSI2 CSI10 "
check "first row" test "$(sed -n 2p "$T/out.tsv")" = "$(printf 'CSI1\t01\t1\t1\ta1.jpg\tscenes\t6.024\t7\t2\t6\tsub-CSI1/ses-01/func/sub-CSI1_ses-01_task-5000scenes_run-01_bold.nii.gz')"
check "unpadded run label" test "$(awk -F'\t' '$1 == "CSI2" { print $3; exit }' "$T/out.tsv")" = 1
# lag:5 with TR 2: volume = 6 + 5 (trial - 1)
check "lag:5 volumes" test "$(awk -F'\t' 'NR > 1 && $10 != 6 + 5 * ($4 - 1)' "$T/out.tsv" | wc -l)" -eq 0
check "summary on stderr" grep -q '3 subjects, 3 sessions, 4 runs, 10 trials, 6 unique stimuli, 0 repeated stimuli' "$T/out.err"
check "localizer noted" grep -q "skipped 1 BOLD file of task 'localizer'" "$T/out.err"
check "nothing from tmp_dcm2bids or derivatives" test "$(grep -c -e tmp_dcm2bids -e derivatives "$T/out.tsv")" -eq 0

# ---- the paper's rule, -o, --verify, -q -------------------------------------
"$BIN" scan "$D" --volume-rule stimoff --verify -q -o "$T/stimoff.tsv" >"$T/so.out" 2>"$T/so.err"
check "stimoff -o exits 0" test $? -eq 0
check "-o leaves stdout empty" test ! -s "$T/so.out"
check "-q leaves stderr empty" test ! -s "$T/so.err"
check "stimoff volumes: floor(StimOff / 2) = 3 + 5 (trial - 1)" test "$(awk -F'\t' 'NR > 1 && $10 != 3 + 5 * ($4 - 1)' "$T/stimoff.tsv" | wc -l)" -eq 0
check "stimoff table has 10 rows" test "$(tail -n +2 "$T/stimoff.tsv" | wc -l)" -eq 10
check "no temporary left" test "$(ls "$T" | grep -c '\.tmp\.')" -eq 0
"$BIN" scan "$D" --volume-rule=lag:4.5 >"$T/lag45.tsv" 2>/dev/null
check "lag:4.5 exits 0" test $? -eq 0
# floor((onset + 4.5) / 2 + 0.5): 6.024 -> 5, 16.024 -> 10
check "lag:4.5 volumes" test "$(awk -F'\t' 'NR == 2 || NR == 3 { printf "%s ", $10 }' "$T/lag45.tsv")" = "5 10 "

# ---- the flattened layout (file names renamed to ses-1/run-1) ---------------
P=$T/paper
mk_run "$P" "sub-CSI1/ses-01/sub-CSI1_ses-1_task-5000scenes_run-1" 1 1 2 p 20
mk_bold "$P/sub-CSI1/ses-02/sub-CSI1_ses-2_task-5000scenes_run-1_bold.nii.gz" 20 "$TR15"
mk_events "$P/sub-CSI1/ses-02/sub-CSI1_ses-2_task-5000scenes_run-1_events.tsv" 2 1 2 p
"$BIN" scan "$P" -o "$T/paper.tsv" 2>"$T/paper.err"
check "flattened layout exits 0" test $? -eq 0
check "flattened: session from the file name" test "$(awk -F'\t' 'NR > 1 { printf "%s ", $2 }' "$T/paper.tsv")" = "1 1 2 2 "
check "flattened: TR 1.5 from the header" test "$(awk -F'\t' 'NR == 4 { print $9 }' "$T/paper.tsv")" = 1.5
check "flattened: repeated stimuli counted" grep -q '2 unique stimuli, 2 repeated stimuli' "$T/paper.err"

# ---- errors: exit status, one line naming the file, no output file ----------
# expect_error NAME STATUS NEEDLE DATASET [OPTIONS...]
expect_error() {
    local name=$1 status=$2 needle=$3 ds=$4
    shift 4
    rm -f "$T/err.tsv"
    "$BIN" scan "$ds" "$@" -o "$T/err.tsv" >"$T/err.out" 2>"$T/err.err"
    local rc=$?
    check "$name: exit $status (got $rc)" test "$rc" -eq "$status"
    check "$name: message mentions '$needle'" grep -qF -- "$needle" "$T/err.err"
    check "$name: one line on stderr" test "$(grep -c 'error:' "$T/err.err")" -eq 1
    check "$name: no output file" test ! -e "$T/err.tsv"
    check "$name: nothing on stdout" test ! -s "$T/err.out"
    check "$name: no temporary left" test "$(ls "$T" | grep -c '\.tmp\.')" -eq 0
}
E=$T/e1
mk_bold "$E/sub-X/ses-01/func/sub-X_ses-01_task-5000scenes_run-01_bold.nii.gz" 20 "$TR2"
expect_error "missing events" 3 "sub-X_ses-01_task-5000scenes_run-01_events.tsv': missing events file" "$E"
printf 'onset\tImgName\tStimOff(s)\r\n6\ta.jpg\t7\r\n' >"$E/sub-X/ses-01/func/sub-X_ses-01_task-5000scenes_run-01_events.tsv"
expect_error "missing column" 3 "line 1: missing required column 'ImgType'" "$E"
printf 'onset\tImgName\tImgType\tStimOff(s)\r\n6\ta.jpg\tcoco\t7\r\n1O\tb.jpg\tcoco\t17\r\n' \
    >"$E/sub-X/ses-01/func/sub-X_ses-01_task-5000scenes_run-01_events.tsv"
expect_error "non-numeric onset" 3 "line 3 column 1: onset '1O' is not a number" "$E"
mk_events "$E/sub-X/ses-01/func/sub-X_ses-01_task-5000scenes_run-01_events.tsv" 1 1 4 a
mk_bold "$E/sub-X/ses-01/func/sub-X_ses-01_task-5000scenes_run-01_bold.nii.gz" 18 "$TR2"
expect_error "volume outside the run" 3 "line 5: trial 4 (onset 36.024 s, StimOff 37 s) falls on volume 21" "$E"
mk_bold "$E/sub-X/ses-01/func/sub-X_ses-01_task-5000scenes_run-01_bold.nii.gz" 40 "$TR2"
B=$E/sub-X/ses-01/func/sub-X_ses-01_task-5000scenes_run-01_bold.nii.gz
head -c $(($(stat -c %s "$B") - 12)) "$B" >"$T/cut.gz" && mv "$T/cut.gz" "$B"
"$BIN" scan "$E" -o "$T/trunc.tsv" 2>/dev/null
check "truncated file passes without --verify" test $? -eq 0
expect_error "truncated with --verify" 3 "sub-X_ses-01_task-5000scenes_run-01_bold.nii.gz" "$E" --verify
printf 'not a nifti file at all' | gzip -n >"$B"
expect_error "corrupt NIfTI" 3 "sub-X_ses-01_task-5000scenes_run-01_bold.nii.gz" "$E"
mkdir -p "$T/empty"
expect_error "empty dataset" 3 "no BOLD runs of task '5000scenes'" "$T/empty"
expect_error "missing directory" 3 "not a directory" "$T/nonexistent"
expect_error "other task only" 3 "no BOLD runs of task 'nosuchtask'" "$D" --task nosuchtask

# usage errors: exit 2
for args in "--volume-rule lag:x" "--volume-rule lag:-2" "--volume-rule peak" "--task a_b" "" "a b"; do
    # shellcheck disable=SC2086
    "$BIN" scan $([ "$args" = "a b" ] && echo "$D $D" || echo "$D") $args >/dev/null 2>"$T/usage.err"
    rc=$?
    [ -z "$args" ] && { "$BIN" scan >/dev/null 2>"$T/usage.err"; rc=$?; }
    check "usage error '$args' exits 2 (got $rc)" test "$rc" -eq 2
done

# ---- an existing output survives a failed run -------------------------------
echo keep >"$T/keep.tsv"
"$BIN" scan "$T/empty" -o "$T/keep.tsv" 2>/dev/null
check "failed scan keeps the old output" test "$(cat "$T/keep.tsv")" = keep

finish scan
