#!/bin/bash
# latentrsa report: rebuild report.html from a fake study folder (tests/tools/report_fixture.h,
# written by report_tool), print its path; every embedded image decodes; the page opens in headless
# Chromium (Debian's chromium, installed by scripts/bootstrap) and the screenshot is not blank, shows
# the red random-ViT warning box, and (taller) the RDM heatmaps; bad input (exit status, one error
# line naming the file, the earlier report left as it was), -h.
# Needs LRSA_BIN, LRSA_TOOLS and LRSA_TMP. Ends with "report: N passed, M failed".
set -eu
. "$(dirname "$0")/lib.sh" t7100
TOOL=${LRSA_TOOLS:?LRSA_TOOLS not set}/report_tool
S=$T/study

# ---- -h ------------------------------------------------------------------------------------------
rc=0
"$BIN" report -h >"$T/help.out" 2>&1 || rc=$?
check "report -h exits 0" test "$rc" -eq 0
check "-h synopsis" grep -qxF 'usage: latentrsa report OUT' "$T/help.out"

# ---- the happy path ------------------------------------------------------------------------------
"$TOOL" fixture "$S"
rc=0
"$BIN" report "$S" >"$T/out" 2>"$T/err" || rc=$?
check "report exits 0" test "$rc" -eq 0
check "prints the report's path" test "$(cat "$T/out")" = "$S/report.html"
check "says what it wrote on stderr" grep -qF "wrote '$S/report.html'" "$T/err"
check "report.html exists" test -s "$S/report.html"
check "every embedded image decodes" "$TOOL" images "$S/report.html"
check "8 embedded images" grep -qxF "8 images decode, 0 do not" <("$TOOL" images "$S/report.html")
for id in headline meaning dataset architecture reconstructions rdms loss rsa baseline lags truth \
    subjects alignment null options stages versions; do
    check "section $id" grep -qF "<section id=\"$id\"" "$S/report.html"
done
check "no script" bash -c "! grep -qi '<script' '$S/report.html'"
check "no external link" bash -c "! grep -qiE 'https?://' '$S/report.html'"
check "no temporary left" test "$(ls -A "$S" | tr '\n' ' ')" = "ae compare rdm report.html results.json "
cp "$S/report.html" "$T/first.html"
rc=0
"$BIN" report -q "$S" >"$T/out2" 2>"$T/err2" || rc=$?
check "-q: exits 0" test "$rc" -eq 0
check "-q: nothing on stderr" test ! -s "$T/err2"
check "-q: still prints the path" test "$(cat "$T/out2")" = "$S/report.html"
check "a rebuild gives the same bytes" cmp -s "$S/report.html" "$T/first.html"

# ---- headless Chromium ---------------------------------------------------------------------------
# shot SIZE FILE: a screenshot of the report; chromium's own messages (dbus, GPU) go to a log.
shot() {
    timeout 60 chromium --headless --no-sandbox --disable-gpu --user-data-dir="$T/chrome" \
        --screenshot="$2" --window-size="$1" "file://$S/report.html" >"$T/chrome.log" 2>&1
}
if command -v chromium >/dev/null 2>&1; then
    rc=0
    shot 1200,3000 "$T/shot.png" || rc=$?
    check "chromium exits 0" test "$rc" -eq 0
    check "screenshot written" test -s "$T/shot.png"
    check "screenshot is not blank" "$TOOL" not-blank "$T/shot.png"
    # The random-ViT warning box's background (#fde8e8): the CSS was applied.
    check "the red warning box is on screen" test "$("$TOOL" count "$T/shot.png" 253 232 232)" -gt 5000
    # The whole page: viridis' darkest colour (the RDMs' zero diagonal) shows the figures render.
    rc=0
    shot 1200,12000 "$T/tall.png" || rc=$?
    check "tall screenshot" test "$rc" -eq 0
    check "the RDM heatmaps are drawn" test "$("$TOOL" count "$T/tall.png" 68 1 84)" -gt 5000
else
    bad "chromium is not installed: run scripts/bootstrap (as root or with sudo)"
fi

# ---- bad input: exit status, one error line naming the file, the earlier report kept -------------
# fails STATUS NEEDLE DESCRIPTION ARGS...
fails() {
    local want=$1 needle=$2 what=$3
    shift 3
    local rc=0
    "$BIN" report "$@" >"$T/bad.out" 2>"$T/bad.err" || rc=$?
    check "$what: exit $want" test "$rc" -eq "$want"
    check "$what: nothing on stdout" test ! -s "$T/bad.out"
    if [ "$want" -ne 2 ]; then
        check "$what: one error line" test "$(wc -l <"$T/bad.err")" -eq 1
        check "$what: names '$needle'" grep -qF -- "$needle" "$T/bad.err"
    fi
}
fails 2 "" "no argument"
fails 2 "" "two arguments" "$S" "$S"
fails 2 "" "unknown option" --bogus "$S"
fails 3 "$T/nothing" "no such folder" "$T/nothing"
mkdir -p "$T/empty"
fails 3 "$T/empty/results.json" "no results.json" "$T/empty"
check "no results.json: no report" test ! -e "$T/empty/report.html"

mv "$S/ae/AE.recon.png" "$T/recon.saved"
fails 3 "$S/ae/AE.recon.png" "a named file missing" "$S"
check "a named file missing: names the key" grep -qF "key 'ae.recon_figure'" "$T/bad.err"
check "a named file missing: the earlier report kept" cmp -s "$S/report.html" "$T/first.html"
mv "$T/recon.saved" "$S/ae/AE.recon.png"

cp "$S/results.json" "$T/results.saved"
sed -i 's/"n_stimuli": 6/"n_stimuli": "six"/' "$S/results.json"
fails 3 "'n_stimuli' is a string, expected a number or null" "a key of the wrong type" "$S"
check "a key of the wrong type: names results.json" grep -qF "$S/results.json" "$T/bad.err"
printf '{"rsa": ' >"$S/results.json"
fails 3 "$S/results.json': not valid JSON" "truncated JSON" "$S"
check "the earlier report kept" cmp -s "$S/report.html" "$T/first.html"
check "no temporary left after failures" test "$(ls -A "$S" | tr '\n' ' ')" = "ae compare rdm report.html results.json "
cp "$T/results.saved" "$S/results.json"

finish report
