#!/usr/bin/env bash
# build-images.sh CACHE_DIR ARCH [KVM_CACHE_DIR]: the Linux guest test's kernel and initramfs,
# built from Debian packages at test time and cached under CACHE_DIR/ARCH (a build
# directory: nothing here is ever committed).
#
#   ARCH i386:  Debian's i386 kernel (the package linux-image-686 depends on) and
#               busybox-static:i386; needs the i386 architecture in dpkg, which this script
#               adds as root (dpkg --add-architecture i386, apt-get update). Packages are only
#               downloaded and unpacked (apt-get download, dpkg-deb -x), never installed.
#   ARCH amd64: Debian's amd64 kernel and busybox-static, taken from the nested-KVM harness's
#               cache (scripts/kvm-nested/build-image.sh KVM_CACHE_DIR builds it), so both
#               use the same download.
#
# CACHE_DIR/ARCH gets:
#   bzImage             the kernel
#   initramfs.cpio      newc, uncompressed: busybox as /bin/busybox, tests/linux/init as /init,
#                       tests/linux/guest-test.sh as /test.sh, a 64 KiB data file
#                       /data/sample.bin, /dev/console
#   release, machine    what uname -r and uname -m say in the guest
#   bzImage.truncated, bzImage.corrupt, initramfs.truncated
#                       damaged copies, for the loader's error tests
# A second run with the same packages and scripts does nothing.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${1:?usage: build-images.sh CACHE_DIR i386|amd64 [KVM_CACHE_DIR]}
arch=${2:?usage: build-images.sh CACHE_DIR i386|amd64 [KVM_CACHE_DIR]}
kvm_cache=${3:-${KVM_NESTED_CACHE:-${TMPDIR:-/tmp}/dualvm-kvm-nested}}
mkdir -p "$cache/$arch"
cache=$(cd "$cache" && pwd)
out="$cache/$arch"

log() { echo "linux-images: $*" >&2; }
die() {
    echo "linux-images: error: $*" >&2
    exit 1
}

exec 9>"$out/.lock"
flock 9 # two ctest jobs may ask at once

scripts_hash=$(cat "$here/build-images.sh" "$here/init" "$here/guest-test.sh" "$here/mkcpio.py" |
    sha256sum | cut -c1-16)

# the kernel's release string, from the setup header (kernel_version points at it)
kernel_release() {
    local f=$1 ptr
    ptr=$(od -An -tu2 -j $((0x20e)) -N2 "$f" | tr -d ' ')
    dd if="$f" bs=1 skip=$((ptr + 0x200)) count=128 status=none | tr '\0' '\n' | head -n1 |
        cut -d' ' -f1
}

case "$arch" in
i386)
    command -v apt-get >/dev/null || die "apt-get not found: the images are built from Debian packages"
    if ! dpkg --print-foreign-architectures | grep -qx i386 && [[ "$(dpkg --print-architecture)" != i386 ]]; then
        [[ $(id -u) -eq 0 ]] || die "dpkg has no i386 architecture; as root: dpkg --add-architecture i386 && apt-get update"
        log "adding the i386 architecture to dpkg (dpkg --add-architecture i386; apt-get update)"
        dpkg --add-architecture i386
        apt-get update -qq >/dev/null 2>&1 || log "apt-get update reported errors (going on with what it got)"
    fi
    # linux-image-686 is a metapackage; its one linux-image-* dependency is the real kernel
    resolve_kernel() {
        apt-cache depends linux-image-686:i386 2>/dev/null |
            awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9].*-686(:i386)?$/ { sub(/:i386$/, "", $2); print $2; exit }'
    }
    resolve_i386() {
        kpkg=${LINUX_TEST_KERNEL_PKG:-$(resolve_kernel)}
        if [[ -z "$kpkg" && $(id -u) -eq 0 ]]; then
            log "no i386 package lists: apt-get update"
            apt-get update -qq >/dev/null 2>&1 || log "apt-get update reported errors (going on with what it got)"
            kpkg=$(resolve_kernel)
        fi
        [[ -n "$kpkg" ]] || die "cannot resolve linux-image-686:i386 to a kernel package (apt-get update?)"
        kver=$(apt-cache policy "$kpkg:i386" | awk '$1 == "Candidate:" { print $2 }')
        bver=$(apt-cache policy busybox-static:i386 | awk '$1 == "Candidate:" { print $2 }')
        [[ -n "$kver" && "$kver" != "(none)" ]] || die "no installable version of $kpkg:i386"
        [[ -n "$bver" && "$bver" != "(none)" ]] || die "no installable version of busybox-static:i386"
        stamp="$kpkg $kver busybox-static:i386 $bver $scripts_hash"
    }
    resolve_i386
    ;;
amd64)
    "$repo/scripts/kvm-nested/build-image.sh" "$kvm_cache" ||
        die "scripts/kvm-nested/build-image.sh could not provide the amd64 kernel and busybox"
    kvm_cache=$(cd "$kvm_cache" && pwd)
    stamp="amd64 $(cat "$kvm_cache/stamp") $scripts_hash"
    ;;
*) die "unknown ARCH '$arch' (i386 or amd64)" ;;
esac

if [[ -f "$out/stamp" && "$(cat "$out/stamp")" == "$stamp" ]]; then
    exit 0
fi
log "building the $arch images ($stamp), cached in $out"
work="$out/work"
rm -rf "$work"
mkdir -p "$work/x"

case "$arch" in
i386)
    mkdir -p "$work/debs"
    # apt-get download writes into the current directory; as root it warns that _apt cannot
    # reach it: harmless.
    download() {
        (cd "$work/debs" && apt-get download -q "$kpkg:i386=$kver" "busybox-static:i386=$bver" 2>&1 |
            grep -v -e '^W: Download is performed unsandboxed' -e '^Get:' -e '^Fetched' >&2) || true
        kdeb=$(find "$work/debs" -name 'linux-image-*.deb' | head -n1)
        bdeb=$(find "$work/debs" -name 'busybox-static_*.deb' | head -n1)
    }
    download
    if [[ (! -f "$kdeb" || ! -f "$bdeb") && $(id -u) -eq 0 ]]; then
        # stale package lists name versions the mirror no longer has: refresh them once
        log "download failed: apt-get update and once more"
        apt-get update -qq >/dev/null 2>&1 || log "apt-get update reported errors (going on with what it got)"
        resolve_i386
        download
    fi
    [[ -f "$kdeb" ]] || die "apt-get download $kpkg:i386 failed"
    [[ -f "$bdeb" ]] || die "apt-get download busybox-static:i386 failed"
    dpkg-deb -x "$bdeb" "$work/x"
    dpkg-deb --fsys-tarfile "$kdeb" | tar -x -C "$work/x" --wildcards './boot/vmlinuz-*'
    kernel=$(find "$work/x/boot" -name 'vmlinuz-*' | head -n1)
    busybox="$work/x/bin/busybox"
    machine=i686
    ;;
amd64)
    kernel="$kvm_cache/vmlinuz"
    busybox="$kvm_cache/busybox"
    machine=x86_64
    ;;
esac
[[ -f "$kernel" ]] || die "no kernel image in the package"
[[ -f "$busybox" ]] || die "no busybox in the package"

# 64 KiB of deterministic data, whose checksum the guest prints (tests/linux/expected.txt)
python3 -c '
import sys
x, b = 12345, bytearray()
for i in range(65536):
    x = (x * 1103515245 + 12345) & 0x7fffffff
    b.append(x >> 16 & 255)
open(sys.argv[1], "wb").write(b)' "$work/sample.bin"

cat >"$work/spec" <<EOF
dir /bin 755
dir /dev 755
dir /proc 755
dir /sys 755
dir /tmp 1777
dir /mnt 755
dir /data 755
nod /dev/console 600 c 5 1
nod /dev/null 666 c 1 3
nod /dev/ttyS0 660 c 4 64
file /bin/busybox $busybox 755
file /init $here/init 755
file /test.sh $here/guest-test.sh 644
file /data/sample.bin $work/sample.bin 644
EOF
python3 "$here/mkcpio.py" "$work/spec" "$work/initramfs.cpio"
cp "$kernel" "$work/bzImage"
kernel_release "$work/bzImage" >"$work/release"
[[ -s "$work/release" ]] || die "cannot read the kernel release from $kernel"
echo "$machine" >"$work/machine"

# damaged copies: cut in the middle; one byte of the compressed kernel flipped
ksize=$(stat -c %s "$work/bzImage")
head -c $((ksize * 3 / 5)) "$work/bzImage" >"$work/bzImage.truncated"
cp "$work/bzImage" "$work/bzImage.corrupt"
at=$((ksize / 2))
byte=$(od -An -tu1 -j "$at" -N1 "$work/bzImage" | tr -d ' ')
printf "$(printf '\\%03o' $(((byte + 1) & 255)))" |
    dd of="$work/bzImage.corrupt" bs=1 seek="$at" conv=notrunc status=none
isize=$(stat -c %s "$work/initramfs.cpio")
head -c $((isize / 2)) "$work/initramfs.cpio" >"$work/initramfs.truncated"

for f in bzImage initramfs.cpio release machine bzImage.truncated bzImage.corrupt \
    initramfs.truncated; do
    mv "$work/$f" "$out/$f"
done
echo "$stamp" >"$out/stamp"
rm -rf "$work"
log "$arch images ready: kernel $(cat "$out/release") ($(du -h "$out/bzImage" | cut -f1)), initramfs $(du -h "$out/initramfs.cpio" | cut -f1)"
