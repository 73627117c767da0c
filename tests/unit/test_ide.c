/* hw/ide: the ATA register file, PIO and DMA transfers, hostile PRD tables, ATAPI packets,
 * the PIIX3 glue, and a fuzz run. Guest RAM sits between PROT_NONE guard pages, so any host
 * access the controller made outside it would fault (and ASan watches the rest). */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "hw/ide_internal.h"
#include "hw/pci.h"
#include "hw/piix.h"

#define RAM_SIZE (4u << 20)
#define PAGE 4096u
#define BM_BASE 0xc000
#define P0 IDE_PRIMARY_BASE
#define C0 IDE_PRIMARY_CTL
#define P1 IDE_SECONDARY_BASE
#define C1 IDE_SECONDARY_CTL
#define PRD_AT 0x10000u
#define BUF_AT 0x20000u

typedef struct Rig {
    IoBus *io;
    AddressSpace *as;
    uint8_t *map, *ram;
    IdeController *ide;
    int level[2], edges[2];
    char *files[4];
    PciBus *pci;
    Piix3 *piix;
} Rig;

static void on_irq(void *opaque, int n, int level)
{
    Rig *r = opaque;
    if (level && !r->level[n])
        r->edges[n]++;
    r->level[n] = level;
}

/* Byte o of a test image. */
static uint8_t pat(uint64_t o)
{
    return (uint8_t)((o >> 9) * 13 + o * 7 + (o >> 17));
}

static char *temp_image(uint64_t size, uint64_t pattern_bytes)
{
    char *path = strdup("/tmp/dualvm-ide-XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(ftruncate(fd, (off_t)size), 0);
    uint8_t buf[8192];
    for (uint64_t off = 0; off < pattern_bytes; off += sizeof(buf)) {
        for (size_t i = 0; i < sizeof(buf); i++)
            buf[i] = pat(off + i);
        size_t n = (size_t)MIN((uint64_t)sizeof(buf), pattern_bytes - off);
        cr_assert_eq(pwrite(fd, buf, n, (off_t)off), (ssize_t)n);
    }
    close(fd);
    return path;
}

static void rig_new(Rig *r, bool with_piix)
{
    memset(r, 0, sizeof(*r));
    r->io = io_bus_new();
    r->as = as_new();
    r->map =
        mmap(NULL, RAM_SIZE + 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(r->map, MAP_FAILED);
    cr_assert_eq(mprotect(r->map, PAGE, PROT_NONE), 0);
    cr_assert_eq(mprotect(r->map + PAGE + RAM_SIZE, PAGE, PROT_NONE), 0);
    r->ram = r->map + PAGE;
    cr_assert_eq(as_add_ram(r->as, 0, RAM_SIZE, r->ram, "ram"), 0);
    char err[256];
    if (with_piix) {
        r->pci = pci_bus_new(r->io, err, sizeof(err));
        cr_assert_not_null(r->pci, "%s", err);
        r->piix = piix3_new(r->pci, 1, err, sizeof(err));
        cr_assert_not_null(r->piix, "%s", err);
    }
    IrqLine irqs[2] = {irq_line(on_irq, r, 0), irq_line(on_irq, r, 1)};
    r->ide = ide_new(r->io, r->as, r->piix, irqs, err, sizeof(err));
    cr_assert_not_null(r->ide, "%s", err);
    if (!with_piix)
        cr_assert_eq(ide_map_bmdma(r->ide, BM_BASE), 0);
}

/* pos: channel * 2 + unit */
static void rig_attach(Rig *r, unsigned pos, IdeMedia media, uint64_t size, unsigned flags)
{
    r->files[pos] = temp_image(size, MIN(size, (uint64_t)(8u << 20)));
    char err[256];
    BlockDev *b = blk_open(r->files[pos], flags | (media == IDE_MEDIA_CDROM ? BLK_CDROM : 0), err,
                           sizeof(err));
    cr_assert_not_null(b, "%s", err);
    cr_assert_eq(ide_attach(r->ide, pos / 2, pos % 2, media, b, err, sizeof(err)), 0, "%s", err);
}

static void rig_free(Rig *r)
{
    ide_free(r->ide);
    piix3_free(r->piix);
    pci_bus_free(r->pci);
    io_bus_free(r->io);
    as_free(r->as);
    munmap(r->map, RAM_SIZE + 2 * PAGE);
    for (int i = 0; i < 4; i++) {
        if (r->files[i]) {
            unlink(r->files[i]);
            free(r->files[i]);
        }
    }
}

static uint8_t inb(Rig *r, uint16_t port)
{
    return (uint8_t)io_read(r->io, port, 1);
}

static uint16_t inw(Rig *r, uint16_t port)
{
    return (uint16_t)io_read(r->io, port, 2);
}

static void outb(Rig *r, uint16_t port, uint8_t v)
{
    io_write(r->io, port, v, 1);
}

/* A command with LBA28 (dev: 0/1) or LBA48 addressing. */
static void ata_cmd(Rig *r, uint16_t base, unsigned dev, uint8_t cmd, uint8_t feature,
                    uint32_t count, uint64_t lba, bool lba48)
{
    if (lba48) {
        outb(r, base + ATA_REG_FEATURES, 0);
        outb(r, base + ATA_REG_SECTOR_COUNT, (uint8_t)(count >> 8));
        outb(r, base + ATA_REG_LBA_LOW, (uint8_t)(lba >> 24));
        outb(r, base + ATA_REG_LBA_MID, (uint8_t)(lba >> 32));
        outb(r, base + ATA_REG_LBA_HIGH, (uint8_t)(lba >> 40));
    }
    outb(r, base + ATA_REG_DEVICE,
         (uint8_t)(0xa0 | ATA_DEV_LBA | (dev ? ATA_DEV_DEV : 0) | (lba48 ? 0 : (lba >> 24) & 0xf)));
    outb(r, base + ATA_REG_FEATURES, feature);
    outb(r, base + ATA_REG_SECTOR_COUNT, (uint8_t)count);
    outb(r, base + ATA_REG_LBA_LOW, (uint8_t)lba);
    outb(r, base + ATA_REG_LBA_MID, (uint8_t)(lba >> 8));
    outb(r, base + ATA_REG_LBA_HIGH, (uint8_t)(lba >> 16));
    outb(r, base + ATA_REG_COMMAND, cmd);
}

static void read_data(Rig *r, uint16_t base, void *buf, size_t len)
{
    uint8_t *p = buf;
    for (size_t i = 0; i < len; i += 2) {
        uint16_t w = inw(r, base);
        p[i] = (uint8_t)w;
        if (i + 1 < len)
            p[i + 1] = (uint8_t)(w >> 8);
    }
}

static void write_data(Rig *r, uint16_t base, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    for (size_t i = 0; i < len; i += 2)
        io_write(r->io, base, p[i] | (i + 1 < len ? p[i + 1] << 8 : 0), 2);
}

/* ---- the register file ---------------------------------------------------------------------- */

Test(ide, signatures_at_power_on)
{
    Rig r;
    rig_new(&r, false);
    rig_attach(&r, 0, IDE_MEDIA_DISK, 1 << 20, 0);
    rig_attach(&r, 2, IDE_MEDIA_CDROM, 1 << 20, 0);
    cr_assert_eq(inb(&r, P0 + ATA_REG_SECTOR_COUNT), 1);
    cr_assert_eq(inb(&r, P0 + ATA_REG_LBA_LOW), 1);
    cr_assert_eq(inb(&r, P0 + ATA_REG_LBA_MID), 0);
    cr_assert_eq(inb(&r, P0 + ATA_REG_LBA_HIGH), 0);
    cr_assert_eq(inb(&r, P0 + ATA_REG_ERROR), ATA_DIAG_PASSED);
    cr_assert_eq(inb(&r, P0 + ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC);
    cr_assert_eq(inb(&r, P1 + ATA_REG_LBA_MID), ATA_SIG_ATAPI_MID);
    cr_assert_eq(inb(&r, P1 + ATA_REG_LBA_HIGH), ATA_SIG_ATAPI_HIGH);
    cr_assert_eq(inb(&r, P1 + ATA_REG_STATUS), 0, "a packet device leaves DRDY clear");
    cr_assert_eq(r.edges[0] + r.edges[1], 0);
    rig_free(&r);
}

Test(ide, soft_reset_signature_and_busy)
{
    Rig r;
    rig_new(&r, false);
    rig_attach(&r, 0, IDE_MEDIA_DISK, 1 << 20, 0);
    rig_attach(&r, 1, IDE_MEDIA_CDROM, 1 << 20, 0);
    /* scribble over the registers and select the slave */
    outb(&r, P0 + ATA_REG_DEVICE, 0xb0);
    outb(&r, P0 + ATA_REG_SECTOR_COUNT, 0x55);
    outb(&r, P0 + ATA_REG_LBA_MID, 0x77);
    outb(&r, C0, ATA_DC_SRST | ATA_DC_NIEN);
    cr_assert_eq(inb(&r, C0), ATA_SR_BSY);
    cr_assert_eq(inb(&r, P0 + ATA_REG_STATUS), ATA_SR_BSY);
    outb(&r, P0 + ATA_REG_COMMAND, ATA_CMD_IDENTIFY_DEVICE); /* ignored while in reset */
    cr_assert_eq(inb(&r, C0), ATA_SR_BSY);
    outb(&r, C0, ATA_DC_NIEN);
    /* device 0 is selected again; its signature and diagnostic code */
    cr_assert_eq(inb(&r, P0 + ATA_REG_DEVICE) & ATA_DEV_DEV, 0);
    cr_assert_eq(inb(&r, P0 + ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC);
    cr_assert_eq(inb(&r, P0 + ATA_REG_SECTOR_COUNT), 1);
    cr_assert_eq(inb(&r, P0 + ATA_REG_LBA_LOW), 1);
    cr_assert_eq(inb(&r, P0 + ATA_REG_LBA_MID), 0);
    cr_assert_eq(inb(&r, P0 + ATA_REG_ERROR), ATA_DIAG_PASSED);
    outb(&r, P0 + ATA_REG_DEVICE, 0xb0);
    cr_assert_eq(inb(&r, P0 + ATA_REG_LBA_MID), ATA_SIG_ATAPI_MID);
    cr_assert_eq(inb(&r, P0 + ATA_REG_LBA_HIGH), ATA_SIG_ATAPI_HIGH);
    cr_assert_eq(inb(&r, P0 + ATA_REG_STATUS), 0);
    cr_assert_eq(r.edges[0], 0, "no interrupt after a soft reset");
    rig_free(&r);
}

Test(ide, diagnostics_error_register_and_interrupt)
{
    Rig r;
    rig_new(&r, false);
    rig_attach(&r, 0, IDE_MEDIA_DISK, 1 << 20, 0);
    rig_attach(&r, 1, IDE_MEDIA_DISK, 1 << 20, 0);
    outb(&r, C0, 0);
    outb(&r, P0 + ATA_REG_DEVICE, 0xb0); /* written with device 1 selected: both run it */
    outb(&r, P0 + ATA_REG_ERROR, 0xff);
    outb(&r, P0 + ATA_REG_COMMAND, ATA_CMD_EXECUTE_DEVICE_DIAGNOSTIC);
    cr_assert_eq(r.edges[0], 1);
    cr_assert_eq(r.level[0], 1);
    cr_assert_eq(inb(&r, P0 + ATA_REG_DEVICE) & ATA_DEV_DEV, 0, "device 0 reports");
    cr_assert_eq(inb(&r, P0 + ATA_REG_ERROR), ATA_DIAG_PASSED);
    cr_assert_eq(inb(&r, C0), ATA_SR_DRDY | ATA_SR_DSC);
    cr_assert_eq(r.level[0], 1, "Alternate Status leaves the interrupt pending");
    cr_assert_eq(inb(&r, P0 + ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC);
    cr_assert_eq(r.level[0], 0, "reading Status acknowledges it");
    outb(&r, P0 + ATA_REG_DEVICE, 0xb0);
    cr_assert_eq(inb(&r, P0 + ATA_REG_ERROR), ATA_DIAG_PASSED);
    cr_assert_eq(inb(&r, P0 + ATA_REG_SECTOR_COUNT), 1);
    rig_free(&r);
}

Test(ide, absent_devices)
{
    Rig r;
    rig_new(&r, false);
    rig_attach(&r, 0, IDE_MEDIA_DISK, 1 << 20, 0);
    /* an empty channel reads as zeros */
    cr_assert_eq(inb(&r, P1 + ATA_REG_STATUS), 0);
    cr_assert_eq(inb(&r, C1), 0);
    outb(&r, P1 + ATA_REG_SECTOR_COUNT, 0x55);
    cr_assert_eq(inb(&r, P1 + ATA_REG_SECTOR_COUNT), 0);
    /* with device 1 absent, device 0 answers for its registers, Status reads 0, and a command
     * to it is nobody's */
    outb(&r, C0, 0);
    outb(&r, P0 + ATA_REG_DEVICE, 0xb0);
    outb(&r, P0 + ATA_REG_SECTOR_COUNT, 0x55);
    outb(&r, P0 + ATA_REG_LBA_LOW, 0xaa);
    cr_assert_eq(inb(&r, P0 + ATA_REG_SECTOR_COUNT), 0x55);
    cr_assert_eq(inb(&r, P0 + ATA_REG_LBA_LOW), 0xaa);
    cr_assert_eq(inb(&r, P0 + ATA_REG_DEVICE), 0xb0);
    cr_assert_eq(inb(&r, P0 + ATA_REG_STATUS), 0);
    outb(&r, P0 + ATA_REG_COMMAND, ATA_CMD_IDENTIFY_DEVICE);
    cr_assert_eq(inb(&r, P0 + ATA_REG_STATUS), 0);
    cr_assert_eq(r.edges[0], 0);
    /* IDENTIFY word 93: device 0 says device 1 is absent (bit 6) */
    ata_cmd(&r, P0, 0, ATA_CMD_IDENTIFY_DEVICE, 0, 0, 0, false);
    uint16_t id[256];
    read_data(&r, P0, id, 512);
    cr_assert_eq(id[93] & 0xdf61, 0x4041);
    rig_free(&r);
}

Test(ide, identify_device_and_status_sequence)
{
    Rig r;
    rig_new(&r, false);
    const uint64_t sectors = 300000; /* 146 MiB: geometry 297/16/63 */
    rig_attach(&r, 0, IDE_MEDIA_DISK, sectors * 512, 0);
    outb(&r, C0, 0);
    ata_cmd(&r, P0, 0, ATA_CMD_IDENTIFY_DEVICE, 0, 0, 0, false);
    cr_assert_eq(r.edges[0], 1, "data-in: an interrupt when the block is ready");
    cr_assert_eq(inb(&r, C0), ATA_SR_DRDY | ATA_SR_DSC | ATA_SR_DRQ);
    uint16_t id[256];
    read_data(&r, P0, id, 510);
    cr_assert(inb(&r, C0) & ATA_SR_DRQ, "DRQ stays up until the last word");
    id[255] = inw(&r, P0);
    cr_assert_eq(inb(&r, C0), ATA_SR_DRDY | ATA_SR_DSC, "no DRQ once the block is read");
    cr_assert_eq(inw(&r, P0), 0xffff, "no data out of phase");
    cr_assert_eq(r.edges[0], 1, "no interrupt at the end of a data-in command");
    cr_assert_eq(id[0], 0x0040);
    cr_assert_eq(id[1], sectors / (16 * 63));
    cr_assert_eq(id[3], 16);
    cr_assert_eq(id[6], 63);
    cr_assert_eq(id[60] | (uint32_t)id[61] << 16, sectors);
    cr_assert_eq(id[100] | (uint64_t)id[101] << 16 | (uint64_t)id[102] << 32, sectors);
    cr_assert(id[83] & (1 << 10), "LBA48");
    cr_assert(id[49] & (1 << 9) && id[49] & (1 << 8), "LBA and DMA");
    cr_assert_eq(id[47] & 0xff, ATA_MAX_MULT);
    /* strings: the first character in each word's high byte */
    char model[41];
    for (int i = 0; i < 20; i++) {
        model[2 * i] = (char)(id[27 + i] >> 8);
        model[2 * i + 1] = (char)id[27 + i];
    }
    model[40] = 0;
    cr_assert_str_eq(model, "DUALVM HARDDISK                         ");
    cr_assert_eq(id[10] >> 8, 'D');
    /* the integrity word makes the 512 bytes sum to 0 */
    uint8_t sum = 0;
    for (int i = 0; i < 256; i++)
        sum = (uint8_t)(sum + (id[i] & 0xff) + (id[i] >> 8));
    cr_assert_eq(id[255] & 0xff, 0xa5);
    cr_assert_eq(sum, 0);
    rig_free(&r);
}

Test(ide, nien_holds_the_interrupt_back)
{
    Rig r;
    rig_new(&r, false);
    rig_attach(&r, 0, IDE_MEDIA_DISK, 1 << 20, 0);
    outb(&r, C0, ATA_DC_NIEN);
    ata_cmd(&r, P0, 0, ATA_CMD_CHECK_POWER_MODE, 0, 0, 0, false);
    cr_assert_eq(r.level[0], 0);
    cr_assert_eq(inb(&r, P0 + ATA_REG_SECTOR_COUNT), ATA_POWER_ACTIVE_IDLE);
    outb(&r, C0, 0); /* still pending: it shows now */
    cr_assert_eq(r.level[0], 1);
    outb(&r, C0, ATA_DC_NIEN);
    cr_assert_eq(r.level[0], 0);
    inb(&r, P0 + ATA_REG_STATUS);
    outb(&r, C0, 0);
    cr_assert_eq(r.level[0], 0, "acknowledged while held back");
    /* the selected device drives the line */
    ata_cmd(&r, P0, 0, ATA_CMD_STANDBY_IMMEDIATE, 0, 0, 0, false);
    cr_assert_eq(r.level[0], 1);
    outb(&r, P0 + ATA_REG_DEVICE, 0xb0);
    cr_assert_eq(r.level[0], 0);
    outb(&r, P0 + ATA_REG_DEVICE, 0xa0);
    cr_assert_eq(r.level[0], 1);
    inb(&r, P0 + ATA_REG_STATUS);
    ata_cmd(&r, P0, 0, ATA_CMD_CHECK_POWER_MODE, 0, 0, 0, false);
    cr_assert_eq(inb(&r, P0 + ATA_REG_SECTOR_COUNT), ATA_POWER_STANDBY);
    rig_free(&r);
}

Test(ide, hob_reads_the_previous_contents)
{
    Rig r;
    rig_new(&r, false);
    rig_attach(&r, 0, IDE_MEDIA_DISK, 1 << 20, 0);
    outb(&r, P0 + ATA_REG_LBA_MID, 0x12);
    outb(&r, P0 + ATA_REG_LBA_MID, 0x34);
    cr_assert_eq(inb(&r, P0 + ATA_REG_LBA_MID), 0x34);
    outb(&r, C0, ATA_DC_HOB);
    cr_assert_eq(inb(&r, P0 + ATA_REG_LBA_MID), 0x12);
    outb(&r, P0 + ATA_REG_FEATURES, 0); /* a command block write clears HOB */
    cr_assert_eq(inb(&r, P0 + ATA_REG_LBA_MID), 0x34);
    rig_free(&r);
}

/* ---- PIO ----------------------------------------------------------------------------------- */

static void expect_file(const char *path, uint64_t off, const uint8_t *want, size_t len)
{
    int fd = open(path, O_RDONLY);
    cr_assert_geq(fd, 0);
    uint8_t *got = g_malloc(len);
    cr_assert_eq(pread(fd, got, len, (off_t)off), (ssize_t)len);
    close(fd);
    cr_assert_eq(memcmp(got, want, len), 0, "file contents at %llu", (unsigned long long)off);
    g_free(got);
}

Test(ide, pio_read_write_sectors)
{
    Rig r;
    rig_new(&r, false);
    rig_attach(&r, 0, IDE_MEDIA_DISK, 4 << 20, 0);
    outb(&r, C0, 0);
    uint8_t buf[5 * 512];
    /* READ SECTORS: one interrupt per sector */
    ata_cmd(&r, P0, 0, ATA_CMD_READ_SECTORS, 0, 5, 1000, false);
    for (int s = 0; s < 5; s++) {
        cr_assert_eq(r.edges[0], s + 1);
        cr_assert_eq(inb(&r, P0 + ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC | ATA_SR_DRQ);
        read_data(&r, P0, buf + s * 512, 512);
    }
    cr_assert_eq(inb(&r, P0 + ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC);
    for (size_t i = 0; i < sizeof(buf); i++)
        cr_assert_eq(buf[i], pat(1000 * 512 + i), "byte %zu", i);

    /* WRITE SECTORS: the first block without an interrupt, then one per block */
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(i ^ 0x5a);
    int e = r.edges[0];
    ata_cmd(&r, P0, 0, ATA_CMD_WRITE_SECTORS, 0, 3, 2000, false);
    cr_assert_eq(r.edges[0], e);
    cr_assert_eq(inb(&r, C0), ATA_SR_DRDY | ATA_SR_DSC | ATA_SR_DRQ);
    for (int s = 0; s < 3; s++) {
        write_data(&r, P0, buf + s * 512, 512);
        cr_assert_eq(r.edges[0], e + s + 1);
        inb(&r, P0 + ATA_REG_STATUS);
    }
    cr_assert_eq(inb(&r, C0), ATA_SR_DRDY | ATA_SR_DSC);
    expect_file(r.files[0], 2000 * 512, buf, 3 * 512);

    /* 32-bit data port accesses */
    ata_cmd(&r, P0, 0, ATA_CMD_READ_SECTORS, 0, 1, 2001, false);
    for (int i = 0; i < 128; i++) {
        uint32_t d = io_read(r.io, P0, 4);
        cr_assert_eq(d, (uint32_t)buf[512 + 4 * i] | buf[513 + 4 * i] << 8 |
                            buf[514 + 4 * i] << 16 | (uint32_t)buf[515 + 4 * i] << 24);
    }
    cr_assert_eq(inb(&r, C0), ATA_SR_DRDY | ATA_SR_DSC);
    rig_free(&r);
}

Test(ide, read_write_multiple)
{
    Rig r;
    rig_new(&r, false);
    rig_attach(&r, 0, IDE_MEDIA_DISK, 4 << 20, 0);
    outb(&r, C0, 0);
    ata_cmd(&r, P0, 0, ATA_CMD_SET_MULTIPLE_MODE, 0, 3, 0, false); /* not a power of two */
    cr_assert(inb(&r, P0 + ATA_REG_STATUS) & ATA_SR_ERR);
    cr_assert_eq(inb(&r, P0 + ATA_REG_ERROR), ATA_ER_ABRT);
    ata_cmd(&r, P0, 0, ATA_CMD_SET_MULTIPLE_MODE, 0, 4, 0, false);
    cr_assert_eq(inb(&r, P0 + ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC);
    int e = r.edges[0];
    /* 10 sectors in DRQ blocks of 4, 4, 2 */
    uint8_t buf[10 * 512];
    ata_cmd(&r, P0, 0, ATA_CMD_READ_MULTIPLE, 0, 10, 77, false);
    size_t at = 0;
    for (int blk = 0; blk < 3; blk++) {
        cr_assert_eq(r.edges[0], e + blk + 1);
        inb(&r, P0 + ATA_REG_STATUS); /* the host acknowledges, then moves the block */
        size_t n = blk < 2 ? 4 * 512 : 2 * 512;
        read_data(&r, P0, buf + at, n);
        at += n;
    }
    cr_assert_eq(inb(&r, C0), ATA_SR_DRDY | ATA_SR_DSC);
    for (size_t i = 0; i < sizeof(buf); i++)
        cr_assert_eq(buf[i], pat(77 * 512 + i));
    memset(buf, 0x99, sizeof(buf));
    ata_cmd(&r, P0, 0, ATA_CMD_WRITE_MULTIPLE, 0, 6, 300, false);
    write_data(&r, P0, buf, 4 * 512);
    cr_assert(inb(&r, P0 + ATA_REG_STATUS) & ATA_SR_DRQ);
    write_data(&r, P0, buf, 2 * 512);
    cr_assert_eq(inb(&r, P0 + ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC);
    expect_file(r.files[0], 300 * 512, buf, 6 * 512);
    /* multiple mode off: READ MULTIPLE aborts */
    ata_cmd(&r, P0, 0, ATA_CMD_SET_MULTIPLE_MODE, 0, 0, 0, false);
    ata_cmd(&r, P0, 0, ATA_CMD_READ_MULTIPLE, 0, 1, 0, false);
    cr_assert_eq(inb(&r, P0 + ATA_REG_ERROR), ATA_ER_ABRT);
    rig_free(&r);
}

Test(ide, lba48_beyond_28_bits)
{
    Rig r;
    rig_new(&r, false);
    const uint64_t sectors = (1ull << 28) + 4096; /* 128 GiB and a bit, sparse */
    rig_attach(&r, 0, IDE_MEDIA_DISK, sectors * 512, 0);
    uint16_t id[256];
    ata_cmd(&r, P0, 0, ATA_CMD_IDENTIFY_DEVICE, 0, 0, 0, false);
    read_data(&r, P0, id, 512);
    cr_assert_eq(id[60] | (uint32_t)id[61] << 16, 0x0fffffff, "LBA28 capacity saturates");
    cr_assert_eq(id[100] | (uint64_t)id[101] << 16 | (uint64_t)id[102] << 32, sectors);
    cr_assert_eq(id[1], 16383);
    const uint64_t lba = (1ull << 28) + 100;
    uint8_t buf[2 * 512];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(i * 3);
    ata_cmd(&r, P0, 0, ATA_CMD_WRITE_SECTORS_EXT, 0, 2, lba, true);
    write_data(&r, P0, buf, sizeof(buf));
    cr_assert_eq(inb(&r, P0 + ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC);
    expect_file(r.files[0], lba * 512, buf, sizeof(buf));
    uint8_t back[2 * 512];
    ata_cmd(&r, P0, 0, ATA_CMD_READ_SECTORS_EXT, 0, 2, lba, true);
    read_data(&r, P0, back, sizeof(back));
    cr_assert_eq(memcmp(back, buf, sizeof(buf)), 0);
    /* the last sector is there, the one after is not */
    ata_cmd(&r, P0, 0, ATA_CMD_READ_VERIFY_SECTORS_EXT, 0, 1, sectors - 1, true);
    cr_assert_eq(inb(&r, P0 + ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC);
    ata_cmd(&r, P0, 0, ATA_CMD_READ_SECTORS_EXT, 0, 2, sectors - 1, true);
    cr_assert(inb(&r, P0 + ATA_REG_STATUS) & ATA_SR_ERR);
    cr_assert_eq(inb(&r, P0 + ATA_REG_ERROR), ATA_ER_IDNF);
    rig_free(&r);
}

Test(ide, out_of_range_is_idnf_never_a_read)
{
    Rig r;
    rig_new(&r, false);
    const uint64_t sectors = 2048;
    rig_attach(&r, 0, IDE_MEDIA_DISK, sectors * 512, 0);
    struct {
        uint8_t cmd;
        uint32_t count;
        uint64_t lba;
    } bad[] = {
        {ATA_CMD_READ_SECTORS, 1, sectors},
        {ATA_CMD_READ_SECTORS, 2, sectors - 1},
        {ATA_CMD_READ_SECTORS, 0, sectors - 255}, /* count 0 is 256 sectors */
        {ATA_CMD_WRITE_SECTORS, 1, 0x0fffffff},
        {ATA_CMD_READ_DMA, 1, sectors + 5},
        {ATA_CMD_READ_VERIFY_SECTORS, 9, sectors - 8},
        {ATA_CMD_SEEK, 0, sectors},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        ata_cmd(&r, P0, 0, bad[i].cmd, 0, bad[i].count, bad[i].lba, false);
        uint8_t st = inb(&r, P0 + ATA_REG_STATUS);
        cr_assert_eq(st, ATA_SR_DRDY | ATA_SR_DSC | ATA_SR_ERR, "case %zu: status %02x", i, st);
        cr_assert_eq(inb(&r, P0 + ATA_REG_ERROR), ATA_ER_IDNF, "case %zu", i);
    }
    /* CHS (sector, cylinder low/high, head) of 2/16/63: sector 0 or past the track, a
     * cylinder past the geometry */
    uint8_t chs[][4] = {{0, 0, 0, 0}, {64, 0, 0, 0}, {1, 2, 0, 0}, {1, 0, 1, 0}};
    for (size_t i = 0; i < G_N_ELEMENTS(chs); i++) {
        outb(&r, P0 + ATA_REG_DEVICE, (uint8_t)(0xa0 | chs[i][3]));
        outb(&r, P0 + ATA_REG_SECTOR_COUNT, 1);
        outb(&r, P0 + ATA_REG_LBA_LOW, chs[i][0]);
        outb(&r, P0 + ATA_REG_LBA_MID, chs[i][1]);
        outb(&r, P0 + ATA_REG_LBA_HIGH, chs[i][2]);
        outb(&r, P0 + ATA_REG_COMMAND, ATA_CMD_READ_SECTORS);
        cr_assert_eq(inb(&r, P0 + ATA_REG_ERROR), ATA_ER_IDNF, "CHS case %zu", i);
        cr_assert_eq(inb(&r, P0 + ATA_REG_STATUS) & ATA_SR_DRQ, 0);
    }
    rig_free(&r);
}

Test(ide, chs_and_initialize_device_parameters)
{
    Rig r;
    rig_new(&r, false);
    rig_attach(&r, 0, IDE_MEDIA_DISK, 8 << 20, 0); /* 16384 sectors: 16/63 */
    uint8_t buf[512];
    /* cylinder 2, head 3, sector 4 of 16/63: LBA (2 * 16 + 3) * 63 + 3 */
    outb(&r, P0 + ATA_REG_DEVICE, 0xa3);
    outb(&r, P0 + ATA_REG_SECTOR_COUNT, 1);
    outb(&r, P0 + ATA_REG_LBA_LOW, 4);
    outb(&r, P0 + ATA_REG_LBA_MID, 2);
    outb(&r, P0 + ATA_REG_LBA_HIGH, 0);
    outb(&r, P0 + ATA_REG_COMMAND, ATA_CMD_READ_SECTORS);
    read_data(&r, P0, buf, 512);
    uint64_t lba = (2 * 16 + 3) * 63 + 3;
    for (int i = 0; i < 512; i++)
        cr_assert_eq(buf[i], pat(lba * 512 + i));
    /* INITIALIZE DEVICE PARAMETERS: 4 heads, 17 sectors a track */
    outb(&r, P0 + ATA_REG_DEVICE, 0xa0 | 3);
    outb(&r, P0 + ATA_REG_SECTOR_COUNT, 17);
    outb(&r, P0 + ATA_REG_COMMAND, ATA_CMD_INITIALIZE_DEVICE_PARAMETERS);
    cr_assert_eq(inb(&r, P0 + ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC);
    ata_cmd(&r, P0, 0, ATA_CMD_IDENTIFY_DEVICE, 0, 0, 0, false);
    uint16_t id[256];
    read_data(&r, P0, id, 512);
    cr_assert_eq(id[54], 16384 / (4 * 17));
    cr_assert_eq(id[55], 4);
    cr_assert_eq(id[56], 17);
    cr_assert_eq(id[57] | (uint32_t)id[58] << 16, (16384 / 68) * 68);
    cr_assert_eq(id[3], 16, "the default geometry stays in words 1-6");
    outb(&r, P0 + ATA_REG_DEVICE, 0xa1);
    outb(&r, P0 + ATA_REG_SECTOR_COUNT, 1);
    outb(&r, P0 + ATA_REG_LBA_LOW, 5);
    outb(&r, P0 + ATA_REG_LBA_MID, 10);
    outb(&r, P0 + ATA_REG_LBA_HIGH, 0);
    outb(&r, P0 + ATA_REG_COMMAND, ATA_CMD_READ_SECTORS);
    read_data(&r, P0, buf, 512);
    lba = (10 * 4 + 1) * 17 + 4;
    for (int i = 0; i < 512; i++)
        cr_assert_eq(buf[i], pat(lba * 512 + i));
    outb(&r, P0 + ATA_REG_DEVICE, 0xa4); /* head 4 of 4 */
    outb(&r, P0 + ATA_REG_COMMAND, ATA_CMD_READ_SECTORS);
    cr_assert_eq(inb(&r, P0 + ATA_REG_ERROR), ATA_ER_IDNF);
    outb(&r, P0 + ATA_REG_SECTOR_COUNT, 0); /* 0 sectors a track: refused */
    outb(&r, P0 + ATA_REG_COMMAND, ATA_CMD_INITIALIZE_DEVICE_PARAMETERS);
    cr_assert_eq(inb(&r, P0 + ATA_REG_ERROR), ATA_ER_ABRT);
    rig_free(&r);
}

Test(ide, set_features_flush_and_readonly)
{
    Rig r;
    rig_new(&r, false);
    rig_attach(&r, 0, IDE_MEDIA_DISK, 1 << 20, 0);
    rig_attach(&r, 1, IDE_MEDIA_DISK, 1 << 20, BLK_READONLY);
    ata_cmd(&r, P0, 0, ATA_CMD_SET_FEATURES, ATA_SF_SET_XFER_MODE, ATA_XFER_UDMA | 5, 0, false);
    cr_assert_eq(inb(&r, P0 + ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC);
    uint16_t id[256];
    ata_cmd(&r, P0, 0, ATA_CMD_IDENTIFY_DEVICE, 0, 0, 0, false);
    read_data(&r, P0, id, 512);
    cr_assert_eq(id[88], 0x003f | 0x2000, "UDMA 5 selected");
    cr_assert_eq(id[63] & 0xff00, 0, "no multiword DMA mode selected");
    ata_cmd(&r, P0, 0, ATA_CMD_SET_FEATURES, ATA_SF_SET_XFER_MODE, ATA_XFER_UDMA | 7, 0, false);
    cr_assert_eq(inb(&r, P0 + ATA_REG_ERROR), ATA_ER_ABRT);
    ata_cmd(&r, P0, 0, ATA_CMD_SET_FEATURES, ATA_SF_DISABLE_WCACHE, 0, 0, false);
    ata_cmd(&r, P0, 0, ATA_CMD_IDENTIFY_DEVICE, 0, 0, 0, false);
    read_data(&r, P0, id, 512);
    cr_assert_eq(id[85] & (1 << 5), 0);
    ata_cmd(&r, P0, 0, ATA_CMD_SET_FEATURES, 0x42, 0, 0, false); /* AAM: not there */
    cr_assert_eq(inb(&r, P0 + ATA_REG_ERROR), ATA_ER_ABRT);
    ata_cmd(&r, P0, 0, ATA_CMD_FLUSH_CACHE, 0, 0, 0, false);
    cr_assert_eq(inb(&r, P0 + ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC);
    ata_cmd(&r, P0, 0, ATA_CMD_RECALIBRATE, 0, 0, 0, false);
    cr_assert_eq(inb(&r, P0 + ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC);
    ata_cmd(&r, P0, 0, ATA_CMD_NOP, 0, 0, 0, false);
    cr_assert_eq(inb(&r, P0 + ATA_REG_ERROR), ATA_ER_ABRT);
    ata_cmd(&r, P0, 0, ATA_CMD_PACKET, 0, 0, 0, false); /* not a packet device */
    cr_assert_eq(inb(&r, P0 + ATA_REG_ERROR), ATA_ER_ABRT);
    /* a read-only image: writes abort, the file stays */
    uint8_t buf[512] = {0};
    ata_cmd(&r, P0, 1, ATA_CMD_WRITE_SECTORS, 0, 1, 3, false);
    cr_assert_eq(inb(&r, P0 + ATA_REG_STATUS) & (ATA_SR_ERR | ATA_SR_DRQ), ATA_SR_ERR);
    cr_assert_eq(inb(&r, P0 + ATA_REG_ERROR), ATA_ER_ABRT);
    write_data(&r, P0, buf, 512);
    for (int i = 0; i < 512; i++)
        buf[i] = pat(3 * 512 + i);
    expect_file(r.files[1], 3 * 512, buf, 512);
    rig_free(&r);
}

Test(ide, snapshot_leaves_the_image)
{
    Rig r;
    rig_new(&r, false);
    rig_attach(&r, 0, IDE_MEDIA_DISK, 1 << 20, BLK_SNAPSHOT);
    uint8_t buf[2 * 512], back[2 * 512];
    memset(buf, 0xab, sizeof(buf));
    ata_cmd(&r, P0, 0, ATA_CMD_WRITE_SECTORS, 0, 2, 40, false);
    write_data(&r, P0, buf, sizeof(buf));
    cr_assert_eq(inb(&r, P0 + ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC);
    ata_cmd(&r, P0, 0, ATA_CMD_READ_SECTORS, 0, 2, 40, false);
    read_data(&r, P0, back, sizeof(back));
    cr_assert_eq(memcmp(buf, back, sizeof(buf)), 0, "the guest sees its writes");
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = pat(40 * 512 + i);
    expect_file(r.files[0], 40 * 512, buf, sizeof(buf));
    rig_free(&r);
}

/* ---- bus-master DMA ------------------------------------------------------------------------ */

static void prd(Rig *r, uint32_t at, uint32_t base, uint32_t count)
{
    memcpy(r->ram + at, &base, 4);
    memcpy(r->ram + at + 4, &count, 4);
}

static void bm_start(Rig *r, unsigned ch, uint32_t table, bool to_mem)
{
    uint16_t bm = BM_BASE + ch * 8;
    io_write(r->io, bm + PIIX_BMIDTP, table, 4);
    outb(r, bm + PIIX_BMISTA, PIIX_BMISTA_ERR | PIIX_BMISTA_IDEINTS);
    outb(r, bm + PIIX_BMICOM, to_mem ? PIIX_BMICOM_RWCON : 0);
    outb(r, bm + PIIX_BMICOM, (to_mem ? PIIX_BMICOM_RWCON : 0) | PIIX_BMICOM_SSBM);
}

Test(ide, dma_read_and_write)
{
    Rig r;
    rig_new(&r, false);
    rig_attach(&r, 0, IDE_MEDIA_DISK, 4 << 20, 0);
    outb(&r, C0, 0);
    /* READ DMA of 24 sectors over three PRDs of 4 KiB */
    prd(&r, PRD_AT, BUF_AT, 4096);
    prd(&r, PRD_AT + 8, BUF_AT + 0x3000, 4096);
    prd(&r, PRD_AT + 16, BUF_AT + 0x1000, 4096 | PRD_EOT);
    ata_cmd(&r, P0, 0, ATA_CMD_READ_DMA, 0, 24, 500, false);
    cr_assert_eq(inb(&r, C0), ATA_SR_DRDY | ATA_SR_DSC | ATA_SR_DRQ, "waiting for the bus master");
    cr_assert_eq(r.edges[0], 0);
    bm_start(&r, 0, PRD_AT, true);
    cr_assert_eq(r.edges[0], 1);
    cr_assert_eq(inb(&r, BM_BASE + PIIX_BMISTA) & 7, PIIX_BMISTA_IDEINTS, "done, no error");
    cr_assert_eq(inb(&r, P0 + ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC);
    const uint32_t order[3] = {BUF_AT, BUF_AT + 0x3000, BUF_AT + 0x1000};
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 4096; i++)
            cr_assert_eq(r.ram[order[k] + i], pat(500 * 512 + k * 4096 + i));
    outb(&r, BM_BASE + PIIX_BMICOM, 0);
    /* WRITE DMA (EXT) of 3 sectors from one PRD; the command may come after the start */
    for (int i = 0; i < 1536; i++)
        r.ram[BUF_AT + 0x8000 + i] = (uint8_t)(i * 11);
    prd(&r, PRD_AT, BUF_AT + 0x8000, 1536 | PRD_EOT);
    bm_start(&r, 0, PRD_AT, false);
    cr_assert_eq(inb(&r, BM_BASE + PIIX_BMISTA) & PIIX_BMISTA_BMIDEA, PIIX_BMISTA_BMIDEA);
    ata_cmd(&r, P0, 0, ATA_CMD_WRITE_DMA_EXT, 0, 3, 900, true);
    cr_assert_eq(inb(&r, BM_BASE + PIIX_BMISTA) & 7, PIIX_BMISTA_IDEINTS);
    cr_assert_eq(inb(&r, P0 + ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC);
    expect_file(r.files[0], 900 * 512, r.ram + BUF_AT + 0x8000, 1536);
    /* PRDs larger than the transfer: BMIDEA stays set, no error */
    outb(&r, BM_BASE + PIIX_BMICOM, 0);
    prd(&r, PRD_AT, BUF_AT, 8192 | PRD_EOT);
    ata_cmd(&r, P0, 0, ATA_CMD_READ_DMA, 0, 1, 0, false);
    bm_start(&r, 0, PRD_AT, true);
    cr_assert_eq(inb(&r, BM_BASE + PIIX_BMISTA) & 7, PIIX_BMISTA_IDEINTS | PIIX_BMISTA_BMIDEA);
    cr_assert_eq(inb(&r, P0 + ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC);
    /* a zero count is 64 KiB: 128 sectors in one PRD */
    outb(&r, BM_BASE + PIIX_BMICOM, 0);
    prd(&r, PRD_AT, BUF_AT, PRD_EOT);
    ata_cmd(&r, P0, 0, ATA_CMD_READ_DMA, 0, 128, 1024, false);
    bm_start(&r, 0, PRD_AT, true);
    cr_assert_eq(inb(&r, BM_BASE + PIIX_BMISTA) & 7, PIIX_BMISTA_IDEINTS);
    for (int i = 0; i < 65536; i += 511)
        cr_assert_eq(r.ram[BUF_AT + i], pat(1024 * 512 + i));
    rig_free(&r);
}

/* Each hostile table: the command aborts with ERR/ABRT and BMISTA's error bit, the bus master
 * stops, and nothing outside guest RAM is touched (guard pages). */
static void expect_dma_error(Rig *r, const char *what)
{
    uint8_t bs = inb(r, BM_BASE + PIIX_BMISTA);
    cr_assert_eq(bs & (PIIX_BMISTA_ERR | PIIX_BMISTA_BMIDEA), PIIX_BMISTA_ERR, "%s: BMISTA %02x",
                 what, bs);
    cr_assert(bs & PIIX_BMISTA_IDEINTS, "%s: the abort interrupts", what);
    cr_assert_eq(inb(r, P0 + ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC | ATA_SR_ERR, "%s", what);
    cr_assert_eq(inb(r, P0 + ATA_REG_ERROR), ATA_ER_ABRT, "%s", what);
    outb(r, BM_BASE + PIIX_BMICOM, 0);
}

Test(ide, hostile_prd_tables)
{
    Rig r;
    rig_new(&r, false);
    rig_attach(&r, 0, IDE_MEDIA_DISK, 4 << 20, 0);
    outb(&r, C0, 0);
    /* a region past the end of RAM */
    prd(&r, PRD_AT, RAM_SIZE - 512, 4096 | PRD_EOT);
    memset(r.ram + RAM_SIZE - 512, 0xc3, 512);
    ata_cmd(&r, P0, 0, ATA_CMD_READ_DMA, 0, 8, 0, false);
    bm_start(&r, 0, PRD_AT, true);
    expect_dma_error(&r, "past RAM");
    /* a PRD region that leaves RAM is refused whole: not even the part inside RAM moves */
    for (int i = 0; i < 512; i++)
        cr_assert_eq(r.ram[RAM_SIZE - 512 + i], 0xc3, "byte %d written by a refused PRD", i);
    /* the same for a device write (memory read) */
    ata_cmd(&r, P0, 0, ATA_CMD_WRITE_DMA, 0, 8, 0, false);
    bm_start(&r, 0, PRD_AT, false);
    expect_dma_error(&r, "write from past RAM");
    /* a region wrapping past 4 GiB */
    prd(&r, PRD_AT, 0xfffff000u, 0x2000 | PRD_EOT);
    ata_cmd(&r, P0, 0, ATA_CMD_READ_DMA, 0, 16, 0, false);
    bm_start(&r, 0, PRD_AT, true);
    expect_dma_error(&r, "wrapping");
    /* a table too short for the transfer */
    prd(&r, PRD_AT, BUF_AT, 512 | PRD_EOT);
    ata_cmd(&r, P0, 0, ATA_CMD_READ_DMA, 0, 2, 0, false);
    bm_start(&r, 0, PRD_AT, true);
    expect_dma_error(&r, "short table");
    /* no EOT, and the table runs off the end of RAM */
    for (uint32_t a = RAM_SIZE - 64; a < RAM_SIZE; a += 8)
        prd(&r, a, BUF_AT, 16);
    ata_cmd(&r, P0, 0, ATA_CMD_READ_DMA, 0, 8, 0, false);
    bm_start(&r, 0, RAM_SIZE - 64, true);
    expect_dma_error(&r, "table off RAM");
    /* no EOT, and the table leaves its 64 KiB region */
    for (uint32_t a = 0x1fff0; a < 0x20000; a += 8)
        prd(&r, a, BUF_AT + 0x10000, 512);
    prd(&r, 0x20000, BUF_AT + 0x10000, 512 | PRD_EOT);
    ata_cmd(&r, P0, 0, ATA_CMD_READ_DMA, 0, 4, 0, false);
    bm_start(&r, 0, 0x1fff0, true);
    expect_dma_error(&r, "64 KiB region");
    /* a table in unmapped space */
    ata_cmd(&r, P0, 0, ATA_CMD_READ_DMA, 0, 1, 0, false);
    bm_start(&r, 0, 0xf0000000u, true);
    expect_dma_error(&r, "table unmapped");
    /* the direction does not match the command */
    prd(&r, PRD_AT, BUF_AT, 512 | PRD_EOT);
    ata_cmd(&r, P0, 0, ATA_CMD_READ_DMA, 0, 1, 0, false);
    bm_start(&r, 0, PRD_AT, false);
    expect_dma_error(&r, "direction");
    /* and the channel still works */
    ata_cmd(&r, P0, 0, ATA_CMD_READ_DMA, 0, 1, 7, false);
    bm_start(&r, 0, PRD_AT, true);
    cr_assert_eq(inb(&r, BM_BASE + PIIX_BMISTA) & 7, PIIX_BMISTA_IDEINTS);
    cr_assert_eq(r.ram[BUF_AT + 5], pat(7 * 512 + 5));
    rig_free(&r);
}

/* ---- ATAPI --------------------------------------------------------------------------------- */

#define CD_SECTORS 300u

/* Send a 12-byte packet to the CD (secondary master); bcl the byte count limit. */
static void packet(Rig *r, const uint8_t *pkt, uint16_t bcl, bool dma)
{
    outb(r, P1 + ATA_REG_DEVICE, 0xa0);
    outb(r, P1 + ATA_REG_FEATURES, dma ? 1 : 0);
    outb(r, P1 + ATA_REG_LBA_MID, (uint8_t)bcl);
    outb(r, P1 + ATA_REG_LBA_HIGH, (uint8_t)(bcl >> 8));
    outb(r, P1 + ATA_REG_COMMAND, ATA_CMD_PACKET);
    cr_assert_eq(inb(r, C1), ATA_SR_DRDY | ATA_SR_DSC | ATA_SR_DRQ);
    cr_assert_eq(inb(r, P1 + ATA_REG_SECTOR_COUNT), ATAPI_IR_COD);
    write_data(r, P1, pkt, ATAPI_PACKET_SIZE);
}

/* Read a PIO reply of up to max bytes; returns its length. */
static size_t reply_in(Rig *r, uint8_t *buf, size_t max)
{
    size_t n = 0;
    while (inb(r, P1 + ATA_REG_STATUS) & ATA_SR_DRQ) {
        cr_assert_eq(inb(r, P1 + ATA_REG_SECTOR_COUNT), ATAPI_IR_IO);
        size_t blk = inb(r, P1 + ATA_REG_LBA_MID) | inb(r, P1 + ATA_REG_LBA_HIGH) << 8;
        cr_assert_leq(n + blk, max);
        read_data(r, P1, buf + n, blk);
        n += blk;
    }
    return n;
}

static void expect_good(Rig *r)
{
    cr_assert_eq(inb(r, P1 + ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC);
    cr_assert_eq(inb(r, P1 + ATA_REG_SECTOR_COUNT), ATAPI_IR_IO | ATAPI_IR_COD);
}

static void expect_check(Rig *r, uint8_t key, uint8_t asc)
{
    cr_assert_eq(inb(r, P1 + ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_ERR);
    cr_assert_eq(inb(r, P1 + ATA_REG_ERROR) >> 4, key);
    uint8_t rs[12] = {0x03, 0, 0, 0, 18}, sense[18];
    packet(r, rs, 18, false);
    cr_assert_eq(reply_in(r, sense, sizeof(sense)), 18);
    cr_assert_eq(sense[0], 0x70);
    cr_assert_eq(sense[2] & 0x0f, key);
    cr_assert_eq(sense[12], asc);
    expect_good(r);
}

/* An image that shrinks under the device (another program truncated it): the failed read is
 * UNC with the failing sector in the taskfile, or MEDIUM ERROR on the CD; by PIO and DMA. */
Test(ide, media_errors)
{
    Rig r;
    rig_new(&r, false);
    rig_attach(&r, 0, IDE_MEDIA_DISK, 1 << 20, 0);
    rig_attach(&r, 2, IDE_MEDIA_CDROM, 64 * 2048, 0);
    cr_assert_eq(truncate(r.files[0], 100 * 512), 0);
    cr_assert_eq(truncate(r.files[2], 10 * 2048), 0);
    ata_cmd(&r, P0, 0, ATA_CMD_READ_SECTORS, 0, 1, 200, false);
    cr_assert_eq(inb(&r, P0 + ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC | ATA_SR_ERR);
    cr_assert_eq(inb(&r, P0 + ATA_REG_ERROR), ATA_ER_UNC);
    cr_assert_eq(inb(&r, P0 + ATA_REG_LBA_LOW), 200);
    cr_assert_eq(inb(&r, P0 + ATA_REG_LBA_MID), 0);
    /* the second block of a multi-sector read fails: the first one was delivered */
    uint8_t buf[512];
    ata_cmd(&r, P0, 0, ATA_CMD_READ_SECTORS_EXT, 0, 2, 99, true);
    read_data(&r, P0, buf, 512);
    cr_assert_eq(buf[7], pat(99 * 512 + 7));
    cr_assert_eq(inb(&r, P0 + ATA_REG_ERROR), ATA_ER_UNC);
    cr_assert_eq(inb(&r, P0 + ATA_REG_LBA_LOW), 100);
    outb(&r, C0, ATA_DC_HOB);
    cr_assert_eq(inb(&r, P0 + ATA_REG_LBA_LOW), 0, "LBA48: the high half too");
    outb(&r, C0, 0);
    /* by DMA: the drive reports it, the bus master stops without its own error */
    prd(&r, PRD_AT, BUF_AT, 4096 | PRD_EOT);
    ata_cmd(&r, P0, 0, ATA_CMD_READ_DMA, 0, 8, 500, false);
    bm_start(&r, 0, PRD_AT, true);
    cr_assert_eq(inb(&r, BM_BASE + PIIX_BMISTA) & 7, PIIX_BMISTA_IDEINTS);
    cr_assert_eq(inb(&r, P0 + ATA_REG_ERROR), ATA_ER_UNC);
    outb(&r, BM_BASE + PIIX_BMICOM, 0);
    /* the CD: MEDIUM ERROR, unrecovered read error */
    uint8_t rd[12] = {0x28, 0, 0, 0, 0, 20, 0, 0, 1};
    packet(&r, rd, 2048, false);
    expect_check(&r, 0x03, 0x11);
    rig_free(&r);
}

Test(ide, atapi_identify_and_signature)
{
    Rig r;
    rig_new(&r, false);
    rig_attach(&r, 2, IDE_MEDIA_CDROM, CD_SECTORS * 2048, 0);
    ata_cmd(&r, P1, 0, ATA_CMD_IDENTIFY_DEVICE, 0, 0, 0, false);
    cr_assert_eq(inb(&r, P1 + ATA_REG_STATUS) & ATA_SR_ERR, ATA_SR_ERR);
    cr_assert_eq(inb(&r, P1 + ATA_REG_ERROR), ATA_ER_ABRT);
    cr_assert_eq(inb(&r, P1 + ATA_REG_LBA_MID), 0x14, "IDENTIFY DEVICE leaves the signature");
    cr_assert_eq(inb(&r, P1 + ATA_REG_LBA_HIGH), 0xeb);
    ata_cmd(&r, P1, 0, ATA_CMD_IDENTIFY_PACKET_DEVICE, 0, 0, 0, false);
    uint16_t id[256];
    read_data(&r, P1, id, 512);
    cr_assert_eq(id[0], 0x85c0);
    cr_assert(id[49] & (1 << 8));
    cr_assert_eq(id[27] >> 8, 'D');
    ata_cmd(&r, P1, 0, ATA_CMD_READ_SECTORS, 0, 1, 0, false);
    cr_assert_eq(inb(&r, P1 + ATA_REG_ERROR), ATA_ER_ABRT);
    ata_cmd(&r, P1, 0, ATA_CMD_DEVICE_RESET, 0, 0, 0, false);
    cr_assert_eq(inb(&r, P1 + ATA_REG_STATUS), 0);
    cr_assert_eq(inb(&r, P1 + ATA_REG_LBA_HIGH), 0xeb);
    rig_free(&r);
}

Test(ide, atapi_commands)
{
    Rig r;
    rig_new(&r, false);
    rig_attach(&r, 2, IDE_MEDIA_CDROM, CD_SECTORS * 2048, 0);
    outb(&r, C1, 0);
    uint8_t buf[8192];

    uint8_t tur[12] = {0x00};
    packet(&r, tur, 0, false);
    expect_good(&r);
    cr_assert_eq(r.edges[1], 1);

    uint8_t cap[12] = {0x25};
    packet(&r, cap, 8, false);
    cr_assert_eq(reply_in(&r, buf, sizeof(buf)), 8);
    cr_assert_eq(buf[0] << 24 | buf[1] << 16 | buf[2] << 8 | buf[3], CD_SECTORS - 1);
    cr_assert_eq(buf[4] << 24 | buf[5] << 16 | buf[6] << 8 | buf[7], 2048);
    expect_good(&r);

    uint8_t inq[12] = {0x12, 0, 0, 0, 36};
    packet(&r, inq, 96, false);
    cr_assert_eq(reply_in(&r, buf, sizeof(buf)), 36);
    cr_assert_eq(buf[0], 0x05);
    cr_assert_eq(buf[1], 0x80);
    cr_assert_eq(memcmp(buf + 8, "DUALVM  ", 8), 0);
    uint8_t inq_short[12] = {0x12, 0, 0, 0, 5};
    packet(&r, inq_short, 96, false);
    cr_assert_eq(reply_in(&r, buf, sizeof(buf)), 5, "cut to the allocation length");

    /* READ(10): 2 sectors in DRQ blocks of the byte count limit (1000: 4 x 1000 + 96) */
    uint8_t rd[12] = {0x28, 0, 0, 0, 0, 17, 0, 0, 2};
    int e = r.edges[1];
    packet(&r, rd, 1000, false);
    size_t n = 0, blocks = 0;
    while (inb(&r, P1 + ATA_REG_STATUS) & ATA_SR_DRQ) { /* acknowledges each interrupt */
        cr_assert_eq(r.edges[1], e + blocks + 1);
        size_t blk = inb(&r, P1 + ATA_REG_LBA_MID) | inb(&r, P1 + ATA_REG_LBA_HIGH) << 8;
        cr_assert_eq(blk, blocks < 4 ? 1000u : 96u);
        read_data(&r, P1, buf + n, blk);
        n += blk;
        blocks++;
    }
    cr_assert_eq(n, 4096);
    cr_assert_eq(r.edges[1], e + 6, "an interrupt per block and one at the end");
    expect_good(&r);
    for (size_t i = 0; i < 4096; i++)
        cr_assert_eq(buf[i], pat(17 * 2048 + i));
    /* READ(12), an odd limit rounds down to even */
    uint8_t rd12[12] = {0xa8, 0, 0, 0, 0, 1, 0, 0, 0, 1};
    packet(&r, rd12, 2049, false);
    cr_assert_eq(inb(&r, P1 + ATA_REG_LBA_MID) | inb(&r, P1 + ATA_REG_LBA_HIGH) << 8, 2048);
    cr_assert_eq(reply_in(&r, buf, sizeof(buf)), 2048);
    cr_assert_eq(buf[100], pat(2048 + 100));
    /* a PIO data command with no room for data: ATA abort */
    packet(&r, rd, 0, false);
    cr_assert_eq(inb(&r, P1 + ATA_REG_STATUS) & (ATA_SR_ERR | ATA_SR_DRQ), ATA_SR_ERR);
    cr_assert_eq(inb(&r, P1 + ATA_REG_ERROR), ATA_ER_ABRT);

    /* errors leave sense data: past the end, an unknown command, a bad field */
    uint8_t past[12] = {0x28, 0, 0, 0, (CD_SECTORS - 1) >> 8, (CD_SECTORS - 1) & 0xff, 0, 0, 2};
    packet(&r, past, 4096, false);
    expect_check(&r, 0x05, 0x21);
    uint8_t unknown[12] = {0xff};
    packet(&r, unknown, 100, false);
    expect_check(&r, 0x05, 0x20);
    uint8_t evpd[12] = {0x12, 1, 0, 0, 36};
    packet(&r, evpd, 100, false);
    expect_check(&r, 0x05, 0x24);
    /* REQUEST SENSE after a good command: no sense */
    packet(&r, tur, 0, false);
    expect_good(&r);
    uint8_t rs[12] = {0x03, 0, 0, 0, 18};
    packet(&r, rs, 18, false);
    reply_in(&r, buf, sizeof(buf));
    cr_assert_eq(buf[2], 0);

    /* MODE SENSE(10), capabilities page */
    uint8_t ms[12] = {0x5a, 0, 0x2a, 0, 0, 0, 0, 0, 64};
    packet(&r, ms, 64, false);
    n = reply_in(&r, buf, sizeof(buf));
    cr_assert_eq(n, 28);
    cr_assert_eq(buf[0] << 8 | buf[1], 26);
    cr_assert_eq(buf[8], 0x2a);
    uint8_t ms_saved[12] = {0x5a, 0, 0xc0 | 0x2a, 0, 0, 0, 0, 0, 64};
    packet(&r, ms_saved, 64, false);
    expect_check(&r, 0x05, 0x39);

    /* READ TOC: format 0 in LBA and MSF, format 1 */
    uint8_t toc[12] = {0x43, 0, 0, 0, 0, 0, 0, 0, 100};
    packet(&r, toc, 100, false);
    cr_assert_eq(reply_in(&r, buf, sizeof(buf)), 20);
    cr_assert_eq(buf[2], 1);
    cr_assert_eq(buf[3], 1);
    cr_assert_eq(buf[6], 1, "track 1");
    cr_assert_eq(buf[14], 0xaa, "lead-out");
    cr_assert_eq(buf[16] << 24 | buf[17] << 16 | buf[18] << 8 | buf[19], CD_SECTORS);
    uint8_t toc_msf[12] = {0x43, 2, 0, 0, 0, 0, 0, 0, 100};
    packet(&r, toc_msf, 100, false);
    reply_in(&r, buf, sizeof(buf));
    cr_assert_eq(buf[9], 0);
    cr_assert_eq(buf[10], 2, "track 1 at 00:02:00");
    cr_assert_eq(buf[17], (CD_SECTORS + 150) / 4500);
    cr_assert_eq(buf[18], (CD_SECTORS + 150) / 75 % 60);
    cr_assert_eq(buf[19], (CD_SECTORS + 150) % 75);
    uint8_t session[12] = {0x43, 0, 1, 0, 0, 0, 0, 0, 100};
    packet(&r, session, 100, false);
    cr_assert_eq(reply_in(&r, buf, sizeof(buf)), 12);
    cr_assert_eq(buf[1], 10);
    uint8_t toc_bad[12] = {0x43, 0, 5, 0, 0, 0, 0, 0, 100};
    packet(&r, toc_bad, 100, false);
    expect_check(&r, 0x05, 0x24);

    /* GET CONFIGURATION: a CD-ROM profile, current */
    uint8_t gc[12] = {0x46, 0, 0, 0, 0, 0, 0, 0, 255};
    packet(&r, gc, 255, false);
    n = reply_in(&r, buf, sizeof(buf));
    cr_assert_geq(n, 8 + 12);
    cr_assert_eq(buf[6] << 8 | buf[7], 0x0008);
    cr_assert_eq(buf[0] << 24 | buf[1] << 16 | buf[2] << 8 | buf[3], n - 4);
    cr_assert_eq(buf[8] << 8 | buf[9], 0x0000, "the profile list first");

    /* GET EVENT STATUS NOTIFICATION, lock and eject */
    uint8_t gesn[12] = {0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8};
    packet(&r, gesn, 8, false);
    cr_assert_eq(reply_in(&r, buf, sizeof(buf)), 8);
    cr_assert_eq(buf[2], 4);
    cr_assert_eq(buf[5], 0x02, "media present, tray closed");
    uint8_t gesn_async[12] = {0x4a, 0, 0, 0, 0x10, 0, 0, 0, 8};
    packet(&r, gesn_async, 8, false);
    expect_check(&r, 0x05, 0x24);
    uint8_t lock[12] = {0x1e, 0, 0, 0, 1}, unlock[12] = {0x1e};
    uint8_t eject[12] = {0x1b, 0, 0, 0, 0x02}, load[12] = {0x1b, 0, 0, 0, 0x03};
    packet(&r, lock, 0, false);
    expect_good(&r);
    packet(&r, eject, 0, false);
    expect_check(&r, 0x05, 0x53);
    packet(&r, unlock, 0, false);
    packet(&r, eject, 0, false);
    expect_good(&r);
    packet(&r, tur, 0, false);
    expect_check(&r, 0x02, 0x3a);
    packet(&r, rd, 4096, false);
    expect_check(&r, 0x02, 0x3a);
    packet(&r, gesn, 8, false);
    reply_in(&r, buf, sizeof(buf));
    cr_assert_eq(buf[4], 3, "media removal");
    cr_assert_eq(buf[5], 0x01, "tray open, no media");
    packet(&r, load, 0, false);
    expect_good(&r);
    packet(&r, tur, 0, false);
    expect_good(&r);
    rig_free(&r);
}

Test(ide, atapi_dma)
{
    Rig r;
    rig_new(&r, false);
    rig_attach(&r, 2, IDE_MEDIA_CDROM, CD_SECTORS * 2048, 0);
    outb(&r, C1, 0);
    prd(&r, PRD_AT, BUF_AT, 3 * 2048 | PRD_EOT);
    uint8_t rd[12] = {0x28, 0, 0, 0, 0, 100, 0, 0, 3};
    packet(&r, rd, 0, true);
    cr_assert_eq(inb(&r, C1) & ATA_SR_DRQ, ATA_SR_DRQ, "waiting for the bus master");
    bm_start(&r, 1, PRD_AT, true);
    cr_assert_eq(inb(&r, BM_BASE + 8 + PIIX_BMISTA) & 7, PIIX_BMISTA_IDEINTS);
    expect_good(&r);
    for (int i = 0; i < 3 * 2048; i++)
        cr_assert_eq(r.ram[BUF_AT + i], pat(100 * 2048 + i));
    /* a reply by DMA too, and a hostile table */
    outb(&r, BM_BASE + 8 + PIIX_BMICOM, 0);
    prd(&r, PRD_AT, BUF_AT, 8 | PRD_EOT);
    uint8_t cap[12] = {0x25};
    packet(&r, cap, 0, true);
    bm_start(&r, 1, PRD_AT, true);
    expect_good(&r);
    cr_assert_eq(r.ram[BUF_AT + 3], (CD_SECTORS - 1) & 0xff);
    outb(&r, BM_BASE + 8 + PIIX_BMICOM, 0);
    prd(&r, PRD_AT, RAM_SIZE - 100, 2048 | PRD_EOT);
    uint8_t rd1[12] = {0x28, 0, 0, 0, 0, 5, 0, 0, 1};
    packet(&r, rd1, 0, true);
    bm_start(&r, 1, PRD_AT, true);
    cr_assert_eq(inb(&r, BM_BASE + 8 + PIIX_BMISTA) & 3, PIIX_BMISTA_ERR);
    cr_assert_eq(inb(&r, P1 + ATA_REG_STATUS) & ATA_SR_ERR, ATA_SR_ERR);
    cr_assert_eq(inb(&r, P1 + ATA_REG_ERROR) >> 4, 0x0b, "ABORTED COMMAND");
    rig_free(&r);
}

/* ---- the PIIX3 function 1 glue ------------------------------------------------------------- */

Test(ide, piix3_decode_and_bmiba)
{
    Rig r;
    rig_new(&r, true);
    rig_attach(&r, 0, IDE_MEDIA_DISK, 1 << 20, 0);
    PciDevice *f1 = piix3_ide(r.piix);
    /* after reset neither I/O decode nor the IDETIM enables are on */
    cr_assert_eq(inb(&r, P0 + ATA_REG_SECTOR_COUNT), 0xff);
    pci_config_write(f1, PCI_COMMAND, PCI_COMMAND_IO, 2);
    cr_assert_eq(inb(&r, P0 + ATA_REG_SECTOR_COUNT), 0xff);
    pci_config_write(f1, PIIX_IDE_IDETIM_PRI, PIIX_IDE_IDETIM_IDE, 2);
    cr_assert_eq(inb(&r, P0 + ATA_REG_SECTOR_COUNT), 1);
    cr_assert_eq(inb(&r, P1 + ATA_REG_STATUS), 0xff, "the secondary is not enabled");
    /* BMIBA: the bus master follows the BAR */
    pci_config_write(f1, PCI_BASE_ADDRESS_0 + 4 * PIIX_IDE_BMDMA_BAR, 0xd000, 4);
    io_write(r.io, 0xd000 + PIIX_BMIDTP, 0x12345678, 4);
    cr_assert_eq(io_read(r.io, 0xd000 + PIIX_BMIDTP, 4), 0x12345678 & PIIX_BMIDTP_MASK);
    pci_config_write(f1, PCI_BASE_ADDRESS_0 + 4 * PIIX_IDE_BMDMA_BAR, 0xd100, 4);
    cr_assert_eq(io_read(r.io, 0xd000 + PIIX_BMIDTP, 4), 0xffffffff, "the old place is gone");
    cr_assert_eq(io_read(r.io, 0xd100 + PIIX_BMIDTP, 4), 0x12345678 & PIIX_BMIDTP_MASK);
    pci_config_write(f1, PCI_BASE_ADDRESS_0 + 4 * PIIX_IDE_BMDMA_BAR, 0xd000, 4);
    cr_assert_eq(io_read(r.io, 0xd000 + PIIX_BMIDTP, 4), 0x12345678 & PIIX_BMIDTP_MASK);
    /* DMA needs bus mastering in the command register */
    prd(&r, PRD_AT, BUF_AT, 512 | PRD_EOT);
    ata_cmd(&r, P0, 0, ATA_CMD_READ_DMA, 0, 1, 2, false);
    io_write(r.io, 0xd000 + PIIX_BMIDTP, PRD_AT, 4);
    outb(&r, 0xd000 + PIIX_BMICOM, PIIX_BMICOM_RWCON | PIIX_BMICOM_SSBM);
    cr_assert_eq(inb(&r, 0xd000 + PIIX_BMISTA) & PIIX_BMISTA_ERR, PIIX_BMISTA_ERR);
    outb(&r, 0xd000 + PIIX_BMICOM, 0);
    outb(&r, 0xd000 + PIIX_BMISTA, PIIX_BMISTA_ERR | PIIX_BMISTA_IDEINTS);
    pci_config_write(f1, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MASTER, 2);
    ata_cmd(&r, P0, 0, ATA_CMD_READ_DMA, 0, 1, 2, false);
    outb(&r, 0xd000 + PIIX_BMICOM, PIIX_BMICOM_RWCON | PIIX_BMICOM_SSBM);
    cr_assert_eq(inb(&r, 0xd000 + PIIX_BMISTA) & 7, PIIX_BMISTA_IDEINTS);
    cr_assert_eq(r.ram[BUF_AT + 9], pat(2 * 512 + 9));
    /* the PIIX3's reset turns decoding off again */
    piix3_reset(r.piix);
    cr_assert_eq(inb(&r, P0 + ATA_REG_STATUS), 0xff);
    /* a firmware-less boot: what the BIOS would have set, then the OS enables I/O */
    ide_firmware_setup(r.ide);
    cr_assert_eq(inb(&r, P1 + ATA_REG_STATUS), 0xff);
    pci_config_write(f1, PCI_COMMAND, PCI_COMMAND_IO, 2);
    cr_assert_eq(inb(&r, P0 + ATA_REG_STATUS), ATA_SR_DRDY | ATA_SR_DSC);
    cr_assert_eq(inb(&r, P1 + ATA_REG_STATUS), 0, "decoded, and empty");
    rig_free(&r);
}

/* ---- fuzz ---------------------------------------------------------------------------------- */

/* Random register writes, data port traffic, commands, PRD tables and RAM contents for a few
 * seconds: nothing may crash, touch memory outside RAM (guard pages, ASan), or write the
 * images (snapshot mode). */
Test(ide, fuzz_registers_and_dma, .timeout = 60)
{
    Rig r;
    rig_new(&r, false);
    rig_attach(&r, 0, IDE_MEDIA_DISK, 1 << 20, BLK_SNAPSHOT);
    rig_attach(&r, 1, IDE_MEDIA_CDROM, 64 * 2048, 0);
    rig_attach(&r, 2, IDE_MEDIA_DISK, 2 << 20, BLK_SNAPSHOT);
    rig_attach(&r, 3, IDE_MEDIA_DISK, 512 * 3, BLK_SNAPSHOT);
    GRand *rnd = g_rand_new_with_seed(0x1de5eed);
    static const uint8_t cmds[] = {0x00, 0x08, 0x10, 0x20, 0x21, 0x24, 0x25, 0x29, 0x30,
                                   0x31, 0x34, 0x35, 0x39, 0x40, 0x41, 0x42, 0x70, 0x90,
                                   0x91, 0xa0, 0xa1, 0xc4, 0xc5, 0xc6, 0xc8, 0xca, 0xe0,
                                   0xe1, 0xe2, 0xe3, 0xe5, 0xe7, 0xea, 0xec, 0xef};
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    unsigned long ops = 0;
    do {
        for (int k = 0; k < 1000; k++, ops++) {
            unsigned ch = g_rand_int_range(rnd, 0, 2);
            uint16_t base = ch ? P1 : P0, ctl = ch ? C1 : C0, bm = BM_BASE + ch * 8;
            uint32_t v = g_rand_int(rnd);
            switch (g_rand_int_range(rnd, 0, 16)) {
            case 0:
                outb(&r, base + ATA_REG_COMMAND, cmds[v % sizeof(cmds)]);
                break;
            case 1:
                outb(&r, base + 1 + v % 6, (uint8_t)(v >> 8));
                break;
            case 2:
                outb(&r, ctl, (uint8_t)(v & 0x8e));
                break;
            case 3: /* a whole DRQ block's worth of data in or out */
                for (int i = 0; i < 256; i++) {
                    if (v & 1)
                        io_read(r.io, base, 1 + (v >> 1) % 4);
                    else
                        io_write(r.io, base, g_rand_int(rnd), 2 << (v >> 1) % 2);
                }
                break;
            case 4: /* an ATAPI packet, often a plausible one */
            {
                uint8_t pkt[12];
                for (int i = 0; i < 12; i++)
                    pkt[i] = (uint8_t)g_rand_int(rnd);
                static const uint8_t ops_cd[] = {0x00, 0x03, 0x12, 0x1b, 0x1e, 0x25, 0x28, 0x2b,
                                                 0x43, 0x46, 0x4a, 0x5a, 0xa8, 0xbb, 0xbd};
                if (v & 1)
                    pkt[0] = ops_cd[(v >> 1) % sizeof(ops_cd)];
                if (v & 2) { /* a READ within reach */
                    pkt[2] = pkt[3] = pkt[4] = 0;
                    pkt[7] = 0;
                }
                outb(&r, base + ATA_REG_FEATURES, (uint8_t)(v >> 8));
                outb(&r, base + ATA_REG_LBA_MID, (uint8_t)(v >> 16));
                outb(&r, base + ATA_REG_LBA_HIGH, (uint8_t)(v >> 24) & 0x3f);
                outb(&r, base + ATA_REG_COMMAND, ATA_CMD_PACKET);
                write_data(&r, base, pkt, 12);
                break;
            }
            case 5: /* a PRD table somewhere: garbage, or plausible entries */
            {
                uint32_t at = g_rand_int_range(rnd, 0, RAM_SIZE / 8) * 8;
                for (int i = 0; i < 8 && at + 8 * i + 8 <= RAM_SIZE; i++) {
                    uint32_t b =
                        (v & 1) ? g_rand_int(rnd) : (uint32_t)g_rand_int_range(rnd, 0, RAM_SIZE);
                    uint32_t c = (v & 2) ? g_rand_int(rnd)
                                         : (uint32_t)g_rand_int_range(rnd, 0, 0x10000) |
                                               (i == 7 || g_rand_boolean(rnd) ? PRD_EOT : 0);
                    prd(&r, at + 8 * i, b, c);
                }
                io_write(r.io, bm + PIIX_BMIDTP, (v & 4) ? g_rand_int(rnd) : at, 4);
                break;
            }
            case 6:
                outb(&r, bm + PIIX_BMICOM, (uint8_t)v);
                break;
            case 7:
                outb(&r, bm + PIIX_BMISTA, (uint8_t)v);
                break;
            case 8:
                io_read(r.io, bm + v % 8, 1 << (v >> 8) % 3);
                break;
            case 9: /* a plausible read or write command */
            {
                static const uint8_t rw[] = {0x20, 0x24, 0x25, 0x29, 0x30, 0x34, 0x35,
                                             0x39, 0xc4, 0xc5, 0xc8, 0xca, 0x40};
                ata_cmd(&r, base, (v >> 4) & 1, rw[v % sizeof(rw)], 0, (v >> 8) & 0x1ff,
                        g_rand_int_range(rnd, 0, 5000), rw[v % sizeof(rw)] & 4);
                break;
            }
            case 10:
                inb(&r, base + v % 8);
                break;
            case 11:
                inb(&r, ctl);
                break;
            case 12: /* RAM noise where tables and buffers are */
                for (int i = 0; i < 64; i++)
                    r.ram[g_rand_int_range(rnd, 0, RAM_SIZE)] = (uint8_t)g_rand_int(rnd);
                break;
            case 13:
                io_write(r.io, base + v % 8, g_rand_int(rnd), 1 << (v >> 8) % 3);
                break;
            case 14:
                if ((v & 0xff) == 0)
                    ide_reset(r.ide);
                break;
            default:
                outb(&r, base + ATA_REG_DEVICE, (uint8_t)v);
                break;
            }
        }
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < 3000);
    g_rand_free(rnd);
    cr_log_info("fuzz: %lu operations", ops);
    /* the images are as they were */
    for (int pos = 0; pos < 4; pos += 2) {
        uint8_t want[512];
        for (int s = 0; s < 3; s++) {
            for (int i = 0; i < 512; i++)
                want[i] = pat(s * 512 + i);
            expect_file(r.files[pos], s * 512, want, 512);
        }
    }
    rig_free(&r);
}
