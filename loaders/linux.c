/* loaders/linux.c: Linux kernels (bzImage) booted directly, without firmware, through the x86
 * boot protocol (Documentation/arch/x86/boot.rst), as kvmtool and cloud-hypervisor do and as
 * QEMU's linuxboot does minus the real-mode part: the setup header is read from the file, the
 * protected-mode kernel goes at 1 MiB, the initrd as high as the header allows below the top of
 * RAM, and a boot_params page (the "zero page") carries the e820 map, the command line, the
 * initrd and the ACPI RSDP. The kernel is entered at its 32-bit entry point (flat segments,
 * paging off, ESI = boot_params) or, for an x86-64 kernel when the engine can start in long
 * mode, at its 64-bit one (identity-mapped 4 GiB, CS.L, EFER.LME|LMA).
 *
 * Low memory while the kernel starts (all usable RAM in the e820 map: the kernel copies what
 * it needs before it reuses it):
 *   0x00500  GDT: null, null, __BOOT_CS (0x10), __BOOT_DS (0x18)
 *   0x01000  64-bit entry only: PML4, PDPT and four page directories of 2 MiB pages
 *   0x10000  boot_params
 *   0x20000  the command line
 */
#include "loaders/loader.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* setup header fields: offsets in the file and in boot_params alike */
#define HDR_SETUP_SECTS 0x1f1
#define HDR_SYSSIZE 0x1f4
#define HDR_BOOT_FLAG 0x1fe
#define HDR_JUMP 0x200
#define HDR_MAGIC 0x202
#define HDR_VERSION 0x206
#define HDR_KERNEL_VERSION 0x20e
#define HDR_TYPE_OF_LOADER 0x210
#define HDR_LOADFLAGS 0x211
#define HDR_CODE32_START 0x214
#define HDR_RAMDISK_IMAGE 0x218
#define HDR_RAMDISK_SIZE 0x21c
#define HDR_HEAP_END_PTR 0x224
#define HDR_CMD_LINE_PTR 0x228
#define HDR_INITRD_ADDR_MAX 0x22c
#define HDR_KERNEL_ALIGNMENT 0x230
#define HDR_RELOCATABLE 0x234
#define HDR_XLOADFLAGS 0x236
#define HDR_CMDLINE_SIZE 0x238
#define HDR_PAYLOAD_OFFSET 0x248
#define HDR_PAYLOAD_LENGTH 0x24c
#define HDR_PREF_ADDRESS 0x258
#define HDR_INIT_SIZE 0x260
#define HDR_END_MAX 0x280 /* the header ends at 0x202 + byte 0x201; nothing defined past this */

#define BOOT_FLAG 0xAA55
#define LOADED_HIGH 0x01
#define XLF_KERNEL_64 0x01
#define LOADER_TYPE_UNDEFINED 0xff

/* boot_params fields outside the setup header */
#define BP_ACPI_RSDP 0x070
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE 0x0c4
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES 0x1e8
#define BP_SENTINEL 0x1ef
#define BP_E820_TABLE 0x2d0
#define BP_E820_MAX 128
#define BP_SIZE 4096

#define LINUX_GDT_ADDR LOADER_FLAT_GDT_ADDR
#define LINUX_GDT_LEN 32
#define LINUX_PT_ADDR 0x1000ull /* PML4; PDPT at +0x1000; PDs at +0x2000..+0x5fff */
#define LINUX_PT_LEN 0x6000ull
#define BOOT_CS 0x10
#define BOOT_DS 0x18

#define SECTOR 512u
#define MB (1024ull * 1024)
#define FOUR_GIB (1ull << 32)

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
    return le32(p) | (uint64_t)le32(p + 4) << 32;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)v);
    put16(p + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

bool linux_is_bzimage(const char *path)
{
    uint64_t size;
    int fd = loader_open(path, &size, NULL, 0);
    if (fd < 0)
        return false;
    uint8_t magic[4];
    bool yes = size >= HDR_MAGIC + 4 && loader_pread(fd, magic, 4, HDR_MAGIC) == 0 &&
               !memcmp(magic, "HdrS", 4);
    close(fd);
    return yes;
}

/* The CRC the kernel's build tool (arch/x86/boot/tools/build.c) puts in the last 4 bytes of
 * the image: CRC-32 (IEEE, reflected), initial value all ones, no final inversion. */
static uint32_t crc32_update(uint32_t crc, const uint8_t *p, size_t n)
{
    static uint32_t table[256];
    if (!table[1]) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
    }
    while (n--)
        crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

/* The CRC covers setup and kernel up to its own 4 bytes at the end of the syssize area. A
 * kernel signed for UEFI Secure Boot (sbsign: Debian's, for instance) has two fields of the PE
 * header in its setup code rewritten, the image checksum and the certificate table's data
 * directory entry; with those put back to the zeros the build wrote, the CRC holds again.
 * Returns 0 when it holds (either way), 1 when it does not, <0 on a read error. */
static int check_crc(int fd, uint64_t len, const uint8_t *setup, size_t setup_len)
{
    enum { CHUNK = 1 << 16 };
    uint8_t *buf = malloc(CHUNK);
    if (!buf)
        return -ENOMEM;
    /* the PE fields, when the setup code carries a PE header ("MZ" ... "PE\0\0") */
    size_t pe_fields[2] = {SIZE_MAX, SIZE_MAX};
    size_t pe_len[2] = {4, 8};
    if (setup_len >= 0x40 && setup[0] == 'M' && setup[1] == 'Z') {
        size_t pe = le32(setup + 0x3c), opt = pe + 24;
        if (pe < setup_len - 24 && !memcmp(setup + pe, "PE\0\0", 4) && opt + 152 <= setup_len) {
            uint16_t magic = le16(setup + opt);
            pe_fields[0] = opt + 64;                           /* CheckSum */
            pe_fields[1] = opt + (magic == 0x20b ? 144 : 128); /* DataDirectory[SECURITY] */
        }
    }
    uint32_t crc = 0xffffffffu, crc_pe = 0xffffffffu;
    uint64_t body = len - 4;
    int rc = 0;
    for (uint64_t off = 0; off < body && !rc;) {
        size_t n = body - off < CHUNK ? (size_t)(body - off) : CHUNK;
        rc = loader_pread(fd, buf, n, off);
        if (rc)
            break;
        crc = crc32_update(crc, buf, n);
        for (int i = 0; i < 2; i++)
            for (size_t k = 0; k < pe_len[i]; k++)
                if (pe_fields[i] != SIZE_MAX && pe_fields[i] + k >= off &&
                    pe_fields[i] + k < off + n)
                    buf[pe_fields[i] + k - off] = 0;
        crc_pe = crc32_update(crc_pe, buf, n);
        off += n;
    }
    uint8_t stored[4];
    if (!rc)
        rc = loader_pread(fd, stored, 4, body);
    free(buf);
    if (rc)
        return rc;
    return le32(stored) == crc || le32(stored) == crc_pe ? 0 : 1;
}

/* Kernels from 3.0 up to 6.6 carry the build tool's CRC; 6.7 dropped it (and the tool). The
 * version comes from the string kernel_version points at ("6.1.0-50-686 (...) #1 SMP ..."). */
static bool has_build_crc(const uint8_t *setup, size_t setup_len)
{
    size_t at = (size_t)le16(setup + HDR_KERNEL_VERSION) + 0x200;
    if (at == 0x200 || at >= setup_len)
        return false;
    unsigned major = 0, minor = 0;
    size_t i = at;
    while (i < setup_len && setup[i] >= '0' && setup[i] <= '9' && major < 100)
        major = major * 10 + (setup[i++] - '0');
    if (i >= setup_len || setup[i++] != '.' || i >= setup_len || setup[i] < '0' || setup[i] > '9')
        return false;
    while (i < setup_len && setup[i] >= '0' && setup[i] <= '9' && minor < 100)
        minor = minor * 10 + (setup[i++] - '0');
    return major >= 3 && (major < 6 || (major == 6 && minor < 7));
}

/* ---- initrd: what the kernel can unpack or mount ---- */

static bool is_compressed(const uint8_t *m, size_t n)
{
    static const struct {
        uint8_t len, magic[6];
    } known[] = {
        {2, {0x1f, 0x8b}},                     /* gzip */
        {2, {0x1f, 0x9e}},                     /* old gzip */
        {3, {'B', 'Z', 'h'}},                  /* bzip2 */
        {3, {0x5d, 0x00, 0x00}},               /* lzma */
        {6, {0xfd, '7', 'z', 'X', 'Z', 0x00}}, /* xz */
        {4, {0x89, 'L', 'Z', 'O'}},            /* lzo */
        {4, {0x02, 0x21, 0x4c, 0x18}},         /* lz4 legacy */
        {4, {0x28, 0xb5, 0x2f, 0xfd}},         /* zstd */
    };
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (n >= known[i].len && !memcmp(m, known[i].magic, known[i].len))
            return true;
    return false;
}

static unsigned long hex8(const uint8_t *p, bool *ok)
{
    unsigned long v = 0;
    for (int i = 0; i < 8; i++) {
        int c = p[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else {
            *ok = false;
            return 0;
        }
        v = v << 4 | (unsigned)d;
    }
    return v;
}

#define CPIO_HDR 110
#define CPIO_NAMESIZE_FIELD 94
#define CPIO_FILESIZE_FIELD 54
#define ALIGN4(x) (((x) + 3) & ~3ull)

/* An initramfs is one or more cpio archives ("newc", magic 070701 or 070702 with CRCs), each
 * possibly compressed, with zero padding between them: walk the uncompressed ones header by
 * header (a truncated or damaged archive is caught here rather than in the guest) and accept
 * a compressed member as the rest of the file. A file that is no archive at all may still be
 * a file-system image for an old-style initrd (ext2, squashfs, cramfs, romfs). */
static int check_initrd(int fd, uint64_t size, const char *path, char *err, size_t errlen)
{
    uint8_t h[CPIO_HDR + 1];
    uint64_t off = 0;
    unsigned archives = 0;
    char name[64];
    for (;;) {
        /* the padding between archives: zero bytes, 4 at a time */
        while (off + 4 <= size) {
            uint8_t z[4];
            int rc = loader_pread(fd, z, 4, off);
            if (rc)
                return loader_err(rc, err, errlen, path, "read error: %s", strerror(-rc));
            if (z[0] | z[1] | z[2] | z[3])
                break;
            off += 4;
        }
        if (off >= size || (archives && size - off < 4))
            return archives ? 0 : loader_err(-ENOEXEC, err, errlen, path, "initrd is all zeros");
        size_t n = size - off < sizeof(h) ? (size_t)(size - off) : sizeof(h);
        int rc = loader_pread(fd, h, n, off);
        if (rc)
            return loader_err(rc, err, errlen, path, "read error: %s", strerror(-rc));
        if (is_compressed(h, n))
            return 0;
        if (n < 6 || memcmp(h, "07070", 5) || (h[5] != '1' && h[5] != '2')) {
            if (archives)
                return loader_err(-ENOEXEC, err, errlen, path,
                                  "initrd: junk at byte %llu after cpio archive %u (neither "
                                  "padding, another cpio archive nor compressed data)",
                                  (unsigned long long)off, archives);
            break; /* not an initramfs: perhaps a file-system image */
        }
        archives++;
        /* the entries of this archive, up to TRAILER!!! */
        for (unsigned entry = 0;; entry++) {
            if (size - off < CPIO_HDR)
                return loader_err(-ENOEXEC, err, errlen, path,
                                  "initrd truncated: cpio archive %u ends inside the header of "
                                  "entry %u (byte %llu of %llu)",
                                  archives, entry, (unsigned long long)off,
                                  (unsigned long long)size);
            rc = loader_pread(fd, h, CPIO_HDR, off);
            if (rc)
                return loader_err(rc, err, errlen, path, "read error: %s", strerror(-rc));
            bool ok = !memcmp(h, "07070", 5) && (h[5] == '1' || h[5] == '2');
            unsigned long namesize = hex8(h + CPIO_NAMESIZE_FIELD, &ok);
            unsigned long filesize = hex8(h + CPIO_FILESIZE_FIELD, &ok);
            if (!ok || namesize == 0)
                return loader_err(-ENOEXEC, err, errlen, path,
                                  "initrd damaged: bad cpio header at byte %llu (entry %u of "
                                  "archive %u)",
                                  (unsigned long long)off, entry, archives);
            uint64_t name_end = off + CPIO_HDR + namesize;
            uint64_t data = ALIGN4(name_end), end = data + filesize;
            size_t nl = namesize < sizeof(name) ? namesize : sizeof(name) - 1;
            if (name_end > size || (rc = loader_pread(fd, name, nl, off + CPIO_HDR)) != 0) {
                if (rc && rc != -EIO)
                    return loader_err(rc, err, errlen, path, "read error: %s", strerror(-rc));
                return loader_err(-ENOEXEC, err, errlen, path,
                                  "initrd truncated: cpio archive %u ends inside the name of "
                                  "entry %u (byte %llu of %llu)",
                                  archives, entry, (unsigned long long)name_end,
                                  (unsigned long long)size);
            }
            name[nl] = '\0';
            if (!strcmp(name, "TRAILER!!!")) {
                off = ALIGN4(end);
                break;
            }
            if (end > size)
                return loader_err(-ENOEXEC, err, errlen, path,
                                  "initrd truncated: '%s' in cpio archive %u needs bytes up to "
                                  "%llu, the file has %llu",
                                  name, archives, (unsigned long long)end,
                                  (unsigned long long)size);
            off = ALIGN4(end);
        }
    }
    /* file-system images the kernel can take as an initial RAM disk */
    uint8_t fs[1082];
    size_t n = size < sizeof(fs) ? (size_t)size : sizeof(fs);
    int rc = loader_pread(fd, fs, n, 0);
    if (rc)
        return loader_err(rc, err, errlen, path, "read error: %s", strerror(-rc));
    if ((n >= 4 && (!memcmp(fs, "hsqs", 4) || le32(fs) == 0x28cd3d45u)) ||
        (n >= 8 && !memcmp(fs, "-rom1fs-", 8)) || (n >= 1082 && le16(fs + 1080) == 0xEF53))
        return 0;
    return loader_err(-ENOEXEC, err, errlen, path,
                      "not an initrd: neither a cpio archive (initramfs), compressed data "
                      "(gzip, bzip2, lzma, xz, lzo, lz4, zstd) nor a file-system image");
}

/* ---- the boot ---- */

/* Flat GDT of the boot protocol: __BOOT_CS 0x10, __BOOT_DS 0x18 (64-bit code with long). */
static int put_boot_gdt(AddressSpace *as, CpuState *cpu, bool long_mode)
{
    uint8_t gdt[LINUX_GDT_LEN] = {0};
    put64(gdt + BOOT_CS, long_mode ? 0x00AF9B000000FFFFull : 0x00CF9B000000FFFFull);
    put64(gdt + BOOT_DS, 0x00CF93000000FFFFull);
    if (as_load(as, LINUX_GDT_ADDR, gdt, sizeof(gdt)) != 0)
        return -ERANGE;
    cpu->gdt.base = LINUX_GDT_ADDR;
    cpu->gdt.limit = sizeof(gdt) - 1;
    return 0;
}

/* Identity map of the first 4 GiB with 2 MiB pages, for the 64-bit entry. */
static int put_identity_map(AddressSpace *as)
{
    uint8_t *pt = calloc(1, LINUX_PT_LEN);
    if (!pt)
        return -ENOMEM;
    const uint64_t present_rw = 0x3, large = 0x80;
    uint64_t pdpt = LINUX_PT_ADDR + 0x1000, pd = LINUX_PT_ADDR + 0x2000;
    put64(pt, pdpt | present_rw);
    for (int i = 0; i < 4; i++)
        put64(pt + 0x1000 + 8 * i, (pd + 0x1000ull * i) | present_rw);
    for (uint64_t i = 0; i < 4 * 512; i++)
        put64(pt + 0x2000 + 8 * i, (i << 21) | present_rw | large);
    int rc = as_load(as, LINUX_PT_ADDR, pt, LINUX_PT_LEN) ? -ERANGE : 0;
    free(pt);
    return rc;
}

static void set_seg(SegCache *c, uint16_t sel, uint16_t attr)
{
    c->sel = sel;
    c->base = 0;
    c->limit = 0xffffffff;
    c->attr = attr;
}

/* The top of the RAM that runs on from 1 MiB, at most 4 GiB. */
static uint64_t high_ram_top(AddressSpace *as)
{
    uint64_t cur = MB;
    while (cur < FOUR_GIB) {
        const MemRegion *r = as_find(as, cur);
        if (!r || r->kind != MEM_RAM)
            break;
        cur = r->gpa + r->size;
    }
    return cur < FOUR_GIB ? cur : FOUR_GIB;
}

static unsigned long long mib_up(uint64_t bytes)
{
    return (unsigned long long)((bytes + MB - 1) / MB);
}

int load_linux(AddressSpace *as, uint64_t ram_size, CpuState *cpu, const LinuxBoot *lb,
               LinuxBootInfo *info, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    const char *path = lb->kernel;
    uint64_t file_size, initrd_size = 0;
    int fd = loader_open(path, &file_size, err, errlen), ifd = -1;
    if (fd < 0)
        return fd;
    uint8_t *bp = NULL;
    int rc;
    uint8_t hdr[HDR_END_MAX] = {0};

    if (file_size < HDR_MAGIC + 4) {
        rc = loader_err(-ENOEXEC, err, errlen, path,
                        "%llu bytes: too short for a Linux kernel (no setup header)",
                        (unsigned long long)file_size);
        goto out;
    }
    size_t hlen = file_size < HDR_END_MAX ? (size_t)file_size : HDR_END_MAX;
    rc = loader_pread(fd, hdr, hlen, 0);
    if (rc) {
        rc = loader_err(rc, err, errlen, path, "read error: %s", strerror(-rc));
        goto out;
    }
    if (memcmp(hdr + HDR_MAGIC, "HdrS", 4)) {
        rc = loader_err(-ENOEXEC, err, errlen, path,
                        "not a Linux bzImage (no \"HdrS\" setup header magic at 0x202)");
        goto out;
    }
    uint16_t version = le16(hdr + HDR_VERSION);
    if (version < 0x0202) {
        rc = loader_err(-ENOTSUP, err, errlen, path,
                        "Linux boot protocol %u.%02u is too old: dualvm needs 2.02 or newer "
                        "(kernels from 2.4 on)",
                        version >> 8, version & 0xff);
        goto out;
    }
    /* the header's own length: through byte 0x202 + the jump's displacement (boot.rst) */
    size_t hdr_end = (size_t)HDR_MAGIC + hdr[HDR_JUMP + 1];
    if (hdr_end > HDR_END_MAX)
        hdr_end = HDR_END_MAX;
    if (hdr_end > file_size || hdr_end < HDR_CMD_LINE_PTR + 4) {
        rc = loader_err(-ENOEXEC, err, errlen, path,
                        "truncated or damaged: the setup header ends at byte %zu, the file has "
                        "%llu",
                        hdr_end, (unsigned long long)file_size);
        goto out;
    }
    memset(hdr + hdr_end, 0, sizeof(hdr) - hdr_end); /* fields past it are not the header's */
    if (le16(hdr + HDR_BOOT_FLAG) != BOOT_FLAG) {
        rc = loader_err(-ENOEXEC, err, errlen, path,
                        "damaged: boot_flag at 0x1fe is 0x%04x, not 0xaa55",
                        le16(hdr + HDR_BOOT_FLAG));
        goto out;
    }
    if (!(hdr[HDR_LOADFLAGS] & LOADED_HIGH)) {
        rc = loader_err(-ENOTSUP, err, errlen, path,
                        "a zImage (kernel loaded below 1 MiB): only bzImage kernels are "
                        "supported");
        goto out;
    }
    unsigned setup_sects = hdr[HDR_SETUP_SECTS] ? hdr[HDR_SETUP_SECTS] : 4;
    uint64_t setup_size = (setup_sects + 1ull) * SECTOR;
    uint64_t syssize = version >= 0x0204 ? le32(hdr + HDR_SYSSIZE) * 16ull : 0;
    if (setup_size >= file_size) {
        rc = loader_err(-ENOEXEC, err, errlen, path,
                        "truncated: the file (%llu bytes) ends inside the %llu bytes of setup "
                        "code",
                        (unsigned long long)file_size, (unsigned long long)setup_size);
        goto out;
    }
    uint64_t kernel_size = file_size - setup_size;
    if (syssize) {
        if (setup_size + syssize > file_size) {
            rc = loader_err(-ENOEXEC, err, errlen, path,
                            "truncated: the header gives %llu bytes of setup and kernel, the "
                            "file has %llu",
                            (unsigned long long)(setup_size + syssize),
                            (unsigned long long)file_size);
            goto out;
        }
        kernel_size = syssize; /* anything after (a signature) is not the kernel's */
    }
    if (version >= 0x0208) {
        uint64_t po = le32(hdr + HDR_PAYLOAD_OFFSET), pl = le32(hdr + HDR_PAYLOAD_LENGTH);
        if (pl && po + pl > kernel_size) {
            rc = loader_err(-ENOEXEC, err, errlen, path,
                            "damaged: the compressed payload at 0x%llx+0x%llx lies outside the "
                            "%llu-byte kernel",
                            (unsigned long long)po, (unsigned long long)pl,
                            (unsigned long long)kernel_size);
            goto out;
        }
    }
    /* The build tool's CRC over setup and kernel: a flipped byte anywhere is caught here, not
     * by the kernel's decompressor halting the guest. */
    uint8_t *setup = syssize ? malloc(setup_size) : NULL;
    if (setup && (rc = loader_pread(fd, setup, setup_size, 0)) == 0 &&
        has_build_crc(setup, setup_size)) {
        rc = check_crc(fd, setup_size + syssize, setup, setup_size);
        free(setup);
        setup = NULL;
        if (rc < 0) {
            rc = loader_err(rc, err, errlen, path, "read error: %s", strerror(-rc));
            goto out;
        }
        if (rc) {
            rc = loader_err(-ENOEXEC, err, errlen, path,
                            "damaged: the CRC-32 at the end of the image does not match its "
                            "contents");
            goto out;
        }
    }
    free(setup);
    rc = 0;

    bool kernel64 = version >= 0x020c && (le16(hdr + HDR_XLOADFLAGS) & XLF_KERNEL_64);
    if (kernel64 && !lb->long_mode) {
        rc = loader_err(-ENOTSUP, err, errlen, path,
                        "an x86-64 kernel: it needs long mode, which this engine does not "
                        "provide (use -accel kvm, or an i386 kernel)");
        goto out;
    }
    bool enter64 = kernel64 && lb->long_mode;

    /* Where the kernel runs: it is loaded at 1 MiB and unpacks itself to pref_address (or
     * beyond, if relocatable) over init_size bytes. */
    uint64_t load = le32(hdr + HDR_CODE32_START);
    if (load != MB) {
        rc = loader_err(-ENOTSUP, err, errlen, path,
                        "code32_start is 0x%llx: only kernels loaded at 1 MiB are supported",
                        (unsigned long long)load);
        goto out;
    }
    uint64_t run_end = load + kernel_size;
    if (version >= 0x020a) {
        uint64_t pref = le64(hdr + HDR_PREF_ADDRESS), init = le32(hdr + HDR_INIT_SIZE);
        if (pref >= FOUR_GIB) {
            rc =
                loader_err(-ENOEXEC, err, errlen, path,
                           "damaged: pref_address 0x%llx is above 4 GiB", (unsigned long long)pref);
            goto out;
        }
        uint64_t base = pref > load ? pref : load;
        if (base + init > run_end)
            run_end = base + init;
    }
    uint64_t top = high_ram_top(as);
    if (run_end > top) {
        rc = loader_err(-ERANGE, err, errlen, path,
                        "the kernel unpacks itself up to 0x%llx: it needs at least %llu MiB of "
                        "RAM (-m)",
                        (unsigned long long)run_end, mib_up(run_end));
        goto out;
    }
    rc = loader_check_ram(as, ram_size, load, kernel_size, path, "kernel", err, errlen);
    if (rc)
        goto out;

    /* command line */
    const char *cmdline = lb->cmdline ? lb->cmdline : "";
    size_t cmdlen = strlen(cmdline);
    uint64_t cmd_max = version >= 0x0206 ? le32(hdr + HDR_CMDLINE_SIZE) : 255;
    if (cmd_max > LINUX_CMDLINE_MAX - 1)
        cmd_max = LINUX_CMDLINE_MAX - 1;
    if (cmdlen > cmd_max) {
        rc = loader_err(-ERANGE, err, errlen, path,
                        "the command line is %zu bytes; this kernel takes at most %llu", cmdlen,
                        (unsigned long long)cmd_max);
        goto out;
    }

    /* initrd: as high as the kernel allows, below the top of RAM, above the kernel */
    uint64_t initrd_addr = 0;
    if (lb->initrd) {
        ifd = loader_open(lb->initrd, &initrd_size, err, errlen);
        if (ifd < 0) {
            rc = ifd;
            goto out;
        }
        rc = check_initrd(ifd, initrd_size, lb->initrd, err, errlen);
        if (rc)
            goto out;
        uint64_t max = version >= 0x0203 ? le32(hdr + HDR_INITRD_ADDR_MAX) : 0x37ffffffull;
        uint64_t limit = max + 1 < top ? max + 1 : top;
        uint64_t floor = (run_end + 0xfff) & ~0xfffull;
        if (initrd_size > limit || ((limit - initrd_size) & ~0xfffull) < floor) {
            rc = loader_err(-ERANGE, err, errlen, lb->initrd,
                            "%llu bytes of initrd do not fit between the kernel (up to 0x%llx) "
                            "and 0x%llx: give more RAM (-m %llu or more)",
                            (unsigned long long)initrd_size, (unsigned long long)floor,
                            (unsigned long long)limit,
                            mib_up(floor + initrd_size + 0xfff) < 16
                                ? 16
                                : mib_up(floor + initrd_size + 0xfff));
            goto out;
        }
        initrd_addr = (limit - initrd_size) & ~0xfffull;
        rc = loader_check_ram(as, ram_size, initrd_addr, initrd_size, lb->initrd, "initrd", err,
                              errlen);
        if (rc)
            goto out;
    }

    /* boot_params: the setup header as the file has it, then what the loader fills in */
    bp = calloc(1, BP_SIZE);
    if (!bp) {
        rc = loader_err(-ENOMEM, err, errlen, path, "out of memory");
        goto out;
    }
    memcpy(bp + HDR_SETUP_SECTS, hdr + HDR_SETUP_SECTS, hdr_end - HDR_SETUP_SECTS);
    bp[BP_SENTINEL] = 0;
    bp[HDR_TYPE_OF_LOADER] = LOADER_TYPE_UNDEFINED;
    put32(bp + HDR_CMD_LINE_PTR, LINUX_CMDLINE_ADDR);
    put32(bp + HDR_RAMDISK_IMAGE, (uint32_t)initrd_addr);
    put32(bp + HDR_RAMDISK_SIZE, (uint32_t)initrd_size);
    put32(bp + BP_EXT_RAMDISK_IMAGE, (uint32_t)(initrd_addr >> 32));
    put32(bp + BP_EXT_RAMDISK_SIZE, (uint32_t)(initrd_size >> 32));
    put32(bp + BP_EXT_CMD_LINE_PTR, 0);
    if (version >= 0x020e && lb->acpi_rsdp)
        put64(bp + BP_ACPI_RSDP, lb->acpi_rsdp);
    size_t ne = lb->e820_count < BP_E820_MAX ? lb->e820_count : BP_E820_MAX;
    for (size_t i = 0; i < ne; i++) {
        uint8_t *e = bp + BP_E820_TABLE + 20 * i;
        put64(e, lb->e820[i].addr);
        put64(e + 8, lb->e820[i].len);
        put32(e + 16, lb->e820[i].type);
    }
    bp[BP_E820_ENTRIES] = (uint8_t)ne;

    /* into guest memory: nothing has been written before this point */
    if (as_load(as, LINUX_BOOT_PARAMS_ADDR, bp, BP_SIZE) ||
        as_load(as, LINUX_CMDLINE_ADDR, cmdline, cmdlen + 1) || put_boot_gdt(as, cpu, enter64) ||
        (enter64 && put_identity_map(as))) {
        rc = loader_err(-ERANGE, err, errlen, path,
                        "low memory (0x500-0x%llx) for boot_params, command line, GDT and page "
                        "tables is not RAM",
                        (unsigned long long)(LINUX_CMDLINE_ADDR + cmdlen + 1));
        goto out;
    }
    rc = loader_copy(as, fd, setup_size, load, kernel_size, 0, path, err, errlen);
    if (!rc && ifd >= 0)
        rc = loader_copy(as, ifd, 0, initrd_addr, initrd_size, 0, lb->initrd, err, errlen);
    if (rc)
        goto out;

    /* the CPU: interrupts off, ESI = boot_params, EBP = EDI = EBX = 0 */
    cpu_set_flat32(cpu, load);
    const uint16_t data = SEG_P | SEG_S | SEG_DB | SEG_G | 0x3;
    for (int i = 0; i < CPU_NR_SEGS; i++)
        set_seg(&cpu->seg[i], BOOT_DS, data);
    set_seg(&cpu->seg[S_CS], BOOT_CS, SEG_P | SEG_S | SEG_DB | SEG_G | 0xb);
    for (int i = 0; i < CPU_NR_GPRS; i++)
        cpu->regs[i] = 0;
    cpu->regs[R_ESI] = LINUX_BOOT_PARAMS_ADDR;
    if (enter64) {
        cpu->seg[S_CS].attr = SEG_P | SEG_S | SEG_L | SEG_G | 0xb;
        cpu->cr3 = LINUX_PT_ADDR;
        cpu->cr4 |= CR4_PAE;
        cpu->cr0 |= CR0_PG;
        cpu->efer |= EFER_LME | EFER_LMA;
        cpu->rip = load + 0x200; /* startup_64 */
    }
    if (info) {
        info->version = version;
        info->entry64 = enter64;
        info->kernel_addr = load;
        info->kernel_size = kernel_size;
        info->initrd_addr = initrd_addr;
        info->initrd_size = initrd_size;
    }
out:
    free(bp);
    if (ifd >= 0)
        close(ifd);
    close(fd);
    return rc;
}
