#!/usr/bin/env bash
# mkimages.sh: build the boot tests' images into OUTDIR (never committed; ctest runs this as
# the boot.images fixture).
#
#   mkimages.sh OUTDIR BINDIR MKPATTERN
#
# BINDIR holds the assembled boot programs (mbr.bin, stage2.bin, cdboot.bin); MKPATTERN is the
# pattern writer (mkpattern.c). Made:
#   disk.img      4 MiB raw disk: mbr.bin at LBA 0, stage2.bin at LBA 1-15, the pattern (tag
#                 0x5a000000, unit = LBA) from LBA 16 to the end
#   cd.iso        El Torito no-emulation CD (xorriso): cdboot.bin as boot image (4 virtual
#                 sectors), PATTERN.BIN (256 KiB of pattern, tag 0xc0000000) in the root
#   isolinux.iso  Debian's ISOLINUX (packages isolinux, syslinux-common) with a config that
#                 says a banner and waits at its boot: prompt with no timeout
set -euo pipefail

if [[ $# -ne 3 ]]; then
    echo "usage: $0 OUTDIR BINDIR MKPATTERN" >&2
    exit 2
fi
out=$1 bin=$2 mkpattern=$3

ISOLINUX_BIN=/usr/lib/ISOLINUX/isolinux.bin
LDLINUX_C32=/usr/lib/syslinux/modules/bios/ldlinux.c32
DISK_SECTORS=8192
PATTERN_FIRST=16
CD_PATTERN_UNITS=512 # 256 KiB

die() {
    echo "mkimages: $*" >&2
    exit 1
}

command -v xorriso >/dev/null ||
    die "xorriso not found: apt-get install xorriso (scripts/setup-deps.sh installs it)"
[[ -r $ISOLINUX_BIN ]] ||
    die "$ISOLINUX_BIN not found: apt-get install isolinux (scripts/setup-deps.sh installs it)"
[[ -r $LDLINUX_C32 ]] ||
    die "$LDLINUX_C32 not found: apt-get install syslinux-common (scripts/setup-deps.sh)"
for f in mbr.bin stage2.bin cdboot.bin; do
    [[ -r $bin/$f ]] || die "$bin/$f missing: build the project first"
done
[[ -x $mkpattern ]] || die "$mkpattern missing: build the project first"

mkdir -p "$out"
tmp=$(mktemp -d "$out/.mkimages.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# ---- the disk
[[ $(stat -c %s "$bin/mbr.bin") -eq 512 ]] || die "mbr.bin is not 512 bytes"
[[ $(stat -c %s "$bin/stage2.bin") -eq $(((PATTERN_FIRST - 1) * 512)) ]] ||
    die "stage2.bin is not $((PATTERN_FIRST - 1)) sectors"
truncate -s $((DISK_SECTORS * 512)) "$tmp/disk.img"
dd if="$bin/mbr.bin" of="$tmp/disk.img" conv=notrunc status=none
dd if="$bin/stage2.bin" of="$tmp/disk.img" bs=512 seek=1 conv=notrunc status=none
"$mkpattern" "$tmp/disk.img" 0x5a000000 $PATTERN_FIRST $((DISK_SECTORS - PATTERN_FIRST))
[[ $(stat -c %s "$tmp/disk.img") -eq $((DISK_SECTORS * 512)) ]] || die "disk.img has the wrong size"

# ---- the El Torito CD of our own boot code
mkdir "$tmp/cd"
cp "$bin/cdboot.bin" "$tmp/cd/cdboot.bin"
"$mkpattern" "$tmp/cd/PATTERN.BIN" 0xc0000000 0 $CD_PATTERN_UNITS
# -no-pad: the volume ends where the image does, so the boot code can read past its end
xorriso -as mkisofs -quiet -o "$tmp/cd.iso" -no-pad -V DUALVM_BOOT_CD \
    -b cdboot.bin -no-emul-boot -boot-load-size 4 "$tmp/cd" 2>"$tmp/xorriso.log" ||
    die "xorriso failed on cd.iso: $(tail -1 "$tmp/xorriso.log")"
volume=$(od -An -t u4 -j $((16 * 2048 + 80)) -N 4 "$tmp/cd.iso" | tr -d ' ')
[[ $((volume * 2048)) -eq $(stat -c %s "$tmp/cd.iso") ]] ||
    die "cd.iso: volume space size $volume sectors does not match the image size"

# ---- Debian's ISOLINUX
mkdir -p "$tmp/iso/isolinux"
cp "$ISOLINUX_BIN" "$LDLINUX_C32" "$tmp/iso/isolinux/"
cat >"$tmp/iso/isolinux/isolinux.cfg" <<'EOF'
SAY dualvm isolinux test: banner from isolinux.cfg
PROMPT 1
TIMEOUT 0
DEFAULT nothing
EOF
xorriso -as mkisofs -quiet -o "$tmp/isolinux.iso" -V DUALVM_ISOLINUX \
    -b isolinux/isolinux.bin -c isolinux/boot.cat -no-emul-boot -boot-load-size 4 \
    -boot-info-table "$tmp/iso" 2>"$tmp/xorriso.log" ||
    die "xorriso failed on isolinux.iso: $(tail -1 "$tmp/xorriso.log")"

mv "$tmp/disk.img" "$tmp/cd.iso" "$tmp/isolinux.iso" "$out/"
echo "mkimages: disk.img, cd.iso and isolinux.iso in $out"
