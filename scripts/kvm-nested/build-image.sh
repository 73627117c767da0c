#!/usr/bin/env bash
# build-image.sh CACHE_DIR: the nested-KVM test VM's kernel and base initramfs, from Debian
# packages, built at test time and cached under CACHE_DIR (a build directory; nothing of it is
# ever committed).
#
#   CACHE_DIR/vmlinuz     Debian's amd64 kernel (linux-image-amd64's real package)
#   CACHE_DIR/base.cpio   busybox-static, the modules KVM on AMD needs (irqbypass, kvm, ccp,
#                         kvm-amd; decompressed if the package ships them as .ko.xz/.ko.zst)
#                         and scripts/kvm-nested/init as /init; newc format, uncompressed
#   CACHE_DIR/busybox     the static busybox, also used on the host to write cpio archives
#
# The kernel runs under qemu-system-x86_64 -accel tcg -cpu EPYC,+svm,+npt, where kvm-amd
# finds SVM and gives /dev/kvm. A second run with the same packages and scripts does nothing.
# Needs apt-get (Debian's package lists; runs `apt-get update` once if they are missing).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${1:?usage: build-image.sh CACHE_DIR}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

log() { echo "kvm-nested: $*" >&2; }
die() {
    echo "kvm-nested: error: $*" >&2
    exit 1
}

exec 9>"$cache/.lock"
flock 9 # two ctest jobs may ask at once

command -v apt-get >/dev/null || die "apt-get not found: the test VM is built from Debian packages"

# linux-image-amd64 is a metapackage; its one linux-image-* dependency is the real kernel.
resolve_kernel() {
    apt-cache depends linux-image-amd64 2>/dev/null |
        awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9].*-amd64$/ { print $2; exit }'
}
kpkg=${KVM_NESTED_KERNEL_PKG:-$(resolve_kernel)}
if [[ -z "$kpkg" ]]; then
    if [[ $(id -u) -eq 0 ]]; then
        log "no package lists: apt-get update"
        apt-get update -qq >/dev/null || die "apt-get update failed"
        kpkg=$(resolve_kernel)
    fi
    [[ -n "$kpkg" ]] || die "cannot resolve linux-image-amd64 to a kernel package (apt-get update?)"
fi
kver=$(apt-cache policy "$kpkg" | awk '$1 == "Candidate:" { print $2 }')
bver=$(apt-cache policy busybox-static | awk '$1 == "Candidate:" { print $2 }')
[[ -n "$kver" && "$kver" != "(none)" ]] || die "no installable version of $kpkg"
[[ -n "$bver" && "$bver" != "(none)" ]] || die "no installable version of busybox-static"

stamp="$kpkg $kver busybox-static $bver $(cat "$here/build-image.sh" "$here/init" | sha256sum | cut -c1-16)"
if [[ -f "$cache/stamp" && "$(cat "$cache/stamp")" == "$stamp" && -f "$cache/vmlinuz" &&
    -f "$cache/base.cpio" && -x "$cache/busybox" ]]; then
    exit 0
fi
log "building the test VM image: $kpkg $kver, busybox-static $bver (cached in $cache)"

rm -rf "$cache/debs" "$cache/x" "$cache/root"
mkdir -p "$cache/debs" "$cache/x" "$cache/root"
# apt-get download writes into the current directory; as root it warns that _apt cannot
# reach it: harmless.
(cd "$cache/debs" && apt-get download -q "$kpkg=$kver" "busybox-static=$bver" 2>&1 |
    grep -v -e '^W: Download is performed unsandboxed' -e '^Get:' -e '^Fetched' >&2) || true
kdeb=$(find "$cache/debs" -name 'linux-image-*.deb' | head -1)
bdeb=$(find "$cache/debs" -name 'busybox-static_*.deb' | head -1)
[[ -f "$kdeb" ]] || die "apt-get download $kpkg failed"
[[ -f "$bdeb" ]] || die "apt-get download busybox-static failed"

dpkg-deb -x "$bdeb" "$cache/x"
dpkg-deb --fsys-tarfile "$kdeb" |
    tar -x -C "$cache/x" --wildcards './boot/vmlinuz-*' './lib/modules/*/kernel/virt/lib/irqbypass.ko*' \
        './lib/modules/*/kernel/arch/x86/kvm/kvm.ko*' './lib/modules/*/kernel/arch/x86/kvm/kvm-amd.ko*' \
        './lib/modules/*/kernel/drivers/crypto/ccp/ccp.ko*'

mkdir -p "$cache/root/modules" "$cache/root/bin"
for m in irqbypass kvm ccp kvm-amd; do
    f=$(find "$cache/x/lib/modules" -name "$m.ko*" | head -1)
    [[ -n "$f" ]] || die "$kpkg has no $m.ko"
    case "$f" in
    *.ko) cp "$f" "$cache/root/modules/$m.ko" ;;
    *.ko.xz) xz -dc "$f" >"$cache/root/modules/$m.ko" ;;
    *.ko.zst) zstd -qdc "$f" >"$cache/root/modules/$m.ko" ;;
    *.ko.gz) gzip -dc "$f" >"$cache/root/modules/$m.ko" ;;
    *) die "unknown module compression: $f" ;;
    esac
done
cp "$cache/x/bin/busybox" "$cache/root/bin/busybox"
cp "$cache/x/bin/busybox" "$cache/busybox.new"
cp "$here/init" "$cache/root/init"
chmod 755 "$cache/root/init" "$cache/root/bin/busybox"
# /tmp stays part of the root file system: the payload may put files under it (a build
# directory in /tmp), which a tmpfs mounted there would hide.
mkdir -p "$cache/root/proc" "$cache/root/sys" "$cache/root/dev" "$cache/root/tmp" \
    "$cache/root/results" "$cache/root/job"

(cd "$cache/root" && find . -mindepth 1 | LC_ALL=C sort |
    "$cache/busybox.new" cpio -o -H newc -R 0:0 >"$cache/base.cpio.new" 2>/dev/null)
cp "$(find "$cache/x/boot" -name 'vmlinuz-*' | head -1)" "$cache/vmlinuz.new"
mv "$cache/vmlinuz.new" "$cache/vmlinuz"
mv "$cache/base.cpio.new" "$cache/base.cpio"
mv "$cache/busybox.new" "$cache/busybox"
echo "$stamp" >"$cache/stamp"
rm -rf "$cache/debs" "$cache/x" "$cache/root"
log "test VM image ready: $(du -h "$cache/vmlinuz" | cut -f1) kernel, $(du -h "$cache/base.cpio" | cut -f1) base initramfs"
