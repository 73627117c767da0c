#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hw/chardev.h"
#include "hw/serial.h"

#define BASE 0x3f8

static IoBus *bus;
static SerialState *uart;
static int levels[64], nlevels, level;

static void irq_handler(void *opaque, int n, int lvl)
{
    cr_assert_eq(n, 4);
    level = lvl;
    if (nlevels < 64)
        levels[nlevels++] = lvl;
}

static uint8_t rd(unsigned reg)
{
    return (uint8_t)io_read(bus, (uint16_t)(BASE + reg), 1);
}

static void wr(unsigned reg, uint8_t v)
{
    io_write(bus, (uint16_t)(BASE + reg), v, 1);
}

static void setup(void)
{
    bus = io_bus_new();
    nlevels = level = 0;
    uart = serial_init(bus, BASE, irq_line(irq_handler, NULL, 4), NULL);
    cr_assert_not_null(uart);
}

static void teardown(void)
{
    serial_free(uart);
    io_bus_free(bus);
}

TestSuite(serial, .init = setup, .fini = teardown);

Test(serial, power_on_state)
{
    cr_assert_eq(rd(UART_IER), 0);
    cr_assert_eq(rd(UART_IIR), UART_IIR_NO_INT);
    cr_assert_eq(rd(UART_LCR), 0);
    cr_assert_eq(rd(UART_MCR), 0);
    cr_assert_eq(rd(UART_LSR), UART_LSR_THRE | UART_LSR_TEMT);
    cr_assert_eq(rd(UART_MSR), UART_MSR_CTS | UART_MSR_DSR | UART_MSR_DCD);
    wr(UART_SCR, 0x5a);
    cr_assert_eq(rd(UART_SCR), 0x5a);
    cr_assert_eq(nlevels, 0);
    /* the second UART on the same ports is refused */
    cr_assert_null(serial_init(bus, BASE + 4, irq_line(NULL, NULL, 0), NULL));
}

Test(serial, dlab_switches_to_divisor)
{
    wr(UART_IER, 0x05);
    wr(UART_LCR, UART_LCR_DLAB | 0x03);
    cr_assert_eq(rd(UART_DLL), 12); /* 9600 baud at reset */
    cr_assert_eq(rd(UART_DLM), 0);
    wr(UART_DLL, 0x01);
    wr(UART_DLM, 0x02);
    cr_assert_eq(rd(UART_DLL), 0x01);
    cr_assert_eq(rd(UART_DLM), 0x02);
    cr_assert_eq(rd(UART_LCR), 0x83);
    wr(UART_LCR, 0x03);
    cr_assert_eq(rd(UART_IER), 0x05); /* untouched by the divisor writes */
    cr_assert_eq(rd(UART_LSR) & UART_LSR_DR, 0);
    wr(UART_IER, 0xff);
    cr_assert_eq(rd(UART_IER), 0x0f); /* upper bits do not exist on a 16550A */
    wr(UART_LCR, 0x83);
    cr_assert_eq(rd(UART_DLL), 0x01);
    cr_assert_eq(rd(UART_DLM), 0x02);
}

Test(serial, transmit_goes_to_backend_and_thr_is_empty_again)
{
    char path[] = "/tmp/dualvm-serial-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    char spec[64], err[256];
    snprintf(spec, sizeof(spec), "file:%s", path);
    CharDev *chr = chr_open(spec, err, sizeof(err));
    cr_assert_not_null(chr, "%s", err);
    IoBus *b2 = io_bus_new();
    SerialState *s2 = serial_init(b2, 0x2f8, irq_line(NULL, NULL, 3), chr);
    const char *msg = "hello\n";
    for (const char *p = msg; *p; p++) {
        io_write(b2, 0x2f8, (uint8_t)*p, 1);
        cr_assert_eq(io_read(b2, 0x2f8 + UART_LSR, 1), UART_LSR_THRE | UART_LSR_TEMT);
    }
    serial_poll(s2); /* no input in a file backend: nothing arrives */
    cr_assert_eq(io_read(b2, 0x2f8 + UART_LSR, 1) & UART_LSR_DR, 0);
    serial_free(s2);
    io_bus_free(b2);
    chr_close(chr);
    char buf[32] = {0};
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    unlink(path);
    cr_assert_eq(n, 6);
    cr_assert_str_eq(buf, msg);
}

Test(serial, loopback_fills_rx_fifo)
{
    wr(UART_MCR, UART_MCR_LOOP);
    wr(UART_FCR, UART_FCR_FE | UART_FCR_RFR | UART_FCR_XFR);
    for (int i = 0; i < 16; i++)
        wr(UART_THR, (uint8_t)('a' + i));
    cr_assert_eq(rd(UART_LSR), UART_LSR_DR | UART_LSR_THRE | UART_LSR_TEMT);
    for (int i = 0; i < 16; i++) {
        cr_assert(rd(UART_LSR) & UART_LSR_DR);
        cr_assert_eq(rd(UART_RBR), 'a' + i);
    }
    cr_assert_eq(rd(UART_LSR) & UART_LSR_DR, 0);
    /* loopback disconnects the receiver from the line */
    cr_assert_eq(serial_receive(uart, (const uint8_t *)"x", 1), 0);
}

Test(serial, overrun_fifo_keeps_old_bytes)
{
    wr(UART_MCR, UART_MCR_LOOP);
    wr(UART_FCR, UART_FCR_FE);
    for (int i = 0; i < 17; i++)
        wr(UART_THR, (uint8_t)i);
    uint8_t lsr = rd(UART_LSR);
    cr_assert(lsr & UART_LSR_OE);
    cr_assert(lsr & UART_LSR_DR);
    cr_assert_eq(rd(UART_LSR) & UART_LSR_OE, 0); /* cleared by the read */
    for (int i = 0; i < 16; i++)
        cr_assert_eq(rd(UART_RBR), i);
    cr_assert_eq(rd(UART_LSR) & UART_LSR_DR, 0);
}

Test(serial, overrun_without_fifo_overwrites)
{
    wr(UART_MCR, UART_MCR_LOOP);
    wr(UART_THR, 'a');
    cr_assert_eq(rd(UART_LSR) & UART_LSR_OE, 0);
    wr(UART_THR, 'b');
    cr_assert_eq(rd(UART_LSR), UART_LSR_DR | UART_LSR_OE | UART_LSR_THRE | UART_LSR_TEMT);
    cr_assert_eq(rd(UART_RBR), 'b');
    cr_assert_eq(rd(UART_LSR) & UART_LSR_DR, 0);
}

Test(serial, thre_interrupt_and_out2_gate)
{
    wr(UART_IER, UART_IER_ETBEI);
    cr_assert_eq(level, 0, "no IRQ without OUT2");
    cr_assert_eq(nlevels, 0);
    wr(UART_MCR, UART_MCR_OUT2);
    cr_assert_eq(level, 1);
    cr_assert_eq(rd(UART_IIR), UART_IIR_THRI);
    /* that read acknowledged it */
    cr_assert_eq(level, 0);
    cr_assert_eq(rd(UART_IIR), UART_IIR_NO_INT);
    /* a transmit empties THR again: THRE raised anew, with a falling edge in between if it
     * was still up */
    wr(UART_THR, 'x');
    cr_assert_eq(level, 1);
    nlevels = 0;
    wr(UART_THR, 'y');
    cr_assert_eq(nlevels, 2);
    cr_assert_eq(levels[0], 0);
    cr_assert_eq(levels[1], 1);
    /* OUT2 off: still pending inside the UART, pin low */
    wr(UART_MCR, 0);
    cr_assert_eq(level, 0);
    cr_assert_eq(rd(UART_IIR), UART_IIR_THRI);
    /* re-enabling ETBEI re-raises THRE even after the IIR acknowledge */
    wr(UART_MCR, UART_MCR_OUT2);
    cr_assert_eq(level, 0);
    wr(UART_IER, 0);
    wr(UART_IER, UART_IER_ETBEI);
    cr_assert_eq(level, 1);
    /* IER write that leaves ETBEI as it is does not */
    cr_assert_eq(rd(UART_IIR), UART_IIR_THRI);
    wr(UART_IER, UART_IER_ETBEI | UART_IER_ELSI);
    cr_assert_eq(level, 0);
    cr_assert_eq(rd(UART_IIR), UART_IIR_NO_INT);
}

Test(serial, iir_priorities)
{
    wr(UART_MCR, UART_MCR_LOOP | UART_MCR_OUT2);
    wr(UART_FCR, UART_FCR_FE); /* trigger level 1 */
    wr(UART_IER, 0x0f);
    cr_assert_eq(level, 1);
    /* pending now: THRE (enabled with THR empty) and modem status (entering loopback changed
     * DSR/DCD/CTS) */
    cr_assert_eq(rd(UART_IIR), UART_IIR_FIFO | UART_IIR_THRI);
    cr_assert_eq(rd(UART_IIR), UART_IIR_FIFO | UART_IIR_MSI);
    for (int i = 0; i < 17; i++)
        wr(UART_THR, (uint8_t)i); /* overrun: line status, RX data, THRE, MSR all pending */
    cr_assert_eq(rd(UART_IIR), UART_IIR_FIFO | UART_IIR_RLSI);
    cr_assert_eq(rd(UART_IIR), UART_IIR_FIFO | UART_IIR_RLSI); /* not cleared by IIR read */
    rd(UART_LSR);
    cr_assert_eq(rd(UART_IIR), UART_IIR_FIFO | UART_IIR_RDI);
    for (int i = 0; i < 16; i++)
        rd(UART_RBR);
    cr_assert_eq(rd(UART_IIR), UART_IIR_FIFO | UART_IIR_THRI);
    cr_assert_eq(rd(UART_IIR), UART_IIR_FIFO | UART_IIR_MSI);
    cr_assert_eq(level, 1);
    cr_assert_neq(rd(UART_MSR) & 0x0f, 0);
    cr_assert_eq(rd(UART_IIR), UART_IIR_FIFO | UART_IIR_NO_INT);
    cr_assert_eq(level, 0);
}

Test(serial, disabled_sources_do_not_interrupt)
{
    wr(UART_MCR, UART_MCR_LOOP | UART_MCR_OUT2);
    wr(UART_IER, 0);
    wr(UART_THR, 'a');
    wr(UART_THR, 'b'); /* overrun */
    cr_assert_eq(rd(UART_IIR), UART_IIR_NO_INT);
    cr_assert_eq(level, 0);
    wr(UART_IER, UART_IER_ELSI);
    cr_assert_eq(level, 1);
    cr_assert_eq(rd(UART_IIR), UART_IIR_RLSI);
}

Test(serial, trigger_level_and_timeout)
{
    wr(UART_MCR, UART_MCR_LOOP | UART_MCR_OUT2);
    wr(UART_FCR, UART_FCR_FE | 0xc0); /* 14 bytes */
    wr(UART_IER, UART_IER_ERBFI);
    for (int i = 0; i < 13; i++)
        wr(UART_THR, (uint8_t)i);
    cr_assert_eq(rd(UART_IIR), UART_IIR_FIFO | UART_IIR_NO_INT);
    cr_assert_eq(level, 0);
    wr(UART_THR, 13);
    cr_assert_eq(rd(UART_IIR), UART_IIR_FIFO | UART_IIR_RDI);
    cr_assert_eq(level, 1);
    rd(UART_RBR); /* 13 left: below the trigger */
    cr_assert_eq(rd(UART_IIR), UART_IIR_FIFO | UART_IIR_NO_INT);
    serial_poll(uart); /* this period saw a read: no timeout yet */
    cr_assert_eq(rd(UART_IIR), UART_IIR_FIFO | UART_IIR_NO_INT);
    serial_poll(uart); /* a quiet period: character timeout */
    cr_assert_eq(rd(UART_IIR), UART_IIR_FIFO | UART_IIR_CTI);
    cr_assert_eq(level, 1);
    cr_assert_eq(rd(UART_RBR), 1);
    cr_assert_eq(rd(UART_IIR), UART_IIR_FIFO | UART_IIR_NO_INT);
    cr_assert_eq(level, 0);
    /* a byte arriving restarts the timeout too */
    serial_poll(uart);
    serial_poll(uart);
    cr_assert_eq(rd(UART_IIR), UART_IIR_FIFO | UART_IIR_CTI);
    wr(UART_THR, 0x55);
    cr_assert_eq(rd(UART_IIR), UART_IIR_FIFO | UART_IIR_NO_INT);
    serial_poll(uart);
    serial_poll(uart);
    cr_assert_eq(rd(UART_IIR), UART_IIR_FIFO | UART_IIR_CTI);
}

Test(serial, fcr_reset_and_enable)
{
    wr(UART_MCR, UART_MCR_LOOP);
    wr(UART_FCR, UART_FCR_FE);
    for (int i = 0; i < 5; i++)
        wr(UART_THR, (uint8_t)i);
    cr_assert(rd(UART_LSR) & UART_LSR_DR);
    wr(UART_FCR, UART_FCR_FE | UART_FCR_RFR);
    cr_assert_eq(rd(UART_LSR) & UART_LSR_DR, 0);
    cr_assert_eq(rd(UART_IIR) & UART_IIR_FIFO, UART_IIR_FIFO);
    /* turning FIFOs off empties them too, and drops the FIFO bits of IIR */
    wr(UART_THR, 'q');
    wr(UART_FCR, 0);
    cr_assert_eq(rd(UART_LSR) & UART_LSR_DR, 0);
    cr_assert_eq(rd(UART_IIR), UART_IIR_NO_INT);
    /* without FE in the same write, the trigger bits are not programmed */
    wr(UART_FCR, 0xc0);
    cr_assert_eq(rd(UART_IIR), UART_IIR_NO_INT);
    wr(UART_FCR, 0x41); /* FIFO on, trigger 4 */
    wr(UART_IER, UART_IER_ERBFI);
    for (int i = 0; i < 3; i++)
        wr(UART_THR, (uint8_t)i);
    cr_assert_eq(rd(UART_IIR), UART_IIR_FIFO | UART_IIR_NO_INT);
    wr(UART_THR, 3);
    cr_assert_eq(rd(UART_IIR), UART_IIR_FIFO | UART_IIR_RDI);
}

Test(serial, loopback_modem_lines)
{
    rd(UART_MSR);
    wr(UART_MCR, UART_MCR_LOOP | UART_MCR_RTS);
    /* CTS stays on (now from RTS); DSR and DCD drop */
    cr_assert_eq(rd(UART_MSR), UART_MSR_CTS | UART_MSR_DDSR | UART_MSR_DDCD);
    cr_assert_eq(rd(UART_MSR), UART_MSR_CTS);
    wr(UART_MCR, UART_MCR_LOOP | UART_MCR_OUT1 | UART_MCR_DTR | UART_MCR_OUT2);
    cr_assert_eq(rd(UART_MSR), UART_MSR_RI | UART_MSR_DSR | UART_MSR_DCD | UART_MSR_DCTS |
                                   UART_MSR_DDSR | UART_MSR_DDCD);
    /* RI rising gives no delta; RI falling gives TERI */
    wr(UART_MCR, UART_MCR_LOOP | UART_MCR_DTR | UART_MCR_OUT2);
    cr_assert_eq(rd(UART_MSR), UART_MSR_DSR | UART_MSR_DCD | UART_MSR_TERI);
    /* modem status interrupt */
    wr(UART_IER, UART_IER_EDSSI);
    cr_assert_eq(level, 0);
    wr(UART_MCR, UART_MCR_LOOP | UART_MCR_OUT2);
    cr_assert_eq(level, 1);
    cr_assert_eq(rd(UART_IIR), UART_IIR_MSI);
    cr_assert_eq(rd(UART_MSR), UART_MSR_DCD | UART_MSR_DDSR);
    cr_assert_eq(level, 0);
    /* leaving loopback: the (present, ready) terminal's lines come back */
    wr(UART_MCR, 0);
    cr_assert_eq(rd(UART_MSR) & 0xf0, UART_MSR_CTS | UART_MSR_DSR | UART_MSR_DCD);
    cr_assert_eq(rd(UART_MCR), 0);
    wr(UART_MCR, 0xff);
    cr_assert_eq(rd(UART_MCR), 0x1f);
}

Test(serial, receive_from_line)
{
    wr(UART_FCR, UART_FCR_FE);
    wr(UART_IER, UART_IER_ERBFI);
    wr(UART_MCR, UART_MCR_OUT2);
    uint8_t in[20];
    for (int i = 0; i < 20; i++)
        in[i] = (uint8_t)(0x30 + i);
    cr_assert_eq(serial_receive(uart, in, 20), 16); /* never more than there is room for */
    cr_assert_eq(level, 1);
    cr_assert_eq(rd(UART_LSR) & UART_LSR_OE, 0);
    cr_assert_eq(rd(UART_RBR), 0x30);
    cr_assert_eq(serial_receive(uart, in + 16, 4), 1);
    for (int i = 1; i < 17; i++)
        cr_assert_eq(rd(UART_RBR), 0x30 + i);
    cr_assert_eq(level, 0);
}

Test(serial, wide_access_is_byte_cycles)
{
    wr(UART_SCR, 0xa5);
    /* 16-bit read at LSR gives LSR | MSR << 8; 32-bit at base+6 runs past the UART's ports */
    cr_assert_eq(io_read(bus, BASE + UART_LSR, 2), 0x60 | (0xb0 << 8));
    cr_assert_eq(io_read(bus, BASE + UART_MSR, 4), 0xffff0000u | (0xa5 << 8) | 0xb0);
    io_write(bus, BASE + UART_LCR, 0x0b03, 2);
    cr_assert_eq(rd(UART_LCR), 0x03);
    cr_assert_eq(rd(UART_MCR), 0x0b);
}

Test(serial, reset_lowers_irq)
{
    wr(UART_MCR, UART_MCR_OUT2);
    wr(UART_IER, UART_IER_ETBEI);
    cr_assert_eq(level, 1);
    serial_reset(uart);
    cr_assert_eq(level, 0);
    cr_assert_eq(rd(UART_IER), 0);
    cr_assert_eq(rd(UART_MCR), 0);
}

Test(serial, set_irq_drives_current_level)
{
    wr(UART_MCR, UART_MCR_OUT2);
    wr(UART_IER, UART_IER_ETBEI);
    level = 0;
    nlevels = 0;
    serial_set_irq(uart, irq_line(irq_handler, NULL, 4));
    cr_assert_eq(nlevels, 1);
    cr_assert_eq(level, 1);
}

/* The character backend the UART talks through. */

#include <pty.h>
#include <termios.h>

Test(chardev, spec_errors)
{
    char err[256] = "";
    cr_assert_null(chr_open("tcp:1234", err, sizeof(err)));
    cr_assert_str_eq(err, "serial: unknown backend 'tcp:1234' (use stdio, file:PATH or none)");
    cr_assert_null(chr_open("/no/such/dir/for/dualvm", err, sizeof(err)));
    cr_assert_null(chr_open("file:/no/such/dir/for/dualvm", err, sizeof(err)));
    cr_assert_str_eq(err,
                     "serial: cannot open '/no/such/dir/for/dualvm': No such file or directory");
}

Test(chardev, none_is_a_sink)
{
    char err[256];
    CharDev *c = chr_open("none", err, sizeof(err));
    cr_assert_not_null(c);
    chr_write(c, (const uint8_t *)"x", 1);
    uint8_t b[4];
    cr_assert_eq(chr_read(c, b, sizeof(b)), -1);
    cr_assert_not(chr_quit_requested(c));
    chr_close(c);
}

Test(chardev, stdio_pipe_until_eof)
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    cr_assert_eq(dup2(p[0], STDIN_FILENO), STDIN_FILENO);
    close(p[0]);
    char err[256];
    CharDev *c = chr_open("stdio", err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    cr_assert_null(chr_open("stdio", err, sizeof(err)), "one stdio user at a time");
    uint8_t b[16];
    cr_assert_eq(chr_read(c, b, sizeof(b)), 0); /* nothing yet, and no blocking */
    cr_assert_eq(write(p[1], "ab\001x", 4), 4);
    /* not a terminal: Ctrl-A is data like any other byte */
    cr_assert_eq(chr_read(c, b, sizeof(b)), 4);
    cr_assert_eq(memcmp(b, "ab\001x", 4), 0);
    cr_assert_not(chr_quit_requested(c));
    close(p[1]);
    cr_assert_eq(chr_read(c, b, sizeof(b)), -1);
    cr_assert_eq(chr_read(c, b, sizeof(b)), -1);
    chr_close(c);
    c = chr_open("stdio", err, sizeof(err)); /* free again after close */
    cr_assert_not_null(c);
    chr_close(c);
}

Test(chardev, stdio_terminal_raw_mode_and_escapes)
{
    int master, slave;
    if (openpty(&master, &slave, NULL, NULL, NULL) != 0)
        cr_skip_test("no pseudo-terminal here");
    cr_assert_eq(dup2(slave, STDIN_FILENO), STDIN_FILENO);
    struct termios before, during, after;
    cr_assert_eq(tcgetattr(STDIN_FILENO, &before), 0);
    cr_assert(before.c_lflag & ICANON);
    char err[256];
    CharDev *c = chr_open("stdio", err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    tcgetattr(STDIN_FILENO, &during);
    cr_assert_eq(during.c_lflag & (ICANON | ECHO | ISIG), 0);
    /* Ctrl-A Ctrl-A sends one Ctrl-A, Ctrl-A x asks to quit, Ctrl-C is just a byte */
    cr_assert_eq(write(master, "a\001\001b\003\001xc", 8), 8);
    uint8_t b[16];
    int n = 0;
    for (int tries = 0; tries < 1000 && n < 5; tries++) {
        int r = chr_read(c, b + n, sizeof(b) - (size_t)n);
        cr_assert_geq(r, 0);
        n += r;
        if (n < 5)
            usleep(1000);
    }
    cr_assert_eq(n, 5);
    cr_assert_eq(memcmp(b, "a\001b\003c", 5), 0);
    cr_assert(chr_quit_requested(c));
    chr_close(c);
    tcgetattr(STDIN_FILENO, &after);
    cr_assert_eq(after.c_lflag, before.c_lflag);
    cr_assert_eq(after.c_iflag, before.c_iflag);
    close(master);
}

Test(chardev, pipe_input_waits_rather_than_drops)
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    cr_assert_eq(dup2(p[0], STDIN_FILENO), STDIN_FILENO);
    close(p[0]);
    static uint8_t data[10000];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 7);
    cr_assert_eq(write(p[1], data, sizeof(data)), (ssize_t)sizeof(data));
    close(p[1]);
    char err[256];
    CharDev *c = chr_open("stdio", err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    for (int i = 0; i < 10; i++)
        chr_poll(c); /* fills its buffer, no further */
    static uint8_t got[sizeof(data)];
    size_t n = 0;
    int r;
    while ((r = chr_read(c, got + n, 100)) > 0) {
        cr_assert_leq(r, 100);
        n += (size_t)r;
    }
    cr_assert_eq(r, -1);
    cr_assert_eq(n, sizeof(data));
    cr_assert_eq(memcmp(got, data, n), 0);
    chr_close(c);
}

Test(chardev, terminal_escape_seen_while_nobody_reads)
{
    int master, slave;
    if (openpty(&master, &slave, NULL, NULL, NULL) != 0)
        cr_skip_test("no pseudo-terminal here");
    cr_assert_eq(dup2(slave, STDIN_FILENO), STDIN_FILENO);
    char err[256];
    CharDev *c = chr_open("stdio", err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    char junk[1000];
    memset(junk, 'j', sizeof(junk));
    for (int i = 0; i < 6; i++) {
        cr_assert_eq(write(master, junk, sizeof(junk)), (ssize_t)sizeof(junk));
        for (int k = 0; k < 20; k++) {
            usleep(500);
            chr_poll(c);
        }
    }
    cr_assert_eq(write(master, "\001x", 2), 2);
    for (int i = 0; i < 1000 && !chr_quit_requested(c); i++) {
        usleep(1000);
        chr_poll(c);
    }
    cr_assert(chr_quit_requested(c));
    chr_close(c);
    close(master);
}
