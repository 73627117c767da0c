#!/usr/bin/env bash
# boot-test.sh: boot a Linux kernel and initramfs of tests/linux/build-images.sh under dualvm
# (and under QEMU for comparison) and judge the run.
#
#   boot-test.sh --images DIR --expected FILE [--append STR] [--timeout SECONDS]
#                [--qemu QEMU_BINARY] -- DUALVM [ARGS...]
#       Runs QEMU first when --qemu names an installed binary (qemu -accel tcg, the same
#       kernel, initramfs and command line), then DUALVM ARGS -kernel DIR/bzImage
#       -initrd DIR/initramfs.cpio -append STR -nographic. Each run must pass the checks below;
#       the times of both are printed side by side.
#   boot-test.sh --images DIR --expected FILE [--skip-without PROGRAM] --replay PREFIX
#       Judges a run made elsewhere (the nested-KVM VM): PREFIX.out, PREFIX.err, PREFIX.status,
#       PREFIX.time as scripts/kvm-nested/run.sh --batch writes them. With --skip-without,
#       exits 77 (skip) when PROGRAM is not installed, as the run that made PREFIX then did.
#
# A run passes when: the emulator exits 0 (the guest powered off), the guest printed the
# marker "@@dualvm-linux: init reached", the guest's "T: " lines are exactly those of FILE
# (@RELEASE@ and @MACHINE@ replaced by DIR/release and DIR/machine; trailing blanks ignored),
# the test script exited with 0, and the kernel did not panic or oops. The time from the
# emulator's start to the marker line is measured here (and the guest's own uptime at that
# point is printed by the guest); CPU time is the emulator's user + system time.
set -euo pipefail

images='' expected='' append='console=ttyS0 panic=-1' timeout_s=300 qemu='' replay='' needs=''
while [[ $# -gt 0 ]]; do
    case "$1" in
    --images) images=${2:?}; shift 2 ;;
    --expected) expected=${2:?}; shift 2 ;;
    --append) append=${2?}; shift 2 ;;
    --timeout) timeout_s=${2:?}; shift 2 ;;
    --qemu) qemu=${2?}; shift 2 ;;
    --replay) replay=${2:?}; shift 2 ;;
    --skip-without) needs=${2:?}; shift 2 ;;
    --) shift; break ;;
    *) echo "boot-test: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
[[ -n "$images" && -n "$expected" ]] || { echo "boot-test: need --images and --expected" >&2; exit 2; }
[[ -n "$replay" || $# -gt 0 ]] || { echo "boot-test: need -- DUALVM ARGS or --replay" >&2; exit 2; }
if [[ -n "$needs" ]] && ! command -v "$needs" >/dev/null 2>&1; then
    echo "boot-test: SKIP: $needs is not installed, so the run to judge could not be made"
    exit 77
fi
for f in bzImage initramfs.cpio release machine; do
    [[ -f "$images/$f" ]] || { echo "boot-test: FAILED: $images/$f missing (did linux.images run?)"; exit 1; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed -e "s/@RELEASE@/$(cat "$images/release")/g" -e "s/@MACHINE@/$(cat "$images/machine")/g" \
    "$expected" >"$tmp/expected"
marker='@@dualvm-linux: init reached'

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# run NAME CMD...: output to $tmp/NAME.out (CRs dropped), status, marker time, CPU time
run() {
    local name=$1 t0 line
    shift
    echo "---- $name: $* ----"
    t0=$(now)
    : >"$tmp/$name.marker"
    set +e
    (
        timeout --kill-after=5 "$timeout_s" "$@" </dev/null 2>&1
        echo "$?" >"$tmp/$name.status"
        times >"$tmp/$name.times" # (not in a pipeline: that would be another subshell's)
    ) | while IFS= read -r line; do
        line=${line%$'\r'} # serial lines end in CR LF
        printf '%s\n' "$line"
        if [[ ! -s "$tmp/$name.marker" && "$line" == *"$marker"* ]]; then
            secs "$t0" "$(now)" >"$tmp/$name.marker"
        fi
    done | tee "$tmp/$name.out"
    set -e
    secs "$t0" "$(now)" >"$tmp/$name.total"
    # the second line, "0m8.360s 0m0.210s": the children's user and system time
    tail -n1 "$tmp/$name.times" >"$tmp/$name.cpu"
    awk '{ split($1, u, "m"); split($2, s, "m"); printf "%.2f", u[1] * 60 + u[2] + s[1] * 60 + s[2] }' \
        "$tmp/$name.cpu" >"$tmp/$name.cpus"
    echo "---- end of $name ----"
}

verdict=0
# judge NAME: the checks on $tmp/NAME.out and .status
judge() {
    local name=$1 ok=1 status
    status=$(cat "$tmp/$name.status" 2>/dev/null || echo '?')
    fail() {
        echo "boot-test: $name: FAILED: $*"
        ok=0
    }
    if [[ "$status" == 124 || "$status" == 137 ]]; then
        fail "timed out after ${timeout_s}s"
    elif [[ "$status" != 0 ]]; then
        fail "exit status $status, expected 0 (the guest powers off at the end)"
    fi
    grep -qF "$marker" "$tmp/$name.out" || fail "the guest never printed '$marker'"
    grep '^T: ' "$tmp/$name.out" | sed 's/[[:space:]]*$//' >"$tmp/$name.got" || true
    if ! diff -u --label expected --label "$name" "$tmp/expected" "$tmp/$name.got" >"$tmp/$name.diff"; then
        fail "the guest's result lines differ from $(basename "$expected"):"
        cat "$tmp/$name.diff"
    fi
    grep -qF '@@dualvm-linux: test script exited with 0' "$tmp/$name.out" ||
        fail "the guest's test script did not exit with 0"
    if grep -nE 'Kernel panic|Oops|BUG: kernel' "$tmp/$name.out"; then
        fail "the kernel panicked or oopsed (above)"
    fi
    if grep -nE 'WARNING: CPU|rcu.*stall|soft lockup' "$tmp/$name.out"; then
        echo "boot-test: $name: note: kernel warnings above (not failing the test for them)"
    fi
    ((ok)) && echo "boot-test: $name: ok ($(wc -l <"$tmp/$name.got") result lines as expected, status 0)"
    ((ok)) || verdict=1
}

if [[ -n "$replay" ]]; then
    for f in out status; do
        [[ -f "$replay.$f" ]] || { echo "boot-test: FAILED: no $replay.$f (did the nested run happen?)"; exit 1; }
    done
    tr -d '\r' <"$replay.out" >"$tmp/kvm.out"
    cat "$replay.err" 2>/dev/null || true
    cat "$tmp/kvm.out"
    cp "$replay.status" "$tmp/kvm.status"
    judge kvm
    up=$(sed -n 's/.*@@dualvm-linux: init reached, uptime \([0-9.]*\) s.*/\1/p' "$tmp/kvm.out" | head -n1)
    echo "boot-test: kvm: guest uptime at the marker ${up:-?} s, whole run $(cat "$replay.time" 2>/dev/null || echo '?') s" \
        "(inside the nested VM: TCG-nested time, not KVM's speed)"
    exit $verdict
fi

args=(-kernel "$images/bzImage" -initrd "$images/initramfs.cpio" -append "$append")
have_qemu=0
if [[ -n "$qemu" ]] && command -v "$qemu" >/dev/null 2>&1; then
    have_qemu=1
    run qemu "$qemu" -accel tcg -m 128 -nographic -no-reboot -monitor none "${args[@]}"
    judge qemu
fi
run dualvm "$@" "${args[@]}" -nographic
judge dualvm

summary() {
    local n=$1
    echo "$n: marker after $(cat "$tmp/$n.marker" 2>/dev/null || echo '?')s, whole run $(cat "$tmp/$n.total")s, CPU $(cat "$tmp/$n.cpus")s"
}
echo "boot-test: times from the emulator's start (wall clock; CPU = user + system):"
echo "boot-test:   $(summary dualvm)"
if ((have_qemu)); then
    echo "boot-test:   $(summary qemu) ($qemu -accel tcg)"
    awk -v d="$(cat "$tmp/dualvm.marker")" -v q="$(cat "$tmp/qemu.marker")" \
        -v dc="$(cat "$tmp/dualvm.cpus")" -v qc="$(cat "$tmp/qemu.cpus")" 'BEGIN {
        if (d > 0 && q > 0) printf "boot-test:   dualvm / QEMU: %.2fx the time to the marker, %.2fx the CPU time\n", d / q, (qc > 0 ? dc / qc : 0) }'
else
    echo "boot-test:   (no QEMU comparison: ${qemu:-no --qemu given} not installed)"
fi
exit $verdict
