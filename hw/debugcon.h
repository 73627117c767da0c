/* hw/debugcon.h: QEMU's isa-debugcon: every byte written to its port goes to a character
 * backend; a read returns the readback value (0xe9), which is how firmware tells the console is
 * there. SeaBIOS writes its debug log to port 0x402 once that port reads back 0xe9; QEMU's own
 * -debugcon sits at 0xe9 (the Bochs "port e9 hack"). The board puts one device on both.
 */
#ifndef DUALVM_HW_DEBUGCON_H
#define DUALVM_HW_DEBUGCON_H

#include <stdint.h>

#include "hw/chardev.h"
#include "hw/ioport.h"

#define DEBUGCON_PORT_SEABIOS 0x402
#define DEBUGCON_PORT_BOCHS 0xe9
#define DEBUGCON_READBACK 0xe9

typedef struct DebugCon DebugCon;

/* Claim port on bus (one port). chr is borrowed (closed by the caller after debugcon_free) and
 * may be NULL (output dropped). NULL if the port is taken. */
DebugCon *debugcon_init(IoBus *bus, uint16_t port, CharDev *chr);
/* The same console on one more port. -EEXIST if it is taken. */
int debugcon_add_port(DebugCon *d, IoBus *bus, uint16_t port);
/* Only once the bus is no longer used. */
void debugcon_free(DebugCon *d);

#endif
