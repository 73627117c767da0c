#!/usr/bin/env bash
# judge.sh: judge one run that kvm.nested-boot made inside the nested VM (run.sh --batch).
#
#   judge.sh --results DIR --name NAME [--status N] [--expect TEXT]... [--plain] \
#            [--same-as-dbt [--timeout SECONDS] -- DUALVM ARGS...]
#
# Replays the kept output and status through tests/run-guest.sh (the guest tests' own judge:
# status, expected texts, no line with FAIL). --plain: status and expected texts only (for
# kvm_selftest, whose passing lines may quote KVM names such as KVM_EXIT_FAIL_ENTRY). With --same-as-dbt, also runs DUALVM ARGS here
# with -accel kvm changed to -accel dbt and requires the same standard output (the guest's
# serial) and the same exit status. Lines the guest prints from RDTSC differ by nature and are
# compared with the counts masked. With --timeout (a guest that never ends, like firmware
# with nothing to boot): the dbt run is stopped after SECONDS as the VM stopped the KVM one,
# and "stopped at the limit" counts as the same status on both sides. Exit 77 (skip) when qemu-system-x86_64 is missing, as
# kvm.nested-boot then skipped.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
results='' name='' same=0 plain=0 limit=60
judge=()
while [[ $# -gt 0 ]]; do
    case "$1" in
    --results) results=${2:?}; shift 2 ;;
    --name) name=${2:?}; shift 2 ;;
    --status | --expect) judge+=("$1" "${2?}"); shift 2 ;;
    --same-as-dbt) same=1; shift ;;
    --plain) plain=1; shift ;;
    --timeout) limit=${2:?}; shift 2 ;;
    --) shift; break ;;
    *) echo "judge.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
[[ -n "$results" && -n "$name" ]] || { echo "judge.sh: need --results and --name" >&2; exit 2; }

if ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
    echo "kvm: SKIP: qemu-system-x86_64 is not installed, so kvm.nested-boot could not run" \
        "the KVM engine (apt-get install qemu-system-x86)"
    exit 77
fi
r="$results/$name"
if [[ ! -f "$r.status" ]]; then
    echo "judge: FAILED: no result for '$name' in $results: did kvm.nested-boot run and pass?"
    exit 1
fi
echo "kvm: '$name' ran in the nested VM in $(cat "$r.time" 2>/dev/null || echo '?')s" \
    "(TCG-nested time, not KVM's speed)"

verdict=0
if ((plain)); then
    cat "$r.out" "$r.err"
    for ((i = 0; i < ${#judge[@]}; i += 2)); do
        want=${judge[i + 1]}
        case "${judge[i]}" in
        --status)
            if [[ "$(cat "$r.status")" != "$want" ]]; then
                echo "judge: FAILED: exit status $(cat "$r.status"), expected $want"
                verdict=1
            fi
            ;;
        --expect)
            grep -qF -- "$want" "$r.out" "$r.err" || {
                echo "judge: FAILED: missing '$want'"
                verdict=1
            }
            ;;
        esac
    done
else
    bash "$here/../run-guest.sh" "${judge[@]}" -- bash -c \
        'cat "$1.out"; cat "$1.err" >&2; exit "$(cat "$1.status")"' replay "$r" || verdict=1
fi

if ((same)); then
    [[ $# -gt 0 ]] || { echo "judge.sh: --same-as-dbt needs -- DUALVM ARGS" >&2; exit 2; }
    args=()
    for a in "$@"; do
        [[ "$a" == kvm && "${args[-1]:-}" == -accel ]] && a=dbt
        args+=("$a")
    done
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    set +e
    timeout --kill-after=5 "$limit" "${args[@]}" </dev/null >"$tmp/dbt.out" 2>"$tmp/dbt.err"
    dstatus=$?
    set -e
    kstatus=$(cat "$r.status")
    [[ $dstatus -eq 124 ]] && dstatus="stopped at the ${limit}s limit"
    [[ -f "$r.timedout" ]] && kstatus="stopped at the $(cat "$r.timedout")s limit"
    # serial lines end in CR LF; RDTSC readings differ by nature
    norm() { tr -d '\r' <"$1" | sed -E '/^rdtsc:/ s/0x[0-9a-fA-F]+/0x(tsc)/g'; }
    norm "$r.out" >"$tmp/kvm.norm"
    norm "$tmp/dbt.out" >"$tmp/dbt.norm"
    if [[ "$kstatus" != "$dstatus" ]]; then
        echo "judge: FAILED: exit status $kstatus under kvm, $dstatus under dbt"
        verdict=1
    fi
    if ! diff -u --label "dbt (${args[*]})" --label "kvm (nested)" "$tmp/dbt.norm" \
        "$tmp/kvm.norm" >"$tmp/diff"; then
        echo "judge: FAILED: the serial output differs between the engines:"
        cat "$tmp/diff"
        echo "---- dbt's stderr ----"
        cat "$tmp/dbt.err"
        verdict=1
    else
        echo "judge: same serial output ($(wc -l <"$tmp/kvm.norm") lines) and status ($kstatus)" \
            "under kvm and dbt"
    fi
fi
exit $verdict
