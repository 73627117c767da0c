/* loaders/multiboot.c: Multiboot v1 kernels, as GRUB legacy and QEMU -kernel boot them.
 *
 * Spec: https://www.gnu.org/software/grub/manual/multiboot/multiboot.html
 * Where the spec leaves a choice, QEMU's hw/i386/multiboot.c is followed, since that is what
 * kernels tested with "qemu -kernel" expect: the command line is "path args", the info block
 * sits at 0x9000, ELF64 images are refused.
 */
#include "loaders/loader.h"

#include <errno.h>
#include <stdio.h>
#include <gelf.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MB_HEADER_MAGIC 0x1BADB002u
#define MB_SEARCH_LEN 8192u
#define MB_HEADER_LEN 12u
#define MB_AOUT_HEADER_LEN 32u

#define MB_FLAG_PAGE_ALIGN (1u << 0)
#define MB_FLAG_MEMINFO (1u << 1)
#define MB_FLAG_VIDEO (1u << 2)
#define MB_FLAG_AOUT (1u << 16)
/* Bits 0-15 are requirements: a loader that does not know one must refuse the kernel. Page
 * alignment of modules is trivially met (no modules yet), memory info is always given, and the
 * video mode is only a preference the spec lets us ignore. */
#define MB_REQUIRED_MASK 0x0000FFFFu
#define MB_REQUIRED_KNOWN (MB_FLAG_PAGE_ALIGN | MB_FLAG_MEMINFO | MB_FLAG_VIDEO)

/* multiboot_info field offsets and flags */
#define MBI_FLAGS 0
#define MBI_MEM_LOWER 4
#define MBI_MEM_UPPER 8
#define MBI_CMDLINE 16
#define MBI_MODS_COUNT 20
#define MBI_MODS_ADDR 24
#define MBI_MMAP_LENGTH 44
#define MBI_MMAP_ADDR 48
#define MBI_BOOT_LOADER_NAME 64
#define MBI_SIZE 116 /* through the framebuffer fields, all zero unless flagged */
#define MBI_F_MEM (1u << 0)
#define MBI_F_CMDLINE (1u << 2)
#define MBI_F_MODS (1u << 3)
#define MBI_F_MMAP (1u << 6)
#define MBI_F_LOADER_NAME (1u << 9)

/* Info area layout from MULTIBOOT_INFO_ADDR: info struct, GDT, memory map, strings. */
#define AREA_MBI 0x00u
#define AREA_GDT 0x80u
#define AREA_MMAP 0xA0u
#define MMAP_ENTRY_LEN 24u /* the size field (20) plus the 20 bytes it counts */

/* The top KiB of conventional memory is the EBDA on a real PC; a BIOS reports it, and the
 * VGA/ROM window above it, as reserved, and kernels expect to see it that way. */
#define EBDA_START 0x9FC00ull
#define HIGH_MEM_START 0x100000ull

#define BOOT_LOADER_NAME "dualvm"

typedef struct Seg {
    uint64_t gpa, off, filesz, memsz;
    size_t phdr; /* program header index, to name the segment as readelf does */
} Seg;

typedef struct Image {
    Seg *segs;
    size_t nsegs;
    uint64_t entry;
} Image;

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static const char *elf_reason(void)
{
    const char *m = elf_errmsg(-1);
    return m ? m : "unknown libelf error";
}

/* The a.out kludge: the header itself says which file bytes go where (flag bit 16). */
static int plan_aout(const uint8_t *hdr, uint32_t hdr_off, uint64_t file_size, Image *img,
                     const char *path, char *err, size_t errlen)
{
    uint32_t header_addr = get_le32(hdr + 12), load_addr = get_le32(hdr + 16);
    uint32_t load_end = get_le32(hdr + 20), bss_end = get_le32(hdr + 24);
    uint32_t entry = get_le32(hdr + 28);

    if (load_addr > header_addr)
        return loader_err(-ENOEXEC, err, errlen, path,
                          "multiboot header: load_addr 0x%x is above header_addr 0x%x", load_addr,
                          header_addr);
    /* The header's distance from load_addr in memory is its distance from the load start in the
     * file, so the load start must not fall before byte 0. */
    uint32_t delta = header_addr - load_addr;
    if (delta > hdr_off)
        return loader_err(-ENOEXEC, err, errlen, path,
                          "multiboot header: header_addr 0x%x - load_addr 0x%x = 0x%x, more than "
                          "the header's file offset 0x%x",
                          header_addr, load_addr, delta, hdr_off);
    uint64_t off = hdr_off - delta, filesz, memsz;
    if (load_end) {
        if (load_end < load_addr)
            return loader_err(-ENOEXEC, err, errlen, path,
                              "multiboot header: load_end_addr 0x%x is below load_addr 0x%x",
                              load_end, load_addr);
        filesz = (uint64_t)load_end - load_addr;
        if (filesz > file_size - off)
            return loader_err(-ENOEXEC, err, errlen, path,
                              "truncated (load_end_addr 0x%x needs bytes up to %llu, file is "
                              "%llu bytes)",
                              load_end, (unsigned long long)(off + filesz),
                              (unsigned long long)file_size);
    } else {
        filesz = file_size - off; /* the spec: text and data fill the rest of the file */
    }
    if (bss_end) {
        if ((uint64_t)bss_end < load_addr + filesz)
            return loader_err(-ENOEXEC, err, errlen, path,
                              "multiboot header: bss_end_addr 0x%x is below the end of the loaded "
                              "data 0x%llx",
                              bss_end, (unsigned long long)(load_addr + filesz));
        memsz = (uint64_t)bss_end - load_addr;
    } else {
        memsz = filesz;
    }
    if (memsz == 0)
        return loader_err(-ENOEXEC, err, errlen, path,
                          "multiboot header: load_addr to load_end_addr is empty, nothing to load");
    img->segs = malloc(sizeof(Seg));
    if (!img->segs)
        return loader_err(-ENOMEM, err, errlen, path, "out of memory");
    img->segs[0] = (Seg){.gpa = load_addr, .off = off, .filesz = filesz, .memsz = memsz};
    img->nsegs = 1;
    img->entry = entry;
    return 0;
}

static int plan_elf(int fd, uint64_t file_size, const uint8_t *head, size_t head_len,
                    uint32_t hdr_off, Image *img, const char *path, char *err, size_t errlen)
{
    bool has_elf_magic = head_len >= SELFMAG && memcmp(head, ELFMAG, SELFMAG) == 0;
    if (!has_elf_magic)
        return loader_err(-ENOEXEC, err, errlen, path,
                          "not an ELF file (and the multiboot header at offset 0x%x gives no load "
                          "addresses: flag bit 16 is clear)",
                          hdr_off);
    if (elf_version(EV_CURRENT) == EV_NONE)
        return loader_err(-ENOEXEC, err, errlen, path, "libelf: %s", elf_reason());
    Elf *e = elf_begin(fd, ELF_C_READ, NULL);
    if (!e)
        return loader_err(-ENOEXEC, err, errlen, path, "bad ELF file: %s", elf_reason());
    int rc = 0;
    if (elf_kind(e) != ELF_K_ELF) {
        rc = loader_err(-ENOEXEC, err, errlen, path, "not an ELF file");
        goto out;
    }
    int cls = gelf_getclass(e);
    if (cls == ELFCLASS64) {
        rc = loader_err(-ENOTSUP, err, errlen, path,
                        "not an i386 ELF (ELF64 kernels need the Linux loader or -accel kvm)");
        goto out;
    }
    GElf_Ehdr eh;
    if (cls != ELFCLASS32 || !gelf_getehdr(e, &eh)) {
        rc = loader_err(-ENOEXEC, err, errlen, path, "bad ELF header: %s", elf_reason());
        goto out;
    }
    if (eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_machine != EM_386) {
        rc = loader_err(-ENOEXEC, err, errlen, path, "not an i386 ELF (e_machine %u)",
                        (unsigned)eh.e_machine);
        goto out;
    }
    if (eh.e_type != ET_EXEC) {
        const char *kind = eh.e_type == ET_REL    ? ", a relocatable object"
                           : eh.e_type == ET_DYN  ? ", a shared object or PIE"
                           : eh.e_type == ET_CORE ? ", a core dump"
                                                  : "";
        rc = loader_err(-ENOEXEC, err, errlen, path, "not an executable ELF (e_type %u%s)",
                        (unsigned)eh.e_type, kind);
        goto out;
    }
    /* Checked here before libelf sees the table, which would only say "invalid data". A count
     * of PN_XNUM means the real one is in section 0, where only libelf looks. */
    size_t phnum = eh.e_phnum;
    if (eh.e_phnum == PN_XNUM && elf_getphdrnum(e, &phnum) != 0) {
        rc = loader_err(-ENOEXEC, err, errlen, path, "bad program header table: %s", elf_reason());
        goto out;
    }
    if (phnum && eh.e_phentsize != sizeof(Elf32_Phdr)) {
        rc = loader_err(-ENOEXEC, err, errlen, path,
                        "bad program header table: e_phentsize %u, expected %zu",
                        (unsigned)eh.e_phentsize, sizeof(Elf32_Phdr));
        goto out;
    }
    if (eh.e_phoff > file_size || phnum > (file_size - eh.e_phoff) / sizeof(Elf32_Phdr)) {
        rc = loader_err(-ENOEXEC, err, errlen, path,
                        "truncated (program header table at offset 0x%llx with %zu entries runs "
                        "past the end of the file, %llu bytes)",
                        (unsigned long long)eh.e_phoff, phnum, (unsigned long long)file_size);
        goto out;
    }
    img->segs = calloc(phnum ? phnum : 1, sizeof(Seg));
    if (!img->segs) {
        rc = loader_err(-ENOMEM, err, errlen, path, "out of memory");
        goto out;
    }
    img->entry = eh.e_entry;
    bool entry_mapped = false;
    for (size_t i = 0; i < phnum; i++) {
        GElf_Phdr ph;
        if (!gelf_getphdr(e, (int)i, &ph)) {
            rc = loader_err(-ENOEXEC, err, errlen, path, "bad program header %zu: %s", i,
                            elf_reason());
            goto out;
        }
        if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
            continue;
        if (ph.p_filesz > ph.p_memsz) {
            rc = loader_err(-ENOEXEC, err, errlen, path,
                            "segment %zu: file size 0x%llx is larger than its memory size 0x%llx",
                            i, (unsigned long long)ph.p_filesz, (unsigned long long)ph.p_memsz);
            goto out;
        }
        if (ph.p_offset > file_size || ph.p_filesz > file_size - ph.p_offset) {
            rc = loader_err(-ENOEXEC, err, errlen, path,
                            "truncated (segment %zu ends at byte %llu, file is %llu bytes)", i,
                            (unsigned long long)ph.p_offset + ph.p_filesz,
                            (unsigned long long)file_size);
            goto out;
        }
        /* Physical addresses, as GRUB and QEMU load: higher-half kernels link at a virtual
         * address and rely on p_paddr to land low. */
        img->segs[img->nsegs++] = (Seg){.gpa = ph.p_paddr,
                                        .off = ph.p_offset,
                                        .filesz = ph.p_filesz,
                                        .memsz = ph.p_memsz,
                                        .phdr = i};
        /* e_entry is virtual; a higher-half kernel's entry must be moved to where its
         * segment was really put, or the first fetch lands in unmapped space. */
        if (!entry_mapped && eh.e_entry >= ph.p_vaddr && eh.e_entry - ph.p_vaddr < ph.p_memsz) {
            img->entry = eh.e_entry - ph.p_vaddr + ph.p_paddr;
            entry_mapped = true;
        }
    }
    if (img->nsegs == 0)
        rc = loader_err(-ENOEXEC, err, errlen, path, "no loadable (PT_LOAD) segments");
out:
    elf_end(e);
    return rc;
}

static void seg_name(char *buf, size_t len, uint32_t flags, const Seg *s)
{
    if (flags & MB_FLAG_AOUT)
        snprintf(buf, len, "image");
    else
        snprintf(buf, len, "segment %zu", s->phdr);
}

/* Append one memory map entry, merging with the previous one when contiguous and alike. */
static void mmap_add(uint8_t *map, size_t *n, uint64_t base, uint64_t len, uint32_t type)
{
    if (len == 0)
        return;
    if (*n) {
        uint8_t *prev = map + (*n - 1) * MMAP_ENTRY_LEN;
        uint64_t pbase = get_le32(prev + 4) | (uint64_t)get_le32(prev + 8) << 32;
        uint64_t plen = get_le32(prev + 12) | (uint64_t)get_le32(prev + 16) << 32;
        if (get_le32(prev + 20) == type && pbase + plen == base) {
            put_le64(prev + 12, plen + len);
            return;
        }
    }
    uint8_t *e = map + *n * MMAP_ENTRY_LEN;
    put_le32(e, MMAP_ENTRY_LEN - 4);
    put_le64(e + 4, base);
    put_le64(e + 12, len);
    put_le32(e + 20, type);
    (*n)++;
}

/* The map a PC BIOS would give (e820): RAM regions usable, except that conventional memory
 * stops at the EBDA and everything from there to 1 MiB is reserved. Room for 2 entries per
 * region plus the reserved window must be in map. */
static size_t build_mmap(AddressSpace *as, uint8_t *map)
{
    size_t n = 0;
    bool hole_done = false;
    for (size_t i = 0; i < as_region_count(as); i++) {
        const MemRegion *r = as_region(as, i);
        if (!r || r->kind != MEM_RAM)
            continue;
        uint64_t s = r->gpa, e = r->gpa + r->size;
        if (s < EBDA_START)
            mmap_add(map, &n, s, (e < EBDA_START ? e : EBDA_START) - s, 1);
        if (e > HIGH_MEM_START) {
            if (!hole_done)
                mmap_add(map, &n, EBDA_START, HIGH_MEM_START - EBDA_START, 2);
            hole_done = true;
            uint64_t hs = s > HIGH_MEM_START ? s : HIGH_MEM_START;
            mmap_add(map, &n, hs, e - hs, 1);
        }
    }
    if (!hole_done)
        mmap_add(map, &n, EBDA_START, HIGH_MEM_START - EBDA_START, 2);
    return n;
}

/* KiB of RAM contiguous from gpa, stopping at limit: the spec's mem_lower/mem_upper. */
static uint64_t contiguous_ram(AddressSpace *as, uint64_t gpa, uint64_t limit)
{
    uint64_t cur = gpa;
    while (cur < limit) {
        const MemRegion *r = as_find(as, cur);
        if (!r || r->kind != MEM_RAM)
            break;
        uint64_t end = r->gpa + r->size;
        if (end <= cur) /* region ends at 2^64 */
            return (limit - gpa) >> 10;
        cur = end;
    }
    return ((cur < limit ? cur : limit) - gpa) >> 10;
}

int load_multiboot(AddressSpace *as, uint64_t ram_size, CpuState *cpu, const char *path,
                   const char *cmdline, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    uint64_t file_size;
    int fd = loader_open(path, &file_size, err, errlen);
    if (fd < 0)
        return fd;

    Image img = {0};
    uint8_t *area = NULL;
    int rc;
    uint8_t head[MB_SEARCH_LEN];
    size_t head_len = file_size < MB_SEARCH_LEN ? (size_t)file_size : MB_SEARCH_LEN;
    rc = loader_pread(fd, head, head_len, 0);
    if (rc < 0) {
        rc = loader_err(rc, err, errlen, path, "read error: %s", strerror(-rc));
        goto out;
    }

    /* A magic number with a wrong checksum may be chance data: keep looking, but remember it
     * so that a kernel with a miscomputed checksum hears about that, not "no header". */
    long hdr_off = -1, bad_off = -1;
    uint32_t bad_sum = 0;
    for (size_t i = 0; i + MB_HEADER_LEN <= head_len; i += 4) {
        if (get_le32(head + i) != MB_HEADER_MAGIC)
            continue;
        uint32_t sum = MB_HEADER_MAGIC + get_le32(head + i + 4) + get_le32(head + i + 8);
        if (sum == 0) {
            hdr_off = (long)i;
            break;
        }
        if (bad_off < 0) {
            bad_off = (long)i;
            bad_sum = sum;
        }
    }
    bool elf_magic = head_len >= SELFMAG && memcmp(head, ELFMAG, SELFMAG) == 0;
    if (hdr_off < 0) {
        if (bad_off >= 0)
            rc = loader_err(-ENOEXEC, err, errlen, path,
                            "multiboot header at offset 0x%lx has a bad checksum (magic + flags "
                            "+ checksum = 0x%x, must be 0)",
                            bad_off, bad_sum);
        else if (elf_magic && head_len > EI_CLASS && head[EI_CLASS] == ELFCLASS64)
            rc = loader_err(-ENOTSUP, err, errlen, path,
                            "not an i386 ELF (ELF64 kernels need the Linux loader or -accel kvm)");
        else if (!elf_magic)
            rc = loader_err(-ENOEXEC, err, errlen, path,
                            "not an ELF file, and no multiboot header in the first %u bytes",
                            MB_SEARCH_LEN);
        else
            rc = loader_err(-ENOEXEC, err, errlen, path,
                            "no multiboot header in the first %u bytes", MB_SEARCH_LEN);
        goto out;
    }

    const uint8_t *hdr = head + hdr_off;
    uint32_t flags = get_le32(hdr + 4);
    uint32_t unknown = flags & MB_REQUIRED_MASK & ~MB_REQUIRED_KNOWN;
    if (unknown) {
        rc = loader_err(-ENOTSUP, err, errlen, path,
                        "multiboot header requires features dualvm does not support (flags "
                        "0x%x, unsupported required bits 0x%x)",
                        flags, unknown);
        goto out;
    }
    if (flags & MB_FLAG_AOUT) {
        if ((size_t)hdr_off + MB_AOUT_HEADER_LEN > head_len) {
            rc = loader_err(
                -ENOEXEC, err, errlen, path,
                "multiboot header at offset 0x%lx sets flag bit 16 but its address "
                "fields run past %s",
                hdr_off, head_len < MB_SEARCH_LEN ? "the end of the file" : "the first 8192 bytes");
            goto out;
        }
        rc = plan_aout(hdr, (uint32_t)hdr_off, file_size, &img, path, err, errlen);
    } else {
        rc = plan_elf(fd, file_size, head, head_len, (uint32_t)hdr_off, &img, path, err, errlen);
    }
    if (rc < 0)
        goto out;

    for (size_t i = 0; i < img.nsegs; i++) {
        char what[48];
        seg_name(what, sizeof(what), flags, &img.segs[i]);
        rc = loader_check_ram(as, ram_size, img.segs[i].gpa, img.segs[i].memsz, path, what, err,
                              errlen);
        if (rc < 0)
            goto out;
    }

    /* Build the info area on the host first: its size depends on the command line and the
     * number of RAM regions, and it must be checked against the kernel before it is written. */
    const char *args = cmdline ? cmdline : "";
    size_t path_len = strlen(path), args_len = strlen(args);
    size_t max_entries = 2 * as_region_count(as) + 1;
    size_t name_off = AREA_MMAP + max_entries * MMAP_ENTRY_LEN;
    size_t cmd_off = name_off + sizeof(BOOT_LOADER_NAME);
    size_t area_len = cmd_off + path_len + 1 + args_len + 1;
    const uint64_t base = MULTIBOOT_INFO_ADDR;
    if (area_len > EBDA_START - base) {
        rc = loader_err(-ERANGE, err, errlen, path,
                        "command line too long (%zu bytes) for the multiboot info area "
                        "0x%llx-0x%llx",
                        path_len + 1 + args_len, (unsigned long long)base,
                        (unsigned long long)EBDA_START);
        goto out;
    }
    rc = loader_check_ram(as, ram_size, base, area_len, path, "multiboot info area", err, errlen);
    if (rc < 0)
        goto out;
    for (size_t i = 0; i < img.nsegs; i++) {
        const Seg *s = &img.segs[i];
        if (s->gpa < base + area_len && base < s->gpa + s->memsz) {
            char what[48];
            seg_name(what, sizeof(what), flags, s);
            rc = loader_err(-ERANGE, err, errlen, path,
                            "%s at 0x%llx-0x%llx overlaps the multiboot info area at "
                            "0x%llx-0x%llx",
                            what, (unsigned long long)s->gpa,
                            (unsigned long long)(s->gpa + s->memsz), (unsigned long long)base,
                            (unsigned long long)(base + area_len));
            goto out;
        }
    }

    area = calloc(1, area_len);
    if (!area) {
        rc = loader_err(-ENOMEM, err, errlen, path, "out of memory");
        goto out;
    }
    size_t nmap = build_mmap(as, area + AREA_MMAP);
    memcpy(area + name_off, BOOT_LOADER_NAME, sizeof(BOOT_LOADER_NAME));
    memcpy(area + cmd_off, path, path_len);
    area[cmd_off + path_len] = ' ';
    memcpy(area + cmd_off + path_len + 1, args, args_len + 1);

    uint8_t *mbi = area + AREA_MBI;
    uint64_t upper = contiguous_ram(as, HIGH_MEM_START, UINT64_MAX);
    put_le32(mbi + MBI_FLAGS,
             MBI_F_MEM | MBI_F_CMDLINE | MBI_F_MODS | MBI_F_MMAP | MBI_F_LOADER_NAME);
    put_le32(mbi + MBI_MEM_LOWER, (uint32_t)contiguous_ram(as, 0, EBDA_START));
    put_le32(mbi + MBI_MEM_UPPER, upper > UINT32_MAX ? UINT32_MAX : (uint32_t)upper);
    put_le32(mbi + MBI_CMDLINE, (uint32_t)(base + cmd_off));
    /* No modules, but the flag with a count of 0 tells the kernel so, as QEMU does. */
    put_le32(mbi + MBI_MODS_COUNT, 0);
    put_le32(mbi + MBI_MODS_ADDR, (uint32_t)(base + area_len));
    put_le32(mbi + MBI_MMAP_LENGTH, (uint32_t)(nmap * MMAP_ENTRY_LEN));
    put_le32(mbi + MBI_MMAP_ADDR, (uint32_t)(base + AREA_MMAP));
    put_le32(mbi + MBI_BOOT_LOADER_NAME, (uint32_t)(base + name_off));

    for (size_t i = 0; i < img.nsegs; i++) {
        const Seg *s = &img.segs[i];
        rc =
            loader_copy(as, fd, s->off, s->gpa, s->filesz, s->memsz - s->filesz, path, err, errlen);
        if (rc < 0)
            goto out;
    }
    if (as_load(as, base, area, area_len) != 0) {
        rc = loader_err(-ERANGE, err, errlen, path, "could not write the multiboot info area");
        goto out;
    }

    for (int i = 0; i < CPU_NR_GPRS; i++)
        cpu->regs[i] = 0;
    cpu_set_flat32(cpu, img.entry);
    cpu->regs[R_EAX] = MULTIBOOT_BOOTLOADER_MAGIC;
    cpu->regs[R_EBX] = base + AREA_MBI;
    /* Multiboot promises nothing about GDTR, but a kernel that reloads a segment register
     * before installing its own GDT should find the selectors cpu_set_flat32() uses. */
    if (loader_put_gdt(as, cpu, base + AREA_GDT) < 0) {
        rc = loader_err(-ERANGE, err, errlen, path, "could not write the boot GDT");
        goto out;
    }
    rc = 0;
out:
    free(area);
    free(img.segs);
    close(fd);
    return rc;
}
