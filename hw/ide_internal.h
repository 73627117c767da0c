/* hw/ide_internal.h: what hw/ide.c (the ATA side, the channels, bus-master DMA) and
 * hw/ide_atapi.c (the packet commands of the CD-ROM) share. Nothing else includes it.
 *
 * Register and bit names are those of ATA/ATAPI-6 (T13/1410D) and, for bus-master IDE, of the
 * Intel 82371SB (PIIX3) datasheet; SCSI/MMC names for the packet commands (MMC-3, SPC-3).
 */
#ifndef DUALVM_HW_IDE_INTERNAL_H
#define DUALVM_HW_IDE_INTERNAL_H

#include "hw/ide.h"

/* ---- Command block registers (offset from the channel's base) ---- */
enum {
    ATA_REG_DATA = 0,
    ATA_REG_ERROR = 1,        /* read */
    ATA_REG_FEATURES = 1,     /* write */
    ATA_REG_SECTOR_COUNT = 2, /* ATAPI: Interrupt Reason when read */
    ATA_REG_LBA_LOW = 3,      /* Sector Number in CHS mode */
    ATA_REG_LBA_MID = 4,      /* Cylinder Low; ATAPI Byte Count low */
    ATA_REG_LBA_HIGH = 5,     /* Cylinder High; ATAPI Byte Count high */
    ATA_REG_DEVICE = 6,       /* Device/Head */
    ATA_REG_STATUS = 7,       /* read */
    ATA_REG_COMMAND = 7,      /* write */
    ATA_CMD_BLOCK_PORTS = 8,
};
/* Control block: one port, Alternate Status (read) / Device Control (write) */
#define ATA_CTL_BLOCK_PORTS 1

/* Status */
#define ATA_SR_BSY 0x80
#define ATA_SR_DRDY 0x40
#define ATA_SR_DF 0x20
#define ATA_SR_DSC 0x10 /* device seek complete (ATAPI: SERV) */
#define ATA_SR_DRQ 0x08
#define ATA_SR_CORR 0x04
#define ATA_SR_IDX 0x02
#define ATA_SR_ERR 0x01 /* ATAPI: CHK */

/* Error */
#define ATA_ER_ICRC 0x80
#define ATA_ER_UNC 0x40
#define ATA_ER_MC 0x20
#define ATA_ER_IDNF 0x10
#define ATA_ER_MCR 0x08
#define ATA_ER_ABRT 0x04
#define ATA_ER_TK0NF 0x02
#define ATA_ER_AMNF 0x01
#define ATAPI_ER_SENSE_SHIFT 4 /* bits 7:4: the sense key */

/* Device */
#define ATA_DEV_OBS 0xa0 /* bits 7 and 5, obsolete, set by convention */
#define ATA_DEV_LBA 0x40
#define ATA_DEV_DEV 0x10
#define ATA_DEV_HEAD 0x0f

/* Device Control */
#define ATA_DC_HOB 0x80
#define ATA_DC_SRST 0x04
#define ATA_DC_NIEN 0x02

/* ATAPI Interrupt Reason (the Sector Count register) */
#define ATAPI_IR_COD 0x01 /* command (1) or data (0) */
#define ATAPI_IR_IO 0x02  /* to the host (1) */
#define ATAPI_IR_REL 0x04

/* EXECUTE DEVICE DIAGNOSTIC codes in the Error register */
#define ATA_DIAG_PASSED 0x01
#define ATA_DIAG_DEV1_FAILED 0x80

/* Signatures after power-on, reset and diagnostics (Sector Count, LBA Low = 1) */
#define ATA_SIG_ATA_MID 0x00
#define ATA_SIG_ATA_HIGH 0x00
#define ATA_SIG_ATAPI_MID 0x14
#define ATA_SIG_ATAPI_HIGH 0xeb

/* Commands */
enum {
    ATA_CMD_NOP = 0x00,
    ATA_CMD_DEVICE_RESET = 0x08,
    ATA_CMD_RECALIBRATE = 0x10, /* 0x10-0x1f */
    ATA_CMD_READ_SECTORS = 0x20,
    ATA_CMD_READ_SECTORS_NORETRY = 0x21,
    ATA_CMD_READ_SECTORS_EXT = 0x24,
    ATA_CMD_READ_DMA_EXT = 0x25,
    ATA_CMD_READ_MULTIPLE_EXT = 0x29,
    ATA_CMD_WRITE_SECTORS = 0x30,
    ATA_CMD_WRITE_SECTORS_NORETRY = 0x31,
    ATA_CMD_WRITE_SECTORS_EXT = 0x34,
    ATA_CMD_WRITE_DMA_EXT = 0x35,
    ATA_CMD_WRITE_MULTIPLE_EXT = 0x39,
    ATA_CMD_READ_VERIFY_SECTORS = 0x40,
    ATA_CMD_READ_VERIFY_SECTORS_NORETRY = 0x41,
    ATA_CMD_READ_VERIFY_SECTORS_EXT = 0x42,
    ATA_CMD_SEEK = 0x70, /* 0x70-0x7f */
    ATA_CMD_EXECUTE_DEVICE_DIAGNOSTIC = 0x90,
    ATA_CMD_INITIALIZE_DEVICE_PARAMETERS = 0x91,
    ATA_CMD_PACKET = 0xa0,
    ATA_CMD_IDENTIFY_PACKET_DEVICE = 0xa1,
    ATA_CMD_READ_MULTIPLE = 0xc4,
    ATA_CMD_WRITE_MULTIPLE = 0xc5,
    ATA_CMD_SET_MULTIPLE_MODE = 0xc6,
    ATA_CMD_READ_DMA = 0xc8,
    ATA_CMD_READ_DMA_NORETRY = 0xc9,
    ATA_CMD_WRITE_DMA = 0xca,
    ATA_CMD_WRITE_DMA_NORETRY = 0xcb,
    ATA_CMD_STANDBY_IMMEDIATE = 0xe0,
    ATA_CMD_IDLE_IMMEDIATE = 0xe1,
    ATA_CMD_STANDBY = 0xe2,
    ATA_CMD_IDLE = 0xe3,
    ATA_CMD_CHECK_POWER_MODE = 0xe5,
    ATA_CMD_FLUSH_CACHE = 0xe7,
    ATA_CMD_FLUSH_CACHE_EXT = 0xea,
    ATA_CMD_IDENTIFY_DEVICE = 0xec,
    ATA_CMD_SET_FEATURES = 0xef,
};

/* SET FEATURES subcommands (Features register) */
enum {
    ATA_SF_ENABLE_WCACHE = 0x02,
    ATA_SF_SET_XFER_MODE = 0x03,
    ATA_SF_DISABLE_REVERT = 0x66,
    ATA_SF_DISABLE_WCACHE = 0x82,
    ATA_SF_DISABLE_LOOKAHEAD = 0x55,
    ATA_SF_ENABLE_LOOKAHEAD = 0xaa,
    ATA_SF_ENABLE_REVERT = 0xcc,
};
/* SET TRANSFER MODE values (Sector Count) */
#define ATA_XFER_PIO_DEFAULT 0x00
#define ATA_XFER_PIO_DEFAULT_NOIORDY 0x01
#define ATA_XFER_PIO_FLOW 0x08 /* | mode 0-4 */
#define ATA_XFER_MWDMA 0x20    /* | mode 0-2 */
#define ATA_XFER_UDMA 0x40     /* | mode 0-5 */

/* CHECK POWER MODE results (Sector Count) */
#define ATA_POWER_STANDBY 0x00
#define ATA_POWER_ACTIVE_IDLE 0xff

/* ---- Bus-master IDE (PIIX3 datasheet 2.7; per channel, secondary at +8) ---- */
enum {
    PIIX_BMICOM = 0, /* command */
    PIIX_BMISTA = 2, /* status */
    PIIX_BMIDTP = 4, /* descriptor table pointer, 4 bytes */
    PIIX_BM_CHANNEL_STRIDE = 8,
};
#define PIIX_BMICOM_SSBM 0x01    /* start/stop bus master */
#define PIIX_BMICOM_RWCON 0x08   /* 1: bus master writes memory (a device read) */
#define PIIX_BMISTA_BMIDEA 0x01  /* bus master IDE active (read only) */
#define PIIX_BMISTA_ERR 0x02     /* IDE DMA error (write 1 to clear) */
#define PIIX_BMISTA_IDEINTS 0x04 /* IDE interrupt status (write 1 to clear) */
#define PIIX_BMISTA_DMA0CAP 0x20
#define PIIX_BMISTA_DMA1CAP 0x40
#define PIIX_BMIDTP_MASK 0xfffffffcu
/* A physical region descriptor: {u32 base, u32 count}; the table is dword aligned and must not
 * cross a 64 KiB boundary. */
#define PRD_SIZE 8
#define PRD_BASE_MASK 0xfffffffeu
#define PRD_COUNT_MASK 0xfffeu /* 0 means 64 KiB */
#define PRD_EOT 0x80000000u
#define PRD_TABLE_REGION 0x10000u

/* ---- the model ---- */

#define ATA_SECTOR 512u
#define ATAPI_SECTOR 2048u
#define ATAPI_PACKET_SIZE 12
#define ATA_MAX_MULT 16 /* READ/WRITE MULTIPLE: sectors per DRQ block at most */
#define ATA_LBA28_MAX 0x0fffffffull
#define IDE_BUF_SIZE 0x10000u /* one PIO DRQ block (ATAPI: up to 0xfffe) or DMA chunk */
#define IDE_REPLY_SIZE 512u   /* IDENTIFY data, or a packet command's reply */

typedef enum IdeXfer {
    XFER_NONE = 0,
    XFER_PIO_IN,  /* device -> host through the data port */
    XFER_PIO_OUT, /* host -> device through the data port */
    XFER_PACKET,  /* the host is writing a 12-byte ATAPI command packet */
    XFER_DMA_IN,  /* waiting for / in a bus-master transfer to memory */
    XFER_DMA_OUT, /* from memory */
} IdeXfer;

typedef struct IdeChannel IdeChannel;

typedef struct IdeDevice {
    IdeChannel *ch;
    unsigned unit;
    IdeMedia media;
    BlockDev *blk;
    uint64_t nsectors; /* in the medium's sector size */
    char serial[21], firmware[9], model[41];

    /* the registers; the host's writes go to both devices of the channel. hob_* are the
     * "previous contents" the HOB bit reads back (48-bit commands take them as the high half) */
    uint8_t feature, nsector, lba_low, lba_mid, lba_high;
    uint8_t hob_feature, hob_nsector, hob_lba_low, hob_lba_mid, hob_lba_high;
    uint8_t device, status, error;
    bool intrq; /* INTRQ pending: cleared by a Status read or a new command */

    /* settings */
    unsigned cyls, heads, secs;             /* default geometry */
    unsigned cur_cyls, cur_heads, cur_secs; /* INITIALIZE DEVICE PARAMETERS */
    unsigned mult;                          /* sectors per DRQ block of READ MULTIPLE; 0: off */
    uint8_t xfer_mode;                      /* SET TRANSFER MODE value in force */
    bool wcache, lookahead, standby;

    /* the data phase of the command in progress */
    IdeXfer xfer;
    uint8_t cmd;
    bool lba48;
    uint8_t *buf;      /* IDE_BUF_SIZE */
    uint32_t pos, len; /* the PIO DRQ block in buf */
    uint64_t left;     /* bytes after the current block */
    uint64_t off;      /* medium byte offset of the next block (media transfers) */
    bool from_media;   /* data comes from the medium, else from reply[] */
    uint32_t reply_pos;
    uint32_t block; /* PIO DRQ block size in bytes */
    uint8_t reply[IDE_REPLY_SIZE];

    /* ATAPI */
    uint8_t sense_key, asc, ascq;
    uint16_t bcl; /* byte count limit of the PACKET command */
    bool packet_dma;
    bool tray_open, locked;
    uint8_t media_event; /* pending GET EVENT STATUS NOTIFICATION media event code */
} IdeDevice;

struct IdeChannel {
    IdeController *ctl;
    unsigned index;
    uint16_t base, ctl_port;
    IdeDevice dev[IDE_UNITS];
    unsigned cur; /* the selected device (Device register's DEV bit) */
    uint8_t devctl;
    IrqLine irq;
    int irq_level;
    bool decode;
    /* bus master */
    uint8_t bmicom, bmista;
    uint32_t bmidtp;
    IdeDevice *dma_dev; /* the device whose DMA command waits for / uses the bus master */
};

/* ide.c, for ide_atapi.c */
void ide_raise_irq(IdeDevice *d);
void ide_set_signature(IdeDevice *d);
/* Start moving len bytes to the host (PIO in blocks of d->block, or DMA when dma): from the
 * medium at d->off when from_media, else from d->reply. */
void ide_start_in(IdeDevice *d, uint64_t len, bool from_media, bool dma);
void ide_abort(IdeDevice *d); /* ERR, ABRT, interrupt */
/* IDENTIFY words both kinds of device share: strings, DMA modes, version, reset result */
void ide_identify_common(const IdeDevice *d, uint16_t *id);

/* ide_atapi.c */
void atapi_identify(IdeDevice *d, uint16_t *id);
void atapi_packet_start(IdeDevice *d);       /* the PACKET command was written */
void atapi_packet_received(IdeDevice *d);    /* the 12 bytes are in d->buf */
void atapi_xfer_done(IdeDevice *d);          /* the last byte went to the host */
void atapi_xfer_error(IdeDevice *d, int rc); /* reading the medium failed */
void atapi_dma_error(IdeDevice *d);          /* the bus master failed (PRDs, memory) */
void atapi_reset(IdeDevice *d, bool power_on);
void atapi_block_regs(IdeDevice *d, uint32_t n); /* a PIO DRQ block of n bytes is ready */

#endif
