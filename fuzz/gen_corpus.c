/* fuzz/gen_corpus.c: writes the seed corpora of the fuzz targets, in the formats of
 * fuzz/ops.h, into DIR/<target>/. Run at build time (fuzz/CMakeLists.txt); the seeds are
 * what a fuzzing session starts from and part of what CI replays.
 *
 * Each seed is a meaningful run: a device programmed the way a BIOS or a driver does it (IDE
 * DMA with a PRD table, fw_cfg DMA, the VGA in mode 13h and text mode, the APIC timer...),
 * instruction sequences in each CPU mode, images of each kind the loaders take. The fuzzer
 * mutates from there.
 *
 *   fuzz_gen_corpus DIR
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <stdbool.h>

#include "cpu/cpu.h"
#include "fuzz/devices_map.h"
#include "fuzz/images.h"
#include "fuzz/ops.h"

typedef struct Buf {
    uint8_t *p;
    size_t n, cap;
} Buf;

static const char *outdir;

static void b_mem(Buf *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 256;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            abort();
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void b_u8(Buf *b, unsigned v)
{
    uint8_t x = (uint8_t)v;
    b_mem(b, &x, 1);
}

static void b_u16(Buf *b, unsigned v)
{
    b_u8(b, v);
    b_u8(b, v >> 8);
}

static void b_u32(Buf *b, uint32_t v)
{
    b_u16(b, v & 0xffff);
    b_u16(b, v >> 16);
}

static void b_u64(Buf *b, uint64_t v)
{
    b_u32(b, (uint32_t)v);
    b_u32(b, (uint32_t)(v >> 32));
}

static void b_zero(Buf *b, size_t n)
{
    while (n--)
        b_u8(b, 0);
}

static void mkdir_p(const char *path)
{
    char tmp[1024];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            mkdir(tmp, 0755);
            *p = '/';
        }
    }
    if (mkdir(tmp, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "fuzz_gen_corpus: %s: %s\n", tmp, strerror(errno));
        exit(1);
    }
}

static void save(const char *target, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static Buf cur;

/* Write cur as DIR/target/name and empty it. */
static void save(const char *target, const char *fmt, ...)
{
    char name[256], path[1400], dir[1100];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof(name), fmt, ap);
    va_end(ap);
    snprintf(dir, sizeof(dir), "%s/%s", outdir, target);
    mkdir_p(dir);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(cur.p, 1, cur.n, f) != cur.n || fclose(f) != 0) {
        fprintf(stderr, "fuzz_gen_corpus: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    cur.n = 0;
}

/* ------------------------------------------------------------------ fuzz_devices */

static unsigned F; /* the focus the ops are written for */

static unsigned size_code(unsigned size)
{
    return size == 4 ? 2 : size == 2 ? 1 : 0;
}

static void out(uint16_t port, unsigned size, uint32_t v)
{
    b_u8(&cur, DEV_OP_OUT);
    b_u16(&cur, fuzz_port_raw(F, port));
    b_u8(&cur, size_code(size));
    b_u32(&cur, v);
}

static void out8(uint16_t port, uint8_t v)
{
    out(port, 1, v);
}

static void in(uint16_t port, unsigned size)
{
    b_u8(&cur, DEV_OP_IN);
    b_u16(&cur, fuzz_port_raw(F, port));
    b_u8(&cur, size_code(size));
}

static void mw(uint32_t gpa, unsigned size, uint64_t v)
{
    b_u8(&cur, DEV_OP_MWRITE);
    b_u32(&cur, fuzz_addr_raw(F, gpa));
    b_u8(&cur, size == 8 ? 3 : size_code(size));
    b_u64(&cur, v);
}

static void mr(uint32_t gpa, unsigned size)
{
    b_u8(&cur, DEV_OP_MREAD);
    b_u32(&cur, fuzz_addr_raw(F, gpa));
    b_u8(&cur, size == 8 ? 3 : size_code(size));
}

static void ram(uint32_t gpa, const void *data, size_t n)
{
    const uint8_t *p = data;
    while (n) {
        size_t k = n > 256 ? 256 : n;
        b_u8(&cur, DEV_OP_RAM);
        b_u32(&cur, gpa);
        b_u8(&cur, (unsigned)(k - 1));
        b_mem(&cur, p, k);
        gpa += (uint32_t)k, p += k, n -= k;
    }
}

static void tick(unsigned us)
{
    while (us) {
        unsigned k = us > 65535 ? 65535 : us;
        b_u8(&cur, DEV_OP_TIME);
        b_u16(&cur, k);
        us -= k;
    }
}

static void ack(void)
{
    b_u8(&cur, DEV_OP_ACK);
}

static void ins(uint16_t port, unsigned size, unsigned count)
{
    while (count) {
        unsigned k = count > 255 ? 255 : count;
        b_u8(&cur, DEV_OP_INS);
        b_u16(&cur, fuzz_port_raw(F, port));
        b_u8(&cur, size_code(size));
        b_u8(&cur, k);
        count -= k;
    }
}

static void outs(uint16_t port, unsigned size, const void *data, unsigned count)
{
    const uint8_t *p = data;
    while (count) {
        unsigned k = count > 255 ? 255 : count;
        b_u8(&cur, DEV_OP_OUTS);
        b_u16(&cur, fuzz_port_raw(F, port));
        b_u8(&cur, size_code(size));
        b_u8(&cur, k);
        b_mem(&cur, p, (size_t)k * size);
        p += (size_t)k * size;
        count -= k;
    }
}

static void cpu(unsigned what, uint64_t v)
{
    b_u8(&cur, DEV_OP_CPU);
    b_u8(&cur, what);
    b_u64(&cur, v);
}

static void input(unsigned what, unsigned a, unsigned b)
{
    b_u8(&cur, DEV_OP_INPUT);
    b_u8(&cur, what);
    b_u8(&cur, a);
    b_u8(&cur, b);
}

static void misc(unsigned what)
{
    b_u8(&cur, DEV_OP_MISC);
    b_u8(&cur, what);
}

static void header(unsigned focus, unsigned flags)
{
    F = focus;
    b_u8(&cur, focus);
    b_u8(&cur, flags);
}

static void pci_cfg_out(unsigned devfn, unsigned reg, unsigned size, uint32_t v)
{
    out(PCI_CONFIG_ADDRESS, 4, PCI_CONFADD_ENABLE | devfn << 8 | (reg & 0xfc));
    out((uint16_t)(PCI_CONFIG_DATA + (reg & 3)), size, v);
}

static void pci_cfg_in(unsigned devfn, unsigned reg, unsigned size)
{
    out(PCI_CONFIG_ADDRESS, 4, PCI_CONFADD_ENABLE | devfn << 8 | (reg & 0xfc));
    in((uint16_t)(PCI_CONFIG_DATA + (reg & 3)), size);
}

static void seq_pic(void)
{
    out8(0x20, 0x11), out8(0x21, 0x08), out8(0x21, 0x04), out8(0x21, 0x01);
    out8(0xa0, 0x11), out8(0xa1, 0x70), out8(0xa1, 0x02), out8(0xa1, 0x01);
    out8(0x21, 0xfa), out8(0xa1, 0xfe);
    out8(0x4d0, 0x08), out8(0x4d1, 0x0e);
    out8(0x43, 0x34), out8(0x40, 0x00), out8(0x40, 0x10);
    tick(5000);
    ack();
    out8(0x20, 0x0a), in(0x20, 1);
    out8(0x20, 0x0b), in(0x20, 1);
    out8(0x20, 0x20);
    out8(0x70, 0x0b), out8(0x71, 0x42), out8(0x70, 0x0c), in(0x71, 1);
    tick(20000);
    out8(0x20, 0x0c), in(0x20, 1); /* poll */
    ack();
    out8(0xa0, 0x20), out8(0x20, 0x20);
    out8(0x20, 0x68), out8(0x20, 0xc7), out8(0x20, 0xa0); /* special mask, priority, rotate */
    out8(0x20, 0x48);
    in(0x21, 1), in(0xa1, 1), in(0x4d0, 1), in(0x4d1, 1);
}

static void seq_pit(void)
{
    out8(0x43, 0x34), out8(0x40, 0x9c), out8(0x40, 0x2e);
    tick(1000);
    out8(0x43, 0x00), in(0x40, 1), in(0x40, 1);
    out8(0x43, 0xc2), in(0x40, 1), in(0x40, 1), in(0x40, 1);
    out8(0x61, 0x01), out8(0x43, 0xb6), out8(0x42, 0x33), out8(0x42, 0x12);
    tick(2000);
    in(0x61, 1), in(0x42, 1), in(0x42, 1);
    out8(0x43, 0x70), out8(0x41, 0x10), out8(0x41, 0x00); /* one-shot on counter 1 */
    out8(0x43, 0x18), out8(0x40, 0x05);                   /* mode 4, LSB only */
    out8(0x43, 0x3a), out8(0x40, 0x01), out8(0x40, 0x00); /* mode 5, count 1 */
    tick(60000);
    out8(0x43, 0xde), in(0x40, 1), in(0x41, 1), in(0x42, 1);
    ack();
}

static void seq_kbc(void)
{
    out8(0x64, 0xaa), in(0x60, 1);
    out8(0x64, 0xab), in(0x60, 1);
    out8(0x64, 0x20), in(0x60, 1);
    out8(0x64, 0x60), out8(0x60, 0x47);
    out8(0x60, 0xff), in(0x64, 1), in(0x60, 1), in(0x60, 1);
    out8(0x60, 0xf2), in(0x60, 1), in(0x60, 1), in(0x60, 1);
    out8(0x60, 0xf0), out8(0x60, 0x02), in(0x60, 1);
    out8(0x60, 0xed), out8(0x60, 0x07), in(0x60, 1);
    input(INPUT_KEY, 0x1e, 1), input(INPUT_KEY, 0x1e, 0), input(INPUT_KEY, 0x48, 0x81);
    in(0x60, 1), in(0x60, 1), in(0x60, 1), ack();
    out8(0x64, 0xa8), out8(0x64, 0xd4), out8(0x60, 0xf4), in(0x60, 1);
    out8(0x64, 0xd4), out8(0x60, 0xf3), out8(0x64, 0xd4), out8(0x60, 200);
    input(INPUT_MOUSE, 10, 250), input(INPUT_MOUSE, 0x81, 0x7f);
    in(0x64, 1), in(0x60, 1), in(0x60, 1), in(0x60, 1), ack();
    out8(0x64, 0xd1), out8(0x60, 0xdd), out8(0x64, 0xd0), in(0x60, 1);
    out8(0x64, 0xd2), out8(0x60, 0x55), in(0x60, 1);
    out8(0x64, 0xd3), out8(0x60, 0x66), in(0x60, 1);
    out8(0x64, 0xfe);
}

static void seq_rtc(void)
{
    for (unsigned i = 0; i < 0x80; i += 3)
        out8(0x70, (uint8_t)i), in(0x71, 1);
    out8(0x70, 0x0a), out8(0x71, 0x26);
    out8(0x70, 0x0b), out8(0x71, 0x72); /* PIE, AIE, UIE, 24h */
    out8(0x70, 0x05), out8(0x71, 0xff), out8(0x70, 0x03), out8(0x71, 0xff);
    out8(0x70, 0x01), out8(0x71, 0xff);
    tick(1100000);
    out8(0x70, 0x0c), in(0x71, 1), ack();
    out8(0x70, 0x0b), out8(0x71, 0x86); /* SET, binary */
    out8(0x70, 0x00), out8(0x71, 59), out8(0x70, 0x02), out8(0x71, 59);
    out8(0x70, 0x04), out8(0x71, 23), out8(0x70, 0x0b), out8(0x71, 0x06);
    tick(1000000);
    out8(0x70, 0x0a), in(0x71, 1), out8(0x70, 0x00), in(0x71, 1);
    out8(0x70, 0x8f), out8(0x71, 0x0a); /* NMI disabled, shutdown status */
}

static void seq_serial(void)
{
    uint16_t b = PC_COM1_BASE;
    out8(b + 3, 0x80), out8(b + 0, 0x01), out8(b + 1, 0x00), out8(b + 3, 0x03);
    out8(b + 2, 0xc7), out8(b + 1, 0x0f), out8(b + 4, 0x1b);
    static const char msg[] = "hello, serial loopback";
    outs(b, 1, msg, sizeof(msg) - 1);
    in(b + 5, 1), in(b + 2, 1), ins(b, 1, 20), in(b + 6, 1), ack();
    out8(b + 4, 0x0b), out8(b + 7, 0x5a), in(b + 7, 1);
    out8(b + 2, 0x00), out8(b, 'x'), tick(100), in(b + 2, 1), in(b + 5, 1);
}

static void seq_pci(void)
{
    for (unsigned devfn = 0; devfn < 0x20; devfn += 1)
        pci_cfg_in(devfn, 0, 4);
    pci_cfg_out(PCI_DEVFN(2, 0), 0x10, 4, 0xffffffff), pci_cfg_in(PCI_DEVFN(2, 0), 0x10, 4);
    pci_cfg_out(PCI_DEVFN(2, 0), 0x30, 4, 0xfffff800), pci_cfg_in(PCI_DEVFN(2, 0), 0x30, 4);
    pci_cfg_out(PCI_DEVFN(2, 0), 0x30, 4, 0xfeb00001);
    pci_cfg_out(PCI_DEVFN(2, 0), 0x10, 4, FUZZ_VGA_LFB);
    for (unsigned r = 0x59; r <= 0x5f; r++)
        pci_cfg_out(0, r, 1, 0x33);
    mw(0xc0000, 4, 0x12345678), mw(0xf0000, 8, 0x1122334455667788ull), mr(0xf0000, 4);
    mw(0xeffff, 2, 0xabcd), mr(0xeffff, 2);
    for (unsigned r = 0x59; r <= 0x5f; r++)
        pci_cfg_out(0, r, 1, 0x11);
    mw(0xd0000, 4, 1), mr(0xd0000, 4);
    pci_cfg_out(0, 0x72, 1, 0x4a), pci_cfg_in(0, 0x72, 1);
    pci_cfg_out(PCI_DEVFN(1, 0), 0x60, 4, 0x0b0a0b0a), pci_cfg_in(PCI_DEVFN(1, 0), 0x60, 4);
    pci_cfg_out(PCI_DEVFN(1, 1), 0x20, 4, 0xffffffff), pci_cfg_in(PCI_DEVFN(1, 1), 0x20, 4);
    in(PORT92_PORT, 1), out8(PORT92_PORT, 0x02), out8(PORT92_PORT, 0x00);
    out8(0xf0, 0), cpu(CPU_FERR, 1), out8(0xf0, 0), cpu(CPU_FERR, 0), ack();
    out8(0xcf9, 0x02), out8(0xcf9, 0x06);
    out8(PORT92_PORT, 0x01);
    mw(PC_FLASH_BASE, 4, 0), mr(0xfffffff0, 8);
}

/* fw_cfg: the signature through the ports, then the file directory and an item through DMA */
static void seq_fwcfg(void)
{
    out(FW_CFG_PORT_SEL, 2, 0x0000);
    ins(FW_CFG_PORT_DATA, 1, 4);
    out(FW_CFG_PORT_SEL, 2, 0x0001), ins(FW_CFG_PORT_DATA, 1, 4);
    in(FW_CFG_PORT_DMA, 4), in(FW_CFG_PORT_DMA_LOW, 4);
    /* descriptor at 0x1000: select the file directory (0x19) and read 64 bytes to 0x2000 */
    uint8_t d[16] = {
        0, 0x19, 0,   FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 0, 0, 0, 64, 0, 0, 0, 0, 0,
        0, 0x20, 0x00};
    ram(0x1000, d, sizeof(d));
    out(FW_CFG_PORT_DMA, 4, 0);
    out(FW_CFG_PORT_DMA_LOW, 4, __builtin_bswap32(0x1000));
    /* skip then read the e820 file past its end; then a write (refused) */
    uint8_t d2[16] = {
        0, 0x19, 0,   FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_SKIP, 0, 0, 0, 4, 0, 0, 0, 0, 0,
        0, 0x30, 0x00};
    ram(0x1100, d2, sizeof(d2));
    out(FW_CFG_PORT_DMA_LOW, 4, __builtin_bswap32(0x1100));
    uint8_t d3[16] = {0, 0, 0, FW_CFG_DMA_CTL_READ, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0x3f, 0xf8, 0};
    ram(0x1200, d3, sizeof(d3)); /* 4 KiB read to the end of RAM: crosses into nothing */
    out(FW_CFG_PORT_DMA_LOW, 4, __builtin_bswap32(0x1200));
    uint8_t d4[16] = {
        0x00, 0x20, 0,   FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_WRITE, 0, 0, 0, 8, 0, 0, 0, 0, 0,
        0,    0x30, 0x00};
    ram(0x1300, d4, sizeof(d4));
    out(FW_CFG_PORT_DMA_LOW, 4, __builtin_bswap32(0x1300));
    uint8_t d5[16] = {0,    0x19, 0,    FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ,
                      0xff, 0xff, 0xff, 0xff,
                      0xff, 0xff, 0xff, 0xff,
                      0xff, 0xff, 0xff, 0xf0};
    ram(0x1400, d5, sizeof(d5)); /* wraps the address space */
    out(FW_CFG_PORT_DMA_LOW, 4, __builtin_bswap32(0x1400));
    out(FW_CFG_PORT_DMA, 4, __builtin_bswap32(0xffffffff));
    out(FW_CFG_PORT_DMA_LOW, 4, __builtin_bswap32(0xfffffff8));
}

static void ide_lba(uint16_t base, unsigned dev, uint32_t lba, unsigned count)
{
    out8(base + 6, (uint8_t)(0xe0 | dev << 4 | (lba >> 24 & 0x0f)));
    out8(base + 2, (uint8_t)count);
    out8(base + 3, (uint8_t)lba), out8(base + 4, (uint8_t)(lba >> 8));
    out8(base + 5, (uint8_t)(lba >> 16));
}

static void seq_ide_pio(void)
{
    uint16_t b = IDE_PRIMARY_BASE;
    out8(b + 6, 0xa0), out8(b + 7, 0xec), in(b + 7, 1), ins(b, 2, 256), ack();
    out8(b + 6, 0xb0), out8(b + 7, 0xec), ins(b, 2, 256);
    ide_lba(b, 0, 1, 2), out8(b + 7, 0x20), ins(b, 2, 512), in(b + 7, 1);
    uint16_t words[256];
    for (int i = 0; i < 256; i++)
        words[i] = (uint16_t)(0x5a00 + i);
    ide_lba(b, 0, 3, 1), out8(b + 7, 0x30), outs(b, 2, words, 256), in(b + 7, 1);
    ide_lba(b, 0, 3, 1), out8(b + 7, 0x20), ins(b, 4, 128);
    ide_lba(b, 0, 0x0fffffff, 1), out8(b + 7, 0x20), in(b + 1, 1); /* past the end: IDNF */
    out8(b + 1, 0x03), out8(b + 2, 0x0c), out8(b + 7, 0xef);       /* SET FEATURES: UDMA mode */
    out8(b + 2, 8), out8(b + 7, 0xc6), ide_lba(b, 0, 8, 16), out8(b + 7, 0xc4), ins(b, 2, 2048);
    out8(0x3f6, 0x04), out8(0x3f6, 0x00), in(0x3f6, 1), in(b + 1, 1);
    out8(b + 7, 0x90), in(b + 1, 1);
    out8(b + 7, 0xe7), out8(b + 7, 0xe5), in(b + 2, 1);
    /* LBA48 */
    out8(b + 6, 0x40), out8(b + 2, 0), out8(b + 2, 2), out8(b + 3, 0), out8(b + 3, 4);
    out8(b + 4, 0), out8(b + 4, 0), out8(b + 5, 0), out8(b + 5, 0), out8(b + 7, 0x24);
    ins(b, 2, 512);
    /* CHS */
    out8(b + 6, 0xa1), out8(b + 2, 1), out8(b + 3, 5), out8(b + 4, 0), out8(b + 5, 0);
    out8(b + 7, 0x20), ins(b, 2, 256);
}

static void seq_ide_dma(void)
{
    uint16_t b = IDE_PRIMARY_BASE, bm = FUZZ_IDE_BMDMA_PORT;
    /* PRD table at 0x10000: 512 bytes to 0x20000, then 512 to 0x30000 (EOT) */
    uint8_t prd[16] = {0, 0, 0x02, 0, 0x00, 0x02, 0, 0, 0, 0, 0x03, 0, 0x00, 0x02, 0, 0x80};
    ram(0x10000, prd, sizeof(prd));
    out(bm + 4, 4, 0x10000);
    ide_lba(b, 0, 4, 2), out8(b + 7, 0xc8);
    out8(bm, 0x09), in(bm + 2, 1), in(b + 7, 1), out8(bm + 2, 0x06), out8(bm, 0x00), ack();
    /* write from memory */
    ide_lba(b, 0, 6, 2), out8(b + 7, 0xca), out8(bm, 0x01), in(bm + 2, 1), out8(bm, 0);
    /* a table too short for the transfer */
    uint8_t prd2[8] = {0, 0, 0x02, 0, 0x00, 0x01, 0, 0x80};
    ram(0x10100, prd2, sizeof(prd2));
    out(bm + 4, 4, 0x10100);
    ide_lba(b, 0, 4, 2), out8(b + 7, 0xc8), out8(bm, 0x09), in(bm + 2, 1), in(b + 1, 1);
    /* a buffer running off the end of RAM, and one wrapping past 4 GiB */
    uint8_t prd3[16] = {0x00, 0xff, 0x3f, 0x00, 0x00, 0x04, 0, 0,
                        0x00, 0xff, 0xff, 0xff, 0x00, 0x10, 0, 0x80};
    ram(0x10200, prd3, sizeof(prd3));
    out(bm + 4, 4, 0x10200);
    ide_lba(b, 0, 0, 4), out8(b + 7, 0xc8), out8(bm, 0x09), in(bm + 2, 1);
    /* secondary channel: ATAPI READ(10) by DMA */
    uint16_t s = IDE_SECONDARY_BASE;
    ram(0x11000, prd, sizeof(prd));
    out(bm + 8 + 4, 4, 0x11000);
    out8(s + 6, 0xa0), out8(s + 1, 0x01), out8(s + 4, 0x00), out8(s + 5, 0x08);
    out8(s + 7, 0xa0);
    uint8_t cdb[12] = {0x28, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0};
    outs(s, 2, cdb, 6);
    out8(bm + 8, 0x09), in(bm + 10, 1), in(s + 7, 1), in(s + 2, 1);
    /* the LBA48 forms */
    out8(b + 6, 0x40), out8(b + 2, 0), out8(b + 2, 1), out8(b + 3, 0), out8(b + 3, 9);
    out8(b + 4, 0), out8(b + 4, 0), out8(b + 5, 0), out8(b + 5, 0), out8(b + 7, 0x25);
    out(bm + 4, 4, 0x10000), out8(bm, 0x09), in(bm + 2, 1);
}

static void atapi_cmd(const uint8_t cdb[12], unsigned bytes)
{
    uint16_t s = IDE_SECONDARY_BASE;
    out8(s + 1, 0x00), out8(s + 4, (uint8_t)bytes), out8(s + 5, (uint8_t)(bytes >> 8));
    out8(s + 7, 0xa0);
    in(s + 2, 1);
    outs(s, 2, cdb, 6);
    in(s + 7, 1), in(s + 2, 1), in(s + 4, 1), in(s + 5, 1);
    ins(s, 2, bytes / 2 > 1024 ? 1024 : bytes / 2);
}

static void seq_atapi(void)
{
    uint16_t s = IDE_SECONDARY_BASE;
    out8(s + 6, 0xa0), out8(s + 7, 0xa1), ins(s, 2, 256);
    static const uint8_t cdbs[][12] = {
        {0x00},                                           /* TEST UNIT READY */
        {0x03, 0, 0, 0, 18},                              /* REQUEST SENSE */
        {0x12, 0, 0, 0, 36},                              /* INQUIRY */
        {0x25},                                           /* READ CAPACITY */
        {0x28, 0, 0, 0, 0, 16, 0, 0, 1},                  /* READ(10) LBA 16 */
        {0xa8, 0, 0, 0, 0, 0, 0, 0, 0, 2},                /* READ(12) */
        {0x5a, 0, 0x2a, 0, 0, 0, 0, 0, 64},               /* MODE SENSE(10) */
        {0x43, 0, 0, 0, 0, 0, 0, 0x03, 0x24},             /* READ TOC */
        {0x43, 2, 1, 0, 0, 0, 0, 0, 12},                  /* READ TOC format 1, MSF */
        {0x46, 0, 0, 0, 0, 0, 0, 0, 32},                  /* GET CONFIGURATION */
        {0x1b, 0, 0, 0, 2},                               /* START STOP UNIT: eject */
        {0x1e, 0, 0, 0, 1},                               /* PREVENT ALLOW */
        {0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8},                /* GET EVENT STATUS */
        {0xbd, 0, 0, 0, 0, 0, 0, 0, 0, 8},                /* MECHANISM STATUS */
        {0xbb, 0, 0xff, 0xff},                            /* SET CD SPEED */
        {0x28, 0, 0xff, 0xff, 0xff, 0xff, 0, 0xff, 0xff}, /* READ(10) far past the end */
        {0xff},                                           /* an unknown command */
    };
    for (size_t i = 0; i < sizeof(cdbs) / sizeof(cdbs[0]); i++)
        atapi_cmd(cdbs[i], 2048);
    out8(s + 6, 0xb0), out8(s + 7, 0xa1), ins(s, 2, 256); /* the empty drive */
    atapi_cmd(cdbs[3], 8);
    out8(s + 7, 0x08), in(s + 7, 1); /* DEVICE RESET */
}

static const uint8_t mode13_seq[] = {0x03, 0x01, 0x0f, 0x00, 0x0e};
static const uint8_t mode13_crtc[] = {0x5f, 0x4f, 0x50, 0x82, 0x54, 0x80, 0xbf, 0x1f, 0x00,
                                      0x41, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x9c, 0x0e,
                                      0x8f, 0x28, 0x40, 0x96, 0xb9, 0xa3, 0xff};
static const uint8_t mode13_gc[] = {0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x05, 0x0f, 0xff};
static const uint8_t mode13_ac[] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
                                    0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d,
                                    0x0e, 0x0f, 0x41, 0x00, 0x0f, 0x00, 0x00};
static const uint8_t text_seq[] = {0x03, 0x00, 0x03, 0x00, 0x02};
static const uint8_t text_crtc[] = {0x5f, 0x4f, 0x50, 0x82, 0x55, 0x81, 0xbf, 0x1f, 0x00,
                                    0x4f, 0x0d, 0x0e, 0x00, 0x00, 0x00, 0x50, 0x9c, 0x0e,
                                    0x8f, 0x28, 0x1f, 0x96, 0xb9, 0xa3, 0xff};
static const uint8_t text_gc[] = {0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x0e, 0x00, 0xff};
static const uint8_t text_ac[] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07, 0x38, 0x39, 0x3a,
                                  0x3b, 0x3c, 0x3d, 0x3e, 0x3f, 0x0c, 0x00, 0x0f, 0x08, 0x00};

static void set_vga_regs(uint8_t misc_out, const uint8_t *seq, const uint8_t *crtc,
                         const uint8_t *gc, const uint8_t *ac)
{
    out8(0x3c2, misc_out);
    for (unsigned i = 0; i < 5; i++)
        out8(0x3c4, (uint8_t)i), out8(0x3c5, seq[i]);
    out8(0x3d4, 0x11), out8(0x3d5, 0x0e);
    for (unsigned i = 0; i < 25; i++)
        out8(0x3d4, (uint8_t)i), out8(0x3d5, crtc[i]);
    for (unsigned i = 0; i < 9; i++)
        out8(0x3ce, (uint8_t)i), out8(0x3cf, gc[i]);
    in(0x3da, 1);
    for (unsigned i = 0; i < 21; i++)
        out8(0x3c0, (uint8_t)i), out8(0x3c0, ac[i]);
    out8(0x3c0, 0x20);
}

static void seq_vga_mode13(void)
{
    set_vga_regs(0x63, mode13_seq, mode13_crtc, mode13_gc, mode13_ac);
    out8(0x3c8, 0);
    for (unsigned i = 0; i < 48; i++)
        out8(0x3c9, (uint8_t)(i * 5));
    for (unsigned i = 0; i < 64; i++)
        mw(0xa0000 + i * 321, 1, i);
    mw(0xa0000 + 320 * 199, 8, 0x0102030405060708ull);
    misc(MISC_RENDER);
    out8(0x3c7, 0), in(0x3c9, 1), in(0x3c9, 1), in(0x3cc, 1), in(0x3da, 1);
}

static void seq_vga_text(void)
{
    set_vga_regs(0x67, text_seq, text_crtc, text_gc, text_ac);
    static const char msg[] = "dualvm fuzz text screen";
    for (unsigned i = 0; i < sizeof(msg) - 1; i++)
        mw(0xb8000 + 2 * i, 2, 0x0700u | (uint8_t)msg[i]);
    out8(0x3d4, 0x0e), out8(0x3d5, 0x00), out8(0x3d4, 0x0f), out8(0x3d5, 0x05);
    misc(MISC_TEXT), misc(MISC_RENDER);
    /* planar mode 12h-ish: write modes, set/reset, bit mask */
    out8(0x3ce, 0x05), out8(0x3cf, 0x02), out8(0x3ce, 0x08), out8(0x3cf, 0x55);
    out8(0x3c4, 0x02), out8(0x3c5, 0x0f), mw(0xa0000, 1, 0x0c), mr(0xa0000, 1);
    out8(0x3ce, 0x05), out8(0x3cf, 0x08), out8(0x3ce, 0x02), out8(0x3cf, 0x0c), mr(0xa0010, 1);
    out8(0x3ce, 0x06), out8(0x3cf, 0x01), misc(MISC_RENDER);
}

static void vbe(unsigned idx, unsigned v)
{
    out(VBE_DISPI_IOPORT_INDEX, 2, idx), out(VBE_DISPI_IOPORT_DATA, 2, v);
}

static void seq_vga_vbe(void)
{
    out(VBE_DISPI_IOPORT_INDEX, 2, 0), in(VBE_DISPI_IOPORT_DATA, 2);
    vbe(0, 0xb0c5), vbe(4, 0), vbe(1, 640), vbe(2, 480), vbe(3, 32), vbe(4, 0x41);
    for (unsigned i = 0; i < 32; i++)
        mw(FUZZ_VGA_LFB + i * 2564, 4, 0x00ff00ffu * i);
    misc(MISC_RENDER);
    vbe(4, 0), vbe(1, 1024), vbe(2, 768), vbe(3, 8), vbe(6, 2048), vbe(7, 4096), vbe(8, 3),
        vbe(9, 5), vbe(4, 0x41);
    mw(FUZZ_VGA_LFB + 0xfffff8, 8, ~0ull);
    misc(MISC_RENDER);
    vbe(4, 0), vbe(3, 15), vbe(1, 8192), vbe(2, 8192), vbe(4, 0x01), vbe(5, 3);
    mw(0xa0000, 4, 0xdeadbeef), in(VBE_DISPI_IOPORT_DATA, 2);
    /* the MMIO BAR: VGA ports at 0x400, VBE at 0x500 */
    mw(FUZZ_VGA_MMIO + 0x500 + 2 * 4, 2, 0), mw(FUZZ_VGA_MMIO + 0x500 + 2 * 3, 2, 24);
    mw(FUZZ_VGA_MMIO + 0x500 + 2 * 4, 2, 0x41), mr(FUZZ_VGA_MMIO + 0x400 + 0xda - 0xc0, 1);
    misc(MISC_RENDER);
}

static void seq_apic(void)
{
    uint32_t a = APIC_DEFAULT_BASE;
    cpu(CPU_APIC_BASE, APIC_DEFAULT_BASE | APIC_BASE_EN | APIC_BASE_BSP);
    mr(a + APIC_ID, 4), mr(a + APIC_VERSION, 4);
    mw(a + APIC_SVR, 4, 0x1ff), mw(a + APIC_TPR, 4, 0);
    mw(a + APIC_TIMER_DCR, 4, 0x0b), mw(a + APIC_LVT_TIMER, 4, 0x20030);
    mw(a + APIC_TIMER_ICR, 4, 100000);
    tick(500), mr(a + APIC_TIMER_CCR, 4), ack(), mr(a + APIC_ISR + 0x10, 4);
    mw(a + APIC_EOI, 4, 0);
    mw(a + APIC_ICR_HI, 4, 0), mw(a + APIC_ICR_LO, 4, 0x40031);
    ack(), mw(a + APIC_EOI, 4, 0);
    mw(a + APIC_ICR_LO, 4, 0x000c4500);        /* INIT to all others */
    mw(a + APIC_ICR_LO, 4, 0x000c4600 | 0x9f); /* SIPI */
    mw(a + APIC_ICR_LO, 4, 0x00044400);        /* NMI to self */
    cpu(CPU_NMI_TAKE, 0);
    mw(a + APIC_LVT_LINT0, 4, 0x700), mw(a + APIC_LVT_ERROR, 4, 0xfe);
    mw(a + APIC_ESR, 4, 0), mr(a + APIC_ESR, 4);
    mw(a + APIC_LDR, 4, 0x01000000), mw(a + APIC_DFR, 4, 0xffffffff);
    mw(a + APIC_ICR_HI, 4, 0x01000000), mw(a + APIC_ICR_LO, 4, 0x00000841);
    cpu(CPU_TPR, 0x20), mr(a + APIC_PPR, 4), cpu(CPU_TPR, 0);
    mw(a + APIC_LVT_TIMER, 4, 0x00031), mw(a + APIC_TIMER_ICR, 4, 1), tick(100), ack();
    mw(a + 0x3f0, 4, 1), mr(a + 0x3f8, 8), mr(a + 0x3ff, 1), mw(a + 0x301, 2, 0xffff);
    cpu(CPU_APIC_BASE, 0xfed00000ull | APIC_BASE_EN | APIC_BASE_BSP); /* moved */
    mr(a + APIC_ID, 4);
    cpu(CPU_APIC_BASE, APIC_DEFAULT_BASE | APIC_BASE_BSP); /* disabled */
    mr(a + APIC_SVR, 4);
    cpu(CPU_APIC_BASE, APIC_DEFAULT_BASE | APIC_BASE_EN | APIC_BASE_EXTD | APIC_BASE_BSP);
    cpu(CPU_APIC_BASE, APIC_DEFAULT_BASE | APIC_BASE_EN | APIC_BASE_BSP);
}

static void ioapic_w(unsigned reg, uint32_t v)
{
    mw(IOAPIC_DEFAULT_BASE + IOAPIC_IOREGSEL, 4, reg);
    mw(IOAPIC_DEFAULT_BASE + IOAPIC_IOWIN, 4, v);
}

static void ioapic_r(unsigned reg)
{
    mw(IOAPIC_DEFAULT_BASE + IOAPIC_IOREGSEL, 4, reg);
    mr(IOAPIC_DEFAULT_BASE + IOAPIC_IOWIN, 4);
}

static void seq_ioapic(void)
{
    cpu(CPU_APIC_BASE, APIC_DEFAULT_BASE | APIC_BASE_EN | APIC_BASE_BSP);
    mw(APIC_DEFAULT_BASE + APIC_SVR, 4, 0x1ff);
    ioapic_r(IOAPIC_REG_ID), ioapic_r(IOAPIC_REG_VER), ioapic_r(IOAPIC_REG_ARB);
    ioapic_w(IOAPIC_REG_ID, 0x02000000);
    for (unsigned pin = 0; pin < 24; pin++) {
        ioapic_w(IOAPIC_REG_REDTBL + 2 * pin + 1, 0);
        ioapic_w(IOAPIC_REG_REDTBL + 2 * pin, (0x30 + pin) | (pin >= 16 ? IOAPIC_RTE_LEVEL : 0));
        ioapic_r(IOAPIC_REG_REDTBL + 2 * pin);
    }
    ioapic_r(IOAPIC_REG_REDTBL + 2 * 24), ioapic_r(0xff);
    /* the PIT on pin 2 and the RTC on pin 8 (an MMIO focus takes any port) */
    out8(0x43, 0x34), out8(0x40, 0x00), out8(0x40, 0x10);
    out8(0x70, 0x0b), out8(0x71, 0x42);
    tick(20000);
    ack(), mw(APIC_DEFAULT_BASE + APIC_EOI, 4, 0), ack(), mw(APIC_DEFAULT_BASE + APIC_EOI, 4, 0);
    mw(IOAPIC_DEFAULT_BASE + 0x40, 4, 0x38);    /* the EOI register of later IOAPICs */
    ioapic_w(IOAPIC_REG_REDTBL + 2 * 2, 0x700); /* ExtINT */
    tick(20000), ack();
    mw(IOAPIC_DEFAULT_BASE + 0x11, 1, 0xff), mr(IOAPIC_DEFAULT_BASE + 0x13, 1);
}

static void gen_devices(void)
{
    static const struct {
        const char *name;
        unsigned focus;
        void (*seq)(void);
    } seeds[] = {
        {"pic", FOCUS_PIC, seq_pic},
        {"pit", FOCUS_PIT, seq_pit},
        {"kbc", FOCUS_KBC, seq_kbc},
        {"rtc", FOCUS_RTC, seq_rtc},
        {"serial", FOCUS_SERIAL, seq_serial},
        {"pci", FOCUS_PCI, seq_pci},
        {"fwcfg", FOCUS_FWCFG, seq_fwcfg},
        {"ide-pio", FOCUS_IDE, seq_ide_pio},
        {"ide-dma", FOCUS_IDE, seq_ide_dma},
        {"atapi", FOCUS_IDE, seq_atapi},
        {"vga-13h", FOCUS_VGA, seq_vga_mode13},
        {"vga-text", FOCUS_VGA, seq_vga_text},
        {"vga-vbe", FOCUS_VGA, seq_vga_vbe},
        {"apic", FOCUS_APIC, seq_apic},
        {"ioapic", FOCUS_IOAPIC, seq_ioapic},
    };
    for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
        /* the sequence on its device, and the same on the whole board (with and without
         * APICs): the PC focus takes ports and addresses as they are */
        header(seeds[i].focus, 0);
        seeds[i].seq();
        save("fuzz_devices", "%s", seeds[i].name);
        header(FOCUS_PC, 0);
        seeds[i].seq();
        save("fuzz_devices", "pc-%s", seeds[i].name);
        header(FOCUS_PC, 1);
        seeds[i].seq();
        save("fuzz_devices", "pc-noapic-%s", seeds[i].name);
    }
    /* everything in one run, as a BIOS would touch it */
    header(FOCUS_PC, 0);
    for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++)
        seeds[i].seq();
    save("fuzz_devices", "pc-all");
}

/* ------------------------------------------------------------------ fuzz_dbt */

typedef struct Snippet {
    const char *name;
    int bits;
    unsigned len;
    uint8_t code[256];
} Snippet;

static const Snippet snippets[] = {
#include "fuzz/dbt_snippets.inc"
};

static uint64_t seg_desc(uint32_t base, uint32_t limit, unsigned attr)
{
    bool g = attr & SEG_G;
    uint32_t lim = g ? limit >> 12 : limit;
    return (uint64_t)(lim & 0xffff) | (uint64_t)(base & 0xffffff) << 16 |
           (uint64_t)(attr & 0xff) << 40 | (uint64_t)(lim >> 16 & 0xf) << 48 |
           (uint64_t)(attr >> 12 & 0xf) << 52 | (uint64_t)(base >> 24) << 56;
}

/* The state block of fuzz_dbt.c, in its order. */
static void dbt_state(unsigned variant)
{
    static const uint32_t gprs[8] = {1, 0x10, 2, 3, 0x10, 0x1000, 0x100, 0x200};
    for (int i = 0; i < 8; i++)
        b_u32(&cur, gprs[i] * (variant + 1));
    b_u32(&cur, variant & 1 ? 0x202 : 0x2);     /* EFLAGS */
    b_u8(&cur, 0x20);                           /* CR0.NE */
    b_u16(&cur, variant & 2 ? 0x8600 : 0x0600); /* OSFXSR, OSXMMEXCPT; PAE with paging */
    b_u8(&cur, variant & 4 ? 0x1b : 0);         /* PTE bits */
    static const uint8_t sels[6] = {0x80, 0x00, 0x81, 0x80, 0x82, 0x83};
    b_mem(&cur, sels, 6);
    b_u16(&cur, 0); /* table limits as laid out */
    b_u32(&cur, 0); /* DR7 */
    b_u64(&cur, seg_desc(0x20000, 0xffff, SEG_P | SEG_S | 0x3 | SEG_DB));
    b_u64(&cur, seg_desc(0x10000, 0xffff, SEG_P | SEG_S | 0xb));
    b_u64(&cur, seg_desc(0, 0xfffff, SEG_P | SEG_S | 0x1 | SEG_G));
    b_u64(&cur, seg_desc(0, 0xffffffff, SEG_P | SEG_S | 0x7 | SEG_DB | SEG_G)); /* expand-down */
    b_u64(&cur, seg_desc(0x30000, 0xfff, SEG_S | 0x3));                         /* not present */
    b_u64(&cur, seg_desc(0x4000, 0x67, SEG_P | 0x9));                           /* a TSS */
    b_u64(&cur, 0x0000ec0000083000ull);                                         /* call gate */
    b_u64(&cur, seg_desc(0, 0xffffffff, SEG_P | SEG_S | 0xf | 3 << SEG_DPL_SHIFT | SEG_DB | SEG_G));
    b_u16(&cur, 0x37f);  /* FCW */
    b_u32(&cur, 0x1f80); /* MXCSR */
    b_u8(&cur, 0);       /* EFER bits */
    while (cur.n < 2 + FUZZ_DBT_STATE_BYTES)
        b_u8(&cur, 0);
}

static void gen_dbt(void)
{
    static const char *mode_names[DBT_MODE_COUNT] = {"real",  "pm16", "pm32", "paging",
                                                     "ring3", "vm86", "raw"};
    for (size_t i = 0; i < sizeof(snippets) / sizeof(snippets[0]); i++) {
        const Snippet *sn = &snippets[i];
        for (unsigned mode = 0; mode < DBT_MODE_COUNT; mode++) {
            bool m16 = mode == DBT_MODE_REAL || mode == DBT_MODE_VM86 || mode == DBT_MODE_PM16;
            if ((sn->bits == 16) != m16)
                continue;
            /* flags: the interpreter, the host-code back end, both compared */
            static const uint8_t backends[3] = {0, 1, 8};
            static const char *backend_names[3] = {"interp", "jit", "diff"};
            for (unsigned k = 0; k < 3; k++) {
                unsigned variant = (unsigned)i % 8;
                b_u8(&cur, mode);
                b_u8(&cur, backends[k]);
                dbt_state(variant);
                b_mem(&cur, sn->code, sn->len);
                save("fuzz_dbt", "%s-%s-%s", sn->name, mode_names[mode], backend_names[k]);
            }
        }
    }
}

/* ------------------------------------------------------------------ fuzz_loaders */

static void loader_seed(unsigned kind, const uint8_t args[8], const void *file, size_t len,
                        const char *name)
{
    b_u8(&cur, kind);
    b_mem(&cur, args, 8);
    b_mem(&cur, file, len);
    save("fuzz_loaders", "%s", name);
}

static void gen_loaders(void)
{
    static const uint8_t none[8] = {0};
    static const uint8_t cmd[8] = {'c' - ' ', 'o' - ' ', 'd' - ' ', 'e' - ' ',
                                   '=' - ' ', '4' - ' ', '2' - ' ', 0};
    uint8_t *img = malloc(4u << 20);
    size_t n;

    n = img_multiboot_elf(img, 0x100000, 0x1000);
    loader_seed(LOAD_MULTIBOOT, cmd, img, n, "multiboot-elf");
    n = img_multiboot_elf(img, 0x9f000, 0x10000); /* runs into the VGA hole */
    loader_seed(LOAD_MULTIBOOT, none, img, n, "multiboot-elf-hole");
    n = img_multiboot_elf(img, 0xfffff000u, 0x2000); /* wraps */
    loader_seed(LOAD_MULTIBOOT, none, img, n, "multiboot-elf-wrap");
    n = img_multiboot_elf(img, 0x100000, 0);
    img[4] = 2; /* ELFCLASS64 */
    loader_seed(LOAD_MULTIBOOT, none, img, n, "multiboot-elf64");
    n = img_multiboot_elf(img, 0x100000, 0);
    loader_seed(LOAD_MULTIBOOT, none, img, n - 20, "multiboot-elf-truncated");
    n = img_multiboot_aout(img, 0x100000, 256, 0x100);
    loader_seed(LOAD_MULTIBOOT, cmd, img, n, "multiboot-aout");
    n = img_multiboot_aout(img, 0x200000, 64, 0xffffffffu - 0x200000 - 64);
    loader_seed(LOAD_MULTIBOOT, none, img, n, "multiboot-aout-bss");

    uint8_t flat_args[8] = {0x00, 0x00, 0x10, 0x00, 0xff, 0xff, 0xff, 0xff};
    memset(img, 0xf4, 4096);
    loader_seed(LOAD_FLAT, flat_args, img, 4096, "flat-1m");
    uint8_t flat_low[8] = {0x00, 0x7c, 0x00, 0x00, 0x00, 0x7c, 0x00, 0x00};
    loader_seed(LOAD_FLAT, flat_low, img, 512, "flat-7c00");
    uint8_t flat_gdt[8] = {0x00, 0x05, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00};
    loader_seed(LOAD_FLAT, flat_gdt, img, 1024, "flat-over-gdt");
    uint8_t flat_top[8] = {0x00, 0xf0, 0xff, 0x00, 0xff, 0xff, 0xff, 0xff};
    loader_seed(LOAD_FLAT, flat_top, img, 8192, "flat-past-ram");

    for (unsigned k = 1; k <= 4; k *= 2) {
        size_t len = k * 65536;
        memset(img, 0xff, len);
        img[len - 16] = 0xea; /* jmp far f000:e05b */
        img[len - 15] = 0x5b, img[len - 14] = 0xe0, img[len - 13] = 0x00, img[len - 12] = 0xf0;
        char name[32];
        snprintf(name, sizeof(name), "bios-%zuk", len / 1024);
        loader_seed(LOAD_BIOS, none, img, len, name);
    }
    loader_seed(LOAD_BIOS, none, img, 1000, "bios-odd-size");

    memset(img, 0, 3 * 512);
    img[510] = 0x55, img[511] = 0xaa;
    memcpy(img + 512, "second sector", 13);
    uint8_t disk_args[8] = {2, 0, 0, 0, 0, 0, 0, 0};
    loader_seed(LOAD_DISK, disk_args, img, 3 * 512, "disk-mbr");
    loader_seed(LOAD_DISK, none, img, 513, "disk-odd-size");
    loader_seed(LOAD_DISK, none, img, 0, "disk-empty");
    uint8_t snap[8] = {0, 0, 0, 0, 0, 0, 0, 1};
    loader_seed(LOAD_DISK, snap, img, 512, "disk-one-sector-snapshot");

    memset(img, 0, 20 * 2048);
    uint8_t *pvd = img + 16 * 2048;
    pvd[0] = 1;
    memcpy(pvd + 1, "CD001", 5);
    pvd[6] = 1;
    img_put32(pvd + 80, 20);
    uint8_t *br = img + 17 * 2048;
    br[0] = 0;
    memcpy(br + 1, "CD001", 5);
    br[6] = 1;
    memcpy(br + 7, "EL TORITO SPECIFICATION", 23);
    img_put32(br + 0x47, 18);
    uint8_t *term = img + 18 * 2048;
    term[0] = 0xff;
    memcpy(term + 1, "CD001", 5);
    uint8_t cd_args[8] = {16, 0, 0, 0, 0, 0, 0, 0};
    loader_seed(LOAD_CDROM, cd_args, img, 20 * 2048, "cdrom-iso");
    loader_seed(LOAD_CDROM, none, img, 2048 + 512, "cdrom-odd-size");

    static const uint16_t versions[] = {0x0202, 0x0206, 0x020a, 0x020c, 0x020f};
    for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
        for (int x64 = 0; x64 < 2; x64++) {
            if (x64 && versions[i] < 0x020c)
                continue;
            uint8_t args[8] = {'r' - ' ', 'o' - ' ', 0, 0, 0, 0, 0, (uint8_t)x64};
            n = img_bzimage(img, 8192, versions[i], x64);
            char name[48];
            snprintf(name, sizeof(name), "linux-%04x%s", versions[i], x64 ? "-64" : "");
            loader_seed(LOAD_LINUX, args, img, n, name);
        }
    }
    n = img_bzimage(img, 8192, 0x020f, false);
    img[n - 1] ^= 1;
    loader_seed(LOAD_LINUX, none, img, n, "linux-bad-crc");
    n = img_bzimage(img, 8192, 0x020f, false);
    memset(img + n, 0x5a, 600); /* a signature appended: no CRC check */
    loader_seed(LOAD_LINUX, none, img, n + 600, "linux-signed");
    n = img_bzimage(img, 8192, 0x020f, false);
    img_put32(img + 0x260, 64u << 20); /* init_size larger than RAM */
    img_put32(img + n - 4, img_crc32(img, n - 4));
    loader_seed(LOAD_LINUX, none, img, n, "linux-too-big");

    static const char hello[] = "#!/bin/sh\necho hello\n";
    n = img_cpio(img, "init", hello, sizeof(hello) - 1);
    loader_seed(LOAD_INITRD, none, img, n, "initrd-cpio");
    size_t n2 = img_cpio(img + n + 4, "etc/motd", "hi\n", 4);
    memset(img + n, 0, 4);
    loader_seed(LOAD_INITRD, none, img, n + 4 + n2, "initrd-two-cpio");
    loader_seed(LOAD_INITRD, none, img, n - 30, "initrd-truncated");
    static const uint8_t gz[] = {0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0, 3,
                                 3,    0,    0,    0,    0, 0, 0, 0, 0, 0};
    loader_seed(LOAD_INITRD, none, gz, sizeof(gz), "initrd-gzip");
    memset(img, 0, 2048);
    img[1080] = 0x53, img[1081] = 0xef;
    loader_seed(LOAD_INITRD, none, img, 2048, "initrd-ext2");
    memcpy(img, "hsqs", 4);
    loader_seed(LOAD_INITRD, none, img, 512, "initrd-squashfs");
    memset(img, 0, 64);
    loader_seed(LOAD_INITRD, none, img, 64, "initrd-zeros");
    free(img);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_gen_corpus DIR\n");
        return 2;
    }
    outdir = argv[1];
    mkdir_p(outdir);
    gen_devices();
    gen_dbt();
    gen_loaders();
    (void)b_zero;
    free(cur.p);
    return 0;
}
