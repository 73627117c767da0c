/* hw/serial.h: a 16550A UART on the I/O bus (8 ports from base).
 *
 * Transmit goes straight to the character backend, so the transmitter is always empty again by
 * the time the guest looks (THRE and TEMT set, the THRE interrupt re-raised as on hardware).
 * Input comes in through serial_poll(), which the run loop calls periodically; each call is also
 * the UART's sense of time: data left in the RX FIFO below its trigger level raises the
 * character-timeout interrupt at the first poll during which nothing was received or read.
 * The IRQ pin is (interrupt pending && MCR.OUT2), as a PC board gates it. The CharDev is
 * borrowed: the caller closes it after serial_free().
 */
#ifndef DUALVM_HW_SERIAL_H
#define DUALVM_HW_SERIAL_H

#include <stddef.h>
#include <stdint.h>

#include "hw/chardev.h"
#include "hw/ioport.h"
#include "hw/irq.h"

/* Register offsets (datasheet names); DLL/DLM replace RBR/THR/IER while LCR.DLAB is set. */
enum {
    UART_RBR = 0, /* read */
    UART_THR = 0, /* write */
    UART_DLL = 0,
    UART_IER = 1,
    UART_DLM = 1,
    UART_IIR = 2, /* read */
    UART_FCR = 2, /* write */
    UART_LCR = 3,
    UART_MCR = 4,
    UART_LSR = 5,
    UART_MSR = 6,
    UART_SCR = 7,
};

#define UART_IER_ERBFI 0x01 /* received data available (and character timeout) */
#define UART_IER_ETBEI 0x02 /* transmitter holding register empty */
#define UART_IER_ELSI 0x04  /* receiver line status */
#define UART_IER_EDSSI 0x08 /* modem status */

#define UART_IIR_NO_INT 0x01
#define UART_IIR_ID_MASK 0x0e
#define UART_IIR_MSI 0x00  /* modem status */
#define UART_IIR_THRI 0x02 /* THR empty */
#define UART_IIR_RDI 0x04  /* received data at trigger level */
#define UART_IIR_RLSI 0x06 /* receiver line status */
#define UART_IIR_CTI 0x0c  /* character timeout */
#define UART_IIR_FIFO 0xc0 /* both set when FIFOs are enabled */

#define UART_FCR_FE 0x01       /* FIFO enable */
#define UART_FCR_RFR 0x02      /* receiver FIFO reset */
#define UART_FCR_XFR 0x04      /* transmitter FIFO reset */
#define UART_FCR_DMS 0x08      /* DMA mode select */
#define UART_FCR_ITL_MASK 0xc0 /* RX trigger: 1, 4, 8, 14 bytes */

#define UART_LCR_DLAB 0x80
#define UART_LCR_SBC 0x40 /* set break */

#define UART_MCR_DTR 0x01
#define UART_MCR_RTS 0x02
#define UART_MCR_OUT1 0x04
#define UART_MCR_OUT2 0x08 /* gates the IRQ pin on a PC */
#define UART_MCR_LOOP 0x10

#define UART_LSR_DR 0x01   /* data ready */
#define UART_LSR_OE 0x02   /* overrun error */
#define UART_LSR_PE 0x04   /* parity error */
#define UART_LSR_FE 0x08   /* framing error */
#define UART_LSR_BI 0x10   /* break interrupt */
#define UART_LSR_THRE 0x20 /* THR empty */
#define UART_LSR_TEMT 0x40 /* transmitter empty */
#define UART_LSR_RXFE 0x80 /* error in RX FIFO */

#define UART_MSR_DCTS 0x01
#define UART_MSR_DDSR 0x02
#define UART_MSR_TERI 0x04 /* RI went from on to off */
#define UART_MSR_DDCD 0x08
#define UART_MSR_CTS 0x10
#define UART_MSR_DSR 0x20
#define UART_MSR_RI 0x40
#define UART_MSR_DCD 0x80

#define UART_FIFO_SIZE 16

typedef struct SerialState SerialState;

/* Claim ports [base, base+8) on bus. NULL if they are taken. chr may be NULL (output dropped,
 * no input). */
SerialState *serial_init(IoBus *bus, uint16_t base, IrqLine irq, CharDev *chr);
/* Only once the bus it was registered on is no longer used (ports cannot be released). */
void serial_free(SerialState *s);

/* Connect (or reconnect) the IRQ pin, e.g. once the interrupt controller exists; the current
 * level is driven onto the new line. */
void serial_set_irq(SerialState *s, IrqLine irq);

/* Back to the power-on state (as the MR pin). */
void serial_reset(SerialState *s);

/* Move waiting backend input into the RX FIFO as room allows, and let the character-timeout
 * time pass. */
void serial_poll(SerialState *s);

/* Deliver bytes as if they had arrived on the line (the backend path of serial_poll, for other
 * sources of input). Takes no more than the RX FIFO has room for, none in loopback mode (the
 * receiver is disconnected from the line then); returns how many were taken. */
size_t serial_receive(SerialState *s, const uint8_t *buf, size_t len);

#endif
