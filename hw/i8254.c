#include "hw/i8254.h"

#include <glib.h>

/* Catching up on OUT edges the run loop was late for: a few are enough for an edge-triggered
 * interrupt controller (one rising edge latches the request), the rest are skipped. */
#define MAX_CATCH_UP 4

typedef struct PitChannel {
    I8254State *pit;
    IrqLine out_line;
    Timer *timer; /* only for a channel whose OUT is connected */

    uint8_t mode; /* 0-5 (6 and 7 are stored as 2 and 3) */
    uint8_t rw;   /* PIT_RW_LSB, _MSB, _LSB_MSB */
    bool bcd;

    uint16_t cr;    /* count register as written */
    uint32_t cr_n;  /* ... as a number of clocks: 1..65536 (BCD: 1..10000) */
    uint32_t n;     /* the count the counting element is working through */
    bool loaded;    /* a count is in the counting element (modes 1/5: ready for triggers) */
    bool triggered; /* modes 1 and 5: a gate edge started the count */
    bool null_count;
    int64_t c0;       /* clock index at which the count was loaded */
    uint64_t pause_d; /* elapsed clocks frozen while the gate holds counting */
    bool gate;

    /* modes 2 and 3: a count written while counting is loaded at the end of the period */
    bool has_next;
    uint32_t next_n;
    int64_t next_at;

    bool write_msb_next; /* LSB/MSB access: the next write is the MSB */
    uint8_t write_lsb;
    bool read_msb_next; /* LSB/MSB access: the next read is the MSB */

    bool count_latched;
    uint16_t latch;
    bool status_latched;
    uint8_t status;

    int out_level;       /* level last driven on out_line */
    int64_t eval_c;      /* clock up to which out_line has been driven */
    int64_t reloaded_at; /* clock of the last deferred reload (a period boundary) */
    int64_t pulsed_at;   /* clock of the last boundary pulse sent */
} PitChannel;

struct I8254State {
    Clock *clock;
    PitChannel ch[3];
    uint8_t port61; /* writable bits */
};

/* --- time ---------------------------------------------------------------------------- */

static int64_t ns_to_clk(int64_t ns)
{
    if (ns <= 0)
        return 0;
    return (int64_t)(((unsigned __int128)ns * I8254_FREQ) / 1000000000u);
}

/* The first virtual nanosecond at which clock c has happened. */
static int64_t clk_to_ns(int64_t c)
{
    if (c <= 0)
        return 0;
    return (int64_t)(((unsigned __int128)c * 1000000000u + I8254_FREQ - 1) / I8254_FREQ);
}

static int64_t now_clk(I8254State *s)
{
    return ns_to_clk(clock_ns(s->clock));
}

/* --- the counter as a function of time ------------------------------------------------ */

static uint32_t modulus(const PitChannel *ch)
{
    return ch->bcd ? 10000 : 65536;
}

static bool gate_pauses(const PitChannel *ch)
{
    /* a low gate holds the count in modes 0, 2, 3, 4; in 1 and 5 it only triggers */
    return !ch->gate && ch->mode != 1 && ch->mode != 5;
}

static bool counting(const PitChannel *ch)
{
    if (!ch->loaded)
        return false;
    if ((ch->mode == 1 || ch->mode == 5) && !ch->triggered)
        return false;
    return true;
}

static uint64_t elapsed(const PitChannel *ch, int64_t c)
{
    if (!counting(ch))
        return 0;
    if (gate_pauses(ch))
        return ch->pause_d;
    return c > ch->c0 ? (uint64_t)(c - ch->c0) : 0;
}

/* Load the deferred count when its period boundary has come. */
static void sync(PitChannel *ch, int64_t c)
{
    if (ch->has_next && c >= ch->next_at && !gate_pauses(ch)) {
        ch->n = ch->next_n;
        ch->c0 = ch->next_at;
        ch->reloaded_at = ch->next_at;
        ch->has_next = false;
        ch->null_count = false;
    }
}

static uint32_t count_value(const PitChannel *ch, uint64_t d)
{
    uint32_t m = modulus(ch), n = ch->n;
    if (!counting(ch))
        return ch->cr_n % m;
    switch (ch->mode) {
    case 2: {
        uint32_t p = (uint32_t)(d % n);
        return (n - p) % m; /* n, n-1, ..., 1 */
    }
    case 3: {
        /* Decrements by two. Even n: n..2 in each half. Odd n: the high half shows n, then
         * n-1, n-3, ..., 2; the low half n, then n-3, n-5, ..., 2. */
        uint32_t p = (uint32_t)(d % n), h = (n + 1) / 2, v;
        if (!(n & 1))
            v = n - 2 * (p < h ? p : p - h);
        else if (p < h)
            v = p == 0 ? n : n - 1 - 2 * (p - 1);
        else
            v = p == h ? n : n - 3 - 2 * (p - h - 1);
        return v % m;
    }
    default: /* 0, 1, 4, 5: down from n, wrapping past zero */
        return (uint32_t)(((uint64_t)n + m - d % m) % m);
    }
}

static int out_level(const PitChannel *ch, uint64_t d)
{
    uint32_t n = ch->n;
    if (!ch->loaded)
        return ch->mode != 0; /* a control word sets OUT low in mode 0, high in the rest */
    switch (ch->mode) {
    case 0:
        return d >= n;
    case 1:
        return !ch->triggered || d >= n;
    case 2:
        if (!ch->gate)
            return 1;
        return n < 2 || d % n != n - 1; /* low for the clock at count 1 */
    case 3:
        if (!ch->gate)
            return 1;
        return d % n < (n + 1) / 2;
    case 4:
        return d != n; /* one low clock when the count reaches 0 */
    default:           /* 5 */
        return !ch->triggered || d != n;
    }
}

static bool periodic(const PitChannel *ch)
{
    return ch->mode == 2 || ch->mode == 3;
}

/* Elapsed clocks (relative to c0) of the next change of the OUT line after d, or -1 if none
 * comes. In modes 2 and 3 the line only has the period boundaries (see line_level). */
static int64_t next_change(const PitChannel *ch, uint64_t d)
{
    uint32_t n = ch->n;
    if (!counting(ch) || gate_pauses(ch))
        return -1;
    switch (ch->mode) {
    case 0:
    case 1:
        return d < n ? (int64_t)n : -1;
    case 2:
    case 3:
        if (n < 2)
            return -1;
        return (int64_t)(d - d % n + n);
    default: /* 4, 5 */
        if (d < n)
            return n;
        if (d == n)
            return (int64_t)n + 1;
        return -1;
    }
}

static int64_t next_change_abs(PitChannel *ch, int64_t c)
{
    int64_t rel = next_change(ch, elapsed(ch, c));
    if (rel < 0)
        return -1;
    int64_t abs = ch->c0 + rel;
    if (ch->has_next && ch->next_at > c && ch->next_at < abs)
        abs = ch->next_at;
    return abs;
}

/* --- the OUT line ------------------------------------------------------------------------ */

/* What the OUT line carries. In modes 2 and 3 it stays high while counting, and each period
 * boundary (OUT's rising edge) is sent as a low-high pulse: one timer per period instead of
 * two, and the same rising edges for the interrupt controller. Status and port 0x61 reads
 * show the datasheet's waveform (out_level). */
static int line_level(const PitChannel *ch, uint64_t d)
{
    if (periodic(ch) && counting(ch) && ch->gate && ch->n >= 2)
        return 1;
    return out_level(ch, d);
}

static void set_line(PitChannel *ch, int level)
{
    if (level != ch->out_level) {
        ch->out_level = level;
        irq_set(&ch->out_line, level);
    }
}

static void drive(PitChannel *ch, int64_t c)
{
    sync(ch, c);
    uint64_t d = elapsed(ch, c);
    int level = line_level(ch, d);
    if (level && periodic(ch) && counting(ch) && ch->gate && ch->n >= 2 &&
        ((d > 0 && d % ch->n == 0) || c == ch->reloaded_at) && c != ch->pulsed_at) {
        ch->pulsed_at = c; /* a period boundary: OUT's rising edge */
        set_line(ch, 0);
    }
    set_line(ch, level);
}

/* Drive OUT through the changes due up to clock c (a few of them, see MAX_CATCH_UP). */
static void advance(PitChannel *ch, int64_t c)
{
    if (!ch->timer)
        return;
    for (int i = 0; i < MAX_CATCH_UP && ch->eval_c < c; i++) {
        int64_t nc = next_change_abs(ch, ch->eval_c);
        if (nc < 0 || nc > c)
            break;
        drive(ch, nc);
        ch->eval_c = nc;
    }
    if (c > ch->eval_c)
        ch->eval_c = c;
    drive(ch, ch->eval_c);
}

static void rearm(PitChannel *ch)
{
    if (!ch->timer)
        return;
    int64_t nc = next_change_abs(ch, ch->eval_c);
    if (nc < 0)
        timer_del(ch->timer);
    else
        timer_mod(ch->timer, clk_to_ns(nc));
}

static void pit_timer_cb(void *opaque)
{
    PitChannel *ch = opaque;
    int64_t c = ns_to_clk(timer_expire(ch->timer));
    int64_t now = now_clk(ch->pit);
    if (now - c > I8254_FREQ)
        c = now; /* more than a second behind (host stall): drop the missed periods */
    advance(ch, c);
    rearm(ch);
}

/* Every state change of a channel is wrapped in begin/end: OUT is brought up to date before
 * the change, and re-evaluated and re-armed after it. */
static int64_t begin(PitChannel *ch)
{
    int64_t c = now_clk(ch->pit);
    advance(ch, c);
    sync(ch, c);
    return c;
}

static void end(PitChannel *ch, int64_t c)
{
    if (ch->timer) {
        drive(ch, c);
        rearm(ch);
    }
}

/* --- programming ------------------------------------------------------------------------- */

static uint32_t decode_count(const PitChannel *ch, uint16_t v)
{
    uint32_t n = v;
    if (ch->bcd)
        n = (v >> 12) * 1000u + ((v >> 8) & 15) * 100u + ((v >> 4) & 15) * 10u + (v & 15);
    if (n == 0 || n > modulus(ch))
        n = modulus(ch);
    return n;
}

static uint16_t encode_value(const PitChannel *ch, uint32_t v)
{
    if (!ch->bcd)
        return (uint16_t)v;
    return (uint16_t)(((v / 1000) << 12) | ((v / 100 % 10) << 8) | ((v / 10 % 10) << 4) | (v % 10));
}

/* A complete count was written to the count register. */
static void load_count(PitChannel *ch, int64_t c)
{
    ch->cr_n = decode_count(ch, ch->cr);
    ch->null_count = true;
    switch (ch->mode) {
    case 1:
    case 5:
        /* waits for a gate trigger; a count being worked through is not disturbed */
        if (!ch->loaded)
            ch->n = ch->cr_n;
        ch->loaded = true;
        break;
    case 2:
    case 3:
        if (ch->loaded && ch->gate) {
            uint64_t d = elapsed(ch, c);
            ch->has_next = true;
            ch->next_n = ch->cr_n;
            ch->next_at = ch->c0 + (int64_t)(d - d % ch->n + ch->n);
            break;
        }
        /* the first count after the control word starts at once */
        __attribute__((fallthrough));
    default:
        ch->n = ch->cr_n;
        ch->c0 = c;
        ch->pause_d = 0;
        ch->loaded = true;
        ch->has_next = false;
        ch->null_count = false;
        break;
    }
}

static void write_counter(PitChannel *ch, uint8_t v)
{
    int64_t c = begin(ch);
    switch (ch->rw) {
    case PIT_RW_LSB:
        ch->cr = v;
        load_count(ch, c);
        break;
    case PIT_RW_MSB:
        ch->cr = (uint16_t)(v << 8);
        load_count(ch, c);
        break;
    default:
        if (!ch->write_msb_next) {
            ch->write_lsb = v;
            ch->write_msb_next = true;
            /* mode 0: writing the first byte stops the count and sets OUT low */
            if (ch->mode == 0)
                ch->loaded = false;
        } else {
            ch->cr = (uint16_t)(ch->write_lsb | (v << 8));
            ch->write_msb_next = false;
            load_count(ch, c);
        }
        break;
    }
    end(ch, c);
}

static void latch_count(PitChannel *ch)
{
    if (ch->count_latched)
        return; /* later latch commands are ignored until the latch is read */
    int64_t c = now_clk(ch->pit);
    sync(ch, c);
    ch->latch = encode_value(ch, count_value(ch, elapsed(ch, c)));
    ch->count_latched = true;
}

static void latch_status(PitChannel *ch)
{
    if (ch->status_latched)
        return;
    int64_t c = now_clk(ch->pit);
    sync(ch, c);
    ch->status =
        (uint8_t)((out_level(ch, elapsed(ch, c)) ? PIT_STATUS_OUT : 0) |
                  (ch->null_count ? PIT_STATUS_NULL_COUNT : 0) | (ch->rw << PIT_CW_RW_SHIFT) |
                  (ch->mode << PIT_CW_MODE_SHIFT) | (ch->bcd ? PIT_CW_BCD : 0));
    ch->status_latched = true;
}

static void write_control(I8254State *s, uint8_t v)
{
    int sc = (v & PIT_CW_SC_MASK) >> PIT_CW_SC_SHIFT;
    if (sc == PIT_SC_READBACK) {
        for (int i = 0; i < 3; i++) {
            if (!(v & (PIT_RB_CNT0 << i)))
                continue;
            if (!(v & PIT_RB_NOT_COUNT))
                latch_count(&s->ch[i]);
            if (!(v & PIT_RB_NOT_STATUS))
                latch_status(&s->ch[i]);
        }
        return;
    }
    PitChannel *ch = &s->ch[sc];
    int rw = (v & PIT_CW_RW_MASK) >> PIT_CW_RW_SHIFT;
    if (rw == PIT_RW_LATCH) {
        latch_count(ch);
        return;
    }
    int64_t c = begin(ch);
    int mode = (v & PIT_CW_MODE_MASK) >> PIT_CW_MODE_SHIFT;
    ch->mode = (uint8_t)(mode > 5 ? mode - 4 : mode);
    ch->rw = (uint8_t)rw;
    ch->bcd = v & PIT_CW_BCD;
    ch->loaded = false;
    ch->triggered = false;
    ch->has_next = false;
    ch->null_count = true;
    ch->write_msb_next = false;
    ch->read_msb_next = false;
    ch->count_latched = false;
    ch->status_latched = false;
    end(ch, c);
}

static uint8_t read_counter(PitChannel *ch)
{
    if (ch->status_latched) {
        ch->status_latched = false;
        return ch->status;
    }
    uint16_t v;
    bool latched = ch->count_latched;
    if (latched) {
        v = ch->latch;
    } else {
        int64_t c = now_clk(ch->pit);
        sync(ch, c);
        v = encode_value(ch, count_value(ch, elapsed(ch, c)));
    }
    bool msb;
    switch (ch->rw) {
    case PIT_RW_LSB:
        msb = false;
        ch->count_latched = false;
        break;
    case PIT_RW_MSB:
        msb = true;
        ch->count_latched = false;
        break;
    default:
        msb = ch->read_msb_next;
        ch->read_msb_next = !msb;
        if (msb)
            ch->count_latched = false;
        break;
    }
    return msb ? (uint8_t)(v >> 8) : (uint8_t)v;
}

void i8254_set_gate(I8254State *s, int channel, bool level)
{
    PitChannel *ch = &s->ch[channel];
    if (ch->gate == level)
        return;
    int64_t c = begin(ch);
    if (!level) {
        ch->pause_d = elapsed(ch, c); /* where the count holds (modes 0, 2, 3, 4) */
        ch->gate = false;
    } else {
        ch->gate = true;
        switch (ch->mode) {
        case 0:
        case 4:
            ch->c0 = c - (int64_t)ch->pause_d; /* resume where it stopped */
            break;
        case 2:
        case 3:
            if (ch->loaded) { /* a rising gate reloads the count */
                ch->n = ch->cr_n;
                ch->c0 = c;
                ch->has_next = false;
                ch->null_count = false;
            }
            break;
        default: /* 1, 5: the rising edge triggers */
            if (ch->loaded) {
                ch->n = ch->cr_n;
                ch->c0 = c;
                ch->triggered = true;
                ch->null_count = false;
            }
            break;
        }
    }
    end(ch, c);
}

bool i8254_get_out(I8254State *s, int channel)
{
    PitChannel *ch = &s->ch[channel];
    int64_t c = now_clk(s);
    sync(ch, c);
    return out_level(ch, elapsed(ch, c));
}

/* --- ports ------------------------------------------------------------------------------- */

static uint32_t pit_io_read(void *dev, uint16_t off, unsigned size)
{
    I8254State *s = dev;
    uint32_t v = 0;
    for (unsigned i = 0; i < size; i++) {
        unsigned port = off + i;
        uint8_t b = port < PIT_CONTROL ? read_counter(&s->ch[port]) : 0xff;
        v |= (uint32_t)b << (8 * i);
    }
    return v;
}

static void pit_io_write(void *dev, uint16_t off, uint32_t val, unsigned size)
{
    I8254State *s = dev;
    for (unsigned i = 0; i < size && off + i < 4; i++) {
        uint8_t b = (uint8_t)(val >> (8 * i));
        if (off + i == PIT_CONTROL)
            write_control(s, b);
        else
            write_counter(&s->ch[off + i], b);
    }
}

static const IoOps pit_ops = {pit_io_read, pit_io_write};

static uint32_t port61_read(void *dev, uint16_t off, unsigned size)
{
    I8254State *s = dev;
    int64_t ns = clock_ns(s->clock);
    uint8_t v = s->port61;
    if ((ns / PORT61_REFRESH_NS) & 1)
        v |= PORT61_REFRESH;
    if (i8254_get_out(s, 2))
        v |= PORT61_OUT2;
    uint32_t r = v;
    for (unsigned i = 1; i < size; i++)
        r |= 0xffu << (8 * i); /* the ports above are not ours */
    return r;
}

static void port61_write(void *dev, uint16_t off, uint32_t val, unsigned size)
{
    I8254State *s = dev;
    s->port61 = (uint8_t)(val & PORT61_WRITABLE);
    i8254_set_gate(s, 2, val & PORT61_GATE2);
}

static const IoOps port61_ops = {port61_read, port61_write};

void i8254_reset(I8254State *s)
{
    int64_t c = now_clk(s);
    for (int i = 0; i < 3; i++) {
        PitChannel *ch = &s->ch[i];
        ch->mode = 3;
        ch->rw = PIT_RW_LSB_MSB;
        ch->bcd = false;
        ch->cr = 0;
        ch->cr_n = ch->n = 65536;
        ch->loaded = true;
        ch->triggered = false;
        ch->null_count = false;
        ch->c0 = c;
        ch->pause_d = 0;
        ch->gate = i != 2;
        ch->has_next = false;
        ch->write_msb_next = ch->read_msb_next = false;
        ch->count_latched = ch->status_latched = false;
        ch->eval_c = c;
        end(ch, c);
    }
    s->port61 = 0;
}

I8254State *i8254_init(IoBus *bus, uint16_t base, Clock *clock, IrqLine irq0)
{
    I8254State *s = g_new0(I8254State, 1);
    s->clock = clock;
    for (int i = 0; i < 3; i++) {
        s->ch[i].pit = s;
        s->ch[i].out_level = -1; /* unknown: the first evaluation drives the line */
        s->ch[i].reloaded_at = s->ch[i].pulsed_at = -1;
    }
    s->ch[0].out_line = irq0;
    if (irq0.handler)
        s->ch[0].timer = timer_new(clock, pit_timer_cb, &s->ch[0]);
    if (io_register(bus, base, 4, &pit_ops, s) < 0) {
        timer_free(s->ch[0].timer);
        g_free(s);
        return NULL;
    }
    i8254_reset(s);
    return s;
}

int i8254_init_port61(I8254State *s, IoBus *bus, uint16_t port)
{
    return io_register(bus, port, 1, &port61_ops, s);
}

void i8254_free(I8254State *s)
{
    if (!s)
        return;
    for (int i = 0; i < 3; i++)
        timer_free(s->ch[i].timer);
    g_free(s);
}
