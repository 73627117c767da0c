#!/usr/bin/env bash
# run-diff.sh [--timeout S] [--status N] -- DUALVM ARGS...: one guest under the host-code back end
# and again under the differential mode (-dbt-backend diff, every block under both back ends).
# Passes when both runs end with status N (default 1: the guest wrote 0 to the exit device),
# print the same guest output (stdout), no line says FAIL, the differential run reported no
# difference, and -stats shows it compared blocks (a run that compared nothing proves nothing).
set -euo pipefail

timeout_s=300
want=1
while [[ $# -gt 0 ]]; do
    case "$1" in
    --timeout) timeout_s=${2:?}; shift 2 ;;
    --status) want=${2:?}; shift 2 ;;
    --) shift; break ;;
    *) echo "usage: $0 [--timeout S] [--status N] -- DUALVM ARGS..." >&2; exit 2 ;;
    esac
done
[[ $# -gt 0 ]] || { echo "usage: $0 [--timeout S] [--status N] -- DUALVM ARGS..." >&2; exit 2; }
dualvm=$1
shift

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
    echo "run-diff: FAILED: $*"
    for f in jit.out jit.err diff.out diff.err; do
        echo "---- $f"
        tail -n 40 "$tmp/$f"
    done
    exit 1
}

run() { # NAME BACKEND ARGS...
    local name=$1 backend=$2 st=0
    shift 2
    timeout --kill-after=5 "$timeout_s" "$dualvm" -accel dbt -dbt-backend "$backend" -stats "$@" \
        >"$tmp/$name.out" 2>"$tmp/$name.err" </dev/null || st=$?
    echo "$st"
}
st_jit=$(run jit jit "$@")
st_diff=$(run diff diff "$@")
[[ $st_jit == 124 || $st_diff == 124 ]] && fail "timed out after ${timeout_s}s (jit $st_jit, diff $st_diff)"
[[ $st_jit == "$want" ]] || fail "status $st_jit under -dbt-backend jit, expected $want"
[[ $st_diff == "$want" ]] || fail "status $st_diff under -dbt-backend diff, expected $want"
if grep -q 'dbt-diff:' "$tmp/diff.err"; then
    fail "the differential mode reported a difference"
fi
grep -q FAIL "$tmp/jit.out" "$tmp/diff.out" && fail "the guest reported a failure"
cmp -s "$tmp/jit.out" "$tmp/diff.out" || {
    diff "$tmp/jit.out" "$tmp/diff.out" | head -n 20
    fail "the guest's output differs between the two runs"
}
compared=$(sed -n 's/^dbt: diff: blocks compared *\([0-9]*\).*/\1/p' "$tmp/diff.err")
[[ -n "$compared" && "$compared" -gt 0 ]] || fail "the differential run compared no block"
echo "run-diff: same output and status ($want); $(grep '^dbt: diff:' "$tmp/diff.err" | sed 's/^dbt: diff: *//' | tr -s ' ' | paste -sd';')"
