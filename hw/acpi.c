/* hw/acpi.c: the ACPI PM register block and the ACPI 1.0 tables of a firmware-less boot. */
#include "hw/acpi.h"

#include <string.h>

#include <glib.h>

struct AcpiPm {
    IoBus *io;
    Clock *clock;
    AcpiPowerOffFn poweroff;
    void *opaque;
    uint16_t sts, en, cnt;
};

/* 3.579545 MHz from virtual nanoseconds, without overflowing 64 bits for centuries */
static uint32_t pm_timer(AcpiPm *pm)
{
    uint64_t ns = (uint64_t)clock_ns(pm->clock);
    uint64_t s = ns / 1000000000ull, rest = ns % 1000000000ull;
    return (uint32_t)(s * ACPI_PM_TIMER_HZ + rest * ACPI_PM_TIMER_HZ / 1000000000ull);
}

static uint32_t pm_read(void *dev, uint16_t offset, unsigned size)
{
    AcpiPm *pm = dev;
    uint8_t regs[ACPI_PM_LEN];
    uint16_t cnt = pm->cnt | ACPI_PM1_CNT_SCI_EN;
    uint32_t tmr = pm_timer(pm);
    regs[0] = (uint8_t)pm->sts;
    regs[1] = (uint8_t)(pm->sts >> 8);
    regs[2] = (uint8_t)pm->en;
    regs[3] = (uint8_t)(pm->en >> 8);
    regs[4] = (uint8_t)cnt;
    regs[5] = (uint8_t)(cnt >> 8);
    regs[6] = regs[7] = 0;
    for (int i = 0; i < 4; i++)
        regs[8 + i] = (uint8_t)(tmr >> (8 * i));
    uint32_t v = 0;
    for (unsigned i = 0; i < size && offset + i < ACPI_PM_LEN; i++)
        v |= (uint32_t)regs[offset + i] << (8 * i);
    if (offset + size > ACPI_PM_LEN) /* past the block: open bus */
        v |= 0xffffffffu << (8 * (ACPI_PM_LEN - offset));
    return v;
}

static void pm_write_byte(AcpiPm *pm, unsigned reg, uint8_t b)
{
    switch (reg) {
    case 0:
    case 1: /* PM1_STS: write one to clear */
        pm->sts &= (uint16_t) ~((unsigned)b << (8 * reg));
        break;
    case 2:
    case 3:
        pm->en =
            (uint16_t)((pm->en & ~(0xffu << (8 * (reg - 2)))) | (unsigned)b << (8 * (reg - 2)));
        break;
    case 4:
    case 5:
        pm->cnt =
            (uint16_t)((pm->cnt & ~(0xffu << (8 * (reg - 4)))) | (unsigned)b << (8 * (reg - 4)));
        break;
    default: /* reserved and the read-only timer */
        break;
    }
}

static void pm_write(void *dev, uint16_t offset, uint32_t val, unsigned size)
{
    AcpiPm *pm = dev;
    for (unsigned i = 0; i < size && offset + i < ACPI_PM_LEN; i++)
        pm_write_byte(pm, offset + i, (uint8_t)(val >> (8 * i)));
    /* SLP_EN is write-only: act on it and keep it clear */
    if (pm->cnt & ACPI_PM1_CNT_SLP_EN) {
        unsigned typ = (pm->cnt & ACPI_PM1_CNT_SLP_TYP_MASK) >> ACPI_PM1_CNT_SLP_TYP_SHIFT;
        pm->cnt &= (uint16_t)~ACPI_PM1_CNT_SLP_EN;
        if (typ == ACPI_S5_SLP_TYP && pm->poweroff)
            pm->poweroff(pm->opaque);
    }
}

static const IoOps pm_ops = {pm_read, pm_write};

AcpiPm *acpi_pm_init(IoBus *io, uint16_t base, Clock *clock, AcpiPowerOffFn poweroff, void *opaque)
{
    AcpiPm *pm = g_new0(AcpiPm, 1);
    pm->io = io;
    pm->clock = clock;
    pm->poweroff = poweroff;
    pm->opaque = opaque;
    if (io_register(io, base, ACPI_PM_LEN, &pm_ops, pm) < 0) {
        g_free(pm);
        return NULL;
    }
    return pm;
}

void acpi_pm_reset(AcpiPm *pm)
{
    pm->sts = pm->en = pm->cnt = 0;
}

void acpi_pm_free(AcpiPm *pm)
{
    g_free(pm);
}

/* ---- the tables ---- */

#define OEM_ID "DUALVM"
#define OEM_TABLE_ID "DUALVMPC"
#define CREATOR_ID "DLVM"
#define HDR_LEN 36

/* FADT flags */
#define FADT_WBINVD (1u << 0)
#define FADT_PROC_C1 (1u << 2)
#define FADT_PWR_BUTTON (1u << 4) /* no fixed-feature power button */
#define FADT_SLP_BUTTON (1u << 5) /* no sleep button */
#define FADT_FIX_RTC (1u << 6)    /* no RTC wake status */
#define FADT_TMR_VAL_EXT (1u << 8)
#define FADT_LEN 116 /* the ACPI 1.0 layout */
#define FACS_LEN 64

/* MADT */
#define MADT_PCAT_COMPAT 1u
#define MADT_LAPIC 0
#define MADT_IOAPIC 1
#define MADT_ISO 2
#define MADT_LAPIC_NMI 4
#define MPS_INTI_ACTIVE_HIGH 0x1
#define MPS_INTI_LEVEL 0xc

typedef struct Builder {
    uint8_t *buf;
    size_t len, pos;
    uint64_t base;
    bool overflow;
} Builder;

static size_t align_to(Builder *b, size_t a)
{
    b->pos = (b->pos + a - 1) & ~(a - 1);
    return b->pos;
}

static uint8_t *room(Builder *b, size_t n)
{
    if (b->pos + n > b->len) {
        b->overflow = true;
        return NULL;
    }
    uint8_t *p = b->buf + b->pos;
    memset(p, 0, n);
    b->pos += n;
    return p;
}

static void w16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void w32(uint8_t *p, uint32_t v)
{
    w16(p, (uint16_t)v);
    w16(p + 2, (uint16_t)(v >> 16));
}

static void checksum(uint8_t *p, size_t n, size_t at)
{
    uint8_t sum = 0;
    p[at] = 0;
    for (size_t i = 0; i < n; i++)
        sum = (uint8_t)(sum + p[i]);
    p[at] = (uint8_t)-sum;
}

/* A table: header filled, body zeroed; returns its start offset (or SIZE_MAX). */
static size_t table_begin(Builder *b, const char sig[4], uint8_t rev)
{
    size_t at = align_to(b, 16);
    uint8_t *h = room(b, HDR_LEN);
    if (!h)
        return SIZE_MAX;
    memcpy(h, sig, 4);
    h[8] = rev;
    memcpy(h + 10, OEM_ID, 6);
    memcpy(h + 16, OEM_TABLE_ID, 8);
    w32(h + 24, 1);
    memcpy(h + 28, CREATOR_ID, 4);
    w32(h + 32, 1);
    return at;
}

static uint32_t table_end(Builder *b, size_t at)
{
    if (b->overflow)
        return 0;
    uint8_t *h = b->buf + at;
    w32(h + 4, (uint32_t)(b->pos - at));
    checksum(h, b->pos - at, 9);
    return (uint32_t)(b->base + at);
}

static void put_bytes(Builder *b, const void *p, size_t n)
{
    uint8_t *d = room(b, n);
    if (d)
        memcpy(d, p, n);
}

/* ---- AML: the few constructs the DSDT needs ---- */

#define AML_MAX 400

typedef struct Aml {
    uint8_t b[AML_MAX];
    size_t n;
} Aml;

static void aml_bytes(Aml *a, const void *p, size_t n)
{
    if (a->n + n <= AML_MAX) /* the DSDT is fixed and far smaller: never cut */
        memcpy(a->b + a->n, p, n);
    a->n += n;
}

static void aml_u8(Aml *a, uint8_t v)
{
    aml_bytes(a, &v, 1);
}

static void aml_u16(Aml *a, uint16_t v)
{
    aml_u8(a, (uint8_t)v);
    aml_u8(a, (uint8_t)(v >> 8));
}

static void aml_u32(Aml *a, uint32_t v)
{
    aml_u16(a, (uint16_t)v);
    aml_u16(a, (uint16_t)(v >> 16));
}

/* op, PkgLength (counting itself), then body: Scope, Device, Buffer, Package */
static void aml_pkg(Aml *a, const uint8_t *op, size_t oplen, const Aml *body)
{
    aml_bytes(a, op, oplen);
    size_t len = body->n + 1;
    if (len < 0x40) {
        aml_u8(a, (uint8_t)len);
    } else { /* two bytes: up to 4 KiB */
        len++;
        aml_u8(a, (uint8_t)(0x40 | (len & 0x0f)));
        aml_u8(a, (uint8_t)(len >> 4));
    }
    aml_bytes(a, body->b, body->n);
}

static void aml_name(Aml *a, const char seg[4])
{
    aml_u8(a, 0x08); /* NameOp */
    aml_bytes(a, seg, 4);
}

/* Word (bus number, I/O) and DWord (memory) address space descriptors of a producer with
 * fixed minimum and maximum */
static void res_word(Aml *a, uint8_t type, uint8_t type_flags, uint16_t min, uint16_t max)
{
    aml_u8(a, 0x88);
    aml_u16(a, 13);
    aml_u8(a, type);
    aml_u8(a, 0x0c); /* MinFixed, MaxFixed, PosDecode, producer */
    aml_u8(a, type_flags);
    aml_u16(a, 0); /* granularity */
    aml_u16(a, min);
    aml_u16(a, max);
    aml_u16(a, 0); /* translation */
    aml_u16(a, (uint16_t)(max - min + 1));
}

static void res_dword_mem(Aml *a, uint8_t type_flags, uint32_t min, uint32_t max)
{
    aml_u8(a, 0x87);
    aml_u16(a, 23);
    aml_u8(a, 0); /* memory */
    aml_u8(a, 0x0c);
    aml_u8(a, type_flags);
    aml_u32(a, 0);
    aml_u32(a, min);
    aml_u32(a, max);
    aml_u32(a, 0);
    aml_u32(a, max - min + 1);
}

/*   Scope (\_SB) { Device (PCI0) {
 *       Name (_HID, EisaId ("PNP0A03")) Name (_ADR, Zero) Name (_UID, Zero)
 *       Name (_CRS, ResourceTemplate () {   as QEMU's PC describes its root bridge
 *           WordBusNumber 0-0xff, IO 0xcf8-0xcff (the configuration ports),
 *           WordIO 0-0xcf7 and 0xd00-0xffff, DWordMemory 0xa0000-0xbffff (VGA) and
 *           the PCI hole from the end of RAM to 0xfebfffff (below the IOAPIC) }) } }
 *   Name (_S5, Package (4) { Zero, Zero, Zero, Zero })
 * No _PRT: PCI interrupts are what the devices' interrupt line registers say. Returns the
 * length written to out (AML_MAX bytes). */
static size_t aml_dsdt(uint8_t *out, const AcpiConfig *cfg)
{
    Aml crs = {.n = 0}, buf = {.n = 0}, dev = {.n = 0}, scope = {.n = 0}, all = {.n = 0};
    res_word(&crs, 2, 0, 0, 0xff);
    static const uint8_t cfg_io[] = {0x47, 0x01, 0xf8, 0x0c, 0xf8, 0x0c, 0x01, 0x08};
    aml_bytes(&crs, cfg_io, sizeof(cfg_io));
    res_word(&crs, 1, 3, 0x0000, 0x0cf7); /* I/O, EntireRange */
    res_word(&crs, 1, 3, 0x0d00, 0xffff);
    res_dword_mem(&crs, 0x03, 0xa0000, 0xbffff);                /* cacheable, read/write */
    res_dword_mem(&crs, 0x01, cfg->pci_hole_start, 0xfebfffff); /* non-cacheable */
    static const uint8_t end_tag[] = {0x79, 0x00};
    aml_bytes(&crs, end_tag, sizeof(end_tag));

    aml_u8(&buf, 0x0a); /* BufferSize: ByteConst */
    aml_u8(&buf, (uint8_t)crs.n);
    aml_bytes(&buf, crs.b, crs.n);

    aml_bytes(&dev, "PCI0", 4);
    aml_name(&dev, "_HID");
    static const uint8_t eisa_pnp0a03[] = {0x0c, 0x41, 0xd0, 0x0a, 0x03};
    aml_bytes(&dev, eisa_pnp0a03, sizeof(eisa_pnp0a03));
    aml_name(&dev, "_ADR");
    aml_u8(&dev, 0x00);
    aml_name(&dev, "_UID");
    aml_u8(&dev, 0x00);
    aml_name(&dev, "_CRS");
    static const uint8_t buffer_op[] = {0x11};
    aml_pkg(&dev, buffer_op, 1, &buf);

    aml_bytes(&scope, "\\_SB_", 5);
    static const uint8_t device_op[] = {0x5b, 0x82};
    aml_pkg(&scope, device_op, 2, &dev);

    static const uint8_t scope_op[] = {0x10};
    aml_pkg(&all, scope_op, 1, &scope);
    aml_name(&all, "_S5_");
    static const uint8_t s5[] = {0x12, 0x06, 0x04, ACPI_S5_SLP_TYP, 0x00, 0x00, 0x00};
    aml_bytes(&all, s5, sizeof(s5));
    memcpy(out, all.b, all.n < AML_MAX ? all.n : AML_MAX);
    return all.n < AML_MAX ? all.n : AML_MAX;
}

size_t acpi_build_tables(uint8_t *buf, size_t len, uint64_t base, const AcpiConfig *cfg)
{
    Builder b = {buf, len, 0, base, false};
    uint32_t rsdt_entries[2];
    unsigned nent = 0;

    /* RSDP (revision 0: an RSDT only), first so that base is the RSDP's address */
    size_t rsdp = align_to(&b, 16);
    if (!room(&b, 20))
        return 0;

    /* FACS: 64-byte aligned, no header checksum */
    size_t facs = align_to(&b, 64);
    uint8_t *f = room(&b, FACS_LEN);
    if (!f)
        return 0;
    memcpy(f, "FACS", 4);
    w32(f + 4, FACS_LEN);

    /* DSDT: the PCI host bridge, so that an ACPI OS scans PCI bus 0 and has windows to put
     * the BARs in, and the S5 sleep type (aml_dsdt) */
    size_t dsdt = table_begin(&b, "DSDT", 1);
    uint8_t aml[AML_MAX];
    put_bytes(&b, aml, aml_dsdt(aml, cfg));
    uint32_t dsdt_addr = table_end(&b, dsdt);

    /* FADT */
    size_t fadt = table_begin(&b, "FACP", 1);
    uint8_t *t = room(&b, FADT_LEN - HDR_LEN);
    if (!t)
        return 0;
    t -= HDR_LEN; /* offsets below are from the table start */
    w32(t + 36, (uint32_t)(base + facs));
    w32(t + 40, dsdt_addr);
    t[44] = cfg->apic ? 1 : 0; /* INT_MODEL (1.0): APIC or dual 8259 */
    w16(t + 46, cfg->sci_irq);
    w32(t + 48, 0); /* no SMI_CMD: always in ACPI mode */
    w32(t + 56, cfg->pm_base + ACPI_PM1_EVT_OFF);
    w32(t + 64, cfg->pm_base + ACPI_PM1_CNT_OFF);
    w32(t + 76, cfg->pm_base + ACPI_PM_TMR_OFF);
    t[88] = 4;           /* PM1_EVT_LEN */
    t[89] = 2;           /* PM1_CNT_LEN */
    t[91] = 4;           /* PM_TMR_LEN */
    w16(t + 96, 0x0fff); /* no C2 */
    w16(t + 98, 0x0fff); /* no C3 */
    t[108] = 0x32;       /* CMOS century byte */
    w32(t + 112, FADT_WBINVD | FADT_PROC_C1 | FADT_PWR_BUTTON | FADT_SLP_BUTTON | FADT_FIX_RTC |
                     FADT_TMR_VAL_EXT);
    rsdt_entries[nent++] = table_end(&b, fadt);

    if (cfg->apic) {
        size_t madt = table_begin(&b, "APIC", 1);
        uint8_t *m = room(&b, 8);
        if (!m)
            return 0;
        w32(m, cfg->lapic_addr);
        w32(m + 4, MADT_PCAT_COMPAT);
        uint8_t lapic[8] = {MADT_LAPIC, 8, 0, cfg->apic_id, 1, 0, 0, 0};
        put_bytes(&b, lapic, sizeof(lapic));
        uint8_t io[12] = {MADT_IOAPIC, 12, cfg->ioapic_id, 0};
        w32(io + 4, cfg->ioapic_addr);
        put_bytes(&b, io, sizeof(io));
        /* ISA IRQ 0 (the PIT) on GSI 2; the SCI level-triggered, active high */
        uint8_t iso0[10] = {MADT_ISO, 10, 0, 0, 2, 0, 0, 0, 0, 0};
        put_bytes(&b, iso0, sizeof(iso0));
        uint8_t iso9[10] = {MADT_ISO,
                            10,
                            0,
                            cfg->sci_irq,
                            cfg->sci_irq,
                            0,
                            0,
                            0,
                            MPS_INTI_ACTIVE_HIGH | MPS_INTI_LEVEL,
                            0};
        put_bytes(&b, iso9, sizeof(iso9));
        uint8_t nmi[6] = {MADT_LAPIC_NMI, 6, 0xff, 0, 0, 1}; /* all CPUs, LINT1 */
        put_bytes(&b, nmi, sizeof(nmi));
        rsdt_entries[nent++] = table_end(&b, madt);
    }

    size_t rsdt = table_begin(&b, "RSDT", 1);
    for (unsigned i = 0; i < nent; i++) {
        uint8_t *e = room(&b, 4);
        if (e)
            w32(e, rsdt_entries[i]);
    }
    uint32_t rsdt_addr = table_end(&b, rsdt);
    if (b.overflow)
        return 0;

    uint8_t *r = buf + rsdp;
    memcpy(r, "RSD PTR ", 8);
    memcpy(r + 9, OEM_ID, 6);
    r[15] = 0; /* revision 0: ACPI 1.0 */
    w32(r + 16, rsdt_addr);
    checksum(r, 20, 8);
    return b.pos;
}
