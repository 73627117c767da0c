#include "hw/apic.h"

#include <errno.h>
#include <stdio.h>

#include <glib.h>

#define NO_MAPPING UINT64_MAX
#define NS_PER_S 1000000000ll

/* Bits software can write, per LVT entry (delivery status and Remote IRR are read-only) */
#define LVT_PIN_BITS                                                                               \
    (APIC_VECTOR_MASK | APIC_DM_MASK | APIC_LVT_POLARITY_LOW | APIC_LVT_LEVEL | APIC_LVT_MASKED)
static const uint32_t lvt_writable[APIC_LVT_COUNT] = {
    [APIC_LVT_N_TIMER] = APIC_VECTOR_MASK | APIC_LVT_MASKED | APIC_LVT_TIMER_PERIODIC,
    [APIC_LVT_N_THERMAL] = APIC_VECTOR_MASK | APIC_DM_MASK | APIC_LVT_MASKED,
    [APIC_LVT_N_PERF] = APIC_VECTOR_MASK | APIC_DM_MASK | APIC_LVT_MASKED,
    [APIC_LVT_N_LINT0] = LVT_PIN_BITS,
    [APIC_LVT_N_LINT1] = LVT_PIN_BITS,
    [APIC_LVT_N_ERROR] = APIC_VECTOR_MASK | APIC_LVT_MASKED,
};

#define ICR_LO_WRITABLE                                                                            \
    (APIC_VECTOR_MASK | APIC_DM_MASK | APIC_DEST_LOGICAL | APIC_ICR_LEVEL_ASSERT |                 \
     APIC_LVT_LEVEL | APIC_ICR_SHORTHAND_MASK)
#define BASE_WRITABLE (APIC_BASE_ADDR_MASK | APIC_BASE_BSP | APIC_BASE_EN)

struct ApicState {
    AddressSpace *as;
    Clock *clock;
    Timer *timer;
    ApicBoard board;
    uint8_t reset_id;

    uint64_t base;      /* IA32_APIC_BASE */
    uint64_t mapped_at; /* where the registers are in the address space, or NO_MAPPING */

    uint32_t id, tpr, ldr, dfr, svr;
    uint32_t isr[8], tmr[8], irr[8];
    uint32_t esr;         /* what reads show: the errors up to the last ESR write */
    uint32_t esr_pending; /* errors since */
    uint32_t icr_lo, icr_hi;
    uint32_t lvt[APIC_LVT_COUNT];

    uint32_t timer_icr, dcr;
    int64_t timer_start; /* virtual ns at which counting from timer_icr began */
    bool oneshot_fired;  /* the one-shot count reached 0 and raised its interrupt */

    int lint_level[2]; /* the LINT0/LINT1 pins as last driven */
    bool extint_msg;   /* an ExtINT message waits for the acknowledge */
    bool out_level;    /* the output to the CPU as last reported */
};

/* --- helpers ------------------------------------------------------------------------- */

static bool bank_test(const uint32_t *bank, unsigned v)
{
    return bank[v >> 5] & (1u << (v & 31));
}

static void bank_set(uint32_t *bank, unsigned v)
{
    bank[v >> 5] |= 1u << (v & 31);
}

static void bank_clear(uint32_t *bank, unsigned v)
{
    bank[v >> 5] &= ~(1u << (v & 31));
}

/* Highest vector set in the bank, or -1. */
static int bank_highest(const uint32_t *bank)
{
    for (int i = 7; i >= 0; i--)
        if (bank[i])
            return i * 32 + 31 - __builtin_clz(bank[i]);
    return -1;
}

static bool hw_enabled(const ApicState *s)
{
    return s->base & APIC_BASE_EN;
}

static bool sw_enabled(const ApicState *s)
{
    return hw_enabled(s) && (s->svr & APIC_SVR_ENABLE);
}

/* LINT0 is the bare INTR pin and LINT1 the NMI pin: APIC globally or software disabled */
static bool bypassed(const ApicState *s)
{
    return !sw_enabled(s);
}

static unsigned lvt_dm(uint32_t lvt)
{
    return (lvt & APIC_DM_MASK) >> APIC_DM_SHIFT;
}

static uint32_t ppr(const ApicState *s)
{
    int isrv = bank_highest(s->isr);
    uint32_t isr_class = isrv < 0 ? 0 : (uint32_t)isrv & 0xf0;
    return (s->tpr & 0xf0) >= isr_class ? s->tpr & 0xff : isr_class;
}

/* SDM 10.8.3.1 (the P6/Pentium 4 arbitration priority) */
static uint32_t apr(const ApicState *s)
{
    int isrv = bank_highest(s->isr), irrv = bank_highest(s->irr);
    uint32_t isr_class = isrv < 0 ? 0 : (uint32_t)isrv & 0xf0;
    uint32_t irr_class = irrv < 0 ? 0 : (uint32_t)irrv & 0xf0;
    uint32_t tpr_class = s->tpr & 0xf0;
    if (tpr_class >= irr_class && tpr_class > isr_class)
        return s->tpr & 0xff;
    uint32_t m = tpr_class > isr_class ? tpr_class : isr_class;
    return m > irr_class ? m : irr_class;
}

/* The IRR vector the CPU may take now, or -1. */
static int irr_deliverable(const ApicState *s)
{
    if (!sw_enabled(s))
        return -1;
    int v = bank_highest(s->irr);
    if (v < 0 || ((uint32_t)v & 0xf0) <= (ppr(s) & 0xf0))
        return -1;
    return v;
}

static bool pic_pending(const ApicState *s)
{
    return s->board.pic_pending && s->board.pic_pending(s->board.opaque);
}

/* An 8259 interrupt for the CPU: INTR bypassing a disabled APIC, LINT0 in ExtINT mode, or an
 * ExtINT message. */
static bool extint_pending(const ApicState *s)
{
    if (bypassed(s))
        return pic_pending(s);
    if (s->extint_msg)
        return true;
    uint32_t lvt0 = s->lvt[APIC_LVT_N_LINT0];
    return !(lvt0 & APIC_LVT_MASKED) && lvt_dm(lvt0) == APIC_DM_EXTINT && pic_pending(s);
}

/* What the CPU is offered. Every change of state that can move it ends in update_output(),
 * the 8259's through apic_set_lint(), so apic_intr_pending() (asked at every block entry by
 * the translator) reads the level kept here. */
static bool compute_pending(const ApicState *s)
{
    return extint_pending(s) || irr_deliverable(s) >= 0;
}

static void update_output(ApicState *s)
{
    bool level = compute_pending(s);
    if (level == s->out_level)
        return;
    s->out_level = level;
    if (s->board.intr_changed)
        s->board.intr_changed(s->board.opaque);
}

static void raise_nmi(ApicState *s)
{
    if (s->board.nmi)
        s->board.nmi(s->board.opaque);
}

static void local_deliver(ApicState *s, int n);

static void esr_error(ApicState *s, uint32_t bits)
{
    uint32_t fresh = bits & ~s->esr_pending;
    s->esr_pending |= bits;
    if (fresh)
        local_deliver(s, APIC_LVT_N_ERROR);
}

/* A fixed interrupt arrives: into IRR, TMR says how it was triggered. */
static bool accept_irq(ApicState *s, unsigned vector, bool level)
{
    if (vector < 16) {
        esr_error(s, APIC_ESR_RECV_ILLEGAL);
        return false;
    }
    bank_set(s->irr, vector);
    if (level)
        bank_set(s->tmr, vector);
    else
        bank_clear(s->tmr, vector);
    return true;
}

/* An LVT entry's interrupt (timer, error, the LINT pins in fixed or NMI mode). */
static void local_deliver(ApicState *s, int n)
{
    uint32_t lvt = s->lvt[n];
    if ((lvt & APIC_LVT_MASKED) || !hw_enabled(s))
        return;
    unsigned dm = (n == APIC_LVT_N_TIMER || n == APIC_LVT_N_ERROR) ? APIC_DM_FIXED : lvt_dm(lvt);
    switch (dm) {
    case APIC_DM_FIXED:
        accept_irq(s, lvt & APIC_VECTOR_MASK, n == APIC_LVT_N_LINT0 && (lvt & APIC_LVT_LEVEL));
        break;
    case APIC_DM_NMI:
        raise_nmi(s);
        break;
    default: /* ExtINT is looked at when the CPU asks; SMI and INIT are not modelled */
        break;
    }
}

/* LINT0 fixed and level-triggered: one interrupt per assertion, held off by Remote IRR until
 * the EOI. */
static void lint0_level_check(ApicState *s)
{
    uint32_t *lvt = &s->lvt[APIC_LVT_N_LINT0];
    if (bypassed(s) || !s->lint_level[0] || (*lvt & (APIC_LVT_MASKED | APIC_LVT_REMOTE_IRR)) ||
        lvt_dm(*lvt) != APIC_DM_FIXED || !(*lvt & APIC_LVT_LEVEL))
        return;
    if (accept_irq(s, *lvt & APIC_VECTOR_MASK, true))
        *lvt |= APIC_LVT_REMOTE_IRR;
}

/* Does a message for dest (physical or logical) reach this APIC? */
static bool dest_matches(const ApicState *s, uint8_t dest, bool logical)
{
    if (dest == 0xff)
        return true;
    if (!logical)
        return dest == (uint8_t)(s->id >> APIC_ID_SHIFT);
    uint8_t ldr = (uint8_t)(s->ldr >> APIC_LDR_SHIFT);
    if ((s->dfr & APIC_DFR_MODEL_MASK) == APIC_DFR_FLAT)
        return (dest & ldr) != 0;
    /* cluster model: cluster number in the high nibble, member bits in the low one */
    return ((dest >> 4) == (ldr >> 4) || (dest >> 4) == 0xf) && (dest & ldr & 0x0f) != 0;
}

/* A message already known to be for this APIC. */
static bool deliver_here(ApicState *s, const ApicMsg *msg)
{
    bool ok = true;
    switch (msg->delivery_mode) {
    case APIC_DM_FIXED:
    case APIC_DM_LOWEST:
        ok = accept_irq(s, msg->vector, msg->level);
        break;
    case APIC_DM_NMI:
        raise_nmi(s);
        break;
    case APIC_DM_EXTINT:
        s->extint_msg = true;
        break;
    default: /* SMI, INIT, SIPI: no other CPU to start, and INIT of this one not modelled */
        break;
    }
    update_output(s);
    return ok;
}

/* --- the timer ----------------------------------------------------------------------- */

static int64_t timer_divisor(const ApicState *s)
{
    unsigned v = (s->dcr & 3) | ((s->dcr & 8) >> 1); /* 0-7: divide by 2, 4, ... 128, 1 */
    return 1ll << ((v + 1) & 7);
}

static bool timer_periodic(const ApicState *s)
{
    return s->lvt[APIC_LVT_N_TIMER] & APIC_LVT_TIMER_PERIODIC;
}

/* Virtual ns for count timer clocks at the current divisor */
static int64_t counts_to_ns(const ApicState *s, uint64_t counts)
{
    return (int64_t)(((unsigned __int128)counts * (uint64_t)timer_divisor(s) * NS_PER_S) /
                     APIC_BUS_HZ);
}

/* The time one run from the initial count takes (a periodic one at least the minimum). */
static int64_t timer_period_ns(const ApicState *s)
{
    int64_t p = counts_to_ns(s, s->timer_icr);
    if (p < 1)
        p = 1;
    if (timer_periodic(s) && p < APIC_TIMER_MIN_PERIOD_NS)
        p = APIC_TIMER_MIN_PERIOD_NS;
    return p;
}

static uint32_t timer_ccr(const ApicState *s)
{
    if (!s->timer_icr)
        return 0;
    int64_t period = timer_period_ns(s), elapsed = clock_ns(s->clock) - s->timer_start;
    if (elapsed < 0)
        elapsed = 0;
    if (!timer_periodic(s) && elapsed >= period)
        return 0;
    elapsed %= period;
    uint64_t done = (uint64_t)(((unsigned __int128)elapsed * s->timer_icr) / (uint64_t)period);
    return s->timer_icr - (uint32_t)done;
}

/* Arm the clock timer for the next expiry, if there is one. */
static void timer_update(ApicState *s)
{
    timer_del(s->timer);
    if (!s->timer_icr)
        return;
    int64_t period = timer_period_ns(s), elapsed = clock_ns(s->clock) - s->timer_start;
    if (elapsed < 0)
        elapsed = 0;
    if (timer_periodic(s))
        timer_mod(s->timer, s->timer_start + (elapsed / period + 1) * period);
    else if (!s->oneshot_fired) /* even if its time has passed: it fires at once then */
        timer_mod(s->timer, s->timer_start + period);
}

static void timer_expired(void *opaque)
{
    ApicState *s = opaque;
    if (!timer_periodic(s))
        s->oneshot_fired = true;
    local_deliver(s, APIC_LVT_N_TIMER);
    timer_update(s);
    update_output(s);
}

/* A new divisor: the count goes on from where it is, at the new rate. */
static void timer_set_dcr(ApicState *s, uint32_t dcr)
{
    if (!s->timer_icr) {
        s->dcr = dcr;
        return;
    }
    int64_t now = clock_ns(s->clock);
    bool expired = !timer_periodic(s) && now - s->timer_start >= timer_period_ns(s);
    uint32_t ccr = timer_ccr(s);
    s->dcr = dcr;
    int64_t period = timer_period_ns(s);
    if (expired)
        s->timer_start = now - period;
    else
        s->timer_start =
            now -
            (int64_t)(((unsigned __int128)(s->timer_icr - ccr) * (uint64_t)period) / s->timer_icr);
    timer_update(s);
}

/* --- EOI ----------------------------------------------------------------------------- */

static void do_eoi(ApicState *s)
{
    int v = bank_highest(s->isr);
    if (v < 0)
        return;
    bank_clear(s->isr, (unsigned)v);
    uint32_t *lvt0 = &s->lvt[APIC_LVT_N_LINT0];
    if ((*lvt0 & APIC_LVT_REMOTE_IRR) && (*lvt0 & APIC_VECTOR_MASK) == (uint32_t)v) {
        *lvt0 &= ~APIC_LVT_REMOTE_IRR;
        lint0_level_check(s);
    }
    if (bank_test(s->tmr, (unsigned)v) && s->board.eoi)
        s->board.eoi(s->board.opaque, (uint8_t)v);
    update_output(s);
}

/* --- ICR ----------------------------------------------------------------------------- */

static void send_ipi(ApicState *s)
{
    unsigned dm = lvt_dm(s->icr_lo);
    unsigned sh = (s->icr_lo & APIC_ICR_SHORTHAND_MASK) >> APIC_ICR_SHORTHAND_SHIFT;
    ApicMsg msg = {
        .vector = (uint8_t)(s->icr_lo & APIC_VECTOR_MASK),
        .delivery_mode = (uint8_t)dm,
        .logical = s->icr_lo & APIC_DEST_LOGICAL,
        .level = s->icr_lo & APIC_LVT_LEVEL,
        .dest = (uint8_t)(s->icr_hi >> APIC_ICR_DEST_SHIFT),
    };
    if ((dm == APIC_DM_FIXED || dm == APIC_DM_LOWEST) && msg.vector < 16) {
        esr_error(s, APIC_ESR_SEND_ILLEGAL);
        return;
    }
    bool self;
    switch (sh) {
    case APIC_SH_SELF:
        self = dm == APIC_DM_FIXED; /* the SDM allows only fixed with the self shorthand */
        break;
    case APIC_SH_ALL:
        self = true;
        break;
    case APIC_SH_OTHERS:
        self = false; /* there are none */
        break;
    default:
        self = dest_matches(s, msg.dest, msg.logical);
        break;
    }
    if (self)
        deliver_here(s, &msg);
}

/* --- registers ----------------------------------------------------------------------- */

static void reset_regs(ApicState *s)
{
    s->id = (uint32_t)s->reset_id << APIC_ID_SHIFT;
    s->tpr = 0;
    s->ldr = 0;
    s->dfr = 0xffffffffu;
    s->svr = 0xff;
    for (int i = 0; i < 8; i++)
        s->isr[i] = s->tmr[i] = s->irr[i] = 0;
    s->esr = s->esr_pending = 0;
    s->icr_lo = s->icr_hi = 0;
    for (int i = 0; i < APIC_LVT_COUNT; i++)
        s->lvt[i] = APIC_LVT_MASKED;
    s->timer_icr = 0;
    s->dcr = 0;
    s->timer_start = clock_ns(s->clock);
    timer_del(s->timer);
    s->extint_msg = false;
}

static bool is_lvt(uint32_t reg)
{
    return reg >= APIC_LVT_TIMER && reg <= APIC_LVT_ERROR;
}

uint32_t apic_read_reg(ApicState *s, uint32_t offset)
{
    uint32_t reg = offset & 0xff0;
    if (offset >= APIC_MMIO_SIZE || (offset & 0xf))
        return 0;
    if (reg >= APIC_ISR && reg < APIC_ISR + 0x80)
        return s->isr[(reg - APIC_ISR) >> 4];
    if (reg >= APIC_TMR && reg < APIC_TMR + 0x80)
        return s->tmr[(reg - APIC_TMR) >> 4];
    if (reg >= APIC_IRR && reg < APIC_IRR + 0x80)
        return s->irr[(reg - APIC_IRR) >> 4];
    if (is_lvt(reg))
        return s->lvt[(reg - APIC_LVT_TIMER) >> 4];
    switch (reg) {
    case APIC_ID:
        return s->id;
    case APIC_VERSION:
        return APIC_VERSION_VALUE;
    case APIC_TPR:
        return s->tpr;
    case APIC_APR:
        return apr(s);
    case APIC_PPR:
        return ppr(s);
    case APIC_EOI: /* write-only */
    case APIC_RRD: /* remote read: not supported (P6+ have none) */
        return 0;
    case APIC_LDR:
        return s->ldr;
    case APIC_DFR:
        return s->dfr;
    case APIC_SVR:
        return s->svr;
    case APIC_ESR:
        return s->esr;
    case APIC_ICR_LO:
        return s->icr_lo; /* delivery is immediate: status idle */
    case APIC_ICR_HI:
        return s->icr_hi;
    case APIC_TIMER_ICR:
        return s->timer_icr;
    case APIC_TIMER_CCR:
        return timer_ccr(s);
    case APIC_TIMER_DCR:
        return s->dcr;
    default:
        esr_error(s, APIC_ESR_ILLEGAL_REG);
        update_output(s);
        return 0;
    }
}

static void write_lvt(ApicState *s, int n, uint32_t val)
{
    uint32_t v = (val & lvt_writable[n]) | (s->lvt[n] & APIC_LVT_REMOTE_IRR);
    if (!sw_enabled(s))
        v |= APIC_LVT_MASKED; /* SDM 10.4.7.2: masks stay set while software disabled */
    if (n == APIC_LVT_N_TIMER && s->timer_icr && timer_periodic(s) &&
        !(v & APIC_LVT_TIMER_PERIODIC)) {
        /* periodic to one-shot: the count in progress runs down to 0 once more */
        int64_t period = timer_period_ns(s), elapsed = clock_ns(s->clock) - s->timer_start;
        if (elapsed > 0)
            s->timer_start += elapsed / period * period;
        s->oneshot_fired = false;
    }
    s->lvt[n] = v;
    if (n == APIC_LVT_N_TIMER)
        timer_update(s);
    else if (n == APIC_LVT_N_LINT0)
        lint0_level_check(s);
}

void apic_write_reg(ApicState *s, uint32_t offset, uint32_t val)
{
    uint32_t reg = offset & 0xff0;
    if (offset >= APIC_MMIO_SIZE || (offset & 0xf))
        return;
    if (is_lvt(reg)) {
        write_lvt(s, (int)((reg - APIC_LVT_TIMER) >> 4), val);
        update_output(s);
        return;
    }
    if (reg >= APIC_ISR && reg < APIC_IRR + 0x80)
        return; /* ISR, TMR, IRR: read-only */
    switch (reg) {
    case APIC_ID:
        s->id = val & (0xffu << APIC_ID_SHIFT);
        break;
    case APIC_VERSION:
    case APIC_APR:
    case APIC_PPR:
    case APIC_RRD:
    case APIC_TIMER_CCR:
        break; /* read-only */
    case APIC_TPR:
        s->tpr = val & 0xff;
        break;
    case APIC_EOI:
        do_eoi(s);
        break;
    case APIC_LDR:
        s->ldr = val & (0xffu << APIC_LDR_SHIFT);
        break;
    case APIC_DFR:
        s->dfr = (val & APIC_DFR_MODEL_MASK) | APIC_DFR_RESERVED;
        break;
    case APIC_SVR:
        s->svr = val & (APIC_SVR_VECTOR | APIC_SVR_ENABLE | APIC_SVR_FOCUS_DISABLE);
        if (!(s->svr & APIC_SVR_ENABLE))
            for (int i = 0; i < APIC_LVT_COUNT; i++)
                s->lvt[i] |= APIC_LVT_MASKED;
        break;
    case APIC_ESR:
        s->esr = s->esr_pending;
        s->esr_pending = 0;
        break;
    case APIC_ICR_LO:
        s->icr_lo = val & ICR_LO_WRITABLE;
        send_ipi(s);
        break;
    case APIC_ICR_HI:
        s->icr_hi = val & (0xffu << APIC_ICR_DEST_SHIFT);
        break;
    case APIC_TIMER_ICR:
        s->timer_icr = val;
        s->timer_start = clock_ns(s->clock);
        s->oneshot_fired = false;
        timer_update(s);
        break;
    case APIC_TIMER_DCR:
        timer_set_dcr(s, val & APIC_DCR_MASK);
        break;
    default:
        esr_error(s, APIC_ESR_ILLEGAL_REG);
        break;
    }
    update_output(s);
}

static uint64_t apic_mmio_read(void *dev, uint64_t offset, unsigned size)
{
    if (offset & 0xc)
        return 0; /* the rest of the 16-byte slot */
    uint32_t v = apic_read_reg(dev, (uint32_t)(offset & ~0xfull));
    uint64_t r = v >> ((offset & 3) * 8);
    return size >= 4 ? r : r & ((1ull << (size * 8)) - 1);
}

static void apic_mmio_write(void *dev, uint64_t offset, uint64_t val, unsigned size)
{
    if ((offset & 0xf) || size < 4)
        return; /* the SDM defines only aligned 32-bit accesses */
    apic_write_reg(dev, (uint32_t)offset, (uint32_t)val);
}

static const MmioOps apic_mmio_ops = {
    .read = apic_mmio_read,
    .write = apic_mmio_write,
};

/* Map the registers where IA32_APIC_BASE says, or nowhere if it is disabled. */
static int remap(ApicState *s)
{
    uint64_t want = hw_enabled(s) ? s->base & APIC_BASE_ADDR_MASK : NO_MAPPING;
    if (want == s->mapped_at)
        return 0;
    if (s->mapped_at != NO_MAPPING) {
        as_remove(s->as, s->mapped_at);
        if (s->board.mem_changed)
            s->board.mem_changed(s->board.opaque, s->mapped_at, APIC_MMIO_SIZE);
        s->mapped_at = NO_MAPPING;
    }
    if (want == NO_MAPPING)
        return 0;
    int rc = as_add_mmio(s->as, want, APIC_MMIO_SIZE, &apic_mmio_ops, s, "apic");
    if (rc)
        return rc;
    s->mapped_at = want;
    if (s->board.mem_changed)
        s->board.mem_changed(s->board.opaque, want, APIC_MMIO_SIZE);
    return 0;
}

/* --- the public side ------------------------------------------------------------------ */

ApicState *apic_init(AddressSpace *as, Clock *clock, uint8_t id, const ApicBoard *board, char *err,
                     size_t errlen)
{
    ApicState *s = g_new0(ApicState, 1);
    s->as = as;
    s->clock = clock;
    if (board)
        s->board = *board;
    s->reset_id = id;
    s->mapped_at = NO_MAPPING;
    s->timer = timer_new(clock, timer_expired, s);
    s->base = APIC_DEFAULT_BASE | APIC_BASE_BSP | APIC_BASE_EN;
    reset_regs(s);
    int rc = remap(s);
    if (rc) {
        snprintf(err, errlen, "local APIC: cannot map its registers at 0x%llx: %s",
                 (unsigned long long)APIC_DEFAULT_BASE, g_strerror(-rc));
        apic_free(s);
        return NULL;
    }
    s->out_level = compute_pending(s);
    return s;
}

void apic_free(ApicState *s)
{
    if (!s)
        return;
    if (s->mapped_at != NO_MAPPING)
        as_remove(s->as, s->mapped_at);
    timer_free(s->timer);
    g_free(s);
}

void apic_reset(ApicState *s)
{
    s->base = APIC_DEFAULT_BASE | APIC_BASE_BSP | APIC_BASE_EN;
    reset_regs(s);
    remap(s); /* the default base was free at init */
    update_output(s);
}

uint64_t apic_get_base(ApicState *s)
{
    return s->base;
}

int apic_set_base(ApicState *s, uint64_t val)
{
    if (val & ~BASE_WRITABLE)
        return -EINVAL;
    uint64_t old = s->base;
    s->base = val;
    int rc = remap(s);
    if (rc) {
        /* refused as a whole: the old window comes back where it was free a moment ago */
        s->base = old;
        remap(s);
        return rc;
    }
    if ((old & APIC_BASE_EN) && !hw_enabled(s))
        reset_regs(s); /* SDM 10.4.3: back to the power-up state */
    update_output(s);
    return 0;
}

uint8_t apic_get_tpr(ApicState *s)
{
    return (uint8_t)s->tpr;
}

void apic_set_tpr(ApicState *s, uint8_t tpr)
{
    s->tpr = tpr;
    update_output(s);
}

void apic_set_lint(void *opaque, int n, int level)
{
    ApicState *s = opaque;
    if (n < 0 || n > 1)
        return;
    level = level != 0;
    int old = s->lint_level[n];
    s->lint_level[n] = level;
    if (bypassed(s)) {
        if (n == 1 && level && !old)
            raise_nmi(s); /* LINT1 is the NMI pin */
    } else {
        uint32_t lvt = s->lvt[APIC_LVT_N_LINT0 + n];
        bool level_trig = n == 0 && (lvt & APIC_LVT_LEVEL);
        if (!(lvt & APIC_LVT_MASKED)) {
            switch (lvt_dm(lvt)) {
            case APIC_DM_FIXED:
                if (level_trig)
                    lint0_level_check(s);
                else if (level && !old)
                    accept_irq(s, lvt & APIC_VECTOR_MASK, false);
                break;
            case APIC_DM_NMI:
                if (level && !old)
                    raise_nmi(s);
                break;
            default: /* ExtINT: the PIC is asked when the CPU looks */
                break;
            }
        }
    }
    update_output(s);
}

bool apic_deliver(ApicState *s, const ApicMsg *msg)
{
    if (!hw_enabled(s) || !dest_matches(s, msg->dest, msg->logical))
        return false;
    return deliver_here(s, msg);
}

bool apic_intr_pending(ApicState *s)
{
    return s->out_level;
}

int apic_intr_ack(ApicState *s)
{
    if (extint_pending(s) || bypassed(s)) {
        s->extint_msg = false;
        int v = s->board.pic_ack ? s->board.pic_ack(s->board.opaque) : -1;
        update_output(s);
        return v;
    }
    int v = irr_deliverable(s);
    if (v < 0) {
        /* it went away (TPR raised, say): the spurious vector, ISR untouched */
        update_output(s);
        return (int)(s->svr & APIC_SVR_VECTOR);
    }
    bank_clear(s->irr, (unsigned)v);
    bank_set(s->isr, (unsigned)v);
    update_output(s);
    return v;
}
