/* The Linux loader (loaders/linux.c): bzImage setup headers crafted here at test time, loaded
 * into a PC-shaped address space; what boot_params, guest memory and the CPU state hold after
 * a load, and the one-line error for each kind of bad kernel or initrd. */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpu/cpu.h"
#include "hw/fw_cfg.h"
#include "hw/memory.h"
#include "loaders/loader.h"

#define RAM_SIZE (32ull << 20)
#define LOW_RAM 0x9fc00ull
#define HIGH_RAM 0x100000ull
#define SETUP_SECTS 4
#define SETUP_LEN ((SETUP_SECTS + 1) * 512)
#define KVER_AT 0x400 /* where the kernel version string goes in the setup code */

static AddressSpace *as;
static uint8_t *low, *high;
static CpuState cpu;
static char dir[64];
static char err[512];
static const E820Entry e820[] = {
    {0, LOW_RAM, E820_RAM},
    {LOW_RAM, 0x100000 - LOW_RAM, E820_RESERVED},
    {HIGH_RAM, RAM_SIZE - HIGH_RAM, E820_RAM},
};

static void setup(void)
{
    as = as_new();
    low = calloc(1, LOW_RAM);
    high = calloc(1, RAM_SIZE - HIGH_RAM);
    cr_assert(as && low && high);
    cr_assert_eq(as_add_ram(as, 0, LOW_RAM, low, "ram-low"), 0);
    cr_assert_eq(as_add_ram(as, HIGH_RAM, RAM_SIZE - HIGH_RAM, high, "ram-high"), 0);
    cpu_reset(&cpu);
    strcpy(dir, "/tmp/dualvm-linux-XXXXXX");
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
}

TestSuite(linux_loader, .init = setup, .fini = teardown);
TestSuite(linux_initrd, .init = setup, .fini = teardown);

/* ---- images ---- */

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

static void put8(Buf *b, size_t off, uint8_t v)
{
    buf_put(b, off, &v, 1);
}

static void put16(Buf *b, size_t off, uint16_t v)
{
    uint8_t le[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    buf_put(b, off, le, 2);
}

static void put32(Buf *b, size_t off, uint32_t v)
{
    uint8_t le[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    buf_put(b, off, le, 4);
}

static void put64(Buf *b, size_t off, uint64_t v)
{
    put32(b, off, (uint32_t)v);
    put32(b, off + 4, (uint32_t)(v >> 32));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
    return get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* guest memory, through the test's own buffers */
static uint8_t *gmem(uint64_t gpa)
{
    return gpa >= HIGH_RAM ? high + (gpa - HIGH_RAM) : low + gpa;
}

static uint32_t crc32_linux(const uint8_t *p, size_t n)
{
    uint32_t crc = 0xffffffffu;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = crc & 1 ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
    }
    return crc;
}

/* The CRC the kernel's build tool appends, over everything before it. */
static void seal(Buf *b)
{
    put32(b, b->len - 4, crc32_linux(b->p, b->len - 4));
}

/* A bzImage: setup code with a protocol-version header, kernel_len bytes of "kernel" (a byte
 * pattern) padded to 16 with the CRC last, as arch/x86/boot/tools/build.c lays it out. */
static Buf make_kernel(uint16_t version, size_t kernel_len, const char *kver)
{
    Buf b = {0};
    uint32_t syssize = (uint32_t)((kernel_len + 4 + 15) / 16);
    buf_put(&b, SETUP_LEN + syssize * 16 - 1, "", 1); /* the whole image, zeros */
    put8(&b, 0x1f1, SETUP_SECTS);
    put32(&b, 0x1f4, syssize);
    put16(&b, 0x1fe, 0xAA55);
    put8(&b, 0x200, 0xeb);
    put8(&b, 0x201, 0x6a); /* the header ends at 0x26c */
    buf_put(&b, 0x202, "HdrS", 4);
    put16(&b, 0x206, version);
    put16(&b, 0x20e, KVER_AT - 0x200);
    buf_put(&b, KVER_AT, kver, strlen(kver) + 1);
    put8(&b, 0x211, 0x01); /* LOADED_HIGH */
    put32(&b, 0x214, 0x100000);
    put32(&b, 0x22c, 0x7fffffff);
    put32(&b, 0x230, 0x200000);
    put8(&b, 0x234, 1);
    put32(&b, 0x238, 2047);
    put64(&b, 0x258, 0x100000);
    put32(&b, 0x260, 0x200000);
    for (size_t i = 0; i < kernel_len; i++)
        b.p[SETUP_LEN + i] = (uint8_t)(i * 7 + 1);
    seal(&b);
    return b;
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

static LinuxBoot boot(const char *kernel, const char *initrd, const char *cmdline)
{
    LinuxBoot lb = {.kernel = kernel,
                    .initrd = initrd,
                    .cmdline = cmdline,
                    .e820 = e820,
                    .e820_count = 3,
                    .acpi_rsdp = 0xe0000};
    return lb;
}

/* a newc cpio archive: one file "init" with data, then the trailer */
static size_t cpio_entry(Buf *b, size_t off, const char *name, const char *data, unsigned mode)
{
    char hdr[160];
    unsigned nl = (unsigned)strlen(name) + 1, dl = (unsigned)strlen(data);
    snprintf(hdr, sizeof(hdr), "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", 1u,
             mode, 0u, 0u, 1u, 0u, dl, 0u, 0u, 0u, 0u, nl, 0u);
    buf_put(b, off, hdr, 110);
    buf_put(b, off + 110, name, nl);
    off = (off + 110 + nl + 3) & ~(size_t)3;
    if (dl)
        buf_put(b, off, data, dl);
    off = (off + dl + 3) & ~(size_t)3;
    if (off > b->len)
        buf_put(b, off - 1, "", 1);
    return off;
}

static Buf make_cpio(void)
{
    Buf b = {0};
    size_t off = cpio_entry(&b, 0, "init", "#!/bin/sh\necho hello\n", 0100755);
    cpio_entry(&b, off, "TRAILER!!!", "", 0);
    return b;
}

static int load(const LinuxBoot *lb, LinuxBootInfo *info)
{
    int rc = load_linux(as, RAM_SIZE, &cpu, lb, info, err, sizeof(err));
    if (rc)
        cr_assert(strchr(err, '\n') == NULL, "one line: %s", err);
    return rc;
}

/* ---- a good load ---- */

Test(linux_loader, loads_kernel_boot_params_and_cpu_state)
{
    Buf k = make_kernel(0x020f, 5000, "6.1.0-test (dualvm@test) #1 SMP");
    Buf i = make_cpio();
    const char *kp = write_file("bzImage", &k), *ip = write_file("initrd", &i);
    LinuxBoot lb = boot(kp, ip, "console=ttyS0 quiet");
    LinuxBootInfo info;
    cr_assert_eq(load(&lb, &info), 0, "%s", err);

    /* kernel at 1 MiB, the file's bytes after the setup code */
    cr_assert_eq(memcmp(gmem(0x100000), k.p + SETUP_LEN, k.len - SETUP_LEN), 0);
    cr_assert_eq(info.kernel_addr, 0x100000);
    cr_assert_eq(info.kernel_size, k.len - SETUP_LEN);
    cr_assert_eq(info.version, 0x020f);
    cr_assert_not(info.entry64);

    /* boot_params */
    const uint8_t *bp = gmem(LINUX_BOOT_PARAMS_ADDR);
    cr_assert_eq(memcmp(bp + 0x202, "HdrS", 4), 0, "the setup header is copied");
    cr_assert_eq(bp[0x210], 0xff, "type_of_loader");
    cr_assert_eq(get32(bp + 0x228), LINUX_CMDLINE_ADDR);
    cr_assert_str_eq((const char *)gmem(LINUX_CMDLINE_ADDR), "console=ttyS0 quiet");
    cr_assert_eq(get32(bp + 0x218), info.initrd_addr);
    cr_assert_eq(get32(bp + 0x21c), i.len);
    cr_assert_eq(get64(bp + 0x070), 0xe0000, "acpi_rsdp_addr (protocol 2.14+)");
    cr_assert_eq(bp[0x1e8], 3, "e820_entries");
    for (int n = 0; n < 3; n++) {
        const uint8_t *e = bp + 0x2d0 + 20 * n;
        cr_assert_eq(get64(e), e820[n].addr);
        cr_assert_eq(get64(e + 8), e820[n].len);
        cr_assert_eq(get32(e + 16), e820[n].type);
    }
    cr_assert_eq(bp[0x1ef], 0, "sentinel");

    /* initrd: page aligned, as high as RAM goes */
    cr_assert_eq(info.initrd_addr % 4096, 0);
    cr_assert_eq(info.initrd_addr, (RAM_SIZE - i.len) & ~0xfffull);
    cr_assert_eq(memcmp(gmem(info.initrd_addr), i.p, i.len), 0);

    /* CPU: flat 32-bit, __BOOT_CS/__BOOT_DS, ESI = boot_params, paging off */
    cr_assert_eq(cpu.rip, 0x100000);
    cr_assert_eq(cpu.seg[S_CS].sel, 0x10);
    for (int s = 0; s < CPU_NR_SEGS; s++) {
        if (s != S_CS)
            cr_assert_eq(cpu.seg[s].sel, 0x18);
        cr_assert_eq(cpu.seg[s].base, 0);
        cr_assert_eq(cpu.seg[s].limit, 0xffffffff);
        cr_assert(cpu.seg[s].attr & SEG_DB);
    }
    cr_assert_eq(cpu.regs[R_ESI], LINUX_BOOT_PARAMS_ADDR);
    cr_assert_eq(cpu.regs[R_EBX] | cpu.regs[R_EBP] | cpu.regs[R_EDI], 0);
    cr_assert(cpu.cr0 & CR0_PE);
    cr_assert_not(cpu.cr0 & CR0_PG);
    cr_assert_not(cpu.rflags & FL_IF);
    cr_assert_eq(cpu.efer & EFER_LME, 0);
    /* the GDT has the boot selectors */
    const uint8_t *gdt = gmem(cpu.gdt.base);
    cr_assert_geq(cpu.gdt.limit, 0x1f);
    cr_assert_eq(get64(gdt + 0x10), 0x00CF9B000000FFFFull);
    cr_assert_eq(get64(gdt + 0x18), 0x00CF93000000FFFFull);
    free(k.p);
    free(i.p);
}

Test(linux_loader, no_initrd_no_cmdline)
{
    Buf k = make_kernel(0x020f, 100, "6.1.0 #1");
    LinuxBoot lb = boot(write_file("bzImage", &k), NULL, NULL);
    cr_assert_eq(load(&lb, NULL), 0, "%s", err);
    const uint8_t *bp = gmem(LINUX_BOOT_PARAMS_ADDR);
    cr_assert_eq(get32(bp + 0x218), 0);
    cr_assert_eq(get32(bp + 0x21c), 0);
    cr_assert_str_eq((const char *)gmem(LINUX_CMDLINE_ADDR), "");
    free(k.p);
}

Test(linux_loader, initrd_below_initrd_addr_max)
{
    Buf k = make_kernel(0x020f, 100, "6.1.0 #1");
    put32(&k, 0x22c, (16u << 20) - 1);
    seal(&k);
    Buf i = make_cpio();
    LinuxBoot lb = boot(write_file("bzImage", &k), write_file("initrd", &i), "");
    LinuxBootInfo info;
    cr_assert_eq(load(&lb, &info), 0, "%s", err);
    cr_assert_eq(info.initrd_addr, ((16u << 20) - i.len) & ~0xfffull);
    free(k.p);
    free(i.p);
}

Test(linux_loader, x86_64_kernel_enters_in_long_mode)
{
    Buf k = make_kernel(0x020f, 100, "6.1.0-amd64 #1");
    put16(&k, 0x236, 0x0003); /* XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G */
    seal(&k);
    LinuxBoot lb = boot(write_file("bzImage", &k), NULL, "x");
    cr_assert_eq(load(&lb, NULL), -ENOTSUP, "no long mode: refused");
    cr_assert(strstr(err, "x86-64 kernel") && strstr(err, "long mode"), "%s", err);

    lb.long_mode = true;
    LinuxBootInfo info;
    cr_assert_eq(load(&lb, &info), 0, "%s", err);
    cr_assert(info.entry64);
    cr_assert_eq(cpu.rip, 0x100200, "startup_64");
    cr_assert(cpu.seg[S_CS].attr & SEG_L);
    cr_assert_not(cpu.seg[S_CS].attr & SEG_DB);
    cr_assert_eq(cpu.efer & (EFER_LME | EFER_LMA), EFER_LME | EFER_LMA);
    cr_assert(cpu.cr0 & CR0_PG);
    cr_assert(cpu.cr4 & CR4_PAE);
    cr_assert_eq(cpu.regs[R_ESI], LINUX_BOOT_PARAMS_ADDR);
    cr_assert_eq(get64(gmem(cpu.gdt.base) + 0x10), 0x00AF9B000000FFFFull, "64-bit __BOOT_CS");
    /* identity map of 4 GiB in 2 MiB pages: PML4 -> PDPT -> 4 PDs */
    const uint8_t *pml4 = gmem(cpu.cr3);
    uint64_t pdpt = get64(pml4) & ~0xfffull;
    cr_assert_eq(get64(pml4) & 3, 3);
    for (int g = 0; g < 4; g++) {
        uint64_t pd = get64(gmem(pdpt) + 8 * g) & ~0xfffull;
        cr_assert_eq(get64(gmem(pdpt) + 8 * g) & 3, 3);
        for (int e = 0; e < 512; e += 97) {
            uint64_t pde = get64(gmem(pd) + 8 * e);
            cr_assert_eq(pde & ~0xfffull, ((uint64_t)g << 30) + ((uint64_t)e << 21));
            cr_assert_eq(pde & 0x83, 0x83, "present, writable, 2 MiB");
        }
    }
    free(k.p);
}

Test(linux_loader, is_bzimage)
{
    Buf k = make_kernel(0x020f, 100, "6.1.0 #1");
    Buf junk = {0};
    buf_put(&junk, 0, "\177ELF not a kernel at all, but long enough to have byte 0x206 ....", 66);
    buf_put(&junk, 0x300, "", 1);
    cr_assert(linux_is_bzimage(write_file("bzImage", &k)));
    cr_assert_not(linux_is_bzimage(write_file("elf", &junk)));
    cr_assert_not(linux_is_bzimage("/nonexistent/file"));
    cr_assert_not(linux_is_bzimage(dir));
    free(k.p);
    free(junk.p);
}

/* ---- bad kernels: one line, an errno, guest memory untouched ---- */

static void expect_kernel_error(Buf *k, int want, const char *text)
{
    memset(gmem(0x100000), 0xa5, 64);
    LinuxBoot lb = boot(write_file("bzImage", k), NULL, "console=ttyS0");
    cr_assert_eq(load(&lb, NULL), want, "%s", err);
    cr_assert(strstr(err, text), "error '%s' lacks '%s'", err, text);
    cr_assert(strstr(err, "bzImage"), "names the file: %s", err);
    cr_assert_eq(gmem(0x100000)[0], 0xa5, "nothing was loaded");
    cr_assert_eq(gmem(LINUX_BOOT_PARAMS_ADDR)[0x202], 0, "no boot_params written");
}

Test(linux_loader, too_short)
{
    Buf k = make_kernel(0x020f, 100, "6.1.0 #1");
    k.len = 0x100;
    expect_kernel_error(&k, -ENOEXEC, "too short");
    free(k.p);
}

Test(linux_loader, bad_magic)
{
    Buf k = make_kernel(0x020f, 100, "6.1.0 #1");
    buf_put(&k, 0x202, "HdrX", 4);
    expect_kernel_error(&k, -ENOEXEC, "not a Linux bzImage");
    free(k.p);
}

Test(linux_loader, protocol_too_old)
{
    Buf k = make_kernel(0x0201, 100, "2.4.0 #1");
    expect_kernel_error(&k, -ENOTSUP, "2.01 is too old");
    free(k.p);
}

Test(linux_loader, bad_boot_flag)
{
    Buf k = make_kernel(0x020f, 100, "6.1.0 #1");
    put16(&k, 0x1fe, 0x1234);
    expect_kernel_error(&k, -ENOEXEC, "boot_flag");
    free(k.p);
}

Test(linux_loader, zimage_refused)
{
    Buf k = make_kernel(0x020f, 100, "6.1.0 #1");
    put8(&k, 0x211, 0);
    seal(&k);
    expect_kernel_error(&k, -ENOTSUP, "zImage");
    free(k.p);
}

Test(linux_loader, truncated_kernel)
{
    Buf k = make_kernel(0x020f, 5000, "6.1.0 #1");
    k.len -= 1000;
    expect_kernel_error(&k, -ENOEXEC, "truncated");
    free(k.p);
}

Test(linux_loader, truncated_in_setup)
{
    Buf k = make_kernel(0x020f, 5000, "6.1.0 #1");
    k.len = SETUP_LEN - 100;
    expect_kernel_error(&k, -ENOEXEC, "truncated");
    free(k.p);
}

Test(linux_loader, crc_mismatch)
{
    Buf k = make_kernel(0x020f, 5000, "6.1.0 #1");
    k.p[SETUP_LEN + 1234] ^= 0x10;
    expect_kernel_error(&k, -ENOEXEC, "CRC-32");
    free(k.p);
}

Test(linux_loader, signed_kernel_crc_still_checked)
{
    /* sbsign's changes: a PE header whose CheckSum and certificate directory are rewritten,
     * and the signature appended past the syssize area */
    Buf k = make_kernel(0x020f, 5000, "6.1.0 #1");
    const size_t pe = 0x80, opt = pe + 24;
    buf_put(&k, 0, "MZ", 2);
    put32(&k, 0x3c, pe);
    buf_put(&k, pe, "PE\0\0", 4);
    put16(&k, opt, 0x20b); /* PE32+ */
    seal(&k);
    put32(&k, opt + 64, 0x12345678);
    put64(&k, opt + 144, 0x00000500000a0000ull);
    size_t end = k.len;
    buf_put(&k, end + 1279, "", 1);
    memset(k.p + end, 0x30, 1280);
    LinuxBoot lb = boot(write_file("bzImage", &k), NULL, "");
    cr_assert_eq(load(&lb, NULL), 0, "%s", err);
    /* the signature is not part of the kernel */
    cr_assert_neq(gmem(0x100000)[end - SETUP_LEN], 0x30);
    /* and a flipped byte is still found */
    memset(gmem(LINUX_BOOT_PARAMS_ADDR), 0, 4096);
    k.p[SETUP_LEN + 77] ^= 1;
    expect_kernel_error(&k, -ENOEXEC, "CRC-32");
    free(k.p);
}

Test(linux_loader, no_crc_from_6_7_on)
{
    Buf k = make_kernel(0x020f, 5000, "6.7.0-rc1 #1");
    put32(&k, k.len - 4, 0xdeadbeef);
    LinuxBoot lb = boot(write_file("bzImage", &k), NULL, "");
    cr_assert_eq(load(&lb, NULL), 0, "%s", err);
    free(k.p);
}

Test(linux_loader, payload_outside_image)
{
    Buf k = make_kernel(0x020f, 5000, "6.1.0 #1");
    put32(&k, 0x248, 4000);
    put32(&k, 0x24c, 2000);
    seal(&k);
    expect_kernel_error(&k, -ENOEXEC, "payload");
    free(k.p);
}

Test(linux_loader, not_enough_ram_to_unpack)
{
    Buf k = make_kernel(0x020f, 5000, "6.1.0 #1");
    put64(&k, 0x258, 0x1000000);
    put32(&k, 0x260, 0x1800000); /* 16 MiB + 24 MiB > 32 MiB */
    seal(&k);
    expect_kernel_error(&k, -ERANGE, "needs at least 40 MiB");
    free(k.p);
}

Test(linux_loader, cmdline_too_long)
{
    Buf k = make_kernel(0x020f, 100, "6.1.0 #1");
    put32(&k, 0x238, 10);
    seal(&k);
    expect_kernel_error(&k, -ERANGE, "at most 10");
    free(k.p);
}

Test(linux_loader, missing_kernel)
{
    LinuxBoot lb = boot("/nonexistent/bzImage", NULL, "");
    cr_assert_eq(load(&lb, NULL), -ENOENT);
    cr_assert(strstr(err, "No such file"), "%s", err);
}

/* ---- initrds ---- */

static void expect_initrd_error(Buf *i, int want, const char *text)
{
    Buf k = make_kernel(0x020f, 100, "6.1.0 #1");
    memset(gmem(0x100000), 0xa5, 64);
    LinuxBoot lb = boot(write_file("bzImage", &k), write_file("initrd", i), "");
    cr_assert_eq(load(&lb, NULL), want, "%s", err);
    cr_assert(strstr(err, text), "error '%s' lacks '%s'", err, text);
    cr_assert(strstr(err, "initrd"), "names the file: %s", err);
    cr_assert_eq(gmem(0x100000)[0], 0xa5, "nothing was loaded");
    free(k.p);
}

Test(linux_initrd, truncated_cpio)
{
    Buf i = make_cpio();
    i.len -= 20;
    expect_initrd_error(&i, -ENOEXEC, "truncated");
    free(i.p);
}

Test(linux_initrd, cpio_without_trailer)
{
    Buf i = {0};
    cpio_entry(&i, 0, "init", "echo\n", 0100755);
    expect_initrd_error(&i, -ENOEXEC, "truncated");
    free(i.p);
}

Test(linux_initrd, damaged_cpio_header)
{
    Buf i = make_cpio();
    i.p[100] = 'Z'; /* in the name size field */
    expect_initrd_error(&i, -ENOEXEC, "bad cpio header");
    free(i.p);
}

Test(linux_initrd, garbage)
{
    Buf i = {0};
    buf_put(&i, 0, "this is no initrd, just some text in a file\n", 44);
    expect_initrd_error(&i, -ENOEXEC, "not an initrd");
    free(i.p);
}

Test(linux_initrd, junk_after_archive)
{
    Buf i = make_cpio();
    size_t end = i.len;
    buf_put(&i, end, "\0\0\0\0junk", 8);
    expect_initrd_error(&i, -ENOEXEC, "junk");
    free(i.p);
}

Test(linux_initrd, empty)
{
    Buf i = {0};
    expect_initrd_error(&i, -ENOEXEC, "empty");
}

Test(linux_initrd, too_big_for_ram)
{
    Buf i = {0};
    static const uint8_t gz[] = {0x1f, 0x8b, 8, 0};
    buf_put(&i, 0, gz, sizeof(gz));
    buf_put(&i, RAM_SIZE - 0x200000, "", 1); /* compressed data that fills RAM */
    expect_initrd_error(&i, -ERANGE, "do not fit");
    free(i.p);
}

Test(linux_initrd, accepted_kinds)
{
    Buf k = make_kernel(0x020f, 100, "6.1.0 #1");
    char kp[256];
    snprintf(kp, sizeof(kp), "%s", write_file("bzImage", &k));
    /* two archives with zero padding between; a cpio followed by compressed data (the early
     * microcode + main initramfs of distribution initrds); gzip alone; an ext2 image */
    Buf two = make_cpio();
    size_t end = two.len;
    Buf second = make_cpio();
    buf_put(&two, end + 512, second.p, second.len);
    Buf mixed = make_cpio();
    static const uint8_t xz[] = {0xfd, '7', 'z', 'X', 'Z', 0, 1, 2, 3, 4};
    buf_put(&mixed, mixed.len, xz, sizeof(xz));
    Buf gz = {0};
    static const uint8_t gzh[] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0};
    buf_put(&gz, 0, gzh, sizeof(gzh));
    Buf ext2 = {0};
    buf_put(&ext2, 2047, "", 1);
    ext2.p[1080] = 0x53;
    ext2.p[1081] = 0xef;
    Buf *all[] = {&two, &mixed, &gz, &ext2};
    for (int n = 0; n < 4; n++) {
        LinuxBoot lb = boot(kp, write_file("initrd", all[n]), "");
        cr_assert_eq(load(&lb, NULL), 0, "initrd kind %d: %s", n, err);
        free(all[n]->p);
    }
    free(second.p);
    free(k.p);
}

Test(linux_initrd, missing)
{
    Buf k = make_kernel(0x020f, 100, "6.1.0 #1");
    LinuxBoot lb = boot(write_file("bzImage", &k), "/nonexistent/initrd", "");
    cr_assert_eq(load(&lb, NULL), -ENOENT);
    cr_assert(strstr(err, "/nonexistent/initrd"), "%s", err);
    free(k.p);
}
