#!/usr/bin/env bash
# measure-syscalls.sh: which system calls dualvm's run loop makes under the seccomp filter.
#
#   tests/sandbox/measure-syscalls.sh BUILD_DIR [-- extra dualvm arguments]
#
# Runs workloads (every test guest under both translator back ends, SeaBIOS from the boot
# images where they are built, screenshots, serial and debug console to files, the SDL window
# under xvfb-run where it is installed) under strace -f with -sandbox on. For each run, the
# calls made by the thread that installed the filter (and threads it started) after the
# seccomp() call are collected; a call the filter stopped shows as SIGSYS. Prints each call
# with the number of runs that made it, then the stopped ones (there must be none).
set -uo pipefail
build=${1:?usage: measure-syscalls.sh BUILD_DIR}
shift
[[ ${1:-} == -- ]] && shift
dualvm=$build/dualvm
guests=$build/tests/guests
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
command -v strace >/dev/null || { echo "measure-syscalls: strace is not installed" >&2; exit 1; }

runs=0
run() { # name, dualvm arguments...
    local name=$1
    shift
    runs=$((runs + 1))
    timeout 60 strace -f -qq -o "$tmp/$runs.trace" "$dualvm" "$@" </dev/null >"$tmp/$runs.out" 2>&1
    local status=$?
    printf '%-40s status %s\n' "$name" "$status" >&2
}

for elf in "$guests"/*.elf; do
    [[ -e $elf ]] || continue
    g=$(basename "$elf" .elf)
    for be in jit interp; do
        run "$g/$be" -accel dbt -dbt-backend "$be" -kernel "$elf" -append code=3 -nographic \
            -no-reboot "$@"
    done
done
if [[ -e $guests/vga_mode13.elf ]]; then
    run "screenshot-every" -accel dbt -kernel "$guests/vga_mode13.elf" -nographic \
        -screenshot "$tmp/s.png" -screenshot-text "$tmp/s.txt" -screenshot-every 0.01 "$@"
fi
if [[ -e $guests/hello.elf ]]; then
    run "serial-debugcon-files" -accel dbt -kernel "$guests/hello.elf" -nographic \
        -serial "file:$tmp/serial.txt" -debugcon "file:$tmp/debugcon.txt" "$@"
fi
for img in "$build"/tests/boot/images/*.img "$build"/tests/boot/images/*.iso; do
    [[ -e $img ]] || continue
    case $img in
    *.iso) run "seabios-cdrom-$(basename "$img")" -accel dbt -cdrom "$img" -boot d -nographic \
        -no-reboot "$@" ;;
    *) run "seabios-disk-$(basename "$img")" -accel dbt -drive "file=$img,format=raw,if=ide" \
        -snapshot -nographic -no-reboot "$@" ;;
    esac
done
if command -v xvfb-run >/dev/null && [[ -e $guests/vga_text.elf ]]; then
    runs=$((runs + 1))
    timeout 60 xvfb-run -a strace -f -qq -o "$tmp/$runs.trace" "$dualvm" -accel dbt \
        -kernel "$guests/vga_text.elf" -display sdl -no-reboot "$@" </dev/null \
        >"$tmp/$runs.out" 2>&1
    printf '%-40s status %s\n' "sdl-window" "$?" >&2
fi

# strace -f -o writes "PID call(...)" lines; the filtered thread is the one whose seccomp()
# succeeded, and the threads it creates afterwards inherit the filter.
for t in "$tmp"/*.trace; do
    awk '
        /seccomp\(SECCOMP_SET_MODE_FILTER/ && / = 0$/ { filtered[$1] = 1; next }
        !($1 in filtered) { next }
        /--- SIGSYS/ { match($0, /si_syscall=[^,}]*/); print "STOPPED " substr($0, RSTART + 11, RLENGTH - 11); next }
        / (clone|clone3)\(/ && match($0, /= [0-9]+$/) { filtered[substr($0, RSTART + 2)] = 1 }
        { sub(/^[0-9]+ +(<\.\.\. )?/, ""); if (match($0, /^[a-z_0-9]+/)) print substr($0, 1, RLENGTH) }
    ' "$t" | sort -u
done | sort | uniq -c | sort -k2 >"$tmp/summary"
echo "system calls made after the filter was installed, in how many of $runs runs:"
grep -v STOPPED "$tmp/summary" | grep -vE ' (resumed|exited|killed)$' || true
if grep -q STOPPED "$tmp/summary"; then
    echo "stopped by the filter:"
    grep STOPPED "$tmp/summary"
    exit 1
fi
