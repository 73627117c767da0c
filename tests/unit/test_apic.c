/* The local APIC (hw/apic.h) through its MMIO window: register semantics, priorities, EOI,
 * the timer against a test clock, the 8259 through LINT0, IA32_APIC_BASE; and the CPUID model
 * that shows it. */
#include <errno.h>

#include <criterion/criterion.h>

#include "cpu/cpuid.h"
#include "hw/apic.h"

#define BASE APIC_DEFAULT_BASE
#define T0 1000000000ll

static AddressSpace *as;
static Clock *clk;
static ApicState *apic;

/* the board's side */
static bool pic_level;
static int pic_vector, pic_acks, intr_changes, nmis, mem_changes;
static int eois[16], n_eois;

static bool b_pic_pending(void *o)
{
    return pic_level;
}

static int b_pic_ack(void *o)
{
    pic_acks++;
    pic_level = false;
    return pic_vector;
}

static void b_intr_changed(void *o)
{
    intr_changes++;
}

static void b_nmi(void *o)
{
    nmis++;
}

static void b_eoi(void *o, uint8_t v)
{
    if (n_eois < 16)
        eois[n_eois++] = v;
}

static void b_mem_changed(void *o, uint64_t gpa, uint64_t len)
{
    mem_changes++;
}

static void setup(void)
{
    as = as_new();
    clk = clock_new();
    clock_set_test_time(clk, T0);
    pic_level = false;
    pic_vector = 0x20;
    pic_acks = intr_changes = nmis = mem_changes = n_eois = 0;
    ApicBoard b = {b_pic_pending, b_pic_ack, b_intr_changed, b_nmi, b_eoi, b_mem_changed, NULL};
    char err[256] = "";
    apic = apic_init(as, clk, 0, &b, err, sizeof(err));
    cr_assert_not_null(apic, "%s", err);
}

static void teardown(void)
{
    apic_free(apic);
    clock_free(clk);
    as_free(as);
}

TestSuite(apic, .init = setup, .fini = teardown);

static uint32_t rd(uint32_t off)
{
    uint32_t v = 0;
    cr_assert_eq(as_read(as, BASE + off, &v, 4), MEM_OK);
    return v;
}

static void wr(uint32_t off, uint32_t v)
{
    cr_assert_eq(as_write(as, BASE + off, &v, 4), MEM_OK);
}

static bool irr(unsigned v)
{
    return rd(APIC_IRR + (v >> 5) * 0x10) & (1u << (v & 31));
}

static bool isr(unsigned v)
{
    return rd(APIC_ISR + (v >> 5) * 0x10) & (1u << (v & 31));
}

static bool tmr(unsigned v)
{
    return rd(APIC_TMR + (v >> 5) * 0x10) & (1u << (v & 31));
}

static void enable(void)
{
    wr(APIC_SVR, APIC_SVR_ENABLE | 0xff);
}

static void fixed(uint8_t vector, bool level)
{
    ApicMsg m = {.vector = vector, .delivery_mode = APIC_DM_FIXED, .level = level, .dest = 0};
    cr_assert(apic_deliver(apic, &m));
}

static uint32_t esr(void)
{
    wr(APIC_ESR, 0);
    return rd(APIC_ESR);
}

static void at(int64_t ns)
{
    clock_set_test_time(clk, T0 + ns);
    clock_run_timers(clk);
}

Test(apic, reset_state)
{
    cr_assert_eq(apic_get_base(apic), 0xfee00900ull);
    cr_assert_eq(rd(APIC_ID), 0);
    cr_assert_eq(rd(APIC_VERSION), 0x00050014);
    cr_assert_eq(rd(APIC_TPR), 0);
    cr_assert_eq(rd(APIC_PPR), 0);
    cr_assert_eq(rd(APIC_APR), 0);
    cr_assert_eq(rd(APIC_LDR), 0);
    cr_assert_eq(rd(APIC_DFR), 0xffffffff);
    cr_assert_eq(rd(APIC_SVR), 0xff);
    for (uint32_t r = APIC_LVT_TIMER; r <= APIC_LVT_ERROR; r += 0x10)
        cr_assert_eq(rd(r), APIC_LVT_MASKED, "LVT 0x%x", r);
    cr_assert_eq(rd(APIC_TIMER_ICR), 0);
    cr_assert_eq(rd(APIC_TIMER_CCR), 0);
    cr_assert_eq(rd(APIC_TIMER_DCR), 0);
    for (unsigned i = 0; i < 8; i++) {
        cr_assert_eq(rd(APIC_IRR + i * 0x10), 0);
        cr_assert_eq(rd(APIC_ISR + i * 0x10), 0);
        cr_assert_eq(rd(APIC_TMR + i * 0x10), 0);
    }
    cr_assert_not(apic_intr_pending(apic));
}

Test(apic, register_write_masks)
{
    wr(APIC_ID, 0xffffffff);
    cr_assert_eq(rd(APIC_ID), 0xff000000);
    wr(APIC_ID, 0);
    wr(APIC_VERSION, 0);
    cr_assert_eq(rd(APIC_VERSION), 0x00050014);
    wr(APIC_TPR, 0x1ff);
    cr_assert_eq(rd(APIC_TPR), 0xff);
    wr(APIC_LDR, 0x12345678);
    cr_assert_eq(rd(APIC_LDR), 0x12000000);
    wr(APIC_DFR, 0);
    cr_assert_eq(rd(APIC_DFR), 0x0fffffff);
    wr(APIC_SVR, 0xffffffff);
    cr_assert_eq(rd(APIC_SVR), 0x3ff);
    wr(APIC_ICR_HI, 0xffffffff);
    cr_assert_eq(rd(APIC_ICR_HI), 0xff000000);
    wr(APIC_TIMER_DCR, 0xffffffff);
    cr_assert_eq(rd(APIC_TIMER_DCR), 0xb);
    /* LVT entries keep their defined bits only */
    wr(APIC_LVT_TIMER, 0xffffffff);
    cr_assert_eq(rd(APIC_LVT_TIMER), 0x300ff); /* no TSC-deadline mode */
    wr(APIC_LVT_LINT0, 0xffffffff);
    cr_assert_eq(rd(APIC_LVT_LINT0), 0x1a7ff); /* delivery status and Remote IRR read-only */
    wr(APIC_LVT_THERMAL, 0xffffffff);
    cr_assert_eq(rd(APIC_LVT_THERMAL), 0x107ff);
    wr(APIC_LVT_ERROR, 0xffffffff);
    cr_assert_eq(rd(APIC_LVT_ERROR), 0x100ff);
    /* read-only banks */
    wr(APIC_IRR, 0xffffffff);
    wr(APIC_ISR + 0x70, 0xffffffff);
    cr_assert_eq(rd(APIC_IRR), 0);
    cr_assert_eq(rd(APIC_ISR + 0x70), 0);
    cr_assert_eq(esr(), 0);
}

Test(apic, narrow_and_slot_accesses)
{
    uint8_t b = 0;
    uint16_t h = 0;
    cr_assert_eq(as_read(as, BASE + APIC_VERSION + 2, &b, 1), MEM_OK);
    cr_assert_eq(b, 0x05);
    cr_assert_eq(as_read(as, BASE + APIC_VERSION, &h, 2), MEM_OK);
    cr_assert_eq(h, 0x0014);
    uint32_t v = 0x12345678;
    cr_assert_eq(as_read(as, BASE + APIC_VERSION + 4, &v, 4), MEM_OK);
    cr_assert_eq(v, 0); /* the rest of a 16-byte slot */
    b = 0x80;
    as_write(as, BASE + APIC_TPR, &b, 1); /* not an aligned 32-bit write: ignored */
    cr_assert_eq(rd(APIC_TPR), 0);
}

Test(apic, software_disable_masks_lvts)
{
    wr(APIC_LVT_LINT0, 0x700);
    cr_assert_eq(rd(APIC_LVT_LINT0), 0x10700, "mask stays while software disabled");
    enable();
    wr(APIC_LVT_LINT0, 0x700);
    wr(APIC_LVT_TIMER, 0x20030);
    cr_assert_eq(rd(APIC_LVT_LINT0), 0x700);
    cr_assert_eq(rd(APIC_LVT_TIMER), 0x20030);
    wr(APIC_SVR, 0xff);
    cr_assert_eq(rd(APIC_LVT_LINT0), 0x10700);
    cr_assert_eq(rd(APIC_LVT_TIMER), 0x30030);
}

Test(apic, fixed_interrupts_by_priority)
{
    enable();
    fixed(0x31, false);
    fixed(0x85, false);
    fixed(0x50, false);
    cr_assert(irr(0x31) && irr(0x85) && irr(0x50));
    cr_assert(apic_intr_pending(apic));
    cr_assert_eq(apic_intr_ack(apic), 0x85);
    cr_assert(isr(0x85));
    cr_assert_not(irr(0x85));
    cr_assert_eq(rd(APIC_PPR), 0x80);
    cr_assert_not(apic_intr_pending(apic), "0x50 waits below the in-service class 8");
    fixed(0x91, false); /* a higher class nests */
    cr_assert(apic_intr_pending(apic));
    cr_assert_eq(apic_intr_ack(apic), 0x91);
    cr_assert_eq(rd(APIC_PPR), 0x90);
    wr(APIC_EOI, 0); /* EOI ends the highest in service */
    cr_assert_not(isr(0x91));
    cr_assert(isr(0x85));
    cr_assert_not(apic_intr_pending(apic));
    wr(APIC_EOI, 0);
    cr_assert_eq(rd(APIC_PPR), 0);
    cr_assert_eq(apic_intr_ack(apic), 0x50);
    cr_assert_not(apic_intr_pending(apic), "0x31 is class 3, below 0x50's 5");
    wr(APIC_EOI, 0);
    cr_assert_eq(apic_intr_ack(apic), 0x31);
    wr(APIC_EOI, 0);
    cr_assert_not(apic_intr_pending(apic));
    cr_assert_eq(n_eois, 0, "edge-triggered vectors send no EOI message");
}

Test(apic, same_class_waits_for_eoi)
{
    enable();
    fixed(0x40, false);
    cr_assert_eq(apic_intr_ack(apic), 0x40);
    fixed(0x4f, false);
    cr_assert_not(apic_intr_pending(apic), "same class as the one in service");
    wr(APIC_EOI, 0);
    cr_assert_eq(apic_intr_ack(apic), 0x4f);
}

Test(apic, tpr_ppr_apr)
{
    enable();
    wr(APIC_TPR, 0x40);
    cr_assert_eq(rd(APIC_PPR), 0x40);
    fixed(0x45, false);
    cr_assert_not(apic_intr_pending(apic), "class 4 is not above TPR class 4");
    cr_assert_eq(rd(APIC_APR), 0x40);
    fixed(0x55, false);
    cr_assert(apic_intr_pending(apic));
    cr_assert_eq(rd(APIC_APR), 0x50);
    cr_assert_eq(apic_intr_ack(apic), 0x55);
    cr_assert_eq(rd(APIC_PPR), 0x50, "ISR class above TPR");
    wr(APIC_TPR, 0x63);
    cr_assert_eq(rd(APIC_PPR), 0x63, "TPR class above ISR: all of TPR");
    wr(APIC_EOI, 0);
    wr(APIC_TPR, 0);
    cr_assert_eq(apic_intr_ack(apic), 0x45);
    apic_set_tpr(apic, 0xf0);
    cr_assert_eq(apic_get_tpr(apic), 0xf0);
    cr_assert_eq(rd(APIC_TPR), 0xf0);
}

Test(apic, spurious_vector_when_blocked_before_ack)
{
    enable();
    wr(APIC_SVR, APIC_SVR_ENABLE | 0xef);
    fixed(0x45, false);
    cr_assert(apic_intr_pending(apic));
    wr(APIC_TPR, 0x50);
    cr_assert_eq(apic_intr_ack(apic), 0xef);
    cr_assert_not(isr(0xef));
    cr_assert_not(isr(0x45));
    cr_assert(irr(0x45));
}

Test(apic, software_disabled_holds_irr)
{
    fixed(0x60, false);
    cr_assert(irr(0x60));
    cr_assert_not(apic_intr_pending(apic));
    enable();
    cr_assert(apic_intr_pending(apic));
    cr_assert_eq(apic_intr_ack(apic), 0x60);
}

Test(apic, level_eoi_goes_to_the_board)
{
    enable();
    fixed(0x61, true);
    fixed(0x71, false);
    cr_assert(tmr(0x61));
    cr_assert_not(tmr(0x71));
    cr_assert_eq(apic_intr_ack(apic), 0x71);
    wr(APIC_EOI, 0);
    cr_assert_eq(n_eois, 0);
    cr_assert_eq(apic_intr_ack(apic), 0x61);
    wr(APIC_EOI, 0);
    cr_assert_eq(n_eois, 1);
    cr_assert_eq(eois[0], 0x61);
    wr(APIC_EOI, 0); /* nothing in service: nothing happens */
    cr_assert_eq(n_eois, 1);
}

Test(apic, illegal_vector_and_esr)
{
    enable();
    fixed(0x10, false);
    ApicMsg m = {.vector = 5, .delivery_mode = APIC_DM_FIXED};
    cr_assert_not(apic_deliver(apic, &m));
    cr_assert_not(irr(5));
    cr_assert_eq(rd(APIC_ESR), 0, "errors show only after an ESR write");
    wr(APIC_ESR, 0);
    cr_assert_eq(rd(APIC_ESR), APIC_ESR_RECV_ILLEGAL);
    cr_assert_eq(esr(), 0, "the next write clears it");
    rd(APIC_LVT_CMCI); /* not present with max LVT 5 */
    cr_assert_eq(esr(), APIC_ESR_ILLEGAL_REG);
    /* the error LVT raises its vector on a new error */
    wr(APIC_LVT_ERROR, 0xfe);
    wr(APIC_ICR_LO, APIC_SH_SELF << APIC_ICR_SHORTHAND_SHIFT | 0x03);
    cr_assert(irr(0xfe));
    cr_assert_eq(esr(), APIC_ESR_SEND_ILLEGAL);
}

Test(apic, ipis_to_self)
{
    enable();
    wr(APIC_ICR_LO, APIC_SH_SELF << APIC_ICR_SHORTHAND_SHIFT | 0x70);
    cr_assert(irr(0x70));
    cr_assert_eq(rd(APIC_ICR_LO) & APIC_DELIVERY_PENDING, 0);
    wr(APIC_ICR_LO, APIC_SH_OTHERS << APIC_ICR_SHORTHAND_SHIFT | 0x71);
    cr_assert_not(irr(0x71), "all-excluding-self reaches nobody");
    wr(APIC_ICR_LO, APIC_SH_ALL << APIC_ICR_SHORTHAND_SHIFT | 0x72);
    cr_assert(irr(0x72));
    /* physical destination */
    wr(APIC_ICR_HI, 0u << 24);
    wr(APIC_ICR_LO, 0x73);
    cr_assert(irr(0x73));
    wr(APIC_ICR_HI, 1u << 24);
    wr(APIC_ICR_LO, 0x74);
    cr_assert_not(irr(0x74));
    wr(APIC_ICR_HI, 0xffu << 24);
    wr(APIC_ICR_LO, 0x75);
    cr_assert(irr(0x75), "broadcast");
    /* logical, flat model */
    wr(APIC_LDR, 0x04000000);
    wr(APIC_ICR_HI, 0x06u << 24);
    wr(APIC_ICR_LO, APIC_DEST_LOGICAL | 0x76);
    cr_assert(irr(0x76));
    wr(APIC_ICR_HI, 0x03u << 24);
    wr(APIC_ICR_LO, APIC_DEST_LOGICAL | 0x77);
    cr_assert_not(irr(0x77));
    /* logical, cluster model: cluster 2, member bit 1 */
    wr(APIC_DFR, APIC_DFR_CLUSTER);
    wr(APIC_LDR, 0x22000000);
    wr(APIC_ICR_HI, 0x23u << 24);
    wr(APIC_ICR_LO, APIC_DEST_LOGICAL | 0x78);
    cr_assert(irr(0x78));
    wr(APIC_ICR_HI, 0x32u << 24);
    wr(APIC_ICR_LO, APIC_DEST_LOGICAL | 0x79);
    cr_assert_not(irr(0x79), "other cluster");
    /* NMI to self; INIT and SIPI go nowhere */
    wr(APIC_ICR_LO, APIC_SH_ALL << APIC_ICR_SHORTHAND_SHIFT | APIC_DM_NMI << APIC_DM_SHIFT);
    cr_assert_eq(nmis, 1);
    wr(APIC_ICR_LO, APIC_SH_ALL << APIC_ICR_SHORTHAND_SHIFT | APIC_DM_INIT << APIC_DM_SHIFT);
    wr(APIC_ICR_LO, APIC_SH_ALL << APIC_ICR_SHORTHAND_SHIFT | APIC_DM_STARTUP << APIC_DM_SHIFT);
    cr_assert_eq(esr(), 0);
    /* the highest first */
    cr_assert_eq(apic_intr_ack(apic), 0x78);
}

Test(apic, intr_changed_on_edges_only)
{
    enable();
    fixed(0x40, false);
    cr_assert_eq(intr_changes, 1);
    fixed(0x41, false);
    cr_assert_eq(intr_changes, 1, "already asserted");
    cr_assert_eq(apic_intr_ack(apic), 0x41);
    cr_assert_eq(intr_changes, 2, "0x40 waits behind 0x41: output drops");
    wr(APIC_EOI, 0);
    cr_assert_eq(intr_changes, 3);
}

/* --- the timer --- */

Test(apic, timer_one_shot)
{
    enable();
    wr(APIC_TIMER_DCR, 0x3); /* divide by 16: 16 ns a count */
    wr(APIC_LVT_TIMER, 0x40);
    wr(APIC_TIMER_ICR, 1000);
    cr_assert_eq(rd(APIC_TIMER_CCR), 1000);
    at(1600);
    cr_assert_eq(rd(APIC_TIMER_CCR), 900);
    at(15999);
    cr_assert_eq(rd(APIC_TIMER_CCR), 1);
    cr_assert_not(irr(0x40));
    at(16000);
    cr_assert_eq(rd(APIC_TIMER_CCR), 0);
    cr_assert(irr(0x40));
    cr_assert_eq(apic_intr_ack(apic), 0x40);
    wr(APIC_EOI, 0);
    at(100000);
    cr_assert_not(irr(0x40), "one shot");
    cr_assert_eq(rd(APIC_TIMER_ICR), 1000);
    cr_assert_eq(rd(APIC_TIMER_CCR), 0);
}

Test(apic, timer_periodic)
{
    enable();
    wr(APIC_TIMER_DCR, 0x0); /* divide by 2 */
    wr(APIC_LVT_TIMER, APIC_LVT_TIMER_PERIODIC | 0x41);
    wr(APIC_TIMER_ICR, 100000); /* 200 us */
    at(50000);
    cr_assert_eq(rd(APIC_TIMER_CCR), 75000);
    int fired = 0;
    for (int64_t t = 10000; t <= 1000000; t += 10000) {
        at(t);
        if (irr(0x41)) {
            fired++;
            cr_assert_eq(t % 200000, 0, "fired at %lld", (long long)t);
            cr_assert_eq(apic_intr_ack(apic), 0x41);
            wr(APIC_EOI, 0);
        }
    }
    cr_assert_eq(fired, 5);
    at(1050000);
    cr_assert_eq(rd(APIC_TIMER_CCR), 75000, "counts from the reload");
    /* a periodic timer far behind fires once and goes on in phase */
    at(3000000);
    cr_assert(irr(0x41));
    cr_assert_eq(apic_intr_ack(apic), 0x41);
    wr(APIC_EOI, 0);
    at(3100000);
    cr_assert_not(irr(0x41));
    at(3200000);
    cr_assert(irr(0x41));
    /* a zero initial count stops it */
    apic_intr_ack(apic);
    wr(APIC_EOI, 0);
    wr(APIC_TIMER_ICR, 0);
    at(5000000);
    cr_assert_not(irr(0x41));
    cr_assert_eq(rd(APIC_TIMER_CCR), 0);
}

Test(apic, timer_divide_values)
{
    static const struct {
        uint32_t dcr;
        int div;
    } tab[] = {{0x0, 2}, {0x1, 4}, {0x2, 8}, {0x3, 16}, {0x8, 32}, {0x9, 64}, {0xa, 128}, {0xb, 1}};
    int64_t t = 0;
    for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
        at(t);
        wr(APIC_TIMER_DCR, tab[i].dcr);
        wr(APIC_TIMER_ICR, 100000);
        at(t + 256 * tab[i].div);
        cr_assert_eq(rd(APIC_TIMER_CCR), 100000 - 256, "dcr 0x%x", tab[i].dcr);
        t += 256 * tab[i].div + 1000;
    }
}

Test(apic, timer_divide_change_keeps_the_count)
{
    wr(APIC_TIMER_DCR, 0xb); /* by 1 */
    wr(APIC_TIMER_ICR, 10000);
    at(4000);
    cr_assert_eq(rd(APIC_TIMER_CCR), 6000);
    wr(APIC_TIMER_DCR, 0x1); /* by 4 */
    cr_assert_eq(rd(APIC_TIMER_CCR), 6000);
    at(4000 + 4000);
    cr_assert_eq(rd(APIC_TIMER_CCR), 5000);
}

Test(apic, timer_masked_counts_silently)
{
    enable();
    wr(APIC_TIMER_DCR, 0xb);
    wr(APIC_LVT_TIMER, APIC_LVT_MASKED | 0x42);
    wr(APIC_TIMER_ICR, 1000);
    at(500);
    cr_assert_eq(rd(APIC_TIMER_CCR), 500);
    at(2000);
    cr_assert_eq(rd(APIC_TIMER_CCR), 0);
    cr_assert_not(irr(0x42));
}

Test(apic, timer_periodic_minimum_period)
{
    enable();
    wr(APIC_TIMER_DCR, 0xb);
    wr(APIC_LVT_TIMER, APIC_LVT_TIMER_PERIODIC | 0x43);
    wr(APIC_TIMER_ICR, 10); /* 10 ns asked */
    at(APIC_TIMER_MIN_PERIOD_NS - 1);
    cr_assert_not(irr(0x43));
    at(APIC_TIMER_MIN_PERIOD_NS);
    cr_assert(irr(0x43));
}

Test(apic, timer_deadline_arms_the_clock)
{
    enable();
    wr(APIC_TIMER_DCR, 0xb);
    wr(APIC_LVT_TIMER, 0x44);
    wr(APIC_TIMER_ICR, 5000);
    cr_assert_eq(clock_deadline(clk), T0 + 5000);
}

/* --- the 8259 and the LINT pins --- */

Test(apic, pic_passes_while_software_disabled)
{
    pic_vector = 0x08;
    pic_level = true;
    apic_set_lint(apic, 0, 1);
    cr_assert(apic_intr_pending(apic));
    cr_assert_eq(intr_changes, 1);
    cr_assert_eq(apic_intr_ack(apic), 0x08);
    cr_assert_eq(pic_acks, 1);
}

Test(apic, pic_blocked_by_masked_lint0)
{
    enable();
    pic_level = true;
    apic_set_lint(apic, 0, 1);
    cr_assert_not(apic_intr_pending(apic), "LINT0 masked after reset");
    wr(APIC_LVT_LINT0, APIC_DM_EXTINT << APIC_DM_SHIFT); /* virtual wire */
    cr_assert(apic_intr_pending(apic));
    /* ExtINT goes first and ignores TPR */
    wr(APIC_TPR, 0xff);
    fixed(0x90, false);
    pic_vector = 0x21;
    cr_assert_eq(apic_intr_ack(apic), 0x21);
    cr_assert_eq(rd(APIC_ISR + 0x40), 0, "ExtINT is not in service");
    cr_assert_not(apic_intr_pending(apic));
    wr(APIC_LVT_LINT0, APIC_LVT_MASKED | APIC_DM_EXTINT << APIC_DM_SHIFT);
    pic_level = true;
    cr_assert_not(apic_intr_pending(apic));
}

Test(apic, pic_passes_when_globally_disabled)
{
    enable();
    pic_level = true;
    cr_assert_not(apic_intr_pending(apic));
    cr_assert_eq(apic_set_base(apic, APIC_DEFAULT_BASE | APIC_BASE_BSP), 0);
    cr_assert(apic_intr_pending(apic));
    cr_assert_eq(apic_intr_ack(apic), 0x20);
}

Test(apic, extint_message)
{
    enable();
    pic_level = true;
    ApicMsg m = {.delivery_mode = APIC_DM_EXTINT};
    cr_assert(apic_deliver(apic, &m));
    cr_assert(apic_intr_pending(apic));
    cr_assert_eq(apic_intr_ack(apic), 0x20);
    pic_level = true;
    cr_assert_not(apic_intr_pending(apic), "one message, one acknowledge");
}

Test(apic, lint1_nmi)
{
    enable();
    apic_set_lint(apic, 1, 1);
    cr_assert_eq(nmis, 0, "masked");
    apic_set_lint(apic, 1, 0);
    wr(APIC_LVT_LINT1, APIC_DM_NMI << APIC_DM_SHIFT);
    apic_set_lint(apic, 1, 1);
    cr_assert_eq(nmis, 1);
    apic_set_lint(apic, 1, 1);
    cr_assert_eq(nmis, 1, "edge");
    apic_set_lint(apic, 1, 0);
    wr(APIC_SVR, 0xff); /* software disabled: LINT1 is the NMI pin */
    apic_set_lint(apic, 1, 1);
    cr_assert_eq(nmis, 2);
    cr_assert_not(apic_intr_pending(apic));
}

Test(apic, lint0_fixed_level_remote_irr)
{
    enable();
    wr(APIC_LVT_LINT0, APIC_LVT_LEVEL | 0x58);
    apic_set_lint(apic, 0, 1);
    cr_assert(irr(0x58));
    cr_assert(rd(APIC_LVT_LINT0) & APIC_LVT_REMOTE_IRR);
    cr_assert_eq(apic_intr_ack(apic), 0x58);
    cr_assert(tmr(0x58));
    wr(APIC_EOI, 0);
    cr_assert(irr(0x58), "still asserted: again");
    cr_assert_eq(apic_intr_ack(apic), 0x58);
    apic_set_lint(apic, 0, 0);
    wr(APIC_EOI, 0);
    cr_assert_not(rd(APIC_LVT_LINT0) & APIC_LVT_REMOTE_IRR);
    cr_assert_not(irr(0x58));
    /* edge mode: one interrupt per rising edge */
    wr(APIC_LVT_LINT0, 0x59);
    apic_set_lint(apic, 0, 1);
    apic_set_lint(apic, 0, 1);
    cr_assert_eq(apic_intr_ack(apic), 0x59);
    wr(APIC_EOI, 0);
    cr_assert_not(apic_intr_pending(apic));
}

/* --- IA32_APIC_BASE --- */

Test(apic, base_disable_relocate_reenable)
{
    enable();
    wr(APIC_TPR, 0x20);
    cr_assert_eq(apic_set_base(apic, APIC_DEFAULT_BASE | APIC_BASE_BSP), 0);
    cr_assert_null(as_find(as, BASE), "disabled: no registers");
    cr_assert_gt(mem_changes, 0);
    cr_assert_eq(apic_set_base(apic, 0xfed00000ull | APIC_BASE_BSP | APIC_BASE_EN), 0);
    cr_assert_null(as_find(as, BASE));
    uint32_t v = 0;
    as_read(as, 0xfed00000ull + APIC_SVR, &v, 4);
    cr_assert_eq(v, 0xff, "back to the reset state");
    as_read(as, 0xfed00000ull + APIC_TPR, &v, 4);
    cr_assert_eq(v, 0);
    cr_assert_eq(apic_get_base(apic), 0xfed00900ull);
    cr_assert_eq(apic_set_base(apic, 0xfee00000ull | APIC_BASE_EN), 0);
    cr_assert_not_null(as_find(as, BASE));
    cr_assert_eq(apic_get_base(apic), 0xfee00800ull);
}

Test(apic, base_reserved_bits_refused)
{
    cr_assert_eq(apic_set_base(apic, 0xfee00900ull | 1), -EINVAL);
    cr_assert_eq(apic_set_base(apic, 0xfee00900ull | APIC_BASE_EXTD), -EINVAL);
    cr_assert_eq(apic_set_base(apic, 0xfee00900ull | (1ull << 36)), -EINVAL);
    cr_assert_eq(apic_get_base(apic), 0xfee00900ull);
}

Test(apic, base_overlap_is_an_error)
{
    static uint8_t ram[0x1000];
    cr_assert_eq(as_add_ram(as, 0x100000, sizeof(ram), ram, "ram"), 0);
    enable();
    cr_assert_eq(apic_set_base(apic, 0x100000ull | APIC_BASE_EN), -EEXIST);
    cr_assert_eq(apic_get_base(apic), 0xfee00900ull, "refused as a whole");
    cr_assert_not_null(as_find(as, BASE));
    cr_assert_eq(rd(APIC_SVR), APIC_SVR_ENABLE | 0xff, "state kept");
}

Test(apic, reset_restores_everything)
{
    enable();
    fixed(0x50, false);
    apic_intr_ack(apic);
    wr(APIC_TIMER_ICR, 100);
    apic_set_base(apic, 0xfed00000ull | APIC_BASE_EN);
    apic_reset(apic);
    cr_assert_eq(apic_get_base(apic), 0xfee00900ull);
    cr_assert_eq(rd(APIC_SVR), 0xff);
    cr_assert_not(isr(0x50));
    cr_assert_eq(rd(APIC_TIMER_CCR), 0);
    cr_assert_eq(clock_deadline(clk), INT64_MAX);
}

/* --- the CPUID model --- */

Test(apic, cpuid_apic_bit_follows_the_model)
{
    uint32_t out[4];
    CpuModel with = cpu_model_make(true), without = cpu_model_make(false);
    cpu_cpuid_model(&with, 1, 0, out);
    cr_assert(out[3] & CPUID_1_EDX_APIC);
    cr_assert_eq(out[3] & ~CPUID_1_EDX_APIC, CPUID_MODEL_1_EDX);
    cpu_cpuid_model(&without, 1, 0, out);
    cr_assert_eq(out[3], CPUID_MODEL_1_EDX);
    cpu_cpuid(1, 0, out);
    cr_assert_eq(out[3], CPUID_MODEL_1_EDX, "the plain call is the model without an APIC");
    cpu_cpuid_model(&with, 0, 0, out);
    uint32_t plain[4];
    cpu_cpuid(0, 0, plain);
    cr_assert_arr_eq(out, plain, sizeof(out));
}

Test(apic, cpuid_says_the_cpu_is_virtual)
{
    /* leaf 1 ECX bit 31 on every machine, and no hypervisor leaves behind it */
    uint32_t out[4];
    for (int apic = 0; apic < 2; apic++) {
        CpuModel m = cpu_model_make(apic);
        cpu_cpuid_model(&m, 1, 0, out);
        cr_assert_eq(out[2], 1u << 31, "leaf 1 ECX 0x%x", out[2]);
        for (uint32_t leaf = 0x40000000; leaf <= 0x40000010; leaf++) {
            cpu_cpuid_model(&m, leaf, 0, out);
            cr_assert(!out[0] && !out[1] && !out[2] && !out[3], "leaf 0x%x", leaf);
        }
    }
}
