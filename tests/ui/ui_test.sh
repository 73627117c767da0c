#!/usr/bin/env bash
# ui_test.sh: the SDL window under a virtual X server (Xvfb), driven as a person would.
#
#   ui_test.sh TEST DUALVM XSHOT OUTDIR [KBD_ECHO_ELF]
#
# TEST is one of:
#   seabios   no -kernel: SeaBIOS and its VGA BIOS boot to "No bootable device." in the window
#             (the default display when DISPLAY is set: no -display option). Once the screen
#             (watched through -screenshot-every's text file) says so, the window's pixels, as
#             the X server shows them, are grabbed and must equal dualvm's own -screenshot of
#             the end of the run pixel for pixel (the window opens at the guest's size, 1:1),
#             the title must read "dualvm — dbt — N MIPS", and closing the window must power
#             the guest off with status 0. OUTDIR/seabios/window.png is the grab that matched
#             (docs/screenshot.png, the README's picture, is a copy of it).
#   keyboard  tests/guests/kbd_echo.asm in the window: xdotool types keys and moves the mouse,
#             the guest echoes the scan codes and mouse bytes it gets on COM1, which must be the
#             documented set 1 codes (and PS/2 packets), hot keys included.
#   headless  -display none with DISPLAY set: no connection to the X server at all (Xvfb's
#             audit log names every client's pid), -screenshot-every keeps writing the files;
#             and with neither DISPLAY nor WAYLAND_DISPLAY the default falls back to no window
#             with a one-line note.
#
# Exit 77 (ctest: skipped) when Xvfb or xdotool is not installed; scripts/setup-deps.sh
# installs both, so CI runs these.
set -euo pipefail

[[ $# -ge 4 ]] || {
    echo "usage: $0 seabios|keyboard|headless DUALVM XSHOT OUTDIR [KBD_ECHO_ELF]" >&2
    exit 2
}
test=$1 dualvm=$2 xshot=$3 out=$4 kbd_elf=${5:-}
for tool in Xvfb xdotool; do
    if ! command -v $tool >/dev/null 2>&1; then
        echo "ui_test: $tool is not installed (apt-get install xvfb xdotool, or scripts/setup-deps.sh): skipped"
        exit 77
    fi
done
out=$out/$test
rm -rf "$out"
mkdir -p "$out"

pids=()
cleanup() {
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}
trap cleanup EXIT

fail() {
    echo "ui_test: FAILED: $*"
    for f in "$out"/dualvm.err "$out"/serial.log; do
        [[ -s $f ]] && { echo "---- $f"; tail -n 40 "$f"; }
    done
    exit 1
}

# wait_for SECONDS COMMAND...: poll until COMMAND succeeds
wait_for() {
    local limit=$1 i
    shift
    for ((i = 0; i < limit * 10; i++)); do
        "$@" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# A private X server: the first free display number, chosen by the server itself.
start_xvfb() {
    "$(command -v Xvfb)" -displayfd 5 -screen 0 1024x768x24 -nolisten tcp -audit 4 \
        5>"$out/xvfb.display" 2>"$out/xvfb.log" &
    pids+=($!)
    wait_for 10 test -s "$out/xvfb.display" || fail "Xvfb did not start: $(cat "$out/xvfb.log")"
    export DISPLAY=:$(head -n 1 "$out/xvfb.display")
    unset WAYLAND_DISPLAY
    echo "ui_test: Xvfb on $DISPLAY"
}

# find_window PID: the id of dualvm's window (by its class: xdotool, which sets no locale,
# cannot read a UTF-8 title)
find_window() {
    local id
    for _ in $(seq 1 100); do
        id=$(xdotool search --onlyvisible --class '^dualvm$' 2>/dev/null | head -n 1) || true
        [[ -n $id ]] && { echo "$id"; return 0; }
        kill -0 "$1" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# wait_exit PID SECONDS: dualvm's exit status in $st (124 if it did not end in time)
wait_exit() {
    local pid=$1 limit=$2
    st=0
    if ! wait_for "$limit" bash -c "! kill -0 $pid"; then
        kill "$pid"
        wait "$pid" || true
        st=124
        return
    fi
    wait "$pid" || st=$?
}

case $test in
seabios)
    start_xvfb
    "$dualvm" -accel dbt -serial none -screenshot "$out/final.png" \
        -screenshot-text "$out/screen.txt" -screenshot-every 0.2 \
        </dev/null >"$out/dualvm.out" 2>"$out/dualvm.err" &
    pid=$!
    pids+=($pid)
    win=$(find_window $pid) || fail "no dualvm window appeared"
    echo "ui_test: window $win, $("$xshot" size "$win")"
    wait_for 60 grep -q "No bootable device" "$out/screen.txt" ||
        fail "the screen never said 'No bootable device' (screen: $(cat "$out/screen.txt" 2>/dev/null))"
    # the speed shows once a second's instructions are counted
    title_ok() {
        title=$("$xshot" title "$win")
        [[ $title =~ ^dualvm\ —\ dbt\ —\ [0-9.]+\ MIPS$ ]]
    }
    wait_for 10 title_ok || fail "title '$title' is not 'dualvm — dbt — N MIPS'"
    echo "ui_test: title '$title'"
    sleep 0.5 # the picture settles
    size=$("$xshot" size "$win")
    [[ $size == 720x400 ]] || fail "window is $size, not the 80x25 text mode's 720x400"
    # The cursor blinks (on for 8 frames at 70 Hz, off for 8); -screenshot draws it on: grab
    # several times over a few blink periods.
    for i in $(seq -w 1 16); do
        "$xshot" grab "$win" "$out/grab-$i.png" || fail "cannot grab the window"
        sleep 0.04
    done
    "$xshot" close "$win"
    wait_exit $pid 20
    [[ $st == 0 ]] || fail "closing the window: exit status $st, expected 0"
    grep -q "window was closed" "$out/dualvm.err" || fail "no word of the window closing on stderr"
    [[ -s $out/final.png ]] || fail "no -screenshot at exit"
    matched=
    for g in "$out"/grab-*.png; do
        if "$xshot" compare "$g" "$out/final.png" >"$g.cmp"; then
            matched=$g
            break
        fi
    done
    [[ -n $matched ]] || {
        cat "$out"/grab-*.png.cmp
        fail "no grab of the window equals dualvm's own screenshot"
    }
    cp "$matched" "$out/window.png"
    echo "ui_test: $(cat "$matched.cmp") ($(basename "$matched") = final.png)"
    ;;

keyboard)
    [[ -f $kbd_elf ]] || fail "no kbd_echo guest '$kbd_elf'"
    start_xvfb
    : >"$out/serial.log"
    "$dualvm" -accel dbt -display sdl -kernel "$kbd_elf" -serial "file:$out/serial.log" \
        </dev/null >"$out/dualvm.out" 2>"$out/dualvm.err" &
    pid=$!
    pids+=($pid)
    win=$(find_window $pid) || fail "no dualvm window appeared"
    wait_for 30 grep -q "kbd_echo: READY" "$out/serial.log" || fail "the guest never got ready"
    xdotool mousemove --window "$win" 100 100
    xdotool windowfocus --sync "$win" || true
    sleep 0.3
    # Keys: letters with and without Shift, Enter, cursor and keypad keys (0xE0 codes), Print
    # Screen and Pause (their own sequences), Windows and Menu keys, the keypad; then the
    # Ctrl-Alt-End hot key (Ctrl-Alt-Delete for the guest, End itself not sent). (No right Ctrl
    # or keypad digits: xdotool presses other modifiers, or Num Lock, to make those keysyms.)
    xdotool key --delay 60 a
    xdotool keydown --delay 60 shift key --delay 60 z keyup --delay 60 shift
    xdotool key --delay 60 Return Up KP_Enter Print Pause Super_L Menu KP_Divide KP_Home \
        Num_Lock ctrl+alt+End
    # The mouse: a click grabs it (that click is the host's), then motion and a right click
    # reach the guest as PS/2 packets; Ctrl-Alt-G lets it go again.
    xdotool click 1
    sleep 0.3
    xdotool mousemove_relative -- 12 -5
    sleep 0.3
    xdotool click 3
    sleep 0.3
    xdotool key ctrl+alt+g
    sleep 0.2
    xdotool key Escape
    wait_exit $pid 30
    tr -d '\r' <"$out/serial.log" >"$out/serial.txt"
    keys=$(sed -n 's/^k \(..\)$/\1/p' "$out/serial.txt" | tr '\n' ' ' | sed 's/ $//')
    mouse=$(sed -n 's/^m \(..\)$/\1/p' "$out/serial.txt" | tr '\n' ' ' | sed 's/ $//')
    echo "ui_test: keyboard bytes: $keys"
    echo "ui_test: mouse bytes:    $mouse"
    [[ $st == 1 ]] || fail "exit status $st, expected 1 (the guest's PASS after Esc)"
    grep -q "PASS: kbd_echo" "$out/serial.txt" || fail "the guest did not finish"
    expect=(
        "1e 9e"                              # a
        "2a 2c ac aa"                        # Shift+Z
        "1c 9c"                              # Enter
        "e0 48 e0 c8"                        # Up
        "e0 1c e0 9c"                        # keypad Enter
        "e0 2a e0 37 e0 b7 e0 aa"            # Print Screen
        "e1 1d 45 e1 9d c5"                  # Pause (no release code)
        "e0 5b e0 db"                        # left Windows
        "e0 5d e0 dd"                        # Menu
        "e0 35 e0 b5"                        # keypad /
        "47 c7"                              # keypad 7 (Home)
        "45 c5"                              # Num Lock
        "1d 38 1d 38 e0 53 e0 d3"            # Ctrl-Alt-End: Ctrl, Alt, then Delete
        "01 81"                              # Esc
    )
    want=$(printf '%s ' "${expect[@]}" | sed 's/ $//')
    # The hot key's Ctrl and Alt releases may come in either order, and the Ctrl-Alt-G hot key
    # gives the guest its Ctrl and Alt (G itself is the host's); take those out first.
    got=$(echo "$keys" | sed -E 's/ (9d b8|b8 9d)//; s/ 1d 38 (9d b8|b8 9d)//')
    echo "ui_test: less the releases: $got"
    [[ $got == "$want" ]] || fail "keyboard bytes
     got: $got
    want: $want"
    # PS/2 stream mode packets: motion 12 right, 5 up (Y grows upwards: +5), then the right
    # button down and up
    [[ $mouse =~ ^08\ 0c\ 05\ 0a\ 00\ 00\ 08\ 00\ 00$ ]] ||
        fail "mouse bytes '$mouse', expected '08 0c 05 0a 00 00 08 00 00'"
    echo "ui_test: ok"
    ;;

headless)
    start_xvfb
    "$dualvm" -accel dbt -display none -serial none -screenshot "$out/final.png" \
        -screenshot-text "$out/screen.txt" -screenshot-every 0.2 \
        </dev/null >"$out/dualvm.out" 2>"$out/dualvm.err" &
    pid=$!
    pids+=($pid)
    wait_for 60 grep -q "No bootable device" "$out/screen.txt" ||
        fail "the periodic text screenshot never said 'No bootable device'"
    [[ -s $out/final.png ]] || fail "no periodic PNG"
    sleep 1
    kill -TERM $pid
    wait_exit $pid 20
    [[ $st == 0 ]] || fail "SIGTERM: exit status $st, expected 0"
    if grep -q "pid=$pid )" "$out/xvfb.log"; then
        grep "pid=$pid )" "$out/xvfb.log"
        fail "-display none connected to the X server"
    fi
    [[ $(cat "$out/dualvm.err") == "dualvm: terminated by signal 15" ]] ||
        fail "unexpected stderr: $(cat "$out/dualvm.err")"
    echo "ui_test: -display none made no X connection; periodic screenshots written"
    # no DISPLAY, no WAYLAND_DISPLAY, no -display: a note, then the run as -display none
    env -u DISPLAY -u WAYLAND_DISPLAY "$dualvm" -accel dbt -kernel "$kbd_elf" -serial none \
        </dev/null >"$out/nodisplay.out" 2>"$out/nodisplay.err" &
    pid=$!
    pids+=($pid)
    wait_for 10 grep -q "no window" "$out/nodisplay.err" || fail "no note about the missing display"
    kill -TERM $pid
    wait_exit $pid 20
    n=$(grep -c "no window" "$out/nodisplay.err")
    [[ $n == 1 ]] || fail "the note came $n times"
    grep "no window" "$out/nodisplay.err"
    echo "ui_test: ok"
    ;;
*)
    echo "ui_test: unknown test '$test'" >&2
    exit 2
    ;;
esac
