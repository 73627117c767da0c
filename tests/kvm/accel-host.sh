#!/usr/bin/env bash
# accel-host.sh kvm|auto|no-dev-kvm DUALVM KERNEL: how dualvm picks its engine on this host,
# with KERNEL a guest that prints "PASS: hello" (tests/guests' hello.elf).
#   kvm         -accel kvm: either KVM works here and the guest runs (PASS, status 1, nothing
#               on stderr), or dualvm refuses at once: exactly one line on stderr,
#               "dualvm: -accel kvm: REASON; use -accel dbt or -accel auto", nothing on
#               stdout, status 1.
#   auto        -accel auto: exactly one line on stderr, "dualvm: using kvm|dbt (REASON)",
#               and the guest passes on whichever engine that is.
#   no-dev-kvm  both, in a mount namespace whose /dev is empty (unshare -rm, as any user
#               where user namespaces are allowed, else a skip: status 77): the refusal and
#               the fallback must give the reason for a missing /dev/kvm, and auto must
#               take dbt.
set -uo pipefail

mode=${1:?mode} dualvm=${2:?dualvm} kernel=${3:?kernel}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
bad() {
    echo "accel-host: FAILED: $*"
    fail=1
}

# run ACCEL [PREFIX...]: dualvm's stdout, stderr and status into $tmp/out, err, status
run() {
    local accel=$1
    shift
    "$@" "$dualvm" -accel "$accel" -kernel "$kernel" -nographic </dev/null >"$tmp/out" \
        2>"$tmp/err"
    echo $? >"$tmp/status"
    echo "---- -accel $accel: status $(cat "$tmp/status"), stderr:"
    cat "$tmp/err"
    echo "---- stdout:"
    tr -d '\r' <"$tmp/out"
}
lines() { wc -l <"$1"; }

check_kvm() { # [REASON-REGEX]
    local want=${1:-.+}
    if grep -q "PASS: hello" "$tmp/out"; then
        [[ -z "${1:-}" ]] || bad "the guest ran under -accel kvm where it should have been refused"
        [[ "$(cat "$tmp/status")" == 1 ]] || bad "status $(cat "$tmp/status") after the guest passed, expected 1"
        [[ ! -s "$tmp/err" ]] || bad "KVM ran the guest but stderr is not empty"
        return
    fi
    [[ "$(cat "$tmp/status")" == 1 ]] || bad "refused with status $(cat "$tmp/status"), expected 1"
    [[ "$(lines "$tmp/err")" == 1 ]] || bad "refused with $(lines "$tmp/err") lines on stderr, expected exactly 1"
    grep -qE "^dualvm: -accel kvm: $want; use -accel dbt or -accel auto\$" "$tmp/err" ||
        bad "the refusal is not 'dualvm: -accel kvm: REASON; use -accel dbt or -accel auto'"
    [[ ! -s "$tmp/out" ]] || bad "refused, yet something was printed on stdout"
}

check_auto() { # [ENGINE REASON-REGEX]
    local engine=${1:-(kvm|dbt)} want=${2:-.+}
    [[ "$(lines "$tmp/err")" == 1 ]] || bad "$(lines "$tmp/err") lines on stderr, expected exactly 1"
    grep -qE "^dualvm: using $engine \($want\)\$" "$tmp/err" ||
        bad "stderr is not 'dualvm: using $engine (REASON)'"
    grep -q "PASS: hello" "$tmp/out" || bad "the guest did not pass"
    [[ "$(cat "$tmp/status")" == 1 ]] || bad "status $(cat "$tmp/status"), expected 1"
}

case "$mode" in
kvm)
    run kvm
    check_kvm
    ;;
auto)
    run auto
    check_auto
    ;;
no-dev-kvm)
    if ! unshare -rm true 2>/dev/null; then
        echo "accel-host: SKIP: no user and mount namespaces here (unshare -rm), so /dev/kvm" \
            "cannot be hidden"
        exit 77
    fi
    hide=(unshare -rm sh -c 'mount -t tmpfs none /dev && exec "$@"' sh)
    missing='no /dev/kvm on this host \(KVM module not loaded, or no hardware virtualization\)'
    run kvm "${hide[@]}"
    check_kvm "$missing"
    run auto "${hide[@]}"
    check_auto dbt "$missing"
    ;;
*)
    echo "accel-host.sh: unknown mode '$mode'" >&2
    exit 2
    ;;
esac
((fail == 0)) && echo "accel-host: PASSED ($mode)"
exit $fail
