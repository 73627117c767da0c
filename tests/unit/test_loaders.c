/* Loader tests: multiboot (ELF and a.out kludge) and flat binaries, loaded into a PC-shaped
 * address space. Every image is written byte by byte at test time into a temporary directory,
 * so the malformed ones are exactly as malformed as the test says. */
#include <criterion/criterion.h>

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cpu/cpu.h"
#include "hw/memory.h"
#include "loaders/loader.h"

#define RAM_SIZE (32ull << 20)
#define LOW_RAM 0xA0000ull
#define HIGH_RAM 0x100000ull
#define ROM_BASE 0xF0000ull
#define ROM_SIZE 0x10000ull

static AddressSpace *as;
static uint8_t *low, *high, *rom;
static CpuState cpu;
static char dir[64];
static char err[512];

static void setup(void)
{
    as = as_new();
    low = calloc(1, LOW_RAM);
    high = calloc(1, RAM_SIZE - HIGH_RAM);
    rom = calloc(1, ROM_SIZE);
    cr_assert(as && low && high && rom);
    cr_assert_eq(as_add_ram(as, 0, LOW_RAM, low, "ram-low"), 0);
    cr_assert_eq(as_add_ram(as, HIGH_RAM, RAM_SIZE - HIGH_RAM, high, "ram-high"), 0);
    cr_assert_eq(as_add_rom(as, ROM_BASE, ROM_SIZE, rom, "bios"), 0);
    cpu_reset(&cpu);
    strcpy(dir, "/tmp/dualvm-loaders-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    err[0] = '\0';
}

static void teardown(void)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char p[512];
        while ((e = readdir(d))) {
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
                unlink(p);
            }
        }
        closedir(d);
    }
    rmdir(dir);
    as_free(as);
    free(low);
    free(high);
    free(rom);
}

TestSuite(multiboot, .init = setup, .fini = teardown);
TestSuite(flat, .init = setup, .fini = teardown);

/* ---- building images ---------------------------------------------------------------------- */

typedef struct Buf {
    uint8_t *p;
    size_t len;
} Buf;

static void buf_put(Buf *b, size_t off, const void *data, size_t n)
{
    if (off + n > b->len) {
        b->p = realloc(b->p, off + n);
        cr_assert_not_null(b->p);
        memset(b->p + b->len, 0, off + n - b->len);
        b->len = off + n;
    }
    memcpy(b->p + off, data, n);
}

static void buf_put32(Buf *b, size_t off, uint32_t v)
{
    uint8_t le[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    buf_put(b, off, le, 4);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
    return get32(p) | (uint64_t)get32(p + 4) << 32;
}

static const char *write_file(const char *name, const Buf *b)
{
    static char path[4][256];
    static int slot;
    char *p = path[slot++ % 4];
    snprintf(p, 256, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    cr_assert_not_null(f);
    if (b->len)
        cr_assert_eq(fwrite(b->p, 1, b->len, f), b->len);
    fclose(f);
    return p;
}

static void put_mb_header(Buf *b, size_t off, uint32_t flags)
{
    buf_put32(b, off, 0x1BADB002u);
    buf_put32(b, off + 4, flags);
    buf_put32(b, off + 8, (uint32_t) - (0x1BADB002u + flags));
}

/* Offsets inside the standard test kernel */
#define PH0 52
#define PH1 (52 + 32)
#define TEXT_OFF 0x1000
#define DATA_OFF 0x2000

static void put_phdr(Buf *b, size_t off, uint32_t type, uint32_t foff, uint32_t vaddr,
                     uint32_t paddr, uint32_t filesz, uint32_t memsz)
{
    Elf32_Phdr ph = {.p_type = type,
                     .p_offset = foff,
                     .p_vaddr = vaddr,
                     .p_paddr = paddr,
                     .p_filesz = filesz,
                     .p_memsz = memsz,
                     .p_flags = PF_R | PF_X,
                     .p_align = 0x1000};
    buf_put(b, off, &ph, sizeof(ph));
}

/* An i386 multiboot ELF: text at 1 MiB holding the header and the entry (a HLT at +0x10), data
 * at 1 MiB + 8 KiB with 0x100 bytes in the file and 8 KiB in memory (the rest is bss). */
static Buf good_elf(void)
{
    Buf b = {0};
    Elf32_Ehdr eh = {0};
    memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS32;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_EXEC;
    eh.e_machine = EM_386;
    eh.e_version = EV_CURRENT;
    eh.e_entry = 0x100010;
    eh.e_phoff = PH0;
    eh.e_ehsize = sizeof(Elf32_Ehdr);
    eh.e_phentsize = sizeof(Elf32_Phdr);
    eh.e_phnum = 2;
    buf_put(&b, 0, &eh, sizeof(eh));
    put_phdr(&b, PH0, PT_LOAD, TEXT_OFF, 0x100000, 0x100000, 0x1000, 0x1000);
    put_phdr(&b, PH1, PT_LOAD, DATA_OFF, 0x102000, 0x102000, 0x100, 0x2000);
    put_mb_header(&b, TEXT_OFF, 0x3);
    uint8_t code[16];
    memset(code, 0xF4, sizeof(code));
    buf_put(&b, TEXT_OFF + 0x10, code, sizeof(code));
    uint8_t data[0x100];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i ^ 0x5A);
    buf_put(&b, DATA_OFF, data, sizeof(data));
    return b;
}

static Elf32_Ehdr *ehdr(Buf *b)
{
    return (Elf32_Ehdr *)b->p;
}

static Elf32_Phdr *phdr(Buf *b, int i)
{
    return (Elf32_Phdr *)(b->p + PH0 + 32 * i);
}

static int load_mb(const char *path, const char *cmdline)
{
    return load_multiboot(as, RAM_SIZE, &cpu, path, cmdline, err, sizeof(err));
}

static void expect_mb_error(Buf *b, const char *fragment)
{
    const char *p = write_file("bad.elf", b);
    int rc = load_mb(p, "");
    cr_assert_lt(rc, 0, "expected failure for \"%s\", got %d", fragment, rc);
    cr_assert_not_null(strstr(err, fragment), "message \"%s\" lacks \"%s\"", err, fragment);
    cr_assert_not_null(strstr(err, p), "message \"%s\" does not name the file", err);
    cr_assert_null(strchr(err, '\n'), "message is not one line: \"%s\"", err);
}

static uint32_t guest32(uint64_t gpa)
{
    uint8_t b[4];
    cr_assert_eq(as_read(as, gpa, b, 4), MEM_OK);
    return get32(b);
}

static void guest_str(uint64_t gpa, char *out, size_t len)
{
    cr_assert_eq(as_read(as, gpa, out, len), MEM_OK);
    out[len - 1] = '\0';
}

/* ---- multiboot: success ------------------------------------------------------------------- */

Test(multiboot, good_elf_loads_with_bss_zeroed_and_info_block)
{
    Buf b = good_elf();
    const char *p = write_file("kernel.elf", &b);
    memset(high + 0x2000, 0xAA, 0x3000); /* bss must come out zero, and nothing past it touched */

    cr_assert_eq(load_mb(p, "console=ttyS0 quiet"), 0, "%s", err);

    cr_assert_eq(get32(high), 0x1BADB002u);
    cr_assert_eq(high[0x10], 0xF4);
    for (int i = 0; i < 0x100; i++)
        cr_assert_eq(high[0x2000 + i], (uint8_t)(i ^ 0x5A));
    for (int i = 0x100; i < 0x2000; i++)
        cr_assert_eq(high[0x2000 + i], 0, "bss byte 0x%x not zeroed", i);
    cr_assert_eq(high[0x4000], 0xAA);

    cr_assert_eq(cpu.rip, 0x100010);
    cr_assert_eq(cpu.regs[R_EAX], 0x2BADB002u);
    cr_assert_eq(cpu.regs[R_EBX], MULTIBOOT_INFO_ADDR);
    for (int r = 0; r < CPU_NR_GPRS; r++)
        if (r != R_EAX && r != R_EBX)
            cr_assert_eq(cpu.regs[r], 0, "GPR %d not 0", r);
    cr_assert_eq(cpu.rflags, 0x2);
    cr_assert(cpu.cr0 & CR0_PE);
    cr_assert_not(cpu.cr0 & CR0_PG);
    cr_assert_eq(cpu.seg[S_CS].sel, 0x08);
    cr_assert_eq(cpu.seg[S_DS].sel, 0x10);
    cr_assert_eq(cpu.seg[S_CS].limit, 0xffffffffu);
    cr_assert(cpu.seg[S_CS].attr & SEG_DB);

    /* GDT in guest memory matches the cached selectors */
    cr_assert_eq(cpu.gdt.limit, 23);
    uint8_t gdt[24];
    cr_assert_eq(as_read(as, cpu.gdt.base, gdt, sizeof(gdt)), MEM_OK);
    cr_assert_eq(get64(gdt), 0);
    cr_assert_eq(get64(gdt + 8), 0x00CF9B000000FFFFull);
    cr_assert_eq(get64(gdt + 16), 0x00CF93000000FFFFull);

    uint64_t mbi = cpu.regs[R_EBX];
    uint32_t flags = guest32(mbi);
    cr_assert(flags & (1u << 0), "mem flag");
    cr_assert(flags & (1u << 2), "cmdline flag");
    cr_assert(flags & (1u << 6), "mmap flag");
    cr_assert(flags & (1u << 9), "loader name flag");
    cr_assert_eq(guest32(mbi + 4), 639);
    cr_assert_eq(guest32(mbi + 8), (RAM_SIZE - HIGH_RAM) / 1024);

    char s[300];
    guest_str(guest32(mbi + 16), s, sizeof(s));
    char want[300];
    snprintf(want, sizeof(want), "%s console=ttyS0 quiet", p);
    cr_assert_str_eq(s, want);
    guest_str(guest32(mbi + 64), s, 16);
    cr_assert_str_eq(s, "dualvm");
    cr_assert_eq(guest32(mbi + 20), 0, "no modules");

    uint32_t mlen = guest32(mbi + 44), maddr = guest32(mbi + 48);
    cr_assert_eq(mlen, 3 * 24);
    struct {
        uint64_t base, len;
        uint32_t type;
    } want_map[3] = {
        {0, 0x9FC00, 1}, {0x9FC00, 0x100000 - 0x9FC00, 2}, {0x100000, RAM_SIZE - 0x100000, 1}};
    for (int i = 0; i < 3; i++) {
        uint8_t e[24];
        cr_assert_eq(as_read(as, maddr + 24 * i, e, 24), MEM_OK);
        cr_assert_eq(get32(e), 20);
        cr_assert_eq(get64(e + 4), want_map[i].base, "entry %d base", i);
        cr_assert_eq(get64(e + 12), want_map[i].len, "entry %d len", i);
        cr_assert_eq(get32(e + 20), want_map[i].type, "entry %d type", i);
    }
    free(b.p);
}

Test(multiboot, null_cmdline_gives_path_and_space)
{
    Buf b = good_elf();
    const char *p = write_file("k.elf", &b);
    cr_assert_eq(load_mb(p, NULL), 0, "%s", err);
    char s[300], want[300];
    guest_str(guest32(cpu.regs[R_EBX] + 16), s, sizeof(s));
    snprintf(want, sizeof(want), "%s ", p);
    cr_assert_str_eq(s, want);
    free(b.p);
}

Test(multiboot, higher_half_kernel_loads_at_paddr_and_entry_is_translated)
{
    Buf b = good_elf();
    ehdr(&b)->e_entry = 0xC0100010;
    phdr(&b, 0)->p_vaddr = 0xC0100000;
    phdr(&b, 1)->p_vaddr = 0xC0102000;
    cr_assert_eq(load_mb(write_file("hh.elf", &b), ""), 0, "%s", err);
    cr_assert_eq(cpu.rip, 0x100010);
    cr_assert_eq(get32(high), 0x1BADB002u);
    free(b.p);
}

Test(multiboot, video_flag_is_accepted)
{
    Buf b = good_elf();
    put_mb_header(&b, TEXT_OFF, 0x7);
    cr_assert_eq(load_mb(write_file("vid.elf", &b), ""), 0, "%s", err);
    free(b.p);
}

Test(multiboot, non_load_and_empty_segments_are_skipped)
{
    Buf b = good_elf();
    ehdr(&b)->e_phnum = 4;
    /* move the two real phdrs up; a PT_NOTE and a zero-size PT_LOAD in front */
    Elf32_Phdr p0 = *phdr(&b, 0), p1 = *phdr(&b, 1);
    put_phdr(&b, PH0, PT_NOTE, 0, 0xA0000, 0xA0000, 0x10, 0x10);
    put_phdr(&b, PH1, PT_LOAD, 0, 0xF0000, 0xF0000, 0, 0);
    buf_put(&b, PH0 + 64, &p0, 32);
    buf_put(&b, PH0 + 96, &p1, 32);
    cr_assert_eq(load_mb(write_file("notes.elf", &b), ""), 0, "%s", err);
    cr_assert_eq(cpu.rip, 0x100010);
    free(b.p);
}

/* a.out kludge: a headerless raw image whose multiboot header gives the addresses */
static Buf aout_image(uint32_t load_end, uint32_t bss_end)
{
    Buf b = {0};
    put_mb_header(&b, 0x20, 0x10003);
    buf_put32(&b, 0x2C, 0x200020); /* header_addr */
    buf_put32(&b, 0x30, 0x200000); /* load_addr */
    buf_put32(&b, 0x34, load_end);
    buf_put32(&b, 0x38, bss_end);
    buf_put32(&b, 0x3C, 0x200040); /* entry */
    uint8_t code[0x40];
    memset(code, 0x90, sizeof(code));
    buf_put(&b, 0x40, code, sizeof(code));
    return b;
}

Test(multiboot, aout_kludge_loads_by_header_addresses)
{
    Buf b = aout_image(0, 0x203000);
    memset(high + 0x100000, 0xAA, 0x4000);
    cr_assert_eq(load_mb(write_file("raw.bin", &b), "x"), 0, "%s", err);
    cr_assert_eq(cpu.rip, 0x200040);
    cr_assert_eq(get32(high + 0x100020), 0x1BADB002u);
    cr_assert_eq(high[0x100040], 0x90);
    cr_assert_eq(high[0x10007F], 0x90);
    for (int i = 0x80; i < 0x3000; i++)
        cr_assert_eq(high[0x100000 + i], 0, "bss byte 0x%x", i);
    cr_assert_eq(high[0x103000], 0xAA);
    free(b.p);
}

Test(multiboot, aout_kludge_load_end_limits_the_copy)
{
    Buf b = aout_image(0x200050, 0);
    memset(high + 0x100000, 0xAA, 0x100);
    cr_assert_eq(load_mb(write_file("raw.bin", &b), ""), 0, "%s", err);
    cr_assert_eq(high[0x10004F], 0x90);
    cr_assert_eq(high[0x100050], 0xAA);
    free(b.p);
}

Test(multiboot, aout_kludge_beats_elf64)
{
    /* 64-bit hobby kernels get booted this way: the ELF class no longer matters */
    Buf b = aout_image(0, 0);
    uint8_t ident[EI_NIDENT] = {0x7f, 'E', 'L', 'F', ELFCLASS64, ELFDATA2LSB, EV_CURRENT};
    buf_put(&b, 0, ident, sizeof(ident));
    cr_assert_eq(load_mb(write_file("k64.elf", &b), ""), 0, "%s", err);
    cr_assert_eq(cpu.rip, 0x200040);
    free(b.p);
}

/* ---- multiboot: errors -------------------------------------------------------------------- */

Test(multiboot, missing_file)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/nope.elf", dir);
    int rc = load_mb(p, "");
    cr_assert_eq(rc, -ENOENT);
    cr_assert_not_null(strstr(err, "nope.elf: No such file or directory"), "%s", err);
}

Test(multiboot, directory)
{
    cr_assert_eq(load_mb(dir, ""), -EISDIR);
    cr_assert_not_null(strstr(err, "Is a directory"), "%s", err);
}

Test(multiboot, empty_file)
{
    Buf b = {0};
    expect_mb_error(&b, "empty file");
}

Test(multiboot, not_elf_no_header)
{
    Buf b = {0};
    const char *text = "#!/bin/sh\necho this is not a kernel\n";
    buf_put(&b, 0, text, strlen(text));
    expect_mb_error(&b, "not an ELF file");
    free(b.p);
}

Test(multiboot, not_elf_with_header_but_no_aout_kludge)
{
    Buf b = {0};
    put_mb_header(&b, 0, 0x3);
    buf_put32(&b, 100, 0);
    expect_mb_error(&b, "not an ELF file");
    cr_assert_not_null(strstr(err, "bit 16"), "%s", err);
    free(b.p);
}

Test(multiboot, no_header)
{
    Buf b = good_elf();
    buf_put32(&b, TEXT_OFF, 0);
    expect_mb_error(&b, "no multiboot header in the first 8192 bytes");
    free(b.p);
}

Test(multiboot, header_past_8192_bytes)
{
    Buf b = good_elf();
    buf_put32(&b, TEXT_OFF, 0);
    put_mb_header(&b, 8192, 0x3);
    expect_mb_error(&b, "no multiboot header in the first 8192 bytes");
    free(b.p);
}

Test(multiboot, bad_checksum)
{
    Buf b = good_elf();
    buf_put32(&b, TEXT_OFF + 8, 0x12345678);
    expect_mb_error(&b, "bad checksum");
    free(b.p);
}

Test(multiboot, unsupported_required_flags)
{
    Buf b = good_elf();
    put_mb_header(&b, TEXT_OFF, 0x3 | (1u << 3) | (1u << 12));
    expect_mb_error(&b, "does not support");
    cr_assert_not_null(strstr(err, "0x1008"), "%s", err);
    free(b.p);
}

Test(multiboot, unknown_optional_flags_are_ignored)
{
    Buf b = good_elf();
    put_mb_header(&b, TEXT_OFF, 0x3 | (1u << 20));
    cr_assert_eq(load_mb(write_file("opt.elf", &b), ""), 0, "%s", err);
    free(b.p);
}

Test(multiboot, elf64)
{
    Buf b = {0};
    Elf64_Ehdr eh = {0};
    memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_EXEC;
    eh.e_machine = EM_X86_64;
    eh.e_version = EV_CURRENT;
    eh.e_ehsize = sizeof(eh);
    buf_put(&b, 0, &eh, sizeof(eh));
    put_mb_header(&b, 0x1000, 0x3);
    expect_mb_error(&b, "ELF64");
    cr_assert_not_null(strstr(err, "not an i386 ELF"), "%s", err);

    /* and without a multiboot header at all, like a vmlinux */
    buf_put32(&b, 0x1000, 0);
    expect_mb_error(&b, "ELF64");
    free(b.p);
}

Test(multiboot, wrong_machine)
{
    Buf b = good_elf();
    ehdr(&b)->e_machine = EM_ARM;
    expect_mb_error(&b, "not an i386 ELF");
    free(b.p);
}

Test(multiboot, not_executable)
{
    Buf b = good_elf();
    ehdr(&b)->e_type = ET_REL;
    expect_mb_error(&b, "not an executable ELF (e_type 1, a relocatable object)");
    free(b.p);
}

Test(multiboot, truncated_segment)
{
    Buf b = good_elf();
    phdr(&b, 1)->p_filesz = 0x1000;
    phdr(&b, 1)->p_memsz = 0x2000;
    expect_mb_error(&b, "truncated (segment 1 ends at byte 12288, file is 8448 bytes)");
    free(b.p);
}

Test(multiboot, huge_offset_and_size)
{
    Buf b = good_elf();
    phdr(&b, 1)->p_offset = 0xFFFFFFF0;
    expect_mb_error(&b, "truncated");

    free(b.p);
    b = good_elf();
    phdr(&b, 1)->p_filesz = 0xFFFFFFFF;
    phdr(&b, 1)->p_memsz = 0xFFFFFFFF;
    expect_mb_error(&b, "truncated");
    free(b.p);

    b = good_elf();
    phdr(&b, 1)->p_memsz = 0xFFFFFFFF; /* file part fine, bss runs off 4 GiB */
    expect_mb_error(&b, "above 4 GiB");
    free(b.p);
}

Test(multiboot, filesz_larger_than_memsz)
{
    Buf b = good_elf();
    phdr(&b, 1)->p_memsz = 0x10;
    expect_mb_error(&b, "larger than its memory size");
    free(b.p);
}

Test(multiboot, bad_program_header_table)
{
    Buf b = good_elf();
    ehdr(&b)->e_phoff = 0xFFFFFFF0;
    expect_mb_error(&b, "program header table at offset 0xfffffff0 with 2 entries runs past");
    free(b.p);

    b = good_elf();
    ehdr(&b)->e_phnum = 0xFFFE;
    expect_mb_error(&b, "program header table at offset 0x34 with 65534 entries runs past");
    free(b.p);

    /* PN_XNUM: the real count lives in section 0, which this file does not have */
    b = good_elf();
    ehdr(&b)->e_phnum = 0xFFFF;
    expect_mb_error(&b, "program header");
    free(b.p);

    b = good_elf();
    ehdr(&b)->e_phentsize = 40;
    expect_mb_error(&b, "e_phentsize 40");
    free(b.p);
}

Test(multiboot, no_loadable_segments)
{
    Buf b = good_elf();
    phdr(&b, 0)->p_type = PT_NOTE;
    phdr(&b, 1)->p_type = PT_NOTE;
    expect_mb_error(&b, "no loadable");
    free(b.p);
}

Test(multiboot, segment_outside_ram)
{
    Buf b = good_elf();
    phdr(&b, 1)->p_paddr = 0x80000000;
    expect_mb_error(&b, "segment 1 at 0x80000000-0x80002000 is outside RAM (32 MiB)");
    free(b.p);
}

Test(multiboot, segment_straddling_top_of_ram)
{
    Buf b = good_elf();
    phdr(&b, 1)->p_paddr = RAM_SIZE - 0x1000;
    expect_mb_error(&b, "is outside RAM (32 MiB)");
    free(b.p);
}

Test(multiboot, segment_in_vga_hole)
{
    Buf b = good_elf();
    phdr(&b, 1)->p_paddr = 0xA0000;
    expect_mb_error(&b, "segment 1 at 0xa0000-0xa2000 overlaps the ROM/device hole");
    free(b.p);
}

Test(multiboot, segment_straddling_into_hole)
{
    Buf b = good_elf();
    phdr(&b, 1)->p_paddr = 0x9F000;
    expect_mb_error(&b, "overlaps the ROM/device hole");
    free(b.p);
}

Test(multiboot, segment_in_rom)
{
    Buf b = good_elf();
    phdr(&b, 1)->p_paddr = 0xF0000;
    expect_mb_error(&b, "overlaps the ROM/device hole (bios)");
    free(b.p);
}

Test(multiboot, segment_wrapping_4gib)
{
    Buf b = good_elf();
    phdr(&b, 1)->p_paddr = 0xFFFFF000;
    expect_mb_error(&b, "above 4 GiB");
    free(b.p);
}

Test(multiboot, nothing_written_when_a_later_segment_fails)
{
    Buf b = good_elf();
    phdr(&b, 1)->p_paddr = 0x80000000;
    const char *p = write_file("late.elf", &b);
    cr_assert_lt(load_mb(p, ""), 0);
    cr_assert_eq(get32(high), 0, "segment 0 was written before segment 1 was checked");
    cr_assert_eq(guest32(MULTIBOOT_INFO_ADDR), 0);
    free(b.p);
}

Test(multiboot, segment_over_info_area)
{
    Buf b = good_elf();
    phdr(&b, 1)->p_paddr = 0x8000;
    expect_mb_error(&b, "overlaps the multiboot info area");
    free(b.p);
}

Test(multiboot, command_line_too_long)
{
    Buf b = good_elf();
    const char *p = write_file("k.elf", &b);
    size_t n = 700 * 1024;
    char *line = malloc(n + 1);
    memset(line, 'a', n);
    line[n] = '\0';
    cr_assert_lt(load_mb(p, line), 0);
    cr_assert_not_null(strstr(err, "command line too long"), "%s", err);
    free(line);
    free(b.p);
}

Test(multiboot, aout_errors)
{
    Buf b = aout_image(0, 0);
    buf_put32(&b, 0x30, 0x200030); /* load_addr above header_addr */
    expect_mb_error(&b, "load_addr 0x200030 is above header_addr");
    free(b.p);

    b = aout_image(0, 0);
    buf_put32(&b, 0x2C, 0x300000); /* load start before byte 0 of the file */
    expect_mb_error(&b, "more than the header's file offset");
    free(b.p);

    b = aout_image(0x210000, 0); /* load_end past the end of the file */
    expect_mb_error(&b, "truncated");
    free(b.p);

    b = aout_image(0x1FFFFF, 0);
    expect_mb_error(&b, "load_end_addr 0x1fffff is below load_addr");
    free(b.p);

    b = aout_image(0x200050, 0x200040);
    expect_mb_error(&b, "bss_end_addr 0x200040 is below");
    free(b.p);

    b = aout_image(0, 0xFFFFFFFF);
    expect_mb_error(&b, "outside RAM");
    free(b.p);

    b = aout_image(0, 0);
    buf_put32(&b, 0x2C, 0xA0020);
    buf_put32(&b, 0x30, 0xA0000);
    expect_mb_error(&b, "image at 0xa0000-0xa0080 overlaps the ROM/device hole");
    free(b.p);

    /* address fields cut off by the end of the file */
    b = (Buf){0};
    put_mb_header(&b, 0, 0x10000);
    buf_put32(&b, 12, 0);
    expect_mb_error(&b, "address fields run past the end of the file");
    free(b.p);
}

/* Random damage to a good image must give success or an error message, never a crash or a
 * silent failure. Run it under -fsanitize=address,undefined to check for reads out of bounds. */
Test(multiboot, fuzz_mutations_never_crash, .timeout = 120)
{
    Buf good = good_elf();
    Buf aout = aout_image(0x200060, 0x201000);
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (int iter = 0; iter < 3000; iter++) {
        const Buf *base = (iter & 3) == 3 ? &aout : &good;
        Buf b = {0};
        buf_put(&b, 0, base->p, base->len);
        int flips = 1 + (int)(x % 6);
        for (int f = 0; f < flips; f++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            /* aim mostly at headers: ELF header, program headers, multiboot header */
            size_t span = (x >> 40) & 1 ? 0x80 : b.len;
            size_t at = (size_t)(x >> 8) % span;
            if ((x >> 50) & 1 && base == &good && (x >> 51) & 1)
                at = TEXT_OFF + (size_t)(x >> 20) % 32;
            b.p[at] = (uint8_t)(x >> 32);
        }
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        if (x % 8 == 0)
            b.len = (size_t)(x >> 16) % b.len;
        const char *p = write_file("fuzz.elf", &b);
        err[0] = '\0';
        cpu_reset(&cpu);
        int rc = load_mb(p, "fuzz");
        if (rc < 0)
            cr_assert(err[0] != '\0', "iteration %d: failure %d without a message", iter, rc);
        else
            cr_assert_eq(cpu.regs[R_EAX], 0x2BADB002u);
        free(b.p);
    }
    free(good.p);
    free(aout.p);
}

/* ---- flat binaries ------------------------------------------------------------------------ */

static int load_fl(const char *path, uint64_t addr, uint64_t entry)
{
    return load_flat(as, RAM_SIZE, &cpu, path, addr, entry, err, sizeof(err));
}

static Buf flat_image(size_t n)
{
    Buf b = {0};
    for (size_t i = 0; i < n; i++) {
        uint8_t v = (uint8_t)(i * 7 + 1);
        buf_put(&b, i, &v, 1);
    }
    return b;
}

Test(flat, loads_at_addr_with_default_entry)
{
    Buf b = flat_image(0x3001);
    cr_assert_eq(load_fl(write_file("img.bin", &b), 0x100000, LOADER_ENTRY_DEFAULT), 0, "%s", err);
    cr_assert_eq(memcmp(high, b.p, b.len), 0);
    cr_assert_eq(high[0x3001], 0);
    cr_assert_eq(cpu.rip, 0x100000);
    cr_assert(cpu.cr0 & CR0_PE);
    cr_assert_eq(cpu.seg[S_CS].sel, 0x08);
    cr_assert_eq(cpu.seg[S_SS].limit, 0xffffffffu);
    cr_assert_eq(cpu.gdt.base, LOADER_FLAT_GDT_ADDR);
    cr_assert_eq(cpu.gdt.limit, 23);
    uint8_t gdt[8];
    cr_assert_eq(as_read(as, LOADER_FLAT_GDT_ADDR + 8, gdt, 8), MEM_OK);
    cr_assert_eq(get64(gdt), 0x00CF9B000000FFFFull);
    free(b.p);
}

Test(flat, explicit_entry)
{
    Buf b = flat_image(0x100);
    cr_assert_eq(load_fl(write_file("img.bin", &b), 0x7C00, 0x7C40), 0, "%s", err);
    cr_assert_eq(memcmp(low + 0x7C00, b.p, b.len), 0);
    cr_assert_eq(cpu.rip, 0x7C40);
    free(b.p);
}

Test(flat, image_over_gdt_spot_keeps_gdtr)
{
    Buf b = flat_image(0x1000);
    uint64_t before = cpu.gdt.base;
    cr_assert_eq(load_fl(write_file("img.bin", &b), 0, LOADER_ENTRY_DEFAULT), 0, "%s", err);
    cr_assert_eq(cpu.gdt.base, before);
    cr_assert_eq(memcmp(low, b.p, b.len), 0, "the GDT overwrote the image");
    free(b.p);
}

Test(flat, errors)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/missing.bin", dir);
    cr_assert_eq(load_fl(p, 0x100000, LOADER_ENTRY_DEFAULT), -ENOENT);
    cr_assert_not_null(strstr(err, "missing.bin: No such file or directory"), "%s", err);

    Buf empty = {0};
    cr_assert_lt(load_fl(write_file("empty.bin", &empty), 0x100000, LOADER_ENTRY_DEFAULT), 0);
    cr_assert_not_null(strstr(err, "empty file"), "%s", err);

    cr_assert_eq(load_fl(dir, 0x100000, LOADER_ENTRY_DEFAULT), -EISDIR);

    Buf b = flat_image(0x2000);
    const char *img = write_file("img.bin", &b);
    cr_assert_eq(load_fl(img, 0x80000000, LOADER_ENTRY_DEFAULT), -ERANGE);
    cr_assert_not_null(strstr(err, "image at 0x80000000-0x80002000 is outside RAM (32 MiB)"), "%s",
                       err);
    cr_assert_eq(load_fl(img, RAM_SIZE - 0x1000, LOADER_ENTRY_DEFAULT), -ERANGE);
    cr_assert_not_null(strstr(err, "outside RAM"), "%s", err);
    cr_assert_eq(load_fl(img, 0x9F000, LOADER_ENTRY_DEFAULT), -ERANGE);
    cr_assert_not_null(strstr(err, "overlaps the ROM/device hole"), "%s", err);
    cr_assert_eq(load_fl(img, 0xF0000, LOADER_ENTRY_DEFAULT), -ERANGE);
    cr_assert_not_null(strstr(err, "overlaps the ROM/device hole (bios)"), "%s", err);
    cr_assert_eq(load_fl(img, 0xFFFFF000, LOADER_ENTRY_DEFAULT), -ERANGE);
    cr_assert_not_null(strstr(err, "above 4 GiB"), "%s", err);
    cr_assert_eq(load_fl(img, UINT64_MAX - 0x100, LOADER_ENTRY_DEFAULT), -ERANGE);
    cr_assert_not_null(strstr(err, "above 4 GiB"), "%s", err);
    cr_assert_eq(load_fl(img, 0x100000, 0x100000000ull), -ERANGE);
    cr_assert_not_null(strstr(err, "entry point 0x100000000"), "%s", err);
    cr_assert_eq(high[0], 0, "a failed load wrote guest memory");
    free(b.p);
}
