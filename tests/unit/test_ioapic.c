/* The IOAPIC (hw/ioapic.h) alone, with a recording stub for the local APIC side; then with the
 * local APIC as hw/pc.c wires them: the PIT on pin 2, Remote IRR against the APIC's EOI, the
 * MP table, and -machine apic=off. */
#include <criterion/criterion.h>

#include "hw/apic.h"
#include "hw/i8254.h"
#include "hw/ioapic.h"
#include "hw/mc146818.h"
#include "hw/pc.h"

#define BASE IOAPIC_DEFAULT_BASE

static AddressSpace *as;
static IoapicState *io;
static ApicMsg msgs[64];
static int n_msgs;
static bool accept = true;

static bool stub_deliver(void *opaque, const ApicMsg *m)
{
    cr_assert_eq(opaque, &n_msgs);
    if (n_msgs < 64)
        msgs[n_msgs++] = *m;
    return accept;
}

static void setup(void)
{
    as = as_new();
    n_msgs = 0;
    accept = true;
    IoapicBoard b = {stub_deliver, &n_msgs};
    char err[256] = "";
    io = ioapic_init(as, BASE, 1, &b, err, sizeof(err));
    cr_assert_not_null(io, "%s", err);
}

static void teardown(void)
{
    ioapic_free(io);
    as_free(as);
}

TestSuite(ioapic, .init = setup, .fini = teardown);

static uint32_t rd(uint8_t idx)
{
    uint32_t v = idx;
    as_write(as, BASE + IOAPIC_IOREGSEL, &v, 4);
    as_read(as, BASE + IOAPIC_IOWIN, &v, 4);
    return v;
}

static void wr(uint8_t idx, uint32_t v)
{
    uint32_t sel = idx;
    as_write(as, BASE + IOAPIC_IOREGSEL, &sel, 4);
    as_write(as, BASE + IOAPIC_IOWIN, &v, 4);
}

static uint32_t lo(int pin)
{
    return rd((uint8_t)(IOAPIC_REG_REDTBL + 2 * pin));
}

static void route(int pin, uint32_t low, uint8_t dest)
{
    wr((uint8_t)(IOAPIC_REG_REDTBL + 2 * pin + 1), (uint32_t)dest << IOAPIC_RTE_DEST_SHIFT);
    wr((uint8_t)(IOAPIC_REG_REDTBL + 2 * pin), low);
}

Test(ioapic, reset_state)
{
    cr_assert_eq(rd(IOAPIC_REG_ID), 1u << 24);
    cr_assert_eq(rd(IOAPIC_REG_VER), 0x00170011);
    cr_assert_eq(rd(IOAPIC_REG_ARB), 1u << 24);
    for (int pin = 0; pin < IOAPIC_NUM_PINS; pin++) {
        cr_assert_eq(lo(pin), IOAPIC_RTE_MASKED, "pin %d", pin);
        cr_assert_eq(rd((uint8_t)(IOAPIC_REG_REDTBL + 2 * pin + 1)), 0);
    }
    cr_assert_eq(rd(IOAPIC_REG_REDTBL + 2 * IOAPIC_NUM_PINS), 0, "past the table");
}

Test(ioapic, registers)
{
    uint8_t sel = 0x13, back = 0;
    as_write(as, BASE + IOAPIC_IOREGSEL, &sel, 1);
    as_read(as, BASE + IOAPIC_IOREGSEL, &back, 1);
    cr_assert_eq(back, 0x13);
    wr(IOAPIC_REG_ID, 0xffffffff);
    cr_assert_eq(rd(IOAPIC_REG_ID), 0x0f000000);
    cr_assert_eq(rd(IOAPIC_REG_ARB), 0x0f000000, "loaded from the ID");
    wr(IOAPIC_REG_VER, 0);
    cr_assert_eq(rd(IOAPIC_REG_VER), 0x00170011);
    wr(IOAPIC_REG_REDTBL + 6, 0xffffffff);
    cr_assert_eq(lo(3), 0x1afff, "delivery status and Remote IRR are read-only");
    wr(IOAPIC_REG_REDTBL + 7, 0xffffffff);
    cr_assert_eq(rd(IOAPIC_REG_REDTBL + 7), 0xff000000);
    cr_assert_eq(n_msgs, 0, "an unmasked level entry with its pin low sends nothing");
    ioapic_reset(io);
    cr_assert_eq(lo(3), IOAPIC_RTE_MASKED);
    cr_assert_eq(rd(IOAPIC_REG_ID), 1u << 24);
}

Test(ioapic, edge_messages)
{
    route(4, 0x34, 0);
    ioapic_set_irq(io, 4, 1);
    cr_assert_eq(n_msgs, 1);
    cr_assert_eq(msgs[0].vector, 0x34);
    cr_assert_eq(msgs[0].delivery_mode, APIC_DM_FIXED);
    cr_assert_not(msgs[0].level);
    cr_assert_not(msgs[0].logical);
    cr_assert_eq(msgs[0].dest, 0);
    ioapic_set_irq(io, 4, 1);
    cr_assert_eq(n_msgs, 1, "no edge");
    ioapic_set_irq(io, 4, 0);
    ioapic_set_irq(io, 4, 1);
    cr_assert_eq(n_msgs, 2);
    cr_assert_eq(lo(4) & IOAPIC_RTE_REMOTE_IRR, 0, "edge entries never set Remote IRR");
    /* an edge on a masked pin is lost */
    ioapic_set_irq(io, 4, 0);
    route(4, IOAPIC_RTE_MASKED | 0x34, 0);
    ioapic_set_irq(io, 4, 1);
    route(4, 0x34, 0);
    cr_assert_eq(n_msgs, 2);
}

Test(ioapic, level_remote_irr)
{
    route(9, IOAPIC_RTE_LEVEL | IOAPIC_RTE_POLARITY_LOW | 0x49, 0);
    ioapic_set_irq(io, 9, 1);
    cr_assert_eq(n_msgs, 1);
    cr_assert(msgs[0].level);
    cr_assert(lo(9) & IOAPIC_RTE_REMOTE_IRR);
    cr_assert_eq(lo(9) & IOAPIC_RTE_POLARITY_LOW, IOAPIC_RTE_POLARITY_LOW, "kept for reading");
    ioapic_set_irq(io, 9, 1);
    cr_assert_eq(n_msgs, 1, "held by Remote IRR");
    ioapic_eoi(io, 0x48);
    cr_assert_eq(n_msgs, 1, "another vector's EOI");
    ioapic_eoi(io, 0x49);
    cr_assert_eq(n_msgs, 2, "still asserted after the EOI: again");
    cr_assert(lo(9) & IOAPIC_RTE_REMOTE_IRR);
    ioapic_set_irq(io, 9, 0);
    ioapic_eoi(io, 0x49);
    cr_assert_eq(n_msgs, 2);
    cr_assert_eq(lo(9) & IOAPIC_RTE_REMOTE_IRR, 0);
    /* masked while asserted, then unmasked: it goes */
    route(9, IOAPIC_RTE_MASKED | IOAPIC_RTE_LEVEL | 0x49, 0);
    ioapic_set_irq(io, 9, 1);
    cr_assert_eq(n_msgs, 2);
    route(9, IOAPIC_RTE_LEVEL | 0x49, 0);
    cr_assert_eq(n_msgs, 3);
    /* switching to edge drops Remote IRR */
    route(9, 0x49, 0);
    cr_assert_eq(lo(9) & IOAPIC_RTE_REMOTE_IRR, 0);
}

Test(ioapic, refused_message_leaves_remote_irr_clear)
{
    accept = false;
    route(10, IOAPIC_RTE_LEVEL | 0x4a, 5);
    ioapic_set_irq(io, 10, 1);
    cr_assert_eq(n_msgs, 1);
    cr_assert_eq(lo(10) & IOAPIC_RTE_REMOTE_IRR, 0);
}

Test(ioapic, delivery_modes_and_destinations)
{
    route(1, APIC_DM_LOWEST << IOAPIC_RTE_DM_SHIFT | IOAPIC_RTE_DEST_LOGICAL | 0x31, 0x0f);
    route(2, APIC_DM_NMI << IOAPIC_RTE_DM_SHIFT, 0xff);
    route(3, APIC_DM_EXTINT << IOAPIC_RTE_DM_SHIFT, 0);
    route(5, 3 << IOAPIC_RTE_DM_SHIFT | 0x35, 0); /* reserved mode */
    for (int pin = 1; pin <= 5; pin++)
        ioapic_set_irq(io, pin, 1);
    cr_assert_eq(n_msgs, 3);
    cr_assert_eq(msgs[0].delivery_mode, APIC_DM_LOWEST);
    cr_assert(msgs[0].logical);
    cr_assert_eq(msgs[0].dest, 0x0f);
    cr_assert_eq(msgs[1].delivery_mode, APIC_DM_NMI);
    cr_assert_eq(msgs[1].dest, 0xff);
    cr_assert_eq(msgs[2].delivery_mode, APIC_DM_EXTINT);
    ioapic_set_irq(io, 23, 1);
    ioapic_set_irq(io, 24, 1); /* no such pin */
    cr_assert_eq(n_msgs, 3);
}

/* --- with a local APIC --- */

static IoapicState *pair_io;
static ApicState *pair_apic;

static void pair_eoi(void *opaque, uint8_t vector)
{
    ioapic_eoi(pair_io, vector);
}

static bool pair_deliver(void *opaque, const ApicMsg *m)
{
    return apic_deliver(pair_apic, m);
}

Test(ioapic_apic, level_eoi_through_the_local_apic)
{
    AddressSpace *a = as_new();
    Clock *c = clock_new();
    char err[256] = "";
    ApicBoard ab = {.eoi = pair_eoi};
    IoapicBoard ib = {pair_deliver, NULL};
    pair_apic = apic_init(a, c, 0, &ab, err, sizeof(err));
    cr_assert_not_null(pair_apic, "%s", err);
    pair_io = ioapic_init(a, BASE, 1, &ib, err, sizeof(err));
    cr_assert_not_null(pair_io, "%s", err);
    ApicState *lapic = pair_apic;
    IoapicState *ioa = pair_io;

    apic_write_reg(lapic, APIC_SVR, APIC_SVR_ENABLE | 0xff);
    uint32_t sel = IOAPIC_REG_REDTBL + 2 * 11, v = IOAPIC_RTE_LEVEL | 0x5b;
    as_write(a, BASE + IOAPIC_IOREGSEL, &sel, 4);
    as_write(a, BASE + IOAPIC_IOWIN, &v, 4);
    ioapic_set_irq(ioa, 11, 1);
    cr_assert(apic_intr_pending(lapic));
    cr_assert_eq(apic_intr_ack(lapic), 0x5b);
    cr_assert(apic_read_reg(lapic, APIC_TMR + 0x20) & (1u << (0x5b - 64)));
    as_read(a, BASE + IOAPIC_IOWIN, &v, 4);
    cr_assert(v & IOAPIC_RTE_REMOTE_IRR);
    ioapic_set_irq(ioa, 11, 0);
    apic_write_reg(lapic, APIC_EOI, 0);
    as_read(a, BASE + IOAPIC_IOWIN, &v, 4);
    cr_assert_eq(v & IOAPIC_RTE_REMOTE_IRR, 0, "the EOI reached the IOAPIC");
    cr_assert_not(apic_intr_pending(lapic));
    /* a message for another APIC ID is not taken, and sets no Remote IRR */
    uint32_t hi_sel = sel + 1, hi = 3u << 24;
    as_write(a, BASE + IOAPIC_IOREGSEL, &hi_sel, 4);
    as_write(a, BASE + IOAPIC_IOWIN, &hi, 4);
    ioapic_set_irq(ioa, 11, 1);
    cr_assert_not(apic_intr_pending(lapic));
    as_write(a, BASE + IOAPIC_IOREGSEL, &sel, 4);
    as_read(a, BASE + IOAPIC_IOWIN, &v, 4);
    cr_assert_eq(v & IOAPIC_RTE_REMOTE_IRR, 0);

    ioapic_free(ioa);
    apic_free(lapic);
    clock_free(c);
    as_free(a);
}

/* --- the PC board --- */

static Machine *pc;

static void pc_teardown(void)
{
    pc_free(pc);
    pc = NULL;
}

TestSuite(pc_apic, .fini = pc_teardown);

static void make_pc(bool no_apic)
{
    MachineConfig cfg = {.ram_size = 16u << 20, .serial = "none", .no_apic = no_apic};
    char err[256] = "";
    pc = pc_new(&cfg, err, sizeof(err));
    cr_assert_not_null(pc, "pc_new: %s", err);
}

static void mmio_w(uint64_t gpa, uint32_t v)
{
    cr_assert_eq(as_write(pc->as, gpa, &v, 4), MEM_OK);
}

static uint32_t mmio_r(uint64_t gpa)
{
    uint32_t v = 0;
    cr_assert_eq(as_read(pc->as, gpa, &v, 4), MEM_OK);
    return v;
}

static void pc_route(int pin, uint32_t low)
{
    mmio_w(BASE + IOAPIC_IOREGSEL, IOAPIC_REG_REDTBL + 2 * pin + 1);
    mmio_w(BASE + IOAPIC_IOWIN, 0);
    mmio_w(BASE + IOAPIC_IOREGSEL, IOAPIC_REG_REDTBL + 2 * pin);
    mmio_w(BASE + IOAPIC_IOWIN, low);
}

static void run_to(int64_t t)
{
    clock_set_test_time(pc->clock, t);
    clock_run_timers(pc->clock);
}

Test(pc_apic, board_has_both_apics)
{
    make_pc(false);
    cr_assert(pc->has_apic);
    cr_assert_eq(mmio_r(APIC_DEFAULT_BASE + APIC_VERSION), 0x00050014);
    mmio_w(BASE + IOAPIC_IOREGSEL, IOAPIC_REG_VER);
    cr_assert_eq(mmio_r(BASE + IOAPIC_IOWIN), 0x00170011);
    mmio_w(BASE + IOAPIC_IOREGSEL, IOAPIC_REG_ID);
    cr_assert_eq(mmio_r(BASE + IOAPIC_IOWIN), (uint32_t)PC_IOAPIC_ID << 24);
    cr_assert_eq(pc->apic_base_get(pc->apic_opaque), 0xfee00900ull);
    cr_assert_neq(pc->apic_base_set(pc->apic_opaque, 0xfee00900ull | 2), 0);
    pc->apic_tpr_set(pc->apic_opaque, 0x30);
    cr_assert_eq(pc->apic_tpr_get(pc->apic_opaque), 0x30);
}

Test(pc_apic, pit_through_ioapic_pin2)
{
    make_pc(false);
    int64_t t = clock_ns(pc->clock) + 1000000;
    run_to(t);
    mmio_w(APIC_DEFAULT_BASE + APIC_SVR, APIC_SVR_ENABLE | 0xff); /* LINT0 stays masked */
    pc_route(PC_IOAPIC_PIN_IRQ0, 0x30);
    io_write(pc->io, 0x43, 0x34, 1);
    io_write(pc->io, 0x40, 0xa9, 1);
    io_write(pc->io, 0x40, 0x04, 1); /* 1193: about 1 ms */
    cr_assert_not(pc->intr_pending(pc->intr_opaque));
    run_to(t + 1000000);
    cr_assert(pc->intr_pending(pc->intr_opaque));
    cr_assert_eq(pc->intr_ack(pc->intr_opaque), 0x30);
    cr_assert_not(pc->intr_pending(pc->intr_opaque));
    mmio_w(APIC_DEFAULT_BASE + APIC_EOI, 0);
    run_to(t + 2000000);
    cr_assert_eq(pc->intr_ack(pc->intr_opaque), 0x30);
}

Test(pc_apic, rtc_level_through_ioapic_pin8)
{
    make_pc(false);
    mmio_w(APIC_DEFAULT_BASE + APIC_SVR, APIC_SVR_ENABLE | 0xff);
    pc_route(RTC_IRQ, IOAPIC_RTE_LEVEL | 0x38);
    int64_t t = clock_ns(pc->clock) + 1000000;
    run_to(t);
    io_write(pc->io, RTC_BASE, RTC_REG_C, 1);
    io_read(pc->io, RTC_BASE + 1, 1);
    io_write(pc->io, RTC_BASE, RTC_REG_B, 1);
    io_write(pc->io, RTC_BASE + 1, RTC_B_24H | RTC_B_PIE, 1);
    run_to(t + 1000000);
    cr_assert_eq(pc->intr_ack(pc->intr_opaque), 0x38);
    mmio_w(BASE + IOAPIC_IOREGSEL, IOAPIC_REG_REDTBL + 2 * RTC_IRQ);
    cr_assert(mmio_r(BASE + IOAPIC_IOWIN) & IOAPIC_RTE_REMOTE_IRR);
    io_write(pc->io, RTC_BASE, RTC_REG_C, 1); /* the handler acknowledges the RTC... */
    io_read(pc->io, RTC_BASE + 1, 1);
    mmio_w(APIC_DEFAULT_BASE + APIC_EOI, 0); /* ...and EOIs */
    mmio_w(BASE + IOAPIC_IOREGSEL, IOAPIC_REG_REDTBL + 2 * RTC_IRQ);
    cr_assert_eq(mmio_r(BASE + IOAPIC_IOWIN) & IOAPIC_RTE_REMOTE_IRR, 0);
}

Test(pc_apic, pic_in_virtual_wire_mode)
{
    make_pc(false);
    /* the 8259 programmed as a BIOS does, IRQ 4 from COM1 */
    static const uint8_t init[][2] = {{0x20, 0x11}, {0x21, 0x20}, {0x21, 0x04}, {0x21, 0x01},
                                      {0xa0, 0x11}, {0xa1, 0x28}, {0xa1, 0x02}, {0xa1, 0x01}};
    for (size_t i = 0; i < sizeof(init) / sizeof(init[0]); i++)
        io_write(pc->io, init[i][0], init[i][1], 1);
    mmio_w(APIC_DEFAULT_BASE + APIC_SVR, APIC_SVR_ENABLE | 0xff);
    io_write(pc->io, PC_COM1_BASE + 4, 0x08, 1); /* OUT2 */
    io_write(pc->io, PC_COM1_BASE + 1, 0x02, 1); /* THRE interrupt */
    cr_assert_not(pc->intr_pending(pc->intr_opaque), "LINT0 masked: the PIC is cut off");
    mmio_w(APIC_DEFAULT_BASE + APIC_LVT_LINT0, APIC_DM_EXTINT << APIC_DM_SHIFT);
    cr_assert(pc->intr_pending(pc->intr_opaque));
    cr_assert_eq(pc->intr_ack(pc->intr_opaque), 0x24);
}

Test(pc_apic, apic_off_is_the_pic_alone)
{
    make_pc(true);
    cr_assert_not(pc->has_apic);
    cr_assert_null(pc->apic_base_get);
    cr_assert_null(as_find(pc->as, APIC_DEFAULT_BASE));
    cr_assert_null(as_find(pc->as, IOAPIC_DEFAULT_BASE));
    char err[256] = "";
    uint8_t before[16], after[16];
    as_read(pc->as, PC_MPTABLE_BASE, before, sizeof(before));
    cr_assert_eq(pc_write_mp_table(pc, err, sizeof(err)), 0);
    as_read(pc->as, PC_MPTABLE_BASE, after, sizeof(after));
    cr_assert_arr_eq(before, after, sizeof(before), "no MP table without APICs");
}

static uint8_t sum(const uint8_t *p, size_t n)
{
    uint8_t s = 0;
    while (n--)
        s = (uint8_t)(s + *p++);
    return s;
}

Test(pc_apic, mp_table)
{
    make_pc(false);
    char err[256] = "";
    cr_assert_eq(pc_write_mp_table(pc, err, sizeof(err)), 0, "%s", err);
    uint8_t mp[PC_MPTABLE_SIZE];
    as_read(pc->as, PC_MPTABLE_BASE, mp, sizeof(mp));
    /* floating pointer */
    cr_assert_arr_eq(mp, "_MP_", 4);
    uint32_t table = mp[4] | mp[5] << 8 | mp[6] << 16 | (uint32_t)mp[7] << 24;
    cr_assert_eq(mp[8], 1);
    cr_assert_eq(mp[9], 4);
    cr_assert_eq(sum(mp, 16), 0);
    cr_assert_eq(mp[11], 0, "not a default configuration");
    cr_assert_eq(mp[12] & 0x80, 0, "virtual wire mode");
    cr_assert_geq(table, PC_MPTABLE_BASE);
    const uint8_t *c = mp + (table - PC_MPTABLE_BASE);
    cr_assert_arr_eq(c, "PCMP", 4);
    unsigned len = c[4] | c[5] << 8, entries = c[34] | c[35] << 8;
    cr_assert_leq(table - PC_MPTABLE_BASE + len, PC_MPTABLE_SIZE);
    cr_assert_eq(sum(c, len), 0);
    cr_assert_eq(c[6], 4);
    uint32_t lapic = c[36] | c[37] << 8 | c[38] << 16 | (uint32_t)c[39] << 24;
    cr_assert_eq(lapic, 0xfee00000u);
    /* walk the entries: types in order, the ones that matter */
    const uint8_t *e = c + 44;
    int last_type = -1, cpus = 0, ioapics = 0, irq0_pin = -1, extint_pin = -1, lint = 0;
    int isa_bus = -1, isa_irqs = 0;
    for (unsigned i = 0; i < entries; i++) {
        cr_assert_geq(e[0], last_type, "entries sorted by type");
        last_type = e[0];
        switch (e[0]) {
        case 0:
            cpus++;
            cr_assert_eq(e[1], 0);
            cr_assert_eq(e[2], 0x14);
            cr_assert_eq(e[3], 3, "enabled BSP");
            cr_assert(e[9] & (1u << (9 - 8)), "feature flags (bytes 8-11) show the APIC");
            e += 20;
            continue;
        case 1:
            if (!memcmp(e + 2, "ISA   ", 6))
                isa_bus = e[1];
            break;
        case 2:
            ioapics++;
            cr_assert_eq(e[1], PC_IOAPIC_ID);
            cr_assert_eq(e[2], 0x11);
            cr_assert_eq(e[3] & 1, 1);
            cr_assert_eq(e[4] | e[5] << 8 | e[6] << 16 | (uint32_t)e[7] << 24, 0xfec00000u);
            break;
        case 3:
            cr_assert_eq(e[4], isa_bus);
            cr_assert_eq(e[6], PC_IOAPIC_ID);
            if (e[1] == 3)
                extint_pin = e[7];
            else if (e[5] == 0)
                irq0_pin = e[7];
            else {
                cr_assert_eq(e[5], e[7], "ISA IRQ %d on its own pin", e[5]);
                cr_assert_neq(e[5], 2);
            }
            if (e[1] == 0)
                isa_irqs++;
            break;
        case 4:
            lint |= 1 << e[7];
            cr_assert_eq(e[1], e[7] == 0 ? 3 : 1, "LINT0 ExtINT, LINT1 NMI");
            break;
        default:
            cr_assert_fail("entry type %d", e[0]);
        }
        e += 8;
    }
    cr_assert_eq(e - c, len);
    cr_assert_eq(cpus, 1);
    cr_assert_eq(ioapics, 1);
    cr_assert_eq(irq0_pin, 2);
    cr_assert_eq(extint_pin, 0);
    cr_assert_eq(isa_irqs, 15);
    cr_assert_eq(lint, 3);
}
