#!/usr/bin/env bash
# run-cli.sh STATUS REGEX -- COMMAND...: run COMMAND, require exit status STATUS and that its
# stderr is exactly one line matching REGEX (errors are one line, said once).
set -uo pipefail
want=$1 re=$2
shift 3
err=$(mktemp)
trap 'rm -f "$err"' EXIT
timeout --kill-after=5 30 "$@" </dev/null >/dev/null 2>"$err"
got=$?
lines=$(wc -l <"$err")
if [[ $got -ne $want ]]; then
    echo "run-cli: exit status $got, expected $want; stderr:" >&2
    cat "$err" >&2
    exit 1
fi
if [[ $lines -ne 1 ]] || ! grep -Eq -- "$re" "$err"; then
    echo "run-cli: expected one stderr line matching /$re/, got $lines line(s):" >&2
    cat "$err" >&2
    exit 1
fi
echo "run-cli: status $got: $(cat "$err")"
