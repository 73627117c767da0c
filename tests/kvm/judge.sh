#!/usr/bin/env bash
# judge.sh: judge one run that kvm.nested-boot made inside the nested VM (run.sh --batch).
#
#   judge.sh --results DIR --name NAME [--status N] [--expect TEXT]... [--plain]
#            [--boot [--until TEXT] [--screen FILE [--screen-expect TEXT]...]]
#            [--vga-expect WORD]... [--dbt-arg WORD]...
#            [--same-as-dbt [--timeout SECONDS] -- DUALVM ARGS...]
#
# Replays the kept output and status through tests/run-guest.sh (the guest tests' own judge:
# status, expected texts, no line with FAIL). --plain: status and expected texts only (for
# kvm_selftest, whose passing lines may quote KVM names such as KVM_EXIT_FAIL_ENTRY). --boot:
# through tests/boot/run-boot.sh instead (the boot tests' judge), with its --until (the VM
# stopped the run at that text: no status judged) and --screen FILE (a file the run wrote in
# its working directory, DIR/NAME.files/FILE, e.g. by -screenshot-text) holding every
# --screen-expect TEXT. --vga-expect WORDs: the vga_expect command (program, MODE, its
# arguments), run with --compare DIR/NAME.files/screen.png (and --text .../screen.txt if the
# run wrote one): the KVM run's picture must be the guest's exact expected one.
#
# With --same-as-dbt, also runs DUALVM ARGS here, in an empty working directory, with
# -accel kvm changed to -accel dbt (followed by the --dbt-arg WORDs) and requires the same
# standard output (the guest's serial), the same exit status and the same files written
# (every file of DIR/NAME.files, byte for byte: screenshots). With --until, the dbt run is
# stopped the same way, 1 s after the text shows. Normalised before the comparison (each a
# difference by nature, not a bug): CRs (serial lines end in CR LF) and, on lines starting
# with "rdtsc:", every hexadecimal count (TSC readings). With --timeout (a guest that never
# ends, like firmware with nothing to boot): the dbt run is stopped after SECONDS as the VM
# stopped the KVM one, and "stopped at the limit" counts as the same status on both sides.
# Also removed: cursor-position escapes (ESC [ row;col H) that SeaBIOS's serial console
# inserts when its timer tick lands inside a line (where depends on real time; the text and
# every other escape are still compared). Also masked: the count on "apic: N periodic interrupts in T us of PIT time" (apic_timer
# measures the local APIC timer against the PIT: a measurement of the run's real time, which
# the KVM run has and the translator's virtual time does not share).
#
# --known-difference REASON with --known-fail REGEX...: a documented difference of the nested
# setup (QEMU's TCG is the CPU that runs the KVM guest there), not of dualvm. The run must
# then end with the guest's own failure report (status 3) and every line with FAIL must match
# one of the REGEXes (grep -E); anything else fails as usual. The dbt run must pass (status 1,
# no FAIL) instead of being compared. The REASON is printed. If the KVM run passes
# outright, the difference is gone and the test fails so that the mark is removed.
#
# Exit 77 (skip) when qemu-system-x86_64 is missing, as kvm.nested-boot then skipped.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
results='' name='' same=0 plain=0 limit=60 boot=0 until_text='' screen='' known=''
judge=() vga=() dbt_extra=() known_fail=()
while [[ $# -gt 0 ]]; do
    case "$1" in
    --results) results=${2:?}; shift 2 ;;
    --name) name=${2:?}; shift 2 ;;
    --status | --expect | --screen-expect) judge+=("$1" "${2?}"); shift 2 ;;
    --until) until_text=${2:?}; judge+=("$1" "$2"); shift 2 ;;
    --screen) screen=${2:?}; shift 2 ;;
    --boot) boot=1; shift ;;
    --vga-expect) vga+=("${2:?}"); shift 2 ;;
    --dbt-arg) dbt_extra+=("${2:?}"); shift 2 ;;
    --known-difference) known=${2:?}; shift 2 ;;
    --known-fail) known_fail+=("${2:?}"); shift 2 ;;
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

if [[ -n "$known" ]]; then
    [[ ${#known_fail[@]} -gt 0 && $# -gt 0 ]] || {
        echo "judge.sh: --known-difference needs --known-fail and -- DUALVM ARGS" >&2
        exit 2
    }
    echo "judge: a known difference of the nested setup, not of dualvm: $known"
    tr -d '\r' <"$r.out"
    cat "$r.err"
    verdict=0
    kstatus=$(cat "$r.status")
    if [[ $kstatus == 1 ]] && ! grep -q FAIL "$r.out"; then
        echo "judge: FAILED: the run passed under KVM: the known difference is gone," \
            "remove its mark in tests/kvm/CMakeLists.txt (KVM_NESTED_DIFFERENCES, or the test's)"
        exit 1
    fi
    if [[ $kstatus != 3 ]]; then
        echo "judge: FAILED: exit status $kstatus under kvm: not the guest's failure report (3)"
        verdict=1
    fi
    pats=()
    for re in "${known_fail[@]}"; do pats+=(-e "$re"); done
    if tr -d '\r' <"$r.out" | grep FAIL | grep -v -E "${pats[@]}" >"$r.unknown"; then
        echo "judge: FAILED: failures beyond the known difference:"
        cat "$r.unknown"
        verdict=1
    fi
    rm -f "$r.unknown"
    args=()
    for a in "$@"; do
        [[ "$a" == kvm && "${args[-1]:-}" == -accel ]] && a=dbt
        args+=("$a")
    done
    echo "judge: the same guest under -accel dbt must pass:"
    bash "$here/../run-guest.sh" --timeout "$limit" "${judge[@]}" -- "${args[@]}" || verdict=1
    ((verdict == 0)) && echo "judge: only the known difference (${#known_fail[@]} allowed patterns)"
    exit $verdict
fi

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
elif ((boot)); then
    # run-boot.sh removes its --screen file before the run: the replay puts the kept one there
    tmps=$(mktemp -d)
    extra=()
    [[ -z "$screen" ]] || extra=(--screen "$tmps/$screen")
    bash "$here/../boot/run-boot.sh" "${judge[@]}" "${extra[@]}" -- bash -c \
        '[[ -z "$2" ]] || cp "$1.files/$2" "$3/$2" 2>/dev/null
         cat "$1.out"; cat "$1.err" >&2; exit "$(cat "$1.status")"' replay "$r" "$screen" \
        "$tmps" || verdict=1
    rm -rf "$tmps"
else
    bash "$here/../run-guest.sh" "${judge[@]}" -- bash -c \
        'cat "$1.out"; cat "$1.err" >&2; exit "$(cat "$1.status")"' replay "$r" || verdict=1
fi
if ((${#vga[@]})); then
    check=(--compare "$r.files/screen.png")
    [[ -f "$r.files/screen.txt" ]] && check+=(--text "$r.files/screen.txt")
    if "${vga[@]}" "${check[@]}"; then
        echo "judge: the KVM run's screenshot is the expected picture"
    else
        echo "judge: FAILED: the KVM run's screenshot is not the expected picture"
        verdict=1
    fi
fi

if ((same)); then
    [[ $# -gt 0 ]] || { echo "judge.sh: --same-as-dbt needs -- DUALVM ARGS" >&2; exit 2; }
    args=()
    for a in "$@"; do
        if [[ "$a" == kvm && "${args[-1]:-}" == -accel ]]; then
            args+=(dbt "${dbt_extra[@]}")
        else
            args+=("$a")
        fi
    done
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    mkdir "$tmp/files"
    clean() { sed -e 's/\r//g' -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1bc//g' "$1"; }
    set +e
    if [[ -n "$until_text" ]]; then # as the VM's init does
        (cd "$tmp/files" && exec "${args[@]}") </dev/null >"$tmp/dbt.out" 2>"$tmp/dbt.err" &
        pid=$!
        dstatus="ran to its end before '$until_text'"
        for ((i = 0; i < limit * 5; i++)); do
            if clean "$tmp/dbt.out" | grep -qF -- "$until_text"; then
                sleep 1
                dstatus="stopped at '$until_text'"
                break
            fi
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        ((i < limit * 5)) || dstatus="stopped at the ${limit}s limit"
        kill -TERM "$pid" 2>/dev/null
        for ((i = 0; i < 50; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid"
    else
        (cd "$tmp/files" && exec timeout --kill-after=5 "$limit" "${args[@]}") </dev/null \
            >"$tmp/dbt.out" 2>"$tmp/dbt.err"
        dstatus=$?
        [[ $dstatus -eq 124 ]] && dstatus="stopped at the ${limit}s limit"
    fi
    set -e
    kstatus=$(cat "$r.status")
    [[ -f "$r.timedout" ]] && kstatus="stopped at the $(cat "$r.timedout")s limit"
    [[ -n "$until_text" && ! -f "$r.timedout" ]] && kstatus="ran to its end before '$until_text'"
    [[ -f "$r.until" ]] && kstatus="stopped at '$until_text'"
    # serial lines end in CR LF; RDTSC readings differ by nature
    norm() {
        tr -d '\r' <"$1" | sed -E -e '/^rdtsc:/ s/0x[0-9a-fA-F]+/0x(tsc)/g' \
            -e 's/^(apic: [0-9]+ periodic interrupts in )[0-9]+( us of PIT time)$/\1(T)\2/' \
            -e 's/\x1b\[[0-9;]*H//g'
    }
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
    # the files each run wrote in its working directory (screenshots)
    for f in "$r.files"/* "$tmp/files"/*; do
        [[ -e "$f" ]] || continue
        b=$(basename "$f")
        if [[ ! -f "$r.files/$b" || ! -f "$tmp/files/$b" ]]; then
            echo "judge: FAILED: only the $([[ -f "$r.files/$b" ]] && echo kvm || echo dbt) run wrote $b"
            verdict=1
        elif cmp -s "$r.files/$b" "$tmp/files/$b"; then
            [[ "$f" == "$r.files/$b" ]] && echo "judge: same $b under kvm and dbt"
        elif [[ "$f" == "$r.files/$b" ]]; then
            echo "judge: FAILED: $b differs between the engines"
            [[ "$b" == *.txt ]] && diff -u --label dbt --label kvm "$tmp/files/$b" "$r.files/$b"
            mkdir -p "$results/dbt-files/$name"
            cp "$tmp/files/$b" "$results/dbt-files/$name/$b"
            echo "judge: (dbt's copy kept as $results/dbt-files/$name/$b)"
            verdict=1
        fi
    done
fi
exit $verdict
