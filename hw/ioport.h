/* hw/ioport.h: the x86 I/O port bus (64 KiB of ports).
 *
 * Devices register a range of ports with read/write callbacks; the port passed to them is the
 * offset from the start of their range. Reads of unclaimed ports give all ones, writes are
 * dropped (as on a PC's ISA bus). Accesses of size 1, 2 or 4 go to the device that owns the
 * first port; a device sees its own port range only.
 */
#ifndef DUALVM_HW_IOPORT_H
#define DUALVM_HW_IOPORT_H

#include <stdint.h>

typedef struct IoOps {
    uint32_t (*read)(void *dev, uint16_t offset, unsigned size);
    void (*write)(void *dev, uint16_t offset, uint32_t val, unsigned size);
} IoOps;

typedef struct IoBus IoBus;

IoBus *io_bus_new(void);
void io_bus_free(IoBus *bus);

/* Claim [port, port+count). Returns 0, -EINVAL (count 0 or past 0xffff), -EEXIST (taken). */
int io_register(IoBus *bus, uint16_t port, uint32_t count, const IoOps *ops, void *dev);

uint32_t io_read(IoBus *bus, uint16_t port, unsigned size);
void io_write(IoBus *bus, uint16_t port, uint32_t val, unsigned size);
/* How many io_read/io_write calls the bus has seen (the translator's differential mode runs a
 * block that reached a device only once). */
uint64_t io_accesses(const IoBus *bus);

#endif
