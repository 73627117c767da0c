#!/usr/bin/env bash
# vga_check.sh: run a vga_* guest, take a picture of its screen when it is done, and compare
# the picture pixel by pixel with the one vga_expect computes from the guest's formulas.
#
#   vga_check.sh dualvm DUALVM RUN_GUEST ELF OUTDIR NAME APPEND -- VGA_EXPECT MODE [ARGS...]
#   vga_check.sh qemu   QEMU   -         ELF OUTDIR NAME APPEND -- VGA_EXPECT MODE [ARGS...]
#
# dualvm: the guest runs to its exit (judged by run-guest.sh: status 1, "PASS: <guest>", no
# FAIL) with -screenshot OUTDIR/NAME.png (and -screenshot-text OUTDIR/NAME.txt for MODE text);
# vga_expect then checks the PNG exactly, and the text dump.
# qemu: the guest runs with "hold" added to its command line, prints READY and halts; the
# monitor's screendump takes OUTDIR/NAME.ppm, and vga_expect checks it with the tolerance QEMU's
# rounding of 6- and 5-bit colours needs (--tolerance 7). This shows that the expected pictures
# are right, independently of dualvm.
set -euo pipefail

[[ $# -ge 10 && $8 == -- ]] || {
    echo "usage: $0 dualvm|qemu EMULATOR RUN_GUEST ELF OUTDIR NAME APPEND -- VGA_EXPECT MODE [ARGS...]" >&2
    exit 2
}
kind=$1 emu=$2 run_guest=$3 elf=$4 out=$5 name=$6 append=$7
shift 8
expect=("$@")
mode=$2
guest=$(basename "$elf" .elf)
mkdir -p "$out"

case $kind in
dualvm)
    png=$out/$name.png
    txt=$out/$name.txt
    rm -f "$png" "$txt" "$png.expected.ppm"
    args=(-accel dbt -kernel "$elf" -nographic -screenshot "$png")
    [[ -n $append ]] && args+=(-append "$append")
    [[ $mode == text ]] && args+=(-screenshot-text "$txt")
    bash "$run_guest" --timeout 60 --status 1 --expect "PASS: $guest" -- "$emu" "${args[@]}"
    check=(--compare "$png")
    [[ $mode == text ]] && check+=(--text "$txt")
    exec "${expect[@]}" "${check[@]}"
    ;;
qemu)
    ppm=$out/$name.ppm
    log=$out/$name.serial
    rm -f "$ppm" "$log" "$ppm.expected.ppm"
    : >"$log"
    # The monitor reads its commands from a pipe: screendump once the guest says READY, then
    # quit. A guest that never gets there is stopped by the timeout.
    {
        for _ in $(seq 1 300); do
            grep -q READY "$log" && break
            sleep 0.1
        done
        echo "screendump $ppm"
        for _ in $(seq 1 50); do
            [[ -s $ppm ]] && break
            sleep 0.1
        done
        sleep 0.2
        echo quit
    } | timeout --kill-after=5 60 "$emu" -accel tcg -m 64 -kernel "$elf" -append "hold $append" \
        -display none -monitor stdio -serial "file:$log" -no-reboot >/dev/null 2>&1 || true
    tr -d '\r' <"$log"
    if ! grep -q READY "$log" || grep -q FAIL "$log"; then
        echo "vga_check: the guest did not get to READY without failures under QEMU"
        exit 1
    fi
    exec "${expect[@]}" --tolerance 7 --compare "$ppm"
    ;;
*)
    echo "$0: unknown kind '$kind'" >&2
    exit 2
    ;;
esac
