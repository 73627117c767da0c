/* hw/acpi.c: the ACPI tables a firmware-less boot gets (checksums, links, what each table
 * says, the DSDT's AML structure) and the PM register block (S5 power-off, SCI_EN, the PM
 * timer). */
#define _GNU_SOURCE /* memmem */
#include <criterion/criterion.h>

#include <string.h>

#include "hw/acpi.h"
#include "hw/clock.h"
#include "hw/ioport.h"

#define BASE 0xe0000u

static uint8_t buf[ACPI_TABLES_MAX];

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static const uint8_t *at(uint32_t gpa, size_t len, size_t used)
{
    cr_assert_geq(gpa, BASE);
    cr_assert_leq(gpa - BASE + len, used, "0x%x+%zu is past the %zu bytes built", gpa, len, used);
    return buf + (gpa - BASE);
}

static void check_sum(const uint8_t *p, size_t n, const char *what)
{
    uint8_t s = 0;
    for (size_t i = 0; i < n; i++)
        s = (uint8_t)(s + p[i]);
    cr_assert_eq(s, 0, "%s checksum", what);
}

/* a table by its RSDT entry: signature, length in range, checksum */
static const uint8_t *table(uint32_t gpa, const char *sig, size_t used)
{
    const uint8_t *t = at(gpa, 36, used);
    cr_assert_eq(memcmp(t, sig, 4), 0, "signature %.4s, want %s", (const char *)t, sig);
    uint32_t len = get32(t + 4);
    at(gpa, len, used);
    check_sum(t, len, sig);
    return t;
}

static AcpiConfig config(bool apic)
{
    AcpiConfig c = {.pm_base = ACPI_PM_BASE,
                    .pci_hole_start = 0x08000000,
                    .sci_irq = ACPI_SCI_IRQ,
                    .apic = apic,
                    .lapic_addr = 0xfee00000,
                    .ioapic_addr = 0xfec00000,
                    .apic_id = 0,
                    .ioapic_id = 1};
    return c;
}

/* AML PkgLength at p: the value and how many bytes it takes */
static size_t pkglen(const uint8_t *p, size_t *bytes)
{
    unsigned extra = p[0] >> 6;
    size_t v = extra ? p[0] & 0x0f : p[0] & 0x3f;
    for (unsigned i = 0; i < extra; i++)
        v |= (size_t)p[1 + i] << (4 + 8 * i);
    *bytes = 1 + extra;
    return v;
}

Test(acpi_tables, rsdp_rsdt_fadt_facs_dsdt_madt)
{
    AcpiConfig cfg = config(true);
    size_t used = acpi_build_tables(buf, sizeof(buf), BASE, &cfg);
    cr_assert_gt(used, 0);

    /* RSDP first, ACPI 1.0 */
    cr_assert_eq(memcmp(buf, "RSD PTR ", 8), 0);
    check_sum(buf, 20, "RSDP");
    cr_assert_eq(buf[15], 0, "revision 0");
    const uint8_t *rsdt = table(get32(buf + 16), "RSDT", used);
    cr_assert_eq(get32(rsdt + 4), 36 + 2 * 4, "two entries");
    const uint8_t *fadt = table(get32(rsdt + 36), "FACP", used);
    const uint8_t *madt = table(get32(rsdt + 40), "APIC", used);

    /* FADT: the PM blocks, the SCI, FACS and DSDT */
    cr_assert_eq(get32(fadt + 4), 116, "ACPI 1.0 FADT");
    cr_assert_eq(get16(fadt + 46), ACPI_SCI_IRQ);
    cr_assert_eq(get32(fadt + 48), 0, "no SMI_CMD");
    cr_assert_eq(get32(fadt + 56), ACPI_PM_BASE + ACPI_PM1_EVT_OFF);
    cr_assert_eq(get32(fadt + 64), ACPI_PM_BASE + ACPI_PM1_CNT_OFF);
    cr_assert_eq(get32(fadt + 76), ACPI_PM_BASE + ACPI_PM_TMR_OFF);
    cr_assert_eq(fadt[88], 4);
    cr_assert_eq(fadt[89], 2);
    cr_assert_eq(fadt[91], 4);
    cr_assert(get32(fadt + 112) & (1u << 8), "TMR_VAL_EXT: a 32-bit PM timer");
    uint32_t facs = get32(fadt + 36);
    cr_assert_eq(facs % 64, 0, "FACS 64-byte aligned");
    cr_assert_eq(memcmp(at(facs, 64, used), "FACS", 4), 0);
    cr_assert_eq(get32(at(facs, 64, used) + 4), 64);
    const uint8_t *dsdt = table(get32(fadt + 40), "DSDT", used);

    /* DSDT: Scope (\_SB) { Device (PCI0) {...} } then Name (_S5, Package (4) {0, 0, 0, 0}) */
    const uint8_t *aml = dsdt + 36, *end = dsdt + get32(dsdt + 4);
    cr_assert_eq(aml[0], 0x10, "ScopeOp");
    size_t n, scope_len = pkglen(aml + 1, &n);
    cr_assert_eq(memcmp(aml + 1 + n, "\\_SB_", 5), 0);
    const uint8_t *dev = aml + 1 + n + 5;
    cr_assert(dev[0] == 0x5b && dev[1] == 0x82, "DeviceOp");
    size_t dn, dev_len = pkglen(dev + 2, &dn);
    cr_assert_eq(memcmp(dev + 2 + dn, "PCI0", 4), 0);
    cr_assert_eq(dev + 2 + dev_len, aml + 1 + scope_len, "the device ends with the scope");
    const uint8_t *hid = dev + 2 + dn + 4;
    static const uint8_t want_hid[] = {0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0a, 0x03};
    cr_assert_eq(memcmp(hid, want_hid, sizeof(want_hid)), 0, "_HID PNP0A03");
    const uint8_t *crs = memmem(dev, dev_len, "_CRS", 4);
    cr_assert_not_null(crs);
    cr_assert_eq(crs[4], 0x11, "BufferOp");
    size_t bn, buf_len = pkglen(crs + 5, &bn);
    cr_assert_eq(crs[5 + bn], 0x0a);
    size_t rlen = crs[6 + bn];
    const uint8_t *res = crs + 7 + bn;
    cr_assert_eq(buf_len, bn + 2 + rlen, "buffer length");
    cr_assert_eq(res + rlen, dev + 2 + dev_len, "_CRS is the device's last object");
    cr_assert(res[rlen - 2] == 0x79 && res[rlen - 1] == 0x00, "end tag");
    /* the memory window: a DWord descriptor up to 0xfebfffff from pci_hole_start */
    const uint8_t *mem = res + rlen - 2 - 26;
    cr_assert_eq(mem[0], 0x87);
    cr_assert_eq(get32(mem + 10), 0x08000000);
    cr_assert_eq(get32(mem + 14), 0xfebfffff);
    cr_assert_eq(get32(mem + 22), 0xfebfffff - 0x08000000 + 1);
    const uint8_t *s5 = aml + 1 + scope_len;
    static const uint8_t want_s5[] = {0x08, '_', 'S', '5', '_', 0x12, 0x06, 0x04, ACPI_S5_SLP_TYP,
                                      0,    0,   0};
    cr_assert_eq(memcmp(s5, want_s5, sizeof(want_s5)), 0, "_S5");
    cr_assert_eq(s5 + sizeof(want_s5), end, "nothing after _S5");

    /* MADT: local APIC, IOAPIC, the two overrides, LINT1 NMI */
    cr_assert_eq(get32(madt + 36), 0xfee00000);
    cr_assert_eq(get32(madt + 40) & 1, 1, "PCAT_COMPAT");
    const uint8_t *e = madt + 44, *mend = madt + get32(madt + 4);
    static const uint8_t lapic[] = {0, 8, 0, 0, 1, 0, 0, 0};
    static const uint8_t ioapic[] = {1, 12, 1, 0, 0x00, 0x00, 0xc0, 0xfe, 0, 0, 0, 0};
    static const uint8_t iso0[] = {2, 10, 0, 0, 2, 0, 0, 0, 0, 0};
    static const uint8_t iso9[] = {2, 10, 0, 9, 9, 0, 0, 0, 0x0d, 0};
    static const uint8_t nmi[] = {4, 6, 0xff, 0, 0, 1};
    const uint8_t *want[] = {lapic, ioapic, iso0, iso9, nmi};
    for (int i = 0; i < 5; i++) {
        cr_assert_lt(e, mend);
        cr_assert_eq(memcmp(e, want[i], want[i][1]), 0, "MADT entry %d", i);
        e += e[1];
    }
    cr_assert_eq(e, mend);
}

Test(acpi_tables, no_apic_no_madt)
{
    AcpiConfig cfg = config(false);
    size_t used = acpi_build_tables(buf, sizeof(buf), BASE, &cfg);
    cr_assert_gt(used, 0);
    const uint8_t *rsdt = table(get32(buf + 16), "RSDT", used);
    cr_assert_eq(get32(rsdt + 4), 36 + 4, "the FADT only");
    const uint8_t *fadt = table(get32(rsdt + 36), "FACP", used);
    cr_assert_eq(fadt[44], 0, "INT_MODEL: dual 8259");
}

Test(acpi_tables, too_small)
{
    AcpiConfig cfg = config(true);
    cr_assert_eq(acpi_build_tables(buf, 200, BASE, &cfg), 0);
}

/* ---- the PM registers ---- */

static int poweroffs;

static void on_poweroff(void *opaque)
{
    (void)opaque;
    poweroffs++;
}

Test(acpi_pm, s5_powers_off)
{
    IoBus *io = io_bus_new();
    Clock *c = clock_new();
    poweroffs = 0;
    AcpiPm *pm = acpi_pm_init(io, ACPI_PM_BASE, c, on_poweroff, NULL);
    cr_assert_not_null(pm);
    cr_assert_null(acpi_pm_init(io, ACPI_PM_BASE, c, on_poweroff, NULL), "ports taken");
    uint16_t cnt = ACPI_PM_BASE + ACPI_PM1_CNT_OFF;
    cr_assert_eq(io_read(io, cnt, 2) & ACPI_PM1_CNT_SCI_EN, ACPI_PM1_CNT_SCI_EN,
                 "always in ACPI mode");
    /* another sleep type, or SLP_TYP without SLP_EN: nothing */
    io_write(io, cnt, 5u << ACPI_PM1_CNT_SLP_TYP_SHIFT | ACPI_PM1_CNT_SLP_EN, 2);
    io_write(io, cnt, ACPI_S5_SLP_TYP << ACPI_PM1_CNT_SLP_TYP_SHIFT, 2);
    cr_assert_eq(poweroffs, 0);
    cr_assert_eq(io_read(io, cnt, 2) & ACPI_PM1_CNT_SLP_EN, 0, "SLP_EN reads 0");
    /* S5, as Linux writes it: SLP_TYP, then SLP_TYP | SLP_EN */
    io_write(io, cnt, ACPI_S5_SLP_TYP << ACPI_PM1_CNT_SLP_TYP_SHIFT | ACPI_PM1_CNT_SLP_EN, 2);
    cr_assert_eq(poweroffs, 1);
    /* byte-wide: the high byte carries SLP_EN */
    io_write(io, cnt + 1, ACPI_PM1_CNT_SLP_EN >> 8, 1);
    cr_assert_eq(poweroffs, 2);
    acpi_pm_free(pm);
    clock_free(c);
    io_bus_free(io);
}

Test(acpi_pm, timer_and_status)
{
    IoBus *io = io_bus_new();
    Clock *c = clock_new();
    AcpiPm *pm = acpi_pm_init(io, ACPI_PM_BASE, c, on_poweroff, NULL);
    uint16_t tmr = ACPI_PM_BASE + ACPI_PM_TMR_OFF;
    clock_set_test_time(c, 0);
    cr_assert_eq(io_read(io, tmr, 4), 0);
    clock_set_test_time(c, 1000000000);
    cr_assert_eq(io_read(io, tmr, 4), 3579545);
    clock_set_test_time(c, 2000000000ll * 1000); /* past 2^32 ticks: wraps at 32 bits */
    cr_assert_eq(io_read(io, tmr, 4), (uint32_t)(3579545ull * 2000));
    io_write(io, tmr, 0, 4); /* read only */
    cr_assert_eq(io_read(io, tmr, 4), (uint32_t)(3579545ull * 2000));
    /* PM1_EN stores, PM1_STS clears by ones and has nothing to report */
    io_write(io, ACPI_PM_BASE + 2, 0x0121, 2);
    cr_assert_eq(io_read(io, ACPI_PM_BASE + 2, 2), 0x0121);
    io_write(io, ACPI_PM_BASE, 0xffff, 2);
    cr_assert_eq(io_read(io, ACPI_PM_BASE, 2), 0);
    acpi_pm_reset(pm);
    cr_assert_eq(io_read(io, ACPI_PM_BASE + 2, 2), 0);
    acpi_pm_free(pm);
    clock_free(c);
    io_bus_free(io);
}
