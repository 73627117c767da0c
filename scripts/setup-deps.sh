#!/usr/bin/env bash
# setup-deps.sh: install the Debian 12 packages that building and testing dualvm need.
#
# Idempotent: asks dpkg what is already there and installs only what is missing, so it costs
# nothing on a ready machine and needs no root there. Installing needs root (no sudo: CI and
# fresh containers run as root and may not have it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

packages=(
    build-essential cmake pkg-config            # the build
    libcapstone-dev libelf-dev libsdl2-dev libglib2.0-dev libpng-dev  # dualvm's libraries
    libcriterion-dev                            # unit tests
    nasm                                        # test guests (tests/guests)
    qemu-system-x86                             # runs the test guests as a known-good reference
    seabios                                     # firmware for BIOS guests
    xorriso isolinux syslinux-common            # boot test CD images (tests/boot)
    xvfb xdotool                                # window tests (tests/ui): a virtual X server, typing
    zlib1g-dev                                  # the SingleStepTests runner reads .gz cases
    python3 gnuplot-nox                         # benchmarks/: the harness and its charts
)
# --fuzz: also clang and its libFuzzer runtime, for the fuzz build (fuzz/run.sh); the
# corpus replays CI runs need only gcc.
if [[ ${1:-} == --fuzz ]]; then
    packages+=(clang libclang-rt-14-dev)
fi
# The guests are 32-bit x86: on x86 the flags guest's oracle is a 32-bit host program
# (gcc -m32); elsewhere only the guests' linker is needed, as a cross binutils.
case "$(dpkg --print-architecture)" in
amd64 | i386) packages+=(gcc-multilib) ;;
*) packages+=(binutils-x86-64-linux-gnu) ;;
esac

missing=()
for p in "${packages[@]}"; do
    if [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" != "install ok installed" ]]; then
        missing+=("$p")
    fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "setup-deps: all ${#packages[@]} packages present"
    exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "setup-deps: missing packages: ${missing[*]}" >&2
    echo "setup-deps: not root, cannot install them; as root run: apt-get install ${missing[*]}" >&2
    exit 1
fi

echo "setup-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup-deps: done"
