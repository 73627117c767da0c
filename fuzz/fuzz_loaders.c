/* fuzz/fuzz_loaders.c: the loaders on arbitrary files: multiboot (ELF and a.out kludge), raw
 * binaries, firmware, Linux bzImage and initrd, and raw disk and CD-ROM images (opened as
 * drives, then read by the guest through the IDE controller).
 *
 * Input: [kind u8] [args: 8 bytes] then the file's bytes (fuzz/ops.h: LOAD_*). The file is an
 * in-memory file given to the loader by name, as a user's would be. Each input gets a fresh
 * PC with 16 MiB of RAM. The loader must either succeed or fail with one line of error text
 * and a negative errno, never crash, trip a sanitizer, leak, or write outside guest RAM; and
 * guest memory must be untouched after a failure that was not an I/O error halfway.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz/fuzz.h"
#include "fuzz/images.h"
#include "fuzz/ops.h"
#include "hw/ide.h"
#include "hw/pc.h"
#include "loaders/loader.h"

#define RAM_SIZE (16u << 20)

static bool trace;
static int kernel_fd = -1; /* LOAD_INITRD's fixed bzImage */
static char kernel_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    trace = getenv("FUZZ_TRACE") != NULL;
    size_t n = img_bzimage(NULL, 4096, 0x020f, false);
    uint8_t *bz = malloc(n);
    img_bzimage(bz, 4096, 0x020f, false);
    kernel_fd = fz_memfile("bzImage", bz, n, kernel_path, sizeof(kernel_path));
    free(bz);
    if (kernel_fd < 0) {
        perror("fuzz_loaders: memfd_create");
        exit(1);
    }
    return 0;
}

/* The error text's contract: one line, naming something. */
static void check_err(int rc, const char *err)
{
    if (rc >= 0)
        return;
    if (!err[0] || strchr(err, '\n')) {
        fprintf(stderr, "fuzz_loaders: error %d with a bad message: '%s'\n", rc, err);
        abort();
    }
    if (trace)
        fprintf(stderr, "error %d: %s\n", rc, err);
}

static uint32_t sum_ram(const Machine *m)
{
    uint32_t h = 0;
    for (uint64_t i = 0; i < m->ram_size; i += 64)
        h = h * 31 + m->ram[i];
    return h;
}

/* What the guest's driver would do with a drive: identify it, read its first and last
 * sectors (PIO), for a CD-ROM READ CAPACITY and READ(10) of the volume descriptors. */
static void read_drive(Machine *m, bool cd, const uint8_t *args)
{
    IoBus *io = m->io;
    uint16_t b = cd ? IDE_SECONDARY_BASE : IDE_PRIMARY_BASE;
    io_write(io, b + 6, 0xa0, 1);
    io_write(io, b + 7, cd ? 0xa1 : 0xec, 1);
    for (int i = 0; i < 256; i++)
        io_read(io, b, 2);
    if (!cd) {
        uint32_t lba = args[0] | args[1] << 8 | (uint32_t)args[2] << 16;
        for (int k = 0; k < 2; k++) {
            io_write(io, b + 6, 0xe0 | (lba >> 24 & 0xf), 1);
            io_write(io, b + 2, 1, 1);
            io_write(io, b + 3, lba & 0xff, 1);
            io_write(io, b + 4, lba >> 8 & 0xff, 1);
            io_write(io, b + 5, lba >> 16 & 0xff, 1);
            io_write(io, b + 7, 0x20, 1);
            for (int i = 0; i < 256; i++)
                io_read(io, b, 2);
            io_read(io, b + 7, 1);
            lba = 0;
        }
        return;
    }
    static const uint8_t cdbs[3][12] = {{0x25}, {0x28, 0, 0, 0, 0, 16, 0, 0, 2}, {0x00}};
    for (int c = 0; c < 3; c++) {
        uint8_t cdb[12];
        memcpy(cdb, cdbs[c], 12);
        if (c == 1)
            cdb[5] = args[0]; /* READ(10) of the LBA the args pick */
        io_write(io, b + 4, 0x00, 1);
        io_write(io, b + 5, 0x10, 1);
        io_write(io, b + 7, 0xa0, 1);
        for (int i = 0; i < 6; i++)
            io_write(io, b, cdb[2 * i] | cdb[2 * i + 1] << 8, 2);
        for (int i = 0; i < 2048; i++)
            io_read(io, b, 2);
        io_read(io, b + 7, 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FuzzIn in = {data, size};
    unsigned kind = fz_u8(&in) % LOAD_KIND_COUNT;
    uint8_t args[8];
    fz_bytes(&in, args, sizeof(args));
    char path[64];
    int fd = fz_memfile("image", in.p, in.n, path, sizeof(path));
    if (fd < 0)
        abort();

    MachineConfig cfg = {.ram_size = RAM_SIZE, .serial = "none", .debugcon = "none"};
    if (kind == LOAD_DISK || kind == LOAD_CDROM) {
        bool cd = kind == LOAD_CDROM;
        cfg.ide[cd ? 2 : 0] = (DriveConfig){
            .file = path, .present = true, .cdrom = cd, .snapshot = !cd && (args[7] & 1)};
    }
    char err[512] = "";
    Machine *m = pc_new(&cfg, err, sizeof(err));
    if (!m) {
        if (kind != LOAD_DISK && kind != LOAD_CDROM) {
            fprintf(stderr, "fuzz_loaders: pc_new: %s\n", err);
            abort();
        }
        check_err(-1, err); /* a bad image is the user's error: one line */
        close(fd);
        return 0;
    }
    CpuState cpu;
    cpu_reset(&cpu);
    uint32_t before = sum_ram(m);
    int rc = 0;
    char cmdline[9];
    for (int i = 0; i < 8; i++)
        cmdline[i] = (char)(args[i] ? (args[i] & 0x3f) + ' ' : 0);
    cmdline[8] = 0;

    switch (kind) {
    case LOAD_MULTIBOOT:
        rc = load_multiboot(m->as, m->ram_size, &cpu, path, cmdline, err, sizeof(err));
        break;
    case LOAD_FLAT: {
        uint32_t addr, entry;
        memcpy(&addr, args, 4);
        memcpy(&entry, args + 4, 4);
        rc = load_flat(m->as, m->ram_size, &cpu, path, addr,
                       entry == 0xffffffffu ? LOADER_ENTRY_DEFAULT : entry, err, sizeof(err));
        break;
    }
    case LOAD_BIOS:
        rc = load_bios(m->as, path, err, sizeof(err));
        break;
    case LOAD_DISK:
    case LOAD_CDROM:
        read_drive(m, kind == LOAD_CDROM, args);
        break;
    case LOAD_LINUX:
    case LOAD_INITRD: {
        E820Entry e820[PC_E820_MAX];
        LinuxBoot lb = {.kernel = kind == LOAD_LINUX ? path : kernel_path,
                        .initrd = kind == LOAD_INITRD ? path : NULL,
                        .cmdline = cmdline,
                        .e820 = e820,
                        .e820_count = pc_e820(m, e820, PC_E820_MAX),
                        .long_mode = args[7] & 1};
        rc = pc_write_acpi_tables(m, &lb.acpi_rsdp, err, sizeof(err));
        if (rc)
            abort(); /* the board's own tables: never the input's fault */
        before = sum_ram(m);
        LinuxBootInfo info;
        rc = load_linux(m->as, m->ram_size, &cpu, &lb, &info, err, sizeof(err));
        break;
    }
    }
    check_err(rc, err);
    if (rc < 0 && rc != -EIO && sum_ram(m) != before) {
        fprintf(stderr, "fuzz_loaders: a failed load (%s) changed guest memory\n", err);
        abort();
    }
    if (trace && rc == 0)
        fprintf(stderr, "loaded: entry %04x:%08llx\n", cpu.seg[S_CS].sel,
                (unsigned long long)cpu.rip);
    pc_free(m);
    close(fd);
    return 0;
}
