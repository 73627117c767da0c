#!/usr/bin/env bash
# run-guest.sh: run one test guest under an emulator (dualvm or QEMU) and judge the run.
#
#   run-guest.sh [--status N] [--expect TEXT]... [--timeout SECONDS] -- EMULATOR ARGS...
#
# The run passes when, all together:
#   - it ends within the timeout (a hung guest is reported as such, not left to ctest);
#   - the exit status is N (default 1: a guest that writes 0 to isa-debug-exit, see
#     tests/guests/README.md);
#   - every TEXT occurs in the output (fixed strings, each anywhere on a line);
#   - no output line contains "FAIL".
# The guest's output is always printed, so ctest --output-on-failure shows what happened.
set -euo pipefail

usage() {
    echo "usage: $0 [--status N] [--expect TEXT]... [--timeout SECONDS] -- COMMAND [ARGS...]" >&2
    exit 2
}

want_status=1
timeout_s=60
expects=()
while [[ $# -gt 0 ]]; do
    case "$1" in
    --status) want_status=${2:?}; shift 2 ;;
    --expect) expects+=("${2?}"); shift 2 ;;
    --timeout) timeout_s=${2:?}; shift 2 ;;
    --) shift; break ;;
    *) usage ;;
    esac
done
[[ $# -gt 0 ]] || usage
if [[ ! -x "$1" ]] && ! command -v "$1" >/dev/null 2>&1; then
    echo "run-guest: emulator '$1' not found or not executable" >&2
    exit 1
fi

out=$(mktemp)
trap 'rm -f "$out"' EXIT

# stdin from /dev/null: with -nographic the emulator would otherwise put a calling terminal in
# raw mode. --kill-after: a guest that ignores SIGTERM still goes.
set +e
timeout --kill-after=5 "$timeout_s" "$@" </dev/null >"$out" 2>&1
status=$?
set -e

# Serial output ends lines with CR LF; drop the CRs so matching is by plain lines.
tr -d '\r' <"$out" >"$out.lf" && mv "$out.lf" "$out"
echo "---- guest output ($*) ----"
cat "$out"
echo "---- end of guest output ----"

verdict=0
fail() {
    echo "run-guest: FAILED: $*"
    verdict=1
}

if [[ $status -eq 124 || ($status -eq 137 && $want_status -ne 137) ]]; then
    fail "timed out after ${timeout_s}s (status $status): the guest hung or never reached the exit device at port 0xf4"
elif [[ $status -ne $want_status ]]; then
    if ((status == 0)); then
        why="the emulator exited without the guest writing to isa-debug-exit (reset, shutdown, triple fault, or not running guests yet)"
    elif ((status > 128)); then
        why="the emulator died from signal $((status - 128))"
    elif ((status % 2 == 1)); then
        why="the guest wrote $(((status - 1) / 2)) to isa-debug-exit"
    else
        why="an even status does not come from isa-debug-exit: an emulator error"
    fi
    fail "exit status $status, expected $want_status: $why"
fi

for text in "${expects[@]}"; do
    grep -qF -- "$text" "$out" || fail "missing expected output: '$text'"
done

if grep -n 'FAIL' "$out" >/dev/null; then
    fail "output reports failures:"
    grep -n 'FAIL' "$out" | sed 's/^/    /'
fi

if ((verdict == 0)); then
    echo "run-guest: ok (status $status)"
fi
exit $verdict
