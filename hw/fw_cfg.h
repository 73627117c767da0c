/* hw/fw_cfg.h: QEMU's firmware configuration device, the I/O-port flavour of the PC
 * (docs/specs/fw_cfg.rst in QEMU).
 *
 * Items are byte blobs under a 16-bit key. The guest writes a key to the selector (16-bit
 * write at 0x510), then reads the item byte by byte from the data port (0x511); reads past the
 * end give 0, writes to the data port are ignored. Key bit 14 (write channel) is ignored,
 * bit 15 selects the architecture's own keys.
 *
 * Files: named items (at most 55 characters) listed in the directory item FW_CFG_FILE_DIR:
 * a big-endian u32 count, then per file a big-endian u32 size, big-endian u16 key, u16
 * reserved and the NUL-padded 56-byte name, sorted by name; their keys are FW_CFG_FILE_FIRST
 * and up in that order (so a key is only known once all files are added).
 *
 * DMA (when created with an address space): the 64-bit big-endian address register at
 * 0x514 (high half) / 0x518 (low half; writing it starts the transfer) points at a
 * FWCfgDmaAccess {be32 control, be32 length, be64 address} in guest memory. Control selects
 * (bit 3, key in bits 31:16), reads (bit 1), skips (bit 2) or writes (bit 4); on completion the
 * device writes control back as 0, or with bit 0 (error) set. Every guest access goes through
 * as_read/as_write, so no guest value can reach host memory outside the guest's regions; a
 * transfer stops with the error bit at the first byte that is not mapped. Reads of 0x514-0x51b
 * give "QEMU CFG".
 */
#ifndef DUALVM_HW_FW_CFG_H
#define DUALVM_HW_FW_CFG_H

#include <stddef.h>
#include <stdint.h>

#include "hw/ioport.h"
#include "hw/memory.h"

#define FW_CFG_PORT_SEL 0x510
#define FW_CFG_PORT_DATA 0x511
#define FW_CFG_PORT_DMA 0x514 /* 8 ports: address high at 0x514, low at 0x518 */
#define FW_CFG_PORT_DMA_LOW 0x518

/* Item keys */
enum {
    FW_CFG_SIGNATURE = 0x00,
    FW_CFG_ID = 0x01,
    FW_CFG_UUID = 0x02,
    FW_CFG_RAM_SIZE = 0x03,
    FW_CFG_NOGRAPHIC = 0x04,
    FW_CFG_NB_CPUS = 0x05,
    FW_CFG_MACHINE_ID = 0x06,
    FW_CFG_KERNEL_ADDR = 0x07,
    FW_CFG_KERNEL_SIZE = 0x08,
    FW_CFG_KERNEL_CMDLINE = 0x09,
    FW_CFG_INITRD_ADDR = 0x0a,
    FW_CFG_INITRD_SIZE = 0x0b,
    FW_CFG_BOOT_DEVICE = 0x0c,
    FW_CFG_NUMA = 0x0d,
    FW_CFG_BOOT_MENU = 0x0e,
    FW_CFG_MAX_CPUS = 0x0f,
    FW_CFG_KERNEL_ENTRY = 0x10,
    FW_CFG_KERNEL_DATA = 0x11,
    FW_CFG_INITRD_DATA = 0x12,
    FW_CFG_CMDLINE_ADDR = 0x13,
    FW_CFG_CMDLINE_SIZE = 0x14,
    FW_CFG_CMDLINE_DATA = 0x15,
    FW_CFG_SETUP_ADDR = 0x16,
    FW_CFG_SETUP_SIZE = 0x17,
    FW_CFG_SETUP_DATA = 0x18,
    FW_CFG_FILE_DIR = 0x19,
    FW_CFG_FILE_FIRST = 0x20,
    FW_CFG_WRITE_CHANNEL = 0x4000,
    FW_CFG_ARCH_LOCAL = 0x8000,
    /* x86 */
    FW_CFG_ACPI_TABLES = FW_CFG_ARCH_LOCAL + 0,
    FW_CFG_SMBIOS_ENTRIES = FW_CFG_ARCH_LOCAL + 1,
    FW_CFG_IRQ0_OVERRIDE = FW_CFG_ARCH_LOCAL + 2,
    FW_CFG_E820_TABLE = FW_CFG_ARCH_LOCAL + 3,
};

/* FW_CFG_ID feature bits */
#define FW_CFG_VERSION 0x01
#define FW_CFG_VERSION_DMA 0x02

/* FWCfgDmaAccess.control */
#define FW_CFG_DMA_CTL_ERROR 0x01
#define FW_CFG_DMA_CTL_READ 0x02
#define FW_CFG_DMA_CTL_SKIP 0x04
#define FW_CFG_DMA_CTL_SELECT 0x08
#define FW_CFG_DMA_CTL_WRITE 0x10
#define FW_CFG_DMA_SIGNATURE 0x51454d5520434647ull /* "QEMU CFG" */

#define FW_CFG_MAX_FILE_PATH 56
#define FW_CFG_MAX_FILES 256
#define FW_CFG_DIR_ENTRY_SIZE 64

/* "etc/e820" entry types and layout: packed little-endian {u64 address, u64 length, u32 type} */
#define E820_RAM 1
#define E820_RESERVED 2
#define E820_ACPI 3
#define E820_NVS 4
#define FW_CFG_E820_ENTRY_SIZE 20

typedef struct E820Entry {
    uint64_t addr, len;
    uint32_t type;
} E820Entry;

typedef struct FwCfg FwCfg;

/* Claims 0x510-0x511, and 0x514-0x51b when dma_as is given (FW_CFG_ID then says DMA). Adds the
 * signature, ID and an empty file directory. NULL with the reason in err. */
FwCfg *fw_cfg_new(IoBus *io, AddressSpace *dma_as, char *err, size_t errlen);
void fw_cfg_free(FwCfg *s);

/* Set (or replace) a keyed item; data is copied. -EINVAL for the directory's key, a file key
 * or a blob over 4 GiB. */
int fw_cfg_add_bytes(FwCfg *s, uint16_t key, const void *data, size_t len);
int fw_cfg_add_i16(FwCfg *s, uint16_t key, uint16_t v); /* little-endian, as QEMU */
int fw_cfg_add_i32(FwCfg *s, uint16_t key, uint32_t v);
int fw_cfg_add_i64(FwCfg *s, uint16_t key, uint64_t v);
int fw_cfg_add_string(FwCfg *s, uint16_t key, const char *str); /* with its NUL */

/* Add a file; data is copied. -EEXIST (name taken), -ENAMETOOLONG (over 55 characters),
 * -EINVAL (empty name, over 4 GiB), -ENOSPC (FW_CFG_MAX_FILES). */
int fw_cfg_add_file(FwCfg *s, const char *name, const void *data, size_t len);
/* Add a file, or replace the contents of the one of that name (its key stays). */
int fw_cfg_modify_file(FwCfg *s, const char *name, const void *data, size_t len);
/* The key a file has now, or -ENOENT. */
int fw_cfg_file_key(FwCfg *s, const char *name);

/* An item's current bytes (NULL if there is none), for the board and tests. */
const uint8_t *fw_cfg_get(FwCfg *s, uint16_t key, size_t *len);

/* "etc/e820" from n entries. */
int fw_cfg_add_e820(FwCfg *s, const E820Entry *e, size_t n);

/* Linux boot through fw_cfg, QEMU's items (read by an option ROM such as QEMU's linuxboot):
 * *_ADDR is where the option ROM is to put the blob, *_SIZE its length, *_DATA the bytes. The
 * command line's size counts its NUL. */
int fw_cfg_add_kernel(FwCfg *s, uint32_t addr, const void *data, size_t len);
int fw_cfg_add_initrd(FwCfg *s, uint32_t addr, const void *data, size_t len);
int fw_cfg_add_setup(FwCfg *s, uint32_t addr, const void *data, size_t len);
int fw_cfg_add_cmdline(FwCfg *s, uint32_t addr, const char *cmdline);

#endif
