#!/usr/bin/env bash
# run-boot.sh: boot an image under an emulator (dualvm or QEMU) and judge the run.
#
#   run-boot.sh [--timeout S] [--status N] [--until TEXT] [--expect TEXT]...
#               [--screen FILE] [--screen-expect TEXT]... [--unchanged FILE]... -- COMMAND...
#
# Without --until the guest must end the run itself within S seconds (default 60) with exit
# status N (default 1: PASS through isa-debug-exit, see tests/guests/README.md). With --until
# the guest is expected to wait (a boot prompt): once TEXT shows in its output it is stopped
# with SIGTERM, and the status is not judged. Then:
#   - every --expect TEXT is in the output (CR and ANSI escape sequences removed: SeaBIOS's
#     serial console draws the screen with them);
#   - no output line contains FAIL;
#   - --screen FILE (written by the emulator, e.g. -screenshot-text) holds every
#     --screen-expect TEXT;
#   - every --unchanged FILE has the same contents after the run as before (-snapshot).
# The output is printed, so ctest --output-on-failure shows what happened.
set -euo pipefail

timeout_s=60 want_status=1 until_text="" screen=""
expects=() screen_expects=() unchanged=()
while [[ $# -gt 0 ]]; do
    case "$1" in
    --timeout) timeout_s=${2:?}; shift 2 ;;
    --status) want_status=${2:?}; shift 2 ;;
    --until) until_text=${2:?}; shift 2 ;;
    --expect) expects+=("${2?}"); shift 2 ;;
    --screen) screen=${2:?}; shift 2 ;;
    --screen-expect) screen_expects+=("${2?}"); shift 2 ;;
    --unchanged) unchanged+=("${2:?}"); shift 2 ;;
    --) shift; break ;;
    *) echo "run-boot: unknown argument $1" >&2; exit 2 ;;
    esac
done
[[ $# -gt 0 ]] || { echo "run-boot: no command" >&2; exit 2; }
if [[ ! -x "$1" ]] && ! command -v "$1" >/dev/null 2>&1; then
    echo "run-boot: emulator '$1' not found or not executable" >&2
    exit 1
fi

out=$(mktemp)
trap 'rm -f "$out" "$out.txt"' EXIT
declare -A sums=()
for f in "${unchanged[@]}"; do
    sums[$f]=$(md5sum <"$f")
done
[[ -z $screen ]] || rm -f "$screen"

clean() { # the output as text: no CR, no ANSI escape sequences
    sed -e 's/\r//g' -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1bc//g' "$out" >"$out.txt"
}

verdict=0
fail() {
    echo "run-boot: FAILED: $*"
    verdict=1
}

set +e
if [[ -n $until_text ]]; then
    "$@" </dev/null >"$out" 2>&1 &
    pid=$!
    reached=0
    for ((i = 0; i < timeout_s * 5; i++)); do
        clean
        if grep -qF -- "$until_text" "$out.txt"; then
            reached=1
            break
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    sleep 1 # let the screen settle
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid"
    status=$?
    clean
    ((reached)) || fail "'$until_text' did not show within ${timeout_s}s (the boot stopped or hung before it)"
else
    timeout --kill-after=5 "$timeout_s" "$@" </dev/null >"$out" 2>&1
    status=$?
    clean
fi
set -e

echo "---- output ($*) ----"
cat "$out.txt"
echo "---- end of output (status $status) ----"

if [[ -z $until_text ]]; then
    if [[ $status -eq 124 || $status -eq 137 ]]; then
        fail "timed out after ${timeout_s}s: the guest never reached the exit device at port 0xf4"
    elif [[ $status -ne $want_status ]]; then
        if ((status == 0)); then
            why="the emulator exited without the guest writing to isa-debug-exit (no bootable device, reset, triple fault?)"
        elif ((status % 2 == 1)); then
            why="the guest wrote $(((status - 1) / 2)) to isa-debug-exit"
        else
            why="an emulator error"
        fi
        fail "exit status $status, expected $want_status: $why"
    fi
fi
for text in "${expects[@]}"; do
    grep -qF -- "$text" "$out.txt" || fail "missing expected output: '$text'"
done
if grep -n 'FAIL' "$out.txt" >/dev/null; then
    fail "output reports failures:"
    grep -n 'FAIL' "$out.txt" | sed 's/^/    /'
fi
if [[ -n $screen ]]; then
    if [[ ! -s $screen ]]; then
        fail "no screen text in $screen"
    else
        echo "---- screen ($screen) ----"
        cat "$screen"
        echo "---- end of screen ----"
        for text in "${screen_expects[@]}"; do
            grep -qF -- "$text" "$screen" || fail "missing on the screen: '$text'"
        done
    fi
fi
for f in "${unchanged[@]}"; do
    [[ $(md5sum <"$f") == "${sums[$f]}" ]] || fail "$f changed during the run"
done
((verdict == 0)) && echo "run-boot: ok"
exit $verdict
