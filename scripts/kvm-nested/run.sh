#!/usr/bin/env bash
# run.sh: run dualvm inside a VM that has a working /dev/kvm, on a host that has none.
#
#   run.sh [OPTIONS] -- DUALVM [ARGS...]
#       Runs `DUALVM ARGS...` in the VM; prints its stdout and stderr and exits with its
#       status.
#   run.sh [OPTIONS] --batch MANIFEST --results DIR
#       Runs every test of MANIFEST in one boot (a boot costs ~8-10 s of the total). A line of
#       MANIFEST is `NAME[:SECONDS][@UNTIL] DUALVM ARGS...` (split on blanks, no quoting; #
#       starts a comment); SECONDS overrides --test-timeout for that test; UNTIL (no blanks)
#       ends the test once its standard output holds that text (ANSI escapes and CRs removed),
#       with SIGTERM 1 s later, for a guest that then waits forever (a boot: prompt). Each test
#       runs in its own empty working directory, whose files come back as DIR/NAME.files/:
#       relative paths in ARGS name output files (-screenshot shot.png). DIR gets NAME.out,
#       NAME.err, NAME.status and NAME.time per test (and NAME.timedout if it ran out of time:
#       it got SIGTERM, then SIGKILL 5 s later; NAME.until if UNTIL stopped it), kvm ("ok" or
#       why not) and console.log. Exits 0 when the VM ran them all with a working /dev/kvm,
#       whatever their statuses.
#
# Options: --cache DIR (kernel, initramfs; default $KVM_NESTED_CACHE or
# ${TMPDIR:-/tmp}/dualvm-kvm-nested), --test-timeout SECONDS (each test, default 120),
# --vm-timeout SECONDS (the whole VM, default 600), --memory MIB (the VM's, default 1024).
#
# The VM: Debian's amd64 kernel under qemu-system-x86_64 -accel tcg -cpu EPYC,+svm,+npt,
# whose kvm-amd module gives a real /dev/kvm: the guest's guest runs under KVM, nested inside
# QEMU's emulated SVM (see build-image.sh). Everything is built from Debian packages at test
# time and cached; nothing downloaded is committed. Times measured inside are TCG's speed,
# not KVM's.
#
# Files: DUALVM, the shared libraries it needs (by ldd, with the dynamic loader) and every
# argument that names an existing file (also inside NAME=VALUE,... lists, as in
# -device loader,file=F) are copied into the VM's initramfs at the same absolute paths, and
# the command runs in the same working directory (--batch: see above), so the arguments need
# no rewriting. SeaBIOS's images that dualvm loads by default with no -kernel and no -bios
# (/usr/share/seabios/bios-256k.bin and vgabios-stdvga.bin, package seabios) are copied too.
#
# $KVM_NESTED_CPU replaces the VM's -cpu (default EPYC,+svm,+npt; without svm there is no
# /dev/kvm inside, which is how the harness's own failure path is checked).
# $KVM_NESTED_STALL_SECONDS replaces how long a silent console means a stalled VM (see below).
# $KVM_NESTED_QEMU_ARGS (split on blanks) are added to the VM's QEMU command line: for
# debugging, e.g. "-d int,cpu_reset -D /tmp/qemu-int.log" logs every exception of the VM and
# of the KVM guest inside it as QEMU's TCG delivers them.
#
# Exit status 77: qemu-system-x86_64 is not installed (ctest's SKIP_RETURN_CODE). 125: the
# harness itself failed (image build, boot, no /dev/kvm inside): a failure, never a skip.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${KVM_NESTED_CACHE:-${TMPDIR:-/tmp}/dualvm-kvm-nested}
test_timeout=120
vm_timeout=600
memory=1024
batch=
results=

usage() {
    sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 125
}
die() {
    echo "kvm-nested: error: $*" >&2
    exit 125
}

while [[ $# -gt 0 ]]; do
    case "$1" in
    --cache) cache=${2:?}; shift 2 ;;
    --test-timeout) test_timeout=${2:?}; shift 2 ;;
    --vm-timeout) vm_timeout=${2:?}; shift 2 ;;
    --memory) memory=${2:?}; shift 2 ;;
    --batch) batch=${2:?}; shift 2 ;;
    --results) results=${2:?}; shift 2 ;;
    --) shift; break ;;
    -h | --help) usage ;;
    *) usage ;;
    esac
done
if [[ -n "$batch" ]]; then
    [[ $# -eq 0 && -n "$results" ]] || usage
else
    [[ $# -gt 0 ]] || usage
fi

cache=$(realpath -m -- "$cache")
[[ -z "$results" ]] || results=$(realpath -m -- "$results")

qemu=$(command -v qemu-system-x86_64 || true)
if [[ -z "$qemu" ]]; then
    echo "kvm-nested: SKIP: qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)," \
        "so the KVM engine cannot be tested here" >&2
    exit 77
fi

# old results must not pass for new ones
if [[ -n "$results" ]]; then
    mkdir -p "$results"
    rm -f "$results"/*.out "$results"/*.err "$results"/*.status "$results"/*.time \
        "$results"/*.timedout "$results"/*.until \
        "$results/kvm" "$results/console.log" "$results/qemu.log"
    rm -rf "$results"/*.files
fi

"$here/build-image.sh" "$cache" || die "could not build the test VM image"
busybox="$cache/busybox"

work=$(mktemp -d "${TMPDIR:-/tmp}/kvm-nested.XXXXXX")
trap 'rm -rf "$work"' EXIT
stage="$work/payload"
mkdir -p "$stage/job"

# put PATH into the payload at the same absolute path (directories are created by cpio from
# the staged tree)
add_file() {
    local src=$1 abs
    abs=$(realpath -s -- "$src")
    [[ -e "$stage$abs" ]] && return 0
    mkdir -p "$stage$(dirname "$abs")"
    cp -L -- "$src" "$stage$abs"
}

add_program() {
    local bin=$1 lib
    [[ -x "$bin" ]] || die "$bin: not an executable"
    add_file "$bin"
    # "libx.so => /path (0x...)" and "/lib64/ld-linux-x86-64.so.2 (0x...)"
    while read -r lib; do
        [[ -n "$lib" && -e "$lib" ]] && add_file "$lib"
    done < <(ldd "$bin" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
}

# the arguments' files: whole arguments, or the values of KEY=VALUE lists
add_arg_files() {
    local a part
    for a in "$@"; do
        if [[ -f "$a" ]]; then
            add_file "$a"
            continue
        fi
        IFS=',' read -r -a parts <<<"$a"
        for part in "${parts[@]}"; do
            part=${part#*=}
            [[ -n "$part" && -f "$part" ]] && add_file "$part"
        done
    done
    return 0
}

quote() { # one shell word, single-quoted
    local s=${1//\'/\'\\\'\'}
    printf "'%s'" "$s"
}

jobs="$stage/job/tests.sh"
{
    echo "mkdir -p $(quote "$PWD") && cd $(quote "$PWD")"
} >"$jobs"
names=()
vm_need=60
add_job() {
    local name=$1 limit=$test_timeout until=-
    shift
    if [[ "$name" == *@* ]]; then
        until=${name#*@}
        name=${name%%@*}
        [[ -n "$until" ]] || die "test '$name': empty text after @"
    fi
    if [[ "$name" == *:* ]]; then
        limit=${name#*:}
        name=${name%%:*}
        [[ "$limit" =~ ^[0-9]+$ ]] || die "test '$name': bad time limit '$limit'"
    fi
    [[ "$name" =~ ^[A-Za-z0-9._-]+$ ]] || die "test name '$name': use letters, digits, . _ -"
    add_program "$1"
    add_arg_files "${@:2}"
    vm_need=$((vm_need + limit + 5))
    local line a
    line="run_test $name $limit $(quote "$until")"
    for a in "$@"; do
        line+=" $(quote "$(if [[ $a == "$1" ]]; then realpath -s -- "$a"; else echo "$a"; fi)")"
    done
    echo "$line" >>"$jobs"
    names+=("$name")
}

if [[ -n "$batch" ]]; then
    [[ -f "$batch" ]] || die "$batch: no such manifest"
    while read -r -a words; do
        [[ ${#words[@]} -eq 0 || "${words[0]}" == \#* ]] && continue
        [[ ${#words[@]} -ge 2 ]] || die "$batch: '${words[*]}': want NAME DUALVM ARGS..."
        add_job "${words[@]}"
    done <"$batch"
    [[ ${#names[@]} -gt 0 ]] || die "$batch: no tests"
else
    add_job run "$@"
fi

# the firmware dualvm loads by default (main.c's DEFAULT_BIOS and DEFAULT_VGABIOS)
for fw in /usr/share/seabios/bios-256k.bin /usr/share/seabios/vgabios-stdvga.bin; do
    [[ -f "$fw" ]] && add_file "$fw"
done

# base image + payload: the kernel unpacks concatenated newc archives in order
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | "$busybox" cpio -o -H newc -R 0:0 \
    >"$work/payload.cpio" 2>/dev/null) || die "cannot write the payload archive"
cat "$cache/base.cpio" "$work/payload.cpio" >"$work/initrd.cpio"

# the VM's limit: boot plus every test at its limit, at most --vm-timeout
((vm_need < vm_timeout)) && vm_timeout=$vm_need
: >"$work/results.tar"
read -r -a qemu_extra <<<"${KVM_NESTED_QEMU_ARGS:-}"
# The VM itself can stall: QEMU's TCG with its emulated SVM has been seen (rarely, once in some
# ten whole runs) to leave the VM idle for good in the middle of a test, timers and the
# per-test watchdog included. Each test prints a line when it begins and ends and none runs
# past its limit, so a console that stays silent for the longest limit plus a minute means a
# stalled VM: it is stopped and booted again, once, to run the whole job afresh; the stall
# and the test it happened in are reported on stderr (a second stall fails the run).
stall_limit=$((test_timeout + 60))
while read -r -a w; do
    [[ "${w[0]:-}" == run_test ]] && ((w[2] + 60 > stall_limit)) && stall_limit=$((w[2] + 60))
done <"$jobs"
stall_limit=${KVM_NESTED_STALL_SECONDS:-$stall_limit} # (for checking this path)
run_vm() {
    : >"$work/results.tar"
    : >"$work/console.log"
    timeout --kill-after=5 "$vm_timeout" "$qemu" -accel tcg -cpu "${KVM_NESTED_CPU:-EPYC,+svm,+npt}" -smp 1 \
        -m "$memory" -nodefaults -display none -no-reboot -monitor none \
        -kernel "$cache/vmlinuz" -initrd "$work/initrd.cpio" \
        -append "console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init" \
        -serial "file:$work/console.log" -serial "file:$work/results.tar" \
        "${qemu_extra[@]}" </dev/null >"$work/qemu.log" 2>&1 &
    local pid=$! size=-1 quiet=0 now
    stalled=''
    while kill -0 "$pid" 2>/dev/null; do
        sleep 5
        now=$(stat -c %s "$work/console.log" 2>/dev/null || echo 0)
        if [[ "$now" != "$size" ]]; then
            size=$now quiet=0
        else
            quiet=$((quiet + 5))
        fi
        if ((quiet >= stall_limit)); then
            stalled=$(tr -d '\r' <"$work/console.log" | grep -a '^@@kvm-nested: begin ' | tail -n 1 |
                sed 's/^@@kvm-nested: begin //')
            stalled=${stalled:-the boot}
            pkill -KILL -P "$pid" 2>/dev/null || true
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
    done
    wait "$pid" 2>/dev/null # (no "Killed" line from the shell for a stopped VM)
}
set +e
run_vm
qstatus=$?
if [[ -n "$stalled" ]]; then
    echo "kvm-nested: the VM stalled (console silent for ${stall_limit}s) in '$stalled': booting it again for the whole job" >&2
    first_stall=$stalled
    run_vm
    qstatus=$?
    if [[ -n "$stalled" ]]; then
        echo "kvm-nested: the VM stalled again, in '$stalled' (the first time in '$first_stall')" >&2
    fi
fi
set -e

mkdir -p "$work/results"
tar -x -f "$work/results.tar" -C "$work/results" 2>/dev/null || true
if [[ -n "$results" ]]; then
    cp -r "$work/results/." "$results/"
    cp "$work/console.log" "$results/console.log"
    grep -v -e 'TCG doesn.t support requested feature' "$work/qemu.log" >"$results/qemu.log" || true
fi

harness_fail() {
    echo "kvm-nested: error: $*" >&2
    echo "---- VM console ----" >&2
    tr -d '\r' <"$work/console.log" | tail -n 40 >&2
    grep -v -e 'TCG doesn.t support requested feature' "$work/qemu.log" | tail -n 10 >&2 || true
    echo "---- end of VM console ----" >&2
    exit 125
}

if [[ -n "$stalled" ]]; then
    harness_fail "the VM stalled twice (in '$first_stall', then in '$stalled')"
fi
if [[ $qstatus -eq 124 || $qstatus -eq 137 ]]; then
    harness_fail "the VM did not finish within ${vm_timeout}s"
fi
if [[ ! -f "$work/results/kvm" ]]; then
    harness_fail "the VM sent no results (QEMU exit status $qstatus)"
fi
if [[ "$(head -n1 "$work/results/kvm")" != "ok" ]]; then
    harness_fail "no usable /dev/kvm inside the VM: $(tr '\n' ' ' <"$work/results/kvm")"
fi
for n in "${names[@]}"; do
    [[ -f "$work/results/$n.status" ]] || harness_fail "test $n did not report a status"
done

if [[ -n "$batch" ]]; then
    for n in "${names[@]}"; do
        echo "kvm-nested: $n: status $(cat "$work/results/$n.status") in $(cat "$work/results/$n.time")s$([[ -f "$work/results/$n.timedout" ]] && echo ", stopped at its time limit") (TCG-nested time, not KVM's speed)"
    done
    exit 0
fi
cat "$work/results/run.out"
cat "$work/results/run.err" >&2
exit "$(cat "$work/results/run.status")"
