#include "hw/serial.h"

#include <stdbool.h>

#include <glib.h>

struct SerialState {
    IrqLine irq;
    CharDev *chr;
    int irq_level;

    uint8_t ier, lcr, mcr, lsr, msr, scr, fcr;
    uint16_t divisor;

    /* RX FIFO (capacity 1 when FIFOs are off: the plain 8250 holding register) */
    uint8_t rx[UART_FIFO_SIZE];
    unsigned rx_head, rx_count;
    uint8_t rbr; /* last byte read: what RBR shows when the FIFO is empty */

    bool thr_ipending;     /* THRE interrupt latched (cleared by IIR read or THR write) */
    bool timeout_ipending; /* character timeout */
    bool rx_activity;      /* a byte came in or was read since the last poll */
    bool input_closed;     /* backend input is over for good */
};

static bool fifo_on(const SerialState *s)
{
    return s->fcr & UART_FCR_FE;
}

static unsigned rx_capacity(const SerialState *s)
{
    return fifo_on(s) ? UART_FIFO_SIZE : 1;
}

static unsigned rx_trigger(const SerialState *s)
{
    static const unsigned itl[4] = {1, 4, 8, 14};
    return fifo_on(s) ? itl[s->fcr >> 6] : 1;
}

/* The interrupt identification, by the datasheet's priorities: line status, then received
 * data (timeout shares that level), then THR empty, then modem status. */
static uint8_t compute_iir(const SerialState *s)
{
    if ((s->ier & UART_IER_ELSI) &&
        (s->lsr & (UART_LSR_OE | UART_LSR_PE | UART_LSR_FE | UART_LSR_BI)))
        return UART_IIR_RLSI;
    if ((s->ier & UART_IER_ERBFI) && s->timeout_ipending)
        return UART_IIR_CTI;
    if ((s->ier & UART_IER_ERBFI) && s->rx_count > 0 && s->rx_count >= rx_trigger(s))
        return UART_IIR_RDI;
    if ((s->ier & UART_IER_ETBEI) && s->thr_ipending)
        return UART_IIR_THRI;
    if ((s->ier & UART_IER_EDSSI) && (s->msr & 0x0f))
        return UART_IIR_MSI;
    return UART_IIR_NO_INT;
}

static void update_irq(SerialState *s)
{
    int level = !(compute_iir(s) & UART_IIR_NO_INT) && (s->mcr & UART_MCR_OUT2);
    if (level != s->irq_level) {
        s->irq_level = level;
        irq_set(&s->irq, level);
    }
}

/* Modem input pins as the UART sees them: in loopback the outputs are wired back to them;
 * otherwise a terminal that is present and ready (as QEMU reports for its backends). */
static uint8_t modem_inputs(const SerialState *s)
{
    if (!(s->mcr & UART_MCR_LOOP))
        return UART_MSR_CTS | UART_MSR_DSR | UART_MSR_DCD;
    uint8_t v = 0;
    if (s->mcr & UART_MCR_RTS)
        v |= UART_MSR_CTS;
    if (s->mcr & UART_MCR_DTR)
        v |= UART_MSR_DSR;
    if (s->mcr & UART_MCR_OUT1)
        v |= UART_MSR_RI;
    if (s->mcr & UART_MCR_OUT2)
        v |= UART_MSR_DCD;
    return v;
}

static void update_msr(SerialState *s)
{
    uint8_t old = s->msr & 0xf0, now = modem_inputs(s), d = old ^ now;
    if (d & UART_MSR_CTS)
        s->msr |= UART_MSR_DCTS;
    if (d & UART_MSR_DSR)
        s->msr |= UART_MSR_DDSR;
    if ((old & UART_MSR_RI) && !(now & UART_MSR_RI))
        s->msr |= UART_MSR_TERI;
    if (d & UART_MSR_DCD)
        s->msr |= UART_MSR_DDCD;
    s->msr = (uint8_t)((s->msr & 0x0f) | now);
}

static void rx_flush(SerialState *s)
{
    s->rx_head = s->rx_count = 0;
    s->timeout_ipending = false;
}

static void rx_push(SerialState *s, uint8_t c)
{
    if (s->rx_count == rx_capacity(s)) {
        s->lsr |= UART_LSR_OE;
        /* The 8250 holding register is overwritten; a full 16550 FIFO keeps its bytes and the
         * new one is lost in the shift register. */
        if (!fifo_on(s))
            s->rx[s->rx_head] = c;
    } else {
        s->rx[(s->rx_head + s->rx_count) % UART_FIFO_SIZE] = c;
        s->rx_count++;
    }
    s->rx_activity = true;
    s->timeout_ipending = false; /* a new byte restarts the timeout */
}

static uint8_t rx_pop(SerialState *s)
{
    if (s->rx_count) {
        s->rbr = s->rx[s->rx_head];
        s->rx_head = (s->rx_head + 1) % UART_FIFO_SIZE;
        s->rx_count--;
    }
    s->rx_activity = true;
    s->timeout_ipending = false;
    return s->rbr;
}

static void transmit(SerialState *s, uint8_t c)
{
    /* Drop the latched THRE interrupt first so an edge-triggered PIC sees a fresh edge when it
     * is raised again after the byte has gone, as it would on hardware. */
    s->thr_ipending = false;
    s->lsr &= (uint8_t) ~(UART_LSR_THRE | UART_LSR_TEMT);
    update_irq(s);
    if (s->mcr & UART_MCR_LOOP)
        rx_push(s, c);
    else
        chr_write(s->chr, &c, 1);
    s->lsr |= UART_LSR_THRE | UART_LSR_TEMT;
    s->thr_ipending = true;
    update_irq(s);
}

static uint8_t reg_read(SerialState *s, unsigned reg)
{
    uint8_t v;
    switch (reg) {
    case UART_RBR:
        if (s->lcr & UART_LCR_DLAB)
            return (uint8_t)s->divisor;
        v = rx_pop(s);
        update_irq(s);
        return v;
    case UART_IER:
        if (s->lcr & UART_LCR_DLAB)
            return (uint8_t)(s->divisor >> 8);
        return s->ier;
    case UART_IIR:
        v = compute_iir(s);
        /* Reading IIR acknowledges a THRE interrupt, but only when it is the one shown. */
        if (v == UART_IIR_THRI) {
            s->thr_ipending = false;
            update_irq(s);
        }
        return (uint8_t)(v | (fifo_on(s) ? UART_IIR_FIFO : 0));
    case UART_LCR:
        return s->lcr;
    case UART_MCR:
        return s->mcr;
    case UART_LSR:
        v = (uint8_t)(s->lsr | (s->rx_count ? UART_LSR_DR : 0));
        s->lsr &= (uint8_t) ~(UART_LSR_OE | UART_LSR_PE | UART_LSR_FE | UART_LSR_BI);
        update_irq(s);
        return v;
    case UART_MSR:
        v = s->msr;
        s->msr &= 0xf0;
        update_irq(s);
        return v;
    default:
        return s->scr;
    }
}

static void write_fcr(SerialState *s, uint8_t v)
{
    /* Changing the enable bit empties both FIFOs. */
    if ((v ^ s->fcr) & UART_FCR_FE)
        v |= UART_FCR_RFR | UART_FCR_XFR;
    if (v & UART_FCR_RFR)
        rx_flush(s);
    if (v & UART_FCR_XFR) {
        s->lsr |= UART_LSR_THRE | UART_LSR_TEMT;
        s->thr_ipending = true;
    }
    /* Other bits only take with FE set in the same write (datasheet: FCR0 must be 1). */
    s->fcr =
        (v & UART_FCR_FE) ? (uint8_t)(v & (UART_FCR_FE | UART_FCR_DMS | UART_FCR_ITL_MASK)) : 0;
    update_irq(s);
}

static void reg_write(SerialState *s, unsigned reg, uint8_t v)
{
    switch (reg) {
    case UART_THR:
        if (s->lcr & UART_LCR_DLAB)
            s->divisor = (uint16_t)((s->divisor & 0xff00) | v);
        else
            transmit(s, v);
        break;
    case UART_IER:
        if (s->lcr & UART_LCR_DLAB) {
            s->divisor = (uint16_t)((s->divisor & 0x00ff) | (v << 8));
        } else {
            uint8_t changed = (s->ier ^ v) & 0x0f;
            s->ier = v & 0x0f;
            /* Enabling ETBEI with THR empty raises THRE even if an IIR read had acknowledged
             * it; Windows relies on this (QEMU and Bochs do it on the rising edge). */
            if (changed & UART_IER_ETBEI)
                s->thr_ipending = (s->ier & UART_IER_ETBEI) && (s->lsr & UART_LSR_THRE);
            update_irq(s);
        }
        break;
    case UART_FCR:
        write_fcr(s, v);
        break;
    case UART_LCR:
        s->lcr = v;
        break;
    case UART_MCR:
        s->mcr = v & 0x1f;
        update_msr(s);
        update_irq(s);
        break;
    case UART_LSR:
    case UART_MSR:
        break; /* factory test registers: writes have no defined effect */
    default:
        s->scr = v;
        break;
    }
}

/* Wider accesses are split into byte cycles on consecutive ports, as the ISA bus does for an
 * 8-bit device; ports past the UART's eight read as all ones. */
static uint32_t serial_io_read(void *dev, uint16_t off, unsigned size)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < size; i++) {
        unsigned reg = off + i;
        uint8_t b = reg < 8 ? reg_read(dev, reg) : 0xff;
        v |= (uint32_t)b << (8 * i);
    }
    return v;
}

static void serial_io_write(void *dev, uint16_t off, uint32_t val, unsigned size)
{
    for (unsigned i = 0; i < size && off + i < 8; i++)
        reg_write(dev, off + i, (uint8_t)(val >> (8 * i)));
}

static const IoOps serial_ops = {serial_io_read, serial_io_write};

void serial_reset(SerialState *s)
{
    s->ier = s->lcr = s->mcr = s->scr = s->fcr = 0;
    s->lsr = UART_LSR_THRE | UART_LSR_TEMT;
    s->msr = modem_inputs(s);
    s->divisor = 12; /* 9600 baud, what firmware expects to find */
    s->rbr = 0;
    rx_flush(s);
    s->thr_ipending = false;
    s->rx_activity = false;
    update_irq(s);
}

SerialState *serial_init(IoBus *bus, uint16_t base, IrqLine irq, CharDev *chr)
{
    SerialState *s = g_new0(SerialState, 1);
    s->irq = irq;
    s->chr = chr;
    s->irq_level = 0;
    if (io_register(bus, base, 8, &serial_ops, s) < 0) {
        g_free(s);
        return NULL;
    }
    serial_reset(s);
    return s;
}

void serial_free(SerialState *s)
{
    g_free(s);
}

void serial_set_irq(SerialState *s, IrqLine irq)
{
    s->irq = irq;
    irq_set(&s->irq, s->irq_level);
}

size_t serial_receive(SerialState *s, const uint8_t *buf, size_t len)
{
    if (s->mcr & UART_MCR_LOOP)
        return 0;
    size_t n = 0;
    while (n < len && s->rx_count < rx_capacity(s))
        rx_push(s, buf[n++]);
    if (n)
        update_irq(s);
    return n;
}

void serial_poll(SerialState *s)
{
    /* A whole poll period with bytes waiting and nothing received or read stands for the
     * datasheet's four character times. */
    if (fifo_on(s) && s->rx_count && !s->rx_activity)
        s->timeout_ipending = true;
    s->rx_activity = false;

    unsigned room = rx_capacity(s) - s->rx_count;
    if (!(s->mcr & UART_MCR_LOOP) && s->chr && !s->input_closed && room) {
        uint8_t buf[UART_FIFO_SIZE];
        int n = chr_read(s->chr, buf, room);
        if (n < 0)
            s->input_closed = true;
        for (int i = 0; i < n; i++)
            rx_push(s, buf[i]);
    }
    update_irq(s);
}
