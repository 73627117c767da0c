/* hw/ide_atapi.c: the ATAPI CD-ROM's PACKET commands (MMC-3 over ATA/ATAPI-6), for hw/ide.c.
 *
 * A command ends in one of three ways: good status (DRDY, Interrupt Reason I/O+C/D, sense
 * cleared), CHECK CONDITION (CHK, the sense key in the Error register's high nibble, sense data
 * kept for REQUEST SENSE), or data to the host first: PIO in DRQ blocks of at most the byte
 * count limit the host put in LBA Mid/High (a PIO data command with a limit under 2 aborts at
 * the ATA level), or one bus-master transfer when the PACKET command's Features bit 0 asked
 * for DMA. Replies are cut to the allocation length the packet gives.
 */
#include "hw/ide_internal.h"

#include <string.h>

#include <glib.h>

/* Operation codes */
enum {
    GPCMD_TEST_UNIT_READY = 0x00,
    GPCMD_REQUEST_SENSE = 0x03,
    GPCMD_INQUIRY = 0x12,
    GPCMD_START_STOP_UNIT = 0x1b,
    GPCMD_PREVENT_ALLOW_MEDIUM_REMOVAL = 0x1e,
    GPCMD_READ_CAPACITY = 0x25,
    GPCMD_READ_10 = 0x28,
    GPCMD_SEEK_10 = 0x2b,
    GPCMD_READ_TOC = 0x43,
    GPCMD_GET_CONFIGURATION = 0x46,
    GPCMD_GET_EVENT_STATUS_NOTIFICATION = 0x4a,
    GPCMD_MODE_SENSE_10 = 0x5a,
    GPCMD_READ_12 = 0xa8,
    GPCMD_SET_CD_SPEED = 0xbb,
    GPCMD_MECHANISM_STATUS = 0xbd,
};

/* Sense keys and additional sense codes */
enum {
    SENSE_NO_SENSE = 0x00,
    SENSE_NOT_READY = 0x02,
    SENSE_MEDIUM_ERROR = 0x03,
    SENSE_ILLEGAL_REQUEST = 0x05,
    SENSE_UNIT_ATTENTION = 0x06,
    SENSE_ABORTED_COMMAND = 0x0b,
};
enum {
    ASC_NONE = 0x00,
    ASC_UNRECOVERED_READ_ERROR = 0x11,
    ASC_INVALID_OPCODE = 0x20,
    ASC_LBA_OUT_OF_RANGE = 0x21,
    ASC_INVALID_FIELD_IN_CDB = 0x24,
    ASC_MEDIUM_MAY_HAVE_CHANGED = 0x28,
    ASC_SAVING_PARAMETERS_NOT_SUPPORTED = 0x39,
    ASC_MEDIUM_NOT_PRESENT = 0x3a,
    ASC_MEDIUM_REMOVAL_PREVENTED = 0x53,
};
#define ASCQ_TRAY_OPEN 0x02
#define ASCQ_REMOVAL_PREVENTED 0x02

/* MODE SENSE pages */
#define MODE_PAGE_R_W_ERROR 0x01
#define MODE_PAGE_CAPABILITIES 0x2a
#define MODE_PAGE_ALL 0x3f
#define MODE_PC_CHANGEABLE 1
#define MODE_PC_SAVED 3

/* GET CONFIGURATION profiles and features */
#define MMC_PROFILE_NONE 0x0000
#define MMC_PROFILE_CD_ROM 0x0008
#define MMC_PROFILE_DVD_ROM 0x0010
#define MMC_FEATURE_PROFILE_LIST 0x0000
#define MMC_FEATURE_CORE 0x0001
#define MMC_FEATURE_REMOVABLE_MEDIUM 0x0003
#define MMC_FEATURE_RANDOM_READABLE 0x0010
#define MMC_INTERFACE_ATAPI 2
/* a disc larger than 80 minutes of CD is reported as a DVD */
#define CD_MAX_SECTORS (80u * 60u * 75u)

/* GET EVENT STATUS NOTIFICATION */
#define GESN_POLLED 0x01
#define GESN_CLASS_MEDIA 4
#define GESN_NEA 0x80
#define MEC_NO_CHANGE 0
#define MEC_NEW_MEDIA 2
#define MEC_MEDIA_REMOVAL 3
#define MS_TRAY_OPEN 0x01
#define MS_MEDIA_PRESENT 0x02

/* READ TOC */
#define TOC_ADR_CTRL_DATA 0x14 /* ADR 1 (position), control: data track */
#define TOC_LEADOUT 0xaa

static inline uint16_t ld_be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t ld_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void st_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void st_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static bool media_ok(const IdeDevice *d)
{
    return d->blk && !d->tray_open;
}

/* ---- completion ---------------------------------------------------------------------------- */

static void atapi_ok(IdeDevice *d)
{
    d->sense_key = SENSE_NO_SENSE;
    d->asc = d->ascq = 0;
    d->xfer = XFER_NONE;
    d->error = 0;
    d->status = ATA_SR_DRDY | ATA_SR_DSC;
    d->nsector = ATAPI_IR_IO | ATAPI_IR_COD;
    ide_raise_irq(d);
}

static void atapi_check(IdeDevice *d, uint8_t key, uint8_t asc, uint8_t ascq)
{
    d->sense_key = key;
    d->asc = asc;
    d->ascq = ascq;
    d->xfer = XFER_NONE;
    d->error = (uint8_t)(key << ATAPI_ER_SENSE_SHIFT);
    if (key == SENSE_ABORTED_COMMAND)
        d->error |= ATA_ER_ABRT;
    d->status = ATA_SR_DRDY | ATA_SR_ERR;
    d->nsector = ATAPI_IR_IO | ATAPI_IR_COD;
    ide_raise_irq(d);
}

static void not_ready(IdeDevice *d)
{
    atapi_check(d, SENSE_NOT_READY, ASC_MEDIUM_NOT_PRESENT, d->tray_open ? ASCQ_TRAY_OPEN : 0);
}

static void invalid_field(IdeDevice *d)
{
    atapi_check(d, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB, 0);
}

void atapi_xfer_done(IdeDevice *d)
{
    atapi_ok(d);
}

void atapi_xfer_error(IdeDevice *d, int rc)
{
    atapi_check(d, SENSE_MEDIUM_ERROR, ASC_UNRECOVERED_READ_ERROR, 0);
}

void atapi_dma_error(IdeDevice *d)
{
    atapi_check(d, SENSE_ABORTED_COMMAND, ASC_NONE, 0);
}

void atapi_block_regs(IdeDevice *d, uint32_t n)
{
    d->lba_mid = (uint8_t)n;
    d->lba_high = (uint8_t)(n >> 8);
    d->nsector = ATAPI_IR_IO;
}

/* Send len bytes to the host: from the medium at d->off, or from d->reply. */
static void data_in(IdeDevice *d, uint64_t len, bool from_media)
{
    if (!len) {
        atapi_ok(d);
        return;
    }
    if (!d->packet_dma) {
        uint32_t limit = d->bcl & ~1u; /* blocks before the last must be even */
        if (!limit) {
            /* a PIO data command needs room for data: ATA-level abort */
            d->xfer = XFER_NONE;
            d->error = ATA_ER_ABRT;
            d->status = ATA_SR_DRDY | ATA_SR_ERR;
            d->nsector = ATAPI_IR_IO | ATAPI_IR_COD;
            ide_raise_irq(d);
            return;
        }
        d->block = limit;
    }
    ide_start_in(d, len, from_media, d->packet_dma);
}

static void reply(IdeDevice *d, uint32_t len, uint32_t alloc)
{
    data_in(d, MIN(len, alloc), false);
}

/* ---- the commands -------------------------------------------------------------------------- */

static void cmd_request_sense(IdeDevice *d, const uint8_t *p)
{
    uint8_t *b = d->reply;
    memset(b, 0, 18);
    b[0] = 0x70; /* current error, fixed format */
    b[2] = d->sense_key;
    b[7] = 10; /* additional sense length */
    b[12] = d->asc;
    b[13] = d->ascq;
    reply(d, 18, p[4]); /* completing clears the sense data */
}

static void cmd_inquiry(IdeDevice *d, const uint8_t *p)
{
    if (p[1] & 1) { /* EVPD: no vital product data pages */
        invalid_field(d);
        return;
    }
    uint8_t *b = d->reply;
    memset(b, 0, 36);
    b[0] = 0x05; /* CD/DVD device */
    b[1] = 0x80; /* removable */
    b[2] = 0x00;
    b[3] = 0x21; /* ATAPI, response data format 1 */
    b[4] = 36 - 5;
    memcpy(b + 8, "DUALVM  ", 8);
    memcpy(b + 16, "DVD-ROM         ", 16);
    char rev[5] = "    ";
    memcpy(rev, d->firmware, MIN(strlen(d->firmware), (size_t)4));
    memcpy(b + 32, rev, 4);
    reply(d, 36, (uint32_t)ld_be16(p + 3));
}

static void cmd_read_capacity(IdeDevice *d)
{
    st_be32(d->reply, (uint32_t)MIN(d->nsectors - 1, (uint64_t)UINT32_MAX));
    st_be32(d->reply + 4, ATAPI_SECTOR);
    reply(d, 8, 8);
}

static void cmd_read(IdeDevice *d, uint32_t lba, uint32_t count)
{
    if ((uint64_t)lba + count > d->nsectors) {
        atapi_check(d, SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE, 0);
        return;
    }
    d->off = (uint64_t)lba * ATAPI_SECTOR;
    data_in(d, (uint64_t)count * ATAPI_SECTOR, true);
}

/* An address in READ TOC's form: LBA, or MSF (minute/second/frame of the 2-second lead-in). */
static void toc_addr(uint8_t *b, uint64_t lba, bool msf)
{
    if (!msf) {
        st_be32(b, (uint32_t)lba);
        return;
    }
    lba += 150;
    b[0] = 0;
    b[1] = (uint8_t)MIN(lba / (75 * 60), (uint64_t)0xff);
    b[2] = (uint8_t)(lba / 75 % 60);
    b[3] = (uint8_t)(lba % 75);
}

static void cmd_read_toc(IdeDevice *d, const uint8_t *p)
{
    bool msf = p[1] & 2;
    unsigned format = p[2] & 0x0f;
    if (!format)
        format = p[9] >> 6; /* SFF-8020's place for it */
    unsigned start = p[6];
    uint32_t alloc = ld_be16(p + 7);
    uint8_t *b = d->reply;
    memset(b, 0, 32);
    unsigned n;
    switch (format) {
    case 0: /* the TOC: one data track, and the lead-out */
        if (start > 1 && start != TOC_LEADOUT) {
            invalid_field(d);
            return;
        }
        b[2] = 1; /* first track */
        b[3] = 1; /* last track */
        n = 4;
        if (start <= 1) {
            b[n + 1] = TOC_ADR_CTRL_DATA;
            b[n + 2] = 1;
            toc_addr(b + n + 4, 0, msf);
            n += 8;
        }
        b[n + 1] = TOC_ADR_CTRL_DATA;
        b[n + 2] = TOC_LEADOUT;
        toc_addr(b + n + 4, d->nsectors, msf);
        n += 8;
        st_be16(b, (uint16_t)(n - 2));
        break;
    case 1: /* session information: one session starting at track 1 */
        st_be16(b, 10);
        b[2] = 1;
        b[3] = 1;
        b[5] = TOC_ADR_CTRL_DATA;
        b[6] = 1;
        toc_addr(b + 8, 0, msf);
        n = 12;
        break;
    default:
        invalid_field(d);
        return;
    }
    reply(d, n, alloc);
}

static unsigned mode_page(const IdeDevice *d, uint8_t *b, unsigned page, bool changeable)
{
    if (page == MODE_PAGE_R_W_ERROR) {
        memset(b, 0, 12);
        b[0] = MODE_PAGE_R_W_ERROR;
        b[1] = 10;
        if (!changeable)
            b[3] = 5; /* read retry count */
        return 12;
    }
    /* MODE_PAGE_CAPABILITIES: CD/DVD capabilities and mechanical status */
    memset(b, 0, 20);
    b[0] = MODE_PAGE_CAPABILITIES;
    b[1] = 18;
    if (changeable)
        return 20;
    b[2] = 0x08; /* reads DVD-ROM (and CD-ROM) */
    b[4] = 0x71; /* audio play, mode 2 forms 1 and 2, multi-session */
    b[5] = 0x00;
    b[6] = 0x29 | (d->locked ? 0x02 : 0); /* tray, eject, lock (and its state) */
    st_be16(b + 8, 706);                  /* maximum read speed, kB/s (obsolete field) */
    st_be16(b + 10, 2);                   /* volume levels */
    st_be16(b + 12, 512);                 /* buffer size, KiB */
    st_be16(b + 14, 706);                 /* current read speed */
    return 20;
}

static void cmd_mode_sense(IdeDevice *d, const uint8_t *p)
{
    unsigned pc = p[2] >> 6, page = p[2] & 0x3f;
    uint32_t alloc = ld_be16(p + 7);
    if (pc == MODE_PC_SAVED) {
        atapi_check(d, SENSE_ILLEGAL_REQUEST, ASC_SAVING_PARAMETERS_NOT_SUPPORTED, 0);
        return;
    }
    if (page != MODE_PAGE_R_W_ERROR && page != MODE_PAGE_CAPABILITIES && page != MODE_PAGE_ALL) {
        invalid_field(d);
        return;
    }
    uint8_t *b = d->reply;
    memset(b, 0, 8); /* header; no block descriptors */
    unsigned n = 8;
    bool ch = pc == MODE_PC_CHANGEABLE;
    if (page == MODE_PAGE_R_W_ERROR || page == MODE_PAGE_ALL)
        n += mode_page(d, b + n, MODE_PAGE_R_W_ERROR, ch);
    if (page == MODE_PAGE_CAPABILITIES || page == MODE_PAGE_ALL)
        n += mode_page(d, b + n, MODE_PAGE_CAPABILITIES, ch);
    st_be16(b, (uint16_t)(n - 2));
    reply(d, n, alloc);
}

static uint16_t current_profile(const IdeDevice *d)
{
    if (!media_ok(d))
        return MMC_PROFILE_NONE;
    return d->nsectors > CD_MAX_SECTORS ? MMC_PROFILE_DVD_ROM : MMC_PROFILE_CD_ROM;
}

/* One feature descriptor into b; returns its length, 0 if rt/start leave it out. */
static unsigned feature(const IdeDevice *d, uint8_t *b, uint16_t code, unsigned rt, uint16_t start)
{
    uint16_t profile = current_profile(d);
    bool current = code != MMC_FEATURE_RANDOM_READABLE || profile != MMC_PROFILE_NONE;
    if ((rt == 2 && code != start) || code < start || (rt == 1 && !current))
        return 0;
    st_be16(b, code);
    switch (code) {
    case MMC_FEATURE_PROFILE_LIST:
        b[2] = 0x03; /* persistent, current */
        b[3] = 8;
        st_be16(b + 4, MMC_PROFILE_DVD_ROM);
        b[6] = profile == MMC_PROFILE_DVD_ROM;
        b[7] = 0;
        st_be16(b + 8, MMC_PROFILE_CD_ROM);
        b[10] = profile == MMC_PROFILE_CD_ROM;
        b[11] = 0;
        return 12;
    case MMC_FEATURE_CORE:
        b[2] = 0x0b; /* version 2, persistent, current */
        b[3] = 8;
        st_be32(b + 4, MMC_INTERFACE_ATAPI);
        b[8] = 0x01; /* DBE */
        b[9] = b[10] = b[11] = 0;
        return 12;
    case MMC_FEATURE_REMOVABLE_MEDIUM:
        b[2] = 0x03;
        b[3] = 4;
        b[4] = 0x29; /* tray loading mechanism, eject, lock */
        b[5] = b[6] = b[7] = 0;
        return 8;
    case MMC_FEATURE_RANDOM_READABLE:
        b[2] = current ? 0x01 : 0x00;
        b[3] = 8;
        st_be32(b + 4, ATAPI_SECTOR);
        st_be16(b + 8, profile == MMC_PROFILE_DVD_ROM ? 16 : 1); /* blocking */
        b[10] = b[11] = 0;
        return 12;
    default:
        return 0;
    }
}

static void cmd_get_configuration(IdeDevice *d, const uint8_t *p)
{
    unsigned rt = p[1] & 3;
    uint16_t start = ld_be16(p + 2);
    uint32_t alloc = ld_be16(p + 7);
    if (rt == 3) {
        invalid_field(d);
        return;
    }
    static const uint16_t codes[] = {MMC_FEATURE_PROFILE_LIST, MMC_FEATURE_CORE,
                                     MMC_FEATURE_REMOVABLE_MEDIUM, MMC_FEATURE_RANDOM_READABLE};
    uint8_t *b = d->reply;
    memset(b, 0, 8);
    unsigned n = 8;
    for (unsigned i = 0; i < G_N_ELEMENTS(codes); i++)
        n += feature(d, b + n, codes[i], rt, start);
    st_be32(b, n - 4);
    st_be16(b + 6, current_profile(d));
    reply(d, n, alloc);
}

static void cmd_get_event_status(IdeDevice *d, const uint8_t *p)
{
    if (!(p[1] & GESN_POLLED)) { /* asynchronous notification is not supported */
        invalid_field(d);
        return;
    }
    unsigned request = p[4];
    uint32_t alloc = ld_be16(p + 7);
    uint8_t *b = d->reply;
    memset(b, 0, 8);
    b[3] = 1 << GESN_CLASS_MEDIA; /* supported classes */
    unsigned n;
    if (request & (1 << GESN_CLASS_MEDIA)) {
        st_be16(b, 6);
        b[2] = GESN_CLASS_MEDIA;
        b[4] = d->media_event;
        b[5] = (uint8_t)((media_ok(d) ? MS_MEDIA_PRESENT : 0) | (d->tray_open ? MS_TRAY_OPEN : 0));
        d->media_event = MEC_NO_CHANGE;
        n = 8;
    } else {
        st_be16(b, 2);
        b[2] = GESN_NEA;
        n = 4;
    }
    reply(d, n, alloc);
}

static void cmd_start_stop(IdeDevice *d, const uint8_t *p)
{
    bool loej = p[4] & 2, start = p[4] & 1;
    if (loej && !start) {
        if (d->locked) {
            atapi_check(d, SENSE_ILLEGAL_REQUEST, ASC_MEDIUM_REMOVAL_PREVENTED,
                        ASCQ_REMOVAL_PREVENTED);
            return;
        }
        if (!d->tray_open) {
            d->tray_open = true;
            d->media_event = MEC_MEDIA_REMOVAL;
        }
    } else if (loej && start && d->tray_open) {
        d->tray_open = false;
        d->media_event = d->blk ? MEC_NEW_MEDIA : MEC_NO_CHANGE;
    }
    atapi_ok(d);
}

static void cmd_mechanism_status(IdeDevice *d, const uint8_t *p)
{
    memset(d->reply, 0, 8); /* no changer, no slots: the header alone */
    reply(d, 8, ld_be16(p + 8));
}

/* ---- dispatch ------------------------------------------------------------------------------ */

void atapi_packet_start(IdeDevice *d)
{
    d->packet_dma = d->feature & 1;
    d->bcl = (uint16_t)(d->lba_mid | d->lba_high << 8);
    d->xfer = XFER_PACKET;
    d->pos = 0;
    d->len = ATAPI_PACKET_SIZE;
    d->nsector = ATAPI_IR_COD;
    /* IDENTIFY PACKET DEVICE word 0 promises DRQ within 50 us: no interrupt for the packet */
    d->status = ATA_SR_DRDY | ATA_SR_DSC | ATA_SR_DRQ;
}

void atapi_packet_received(IdeDevice *d)
{
    uint8_t p[ATAPI_PACKET_SIZE];
    memcpy(p, d->buf, sizeof(p));
    uint8_t op = p[0];

    /* a pending unit attention is reported first, except to the commands that must work
     * through it */
    if (d->sense_key == SENSE_UNIT_ATTENTION && op != GPCMD_REQUEST_SENSE && op != GPCMD_INQUIRY &&
        op != GPCMD_GET_CONFIGURATION && op != GPCMD_GET_EVENT_STATUS_NOTIFICATION) {
        atapi_check(d, SENSE_UNIT_ATTENTION, d->asc, d->ascq);
        d->sense_key = SENSE_NO_SENSE; /* reported once */
        d->asc = d->ascq = 0;
        return;
    }
    switch (op) {
    case GPCMD_TEST_UNIT_READY:
        if (media_ok(d))
            atapi_ok(d);
        else
            not_ready(d);
        break;
    case GPCMD_REQUEST_SENSE:
        cmd_request_sense(d, p);
        break;
    case GPCMD_INQUIRY:
        cmd_inquiry(d, p);
        break;
    case GPCMD_READ_CAPACITY:
        if (media_ok(d))
            cmd_read_capacity(d);
        else
            not_ready(d);
        break;
    case GPCMD_READ_10:
    case GPCMD_READ_12:
        if (!media_ok(d))
            not_ready(d);
        else
            cmd_read(d, ld_be32(p + 2), op == GPCMD_READ_10 ? ld_be16(p + 7) : ld_be32(p + 6));
        break;
    case GPCMD_SEEK_10:
        if (!media_ok(d))
            not_ready(d);
        else if (ld_be32(p + 2) >= d->nsectors)
            atapi_check(d, SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE, 0);
        else
            atapi_ok(d);
        break;
    case GPCMD_READ_TOC:
        if (media_ok(d))
            cmd_read_toc(d, p);
        else
            not_ready(d);
        break;
    case GPCMD_MODE_SENSE_10:
        cmd_mode_sense(d, p);
        break;
    case GPCMD_GET_CONFIGURATION:
        cmd_get_configuration(d, p);
        break;
    case GPCMD_GET_EVENT_STATUS_NOTIFICATION:
        cmd_get_event_status(d, p);
        break;
    case GPCMD_START_STOP_UNIT:
        cmd_start_stop(d, p);
        break;
    case GPCMD_PREVENT_ALLOW_MEDIUM_REMOVAL:
        d->locked = p[4] & 1;
        atapi_ok(d);
        break;
    case GPCMD_SET_CD_SPEED:
        atapi_ok(d);
        break;
    case GPCMD_MECHANISM_STATUS:
        cmd_mechanism_status(d, p);
        break;
    default:
        atapi_check(d, SENSE_ILLEGAL_REQUEST, ASC_INVALID_OPCODE, 0);
        break;
    }
}

/* IDENTIFY PACKET DEVICE (ATA-6 8.16): a removable CD-ROM with 12-byte packets. */
void atapi_identify(IdeDevice *d, uint16_t *id)
{
    memset(id, 0, 512);
    /* ATAPI, CD-ROM (type 5), removable, DRQ within 50 us, 12-byte packets */
    id[0] = (2 << 14) | (5 << 8) | (1 << 7) | (2 << 5);
    ide_identify_common(d, id);               /* strings, DMA modes, version, word 93 */
    id[49] = (1 << 11) | (1 << 9) | (1 << 8); /* IORDY, LBA, DMA */
    id[82] = (1 << 14) | (1 << 9) | (1 << 4); /* NOP, DEVICE RESET, PACKET */
    id[83] = (1 << 14);
    id[84] = (1 << 14);
    id[85] = (1 << 14) | (1 << 9) | (1 << 4);
    id[87] = (1 << 14);
}

void atapi_reset(IdeDevice *d, bool power_on)
{
    d->sense_key = SENSE_NO_SENSE;
    d->asc = d->ascq = 0;
    d->packet_dma = false;
    d->bcl = 0;
    if (power_on) {
        d->tray_open = false;
        d->locked = false;
        d->media_event = MEC_NO_CHANGE;
    }
}
