# Shared by the CLI tests (sourced, not run): the binary, a scratch directory, pass/fail counts.
#   . "$(dirname "$0")/lib.sh" NAME    sets BIN (absolute), T ($LRSA_TMP/NAME, emptied), pass, fail
#   check DESCRIPTION COMMAND...       counts a pass if COMMAND succeeds, else prints FAIL
#   finish LABEL                       prints "LABEL: N passed, M failed"; exit status is the verdict
BIN=${LRSA_BIN:?LRSA_BIN not set}
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
T=${LRSA_TMP:-/tmp}/${1:?lib.sh needs a test name}
rm -rf "$T" && mkdir -p "$T" || exit 1
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
check() { # check DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@"; then ok; else bad "$what"; fi
}
finish() {
    echo "$1: $pass passed, $fail failed"
    [ "$fail" -eq 0 ]
}
