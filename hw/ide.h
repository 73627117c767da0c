/* hw/ide.h: the PIIX3's IDE controller (PCI 00:01.1) with ATA disks and ATAPI CD-ROMs.
 *
 * Two channels in legacy mode, as the PIIX3 ships them (programming interface 0x80): primary at
 * 0x1f0-0x1f7 and 0x3f6 on ISA IRQ 14, secondary at 0x170-0x177 and 0x376 on IRQ 15, each with
 * a master and a slave. The legacy ports decode while the function's PCI command register has
 * I/O enabled and the channel's IDETIM decode bit (0x40/0x42 bit 15) is set, as the datasheet
 * says (SeaBIOS sets both); without a Piix3 (unit tests) they always decode. Bus-master IDE
 * (BMIBA, BAR 4: BMICOM/BMISTA/BMIDTP per channel) follows the BAR's decoded address.
 *
 * Devices (ATA/ATAPI-6 register set; the constants in hw/ide_internal.h carry its names):
 *  - ATA disk: IDENTIFY DEVICE (CHS geometry 16 heads/63 sectors as QEMU guesses it, LBA28 and
 *    LBA48 capacity), READ/WRITE SECTORS, MULTIPLE and DMA (and their EXT forms), SET MULTIPLE
 *    MODE, INITIALIZE DEVICE PARAMETERS, SET FEATURES, FLUSH CACHE (EXT), READ VERIFY (EXT),
 *    IDLE/STANDBY (IMMEDIATE), CHECK POWER MODE, RECALIBRATE, SEEK, EXECUTE DEVICE DIAGNOSTIC.
 *    CHS and LBA addressing; an address or count past the medium is IDNF, never an access past
 *    the image.
 *  - ATAPI CD-ROM (signature 0xEB14): IDENTIFY PACKET DEVICE, DEVICE RESET and the PACKET
 *    command with TEST UNIT READY, REQUEST SENSE, INQUIRY, READ CAPACITY, READ(10), READ(12),
 *    MODE SENSE(10), READ TOC (formats 0 and 1), GET CONFIGURATION, START STOP UNIT, PREVENT
 *    ALLOW MEDIUM REMOVAL, GET EVENT STATUS NOTIFICATION, MECHANISM STATUS, SET CD SPEED; PIO
 *    within the byte count limit, or DMA.
 *
 * Everything is synchronous: a command has finished (or is waiting for the host to move data)
 * by the time the register write that started it returns, so BSY is never seen except during
 * a soft reset. Bus-master transfers walk the PRD table through as_read/as_write, so no guest
 * value reaches host memory outside the guest's regions; a PRD table that runs out before the
 * transfer, leaves its 64 KiB region, points at unmapped memory or wraps past 4 GiB is an
 * error to the guest: BMISTA's error bit, BMIDEA cleared, and the command aborted (ERR, ABRT)
 * with an interrupt.
 */
#ifndef DUALVM_HW_IDE_H
#define DUALVM_HW_IDE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hw/blockdev.h"
#include "hw/ioport.h"
#include "hw/irq.h"
#include "hw/memory.h"
#include "hw/piix.h"

#define IDE_CHANNELS 2
#define IDE_UNITS 2 /* master, slave */
#define IDE_PRIMARY_BASE 0x1f0
#define IDE_PRIMARY_CTL 0x3f6
#define IDE_PRIMARY_IRQ 14
#define IDE_SECONDARY_BASE 0x170
#define IDE_SECONDARY_CTL 0x376
#define IDE_SECONDARY_IRQ 15

typedef enum IdeMedia {
    IDE_MEDIA_NONE = 0,
    IDE_MEDIA_DISK,
    IDE_MEDIA_CDROM,
} IdeMedia;

typedef struct IdeController IdeController;

/* Claim both channels' legacy ports on io. irq[c] is channel c's interrupt line (ISA 14/15).
 * dma_as is the memory bus-master transfers see. With piix, the controller is its function 1:
 * it installs the PIIX3's IDE hooks (decode enables, BMIBA moves) and needs PCI bus mastering
 * enabled for DMA; without, ports always decode and ide_map_bmdma() places the bus-master
 * registers. NULL with the reason in err. */
IdeController *ide_new(IoBus *io, AddressSpace *dma_as, Piix3 *piix,
                       const IrqLine irq[IDE_CHANNELS], char *err, size_t errlen);
/* Closes the attached images. Before piix3_free. */
void ide_free(IdeController *c);

/* Put a drive on channel/unit. The controller owns blk from then on (also on failure). A disk
 * needs an image of at least one sector; a CD-ROM's image must be read-only, and a CD-ROM
 * drive without one (blk NULL) is there with no disc in it. */
int ide_attach(IdeController *c, unsigned channel, unsigned unit, IdeMedia media, BlockDev *blk,
               char *err, size_t errlen);

/* Hardware reset (power-on state of both channels and their devices; media stay). */
void ide_reset(IdeController *c);

IdeMedia ide_media(IdeController *c, unsigned channel, unsigned unit);
/* A disk's default CHS geometry (IDENTIFY words 1, 3, 6), for the board's CMOS bytes. */
bool ide_geometry(IdeController *c, unsigned channel, unsigned unit, unsigned *cyls,
                  unsigned *heads, unsigned *secs);

/* What a BIOS does to the PIIX3's IDE function before an OS runs (SeaBIOS, pciinit.c): set
 * both channels' IDETIM decode enables, which the datasheet resets to 0 and Linux's ata_piix
 * requires. For kernels booted without firmware; nothing to do without a Piix3. */
void ide_firmware_setup(IdeController *c);

/* Without a Piix3: the 16 bus-master ports at base (0 unmaps). -EEXIST if taken. */
int ide_map_bmdma(IdeController *c, uint16_t base);

#endif
