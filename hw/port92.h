/* hw/port92.h: system control port A at 0x92 (the PS/2 "fast A20 and reset" port).
 *
 * Bit 1 is the alternate A20 gate: the board ORs it with the keyboard controller's A20 output
 * (as Intel's chipsets do: A20M# is asserted only when both are low). Writing bit 0 as 1 when
 * it was 0 pulses the CPU reset line. The other bits read back as written (bit 3 is the
 * CMOS/password lock on real boards and has no effect here). Power on: 0, so A20 follows the
 * keyboard controller.
 */
#ifndef DUALVM_HW_PORT92_H
#define DUALVM_HW_PORT92_H

#include <stdbool.h>
#include <stdint.h>

#include "hw/ioport.h"

#define PORT92_PORT 0x92

#define PORT92_FAST_RESET 0x01
#define PORT92_A20 0x02
#define PORT92_LOCK 0x08

typedef struct Port92State Port92State;

typedef struct Port92Board {
    void (*a20)(void *opaque, bool enabled); /* bit 1 changed */
    void (*reset)(void *opaque);             /* bit 0 went from 0 to 1 */
    void *opaque;
} Port92Board;

/* Claim port. NULL if taken. board may have NULL callbacks. */
Port92State *port92_init(IoBus *bus, uint16_t port, const Port92Board *board);
void port92_free(Port92State *s);
void port92_reset(Port92State *s); /* back to 0, without calling the board */
bool port92_a20(Port92State *s);

#endif
