/* hw/ide.c: the IDE channels, ATA disks and bus-master DMA (see hw/ide.h); the ATAPI packet
 * commands are in hw/ide_atapi.c. */
#include "hw/ide_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

/* Bus-master port ranges cannot be unregistered from the I/O bus, so every base the BAR ever
 * decoded keeps a mapping record and only the one at the current base answers. */
typedef struct BmMapping {
    IdeController *c;
    uint16_t base;
} BmMapping;

struct IdeController {
    IoBus *io;
    AddressSpace *as;
    Piix3 *piix;
    PciDevice *pci;
    IdeChannel ch[IDE_CHANNELS];
    uint16_t bm_base; /* 0: unmapped */
    GPtrArray *bm_maps;
};

static const uint16_t channel_base[IDE_CHANNELS] = {IDE_PRIMARY_BASE, IDE_SECONDARY_BASE};
static const uint16_t channel_ctl[IDE_CHANNELS] = {IDE_PRIMARY_CTL, IDE_SECONDARY_CTL};

static inline IdeDevice *selected(IdeChannel *ch)
{
    return &ch->dev[ch->cur];
}

static inline bool is_cd(const IdeDevice *d)
{
    return d->media == IDE_MEDIA_CDROM;
}

static inline void st_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline uint32_t ld_le32(const uint8_t *p)
{
    return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---- interrupts ---------------------------------------------------------------------------- */

/* INTRQ is driven by the selected device, unless nIEN releases it. The PIIX latches each
 * assertion in BMISTA.IDEINTS. */
static void update_irq(IdeChannel *ch)
{
    IdeDevice *d = selected(ch);
    int level = d->media != IDE_MEDIA_NONE && d->intrq && !(ch->devctl & ATA_DC_NIEN);
    if (level == ch->irq_level)
        return;
    ch->irq_level = level;
    if (level)
        ch->bmista |= PIIX_BMISTA_IDEINTS;
    irq_set(&ch->irq, level);
}

void ide_raise_irq(IdeDevice *d)
{
    d->intrq = true;
    update_irq(d->ch);
}

/* ---- command completion -------------------------------------------------------------------- */

static void end_xfer(IdeDevice *d)
{
    d->xfer = XFER_NONE;
    d->pos = d->len = 0;
    d->left = 0;
    if (d->ch->dma_dev == d)
        d->ch->dma_dev = NULL;
}

static void cmd_ok(IdeDevice *d)
{
    end_xfer(d);
    d->status = ATA_SR_DRDY | ATA_SR_DSC;
    ide_raise_irq(d);
}

static void cmd_error(IdeDevice *d, uint8_t error)
{
    end_xfer(d);
    d->error = error;
    d->status = ATA_SR_DRDY | ATA_SR_DSC | ATA_SR_ERR;
    ide_raise_irq(d);
}

void ide_abort(IdeDevice *d)
{
    cmd_error(d, ATA_ER_ABRT);
}

/* The signature a device leaves after reset and diagnostics (ATA-6 9.12); the DEV bit stays. */
void ide_set_signature(IdeDevice *d)
{
    d->nsector = d->hob_nsector = 1;
    d->lba_low = d->hob_lba_low = 1;
    d->lba_mid = d->hob_lba_mid = is_cd(d) ? ATA_SIG_ATAPI_MID : ATA_SIG_ATA_MID;
    d->lba_high = d->hob_lba_high = is_cd(d) ? ATA_SIG_ATAPI_HIGH : ATA_SIG_ATA_HIGH;
    d->device &= ATA_DEV_DEV;
}

/* ---- addresses ----------------------------------------------------------------------------- */

static uint64_t lba28_limit(const IdeDevice *d)
{
    return MIN(d->nsectors, ATA_LBA28_MAX);
}

/* The address the taskfile names: LBA48 from the current and previous contents, LBA28, or CHS
 * through the current geometry. false for a CHS address outside that geometry. */
static bool taskfile_lba(const IdeDevice *d, bool lba48, uint64_t *lba)
{
    if (lba48) {
        *lba = (uint64_t)d->hob_lba_high << 40 | (uint64_t)d->hob_lba_mid << 32 |
               (uint64_t)d->hob_lba_low << 24 | (uint64_t)d->lba_high << 16 |
               (uint64_t)d->lba_mid << 8 | d->lba_low;
        return true;
    }
    if (d->device & ATA_DEV_LBA) {
        *lba = (uint64_t)(d->device & ATA_DEV_HEAD) << 24 | (uint64_t)d->lba_high << 16 |
               (uint64_t)d->lba_mid << 8 | d->lba_low;
        return true;
    }
    unsigned cyl = d->lba_mid | d->lba_high << 8, head = d->device & ATA_DEV_HEAD;
    unsigned sect = d->lba_low;
    if (!sect || sect > d->cur_secs || head >= d->cur_heads || cyl >= d->cur_cyls)
        return false;
    *lba = ((uint64_t)cyl * d->cur_heads + head) * d->cur_secs + sect - 1;
    return true;
}

/* Report lba in the taskfile (the failing sector after an error), as the command addressed. */
static void set_taskfile_lba(IdeDevice *d, uint64_t lba)
{
    if (d->lba48) {
        d->lba_low = (uint8_t)lba;
        d->lba_mid = (uint8_t)(lba >> 8);
        d->lba_high = (uint8_t)(lba >> 16);
        d->hob_lba_low = (uint8_t)(lba >> 24);
        d->hob_lba_mid = (uint8_t)(lba >> 32);
        d->hob_lba_high = (uint8_t)(lba >> 40);
    } else if (d->device & ATA_DEV_LBA) {
        d->lba_low = (uint8_t)lba;
        d->lba_mid = (uint8_t)(lba >> 8);
        d->lba_high = (uint8_t)(lba >> 16);
        d->device = (uint8_t)((d->device & ~ATA_DEV_HEAD) | ((lba >> 24) & ATA_DEV_HEAD));
    } else if (d->cur_secs && d->cur_heads) {
        uint64_t track = lba / d->cur_secs;
        unsigned cyl = (unsigned)MIN(track / d->cur_heads, 0xffff);
        d->lba_low = (uint8_t)(lba % d->cur_secs + 1);
        d->lba_mid = (uint8_t)cyl;
        d->lba_high = (uint8_t)(cyl >> 8);
        d->device = (uint8_t)((d->device & ~ATA_DEV_HEAD) | (track % d->cur_heads));
    }
}

/* ---- data transfers ------------------------------------------------------------------------ */

/* The medium failed under a transfer: ATA reports UNC (reads) or ABRT (writes) at the sector. */
static void media_error(IdeDevice *d, int rc, bool write)
{
    if (is_cd(d)) {
        end_xfer(d);
        atapi_xfer_error(d, rc);
        return;
    }
    set_taskfile_lba(d, d->off / ATA_SECTOR);
    cmd_error(d, write ? ATA_ER_ABRT : ATA_ER_UNC);
}

/* n bytes of the command's data into buf. -1 after reporting an error. */
static int produce(IdeDevice *d, uint8_t *buf, uint32_t n)
{
    if (!d->from_media) {
        if (d->reply_pos > IDE_REPLY_SIZE || n > IDE_REPLY_SIZE - d->reply_pos) {
            ide_abort(d); /* cannot happen: replies are sized within reply[] */
            return -1;
        }
        memcpy(buf, d->reply + d->reply_pos, n);
        d->reply_pos += n;
        return 0;
    }
    int rc = blk_read(d->blk, d->off, buf, n);
    if (rc) {
        media_error(d, rc, false);
        return -1;
    }
    d->off += n;
    return 0;
}

/* n bytes from the host in buf onto the medium. -1 after reporting an error. */
static int consume(IdeDevice *d, const uint8_t *buf, uint32_t n)
{
    int rc = blk_write(d->blk, d->off, buf, n);
    if (rc) {
        media_error(d, rc, true);
        return -1;
    }
    d->off += n;
    return 0;
}

static void pio_in_next(IdeDevice *d)
{
    uint64_t n = MIN((uint64_t)d->block, d->left);
    if (produce(d, d->buf, (uint32_t)n) < 0)
        return;
    d->left -= n;
    d->pos = 0;
    d->len = (uint32_t)n;
    d->xfer = XFER_PIO_IN;
    d->status = ATA_SR_DRDY | ATA_SR_DSC | ATA_SR_DRQ;
    if (is_cd(d))
        atapi_block_regs(d, (uint32_t)n);
    ide_raise_irq(d); /* data-in: an interrupt for each block as it is ready */
}

static void pio_out_next(IdeDevice *d, bool first)
{
    uint64_t n = MIN((uint64_t)d->block, d->left);
    d->left -= n;
    d->pos = 0;
    d->len = (uint32_t)n;
    d->xfer = XFER_PIO_OUT;
    d->status = ATA_SR_DRDY | ATA_SR_DSC | ATA_SR_DRQ;
    if (!first)
        ide_raise_irq(d); /* data-out: the first block is asked for without one */
}

static void bm_run(IdeChannel *ch);

static void start_dma(IdeDevice *d, IdeXfer dir)
{
    d->xfer = dir;
    d->status = ATA_SR_DRDY | ATA_SR_DSC | ATA_SR_DRQ;
    d->ch->dma_dev = d;
    bm_run(d->ch);
}

void ide_start_in(IdeDevice *d, uint64_t len, bool from_media, bool dma)
{
    d->left = len;
    d->from_media = from_media;
    d->reply_pos = 0;
    if (dma)
        start_dma(d, XFER_DMA_IN);
    else
        pio_in_next(d);
}

static void start_out(IdeDevice *d, uint64_t len, bool dma)
{
    d->left = len;
    d->from_media = true;
    if (dma)
        start_dma(d, XFER_DMA_OUT);
    else
        pio_out_next(d, true);
}

/* The host has moved the whole PIO block. */
static void pio_block_done(IdeDevice *d)
{
    switch (d->xfer) {
    case XFER_PIO_IN:
        if (d->left)
            pio_in_next(d);
        else if (is_cd(d))
            atapi_xfer_done(d);
        else {
            end_xfer(d); /* the last block's interrupt came when it was ready */
            d->status = ATA_SR_DRDY | ATA_SR_DSC;
        }
        break;
    case XFER_PIO_OUT:
        if (consume(d, d->buf, d->len) < 0)
            return;
        if (d->left)
            pio_out_next(d, false);
        else
            cmd_ok(d);
        break;
    case XFER_PACKET:
        end_xfer(d);
        atapi_packet_received(d);
        break;
    default:
        break;
    }
}

static uint32_t data_read(IdeChannel *ch, unsigned size)
{
    IdeDevice *d = selected(ch);
    if (d->media == IDE_MEDIA_NONE || d->xfer != XFER_PIO_IN)
        return 0xffffffffu;
    uint32_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint32_t)(d->pos < d->len ? d->buf[d->pos++] : 0xff) << (8 * i);
    if (d->pos >= d->len)
        pio_block_done(d);
    return v;
}

static void data_write(IdeChannel *ch, uint32_t v, unsigned size)
{
    IdeDevice *d = selected(ch);
    if (d->media == IDE_MEDIA_NONE || (d->xfer != XFER_PIO_OUT && d->xfer != XFER_PACKET))
        return;
    for (unsigned i = 0; i < size && d->pos < d->len; i++)
        d->buf[d->pos++] = (uint8_t)(v >> (8 * i));
    if (d->pos >= d->len)
        pio_block_done(d);
}

/* ---- bus-master DMA ------------------------------------------------------------------------ */

enum { PRD_OK = 0, PRD_END, PRD_FAULT };

typedef struct PrdWalk {
    uint64_t next;   /* address of the next descriptor */
    uint64_t region; /* the 64 KiB region the table must stay in */
    uint32_t addr, left;
    bool eot;
} PrdWalk;

static int prd_fetch(IdeController *c, PrdWalk *w)
{
    if (w->eot)
        return PRD_END;
    if (w->next + PRD_SIZE > 0x100000000ull ||
        (w->next & ~(uint64_t)(PRD_TABLE_REGION - 1)) != w->region)
        return PRD_FAULT;
    uint8_t e[PRD_SIZE];
    if (as_dma_read(c->as, w->next, e, sizeof(e)) != MEM_OK)
        return PRD_FAULT;
    uint32_t base = ld_le32(e) & PRD_BASE_MASK, count = ld_le32(e + 4);
    uint32_t len = count & PRD_COUNT_MASK;
    if (!len)
        len = 0x10000;
    w->next += PRD_SIZE;
    w->eot = count & PRD_EOT;
    if ((uint64_t)base + len > 0x100000000ull)
        return PRD_FAULT;
    w->addr = base;
    w->left = len;
    return PRD_OK;
}

/* Move n bytes between buf and the regions the PRDs describe, in table order. */
static int prd_copy(IdeController *c, PrdWalk *w, uint8_t *buf, uint32_t n, bool to_mem)
{
    while (n) {
        if (!w->left) {
            int r = prd_fetch(c, w);
            if (r != PRD_OK)
                return r;
        }
        uint32_t k = MIN(n, w->left);
        MemResult mr =
            to_mem ? as_dma_write(c->as, w->addr, buf, k) : as_dma_read(c->as, w->addr, buf, k);
        if (mr != MEM_OK)
            return PRD_FAULT;
        w->addr += k;
        w->left -= k;
        buf += k;
        n -= k;
    }
    return PRD_OK;
}

static bool bm_master_enabled(IdeController *c)
{
    return !c->pci || (pci_config(c->pci)[PCI_COMMAND] & PCI_COMMAND_MASTER);
}

/* Run the pending DMA command of the channel if the bus master is started: the whole transfer
 * at once, in IDE_BUF_SIZE pieces. */
static void bm_run(IdeChannel *ch)
{
    IdeDevice *d = ch->dma_dev;
    IdeController *c = ch->ctl;
    if (!d || !(ch->bmicom & PIIX_BMICOM_SSBM) ||
        (d->xfer != XFER_DMA_IN && d->xfer != XFER_DMA_OUT))
        return;
    bool to_mem = d->xfer == XFER_DMA_IN;
    PrdWalk w = {.next = ch->bmidtp, .region = ch->bmidtp & ~(PRD_TABLE_REGION - 1)};
    int r = PRD_OK;
    /* a bus master that may not master, or runs the other way, moves nothing right */
    if (!bm_master_enabled(c) || !!(ch->bmicom & PIIX_BMICOM_RWCON) != to_mem)
        r = PRD_FAULT;
    while (r == PRD_OK && d->left) {
        uint32_t n = (uint32_t)MIN((uint64_t)IDE_BUF_SIZE, d->left);
        if (to_mem) {
            if (produce(d, d->buf, n) < 0)
                goto device_error;
            d->left -= n;
            r = prd_copy(c, &w, d->buf, n, true);
        } else {
            r = prd_copy(c, &w, d->buf, n, false);
            if (r == PRD_OK) {
                if (consume(d, d->buf, n) < 0)
                    goto device_error;
                d->left -= n;
            }
        }
    }
    ch->dma_dev = NULL;
    if (r != PRD_OK) {
        /* a PRD table too short, outside memory or its 64 KiB region, or a bad direction */
        ch->bmista = (uint8_t)((ch->bmista & ~PIIX_BMISTA_BMIDEA) | PIIX_BMISTA_ERR);
        end_xfer(d);
        if (is_cd(d))
            atapi_dma_error(d);
        else
            ide_abort(d);
        return;
    }
    /* BMIDEA stays set when the PRDs describe more than the device moved */
    if (w.eot && !w.left)
        ch->bmista &= (uint8_t)~PIIX_BMISTA_BMIDEA;
    end_xfer(d);
    if (is_cd(d))
        atapi_xfer_done(d);
    else
        cmd_ok(d);
    return;

device_error: /* the device reported it (error status, interrupt) */
    ch->dma_dev = NULL;
    ch->bmista &= (uint8_t)~PIIX_BMISTA_BMIDEA;
}

static uint8_t bm_read_byte(IdeController *c, unsigned off)
{
    IdeChannel *ch = &c->ch[off / PIIX_BM_CHANNEL_STRIDE];
    off %= PIIX_BM_CHANNEL_STRIDE;
    switch (off) {
    case PIIX_BMICOM:
        return ch->bmicom;
    case PIIX_BMISTA:
        return ch->bmista;
    case PIIX_BMIDTP:
    case PIIX_BMIDTP + 1:
    case PIIX_BMIDTP + 2:
    case PIIX_BMIDTP + 3:
        return (uint8_t)(ch->bmidtp >> (8 * (off - PIIX_BMIDTP)));
    default:
        return 0;
    }
}

static void bm_write_byte(IdeController *c, unsigned off, uint8_t v)
{
    IdeChannel *ch = &c->ch[off / PIIX_BM_CHANNEL_STRIDE];
    off %= PIIX_BM_CHANNEL_STRIDE;
    switch (off) {
    case PIIX_BMICOM: {
        uint8_t old = ch->bmicom;
        if (old & PIIX_BMICOM_SSBM) /* the direction is fixed while the bus master runs */
            v = (uint8_t)((v & PIIX_BMICOM_SSBM) | (old & PIIX_BMICOM_RWCON));
        ch->bmicom = v & (PIIX_BMICOM_SSBM | PIIX_BMICOM_RWCON);
        if ((v & PIIX_BMICOM_SSBM) && !(old & PIIX_BMICOM_SSBM)) {
            ch->bmista |= PIIX_BMISTA_BMIDEA;
            bm_run(ch);
        } else if (!(v & PIIX_BMICOM_SSBM) && (old & PIIX_BMICOM_SSBM)) {
            ch->bmista &= (uint8_t)~PIIX_BMISTA_BMIDEA;
        }
        break;
    }
    case PIIX_BMISTA: {
        uint8_t cap = PIIX_BMISTA_DMA0CAP | PIIX_BMISTA_DMA1CAP;
        uint8_t w1c = v & (PIIX_BMISTA_ERR | PIIX_BMISTA_IDEINTS);
        ch->bmista = (uint8_t)(((ch->bmista & ~cap) | (v & cap)) & ~w1c);
        break;
    }
    case PIIX_BMIDTP:
    case PIIX_BMIDTP + 1:
    case PIIX_BMIDTP + 2:
    case PIIX_BMIDTP + 3: {
        unsigned sh = 8 * (off - PIIX_BMIDTP);
        ch->bmidtp = ((ch->bmidtp & ~(0xffu << sh)) | (uint32_t)v << sh) & PIIX_BMIDTP_MASK;
        break;
    }
    default:
        break;
    }
}

static uint32_t bm_io_read(void *dev, uint16_t off, unsigned size)
{
    BmMapping *m = dev;
    if (m->c->bm_base != m->base)
        return 0xffffffffu;
    uint32_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint32_t)(off + i < PIIX_IDE_BMDMA_SIZE ? bm_read_byte(m->c, off + i) : 0xff)
             << (8 * i);
    return v;
}

static void bm_io_write(void *dev, uint16_t off, uint32_t v, unsigned size)
{
    BmMapping *m = dev;
    if (m->c->bm_base != m->base)
        return;
    for (unsigned i = 0; i < size && off + i < PIIX_IDE_BMDMA_SIZE; i++)
        bm_write_byte(m->c, off + i, (uint8_t)(v >> (8 * i)));
}

static const IoOps bm_ops = {bm_io_read, bm_io_write};

int ide_map_bmdma(IdeController *c, uint16_t base)
{
    c->bm_base = 0;
    if (!base)
        return 0;
    for (unsigned i = 0; i < c->bm_maps->len; i++) {
        BmMapping *m = g_ptr_array_index(c->bm_maps, i);
        if (m->base == base) {
            c->bm_base = base;
            return 0;
        }
    }
    BmMapping *m = g_new0(BmMapping, 1);
    m->c = c;
    m->base = base;
    int rc = io_register(c->io, base, PIIX_IDE_BMDMA_SIZE, &bm_ops, m);
    if (rc) {
        g_free(m);
        return rc;
    }
    g_ptr_array_add(c->bm_maps, m);
    c->bm_base = base;
    return 0;
}

/* ---- IDENTIFY DEVICE ----------------------------------------------------------------------- */

/* ATA strings: two characters a word, the first in the high byte, space padded. */
static void id_string(uint16_t *id, unsigned word, const char *s, unsigned len)
{
    for (unsigned i = 0; i < len; i++) {
        uint8_t ch = *s ? (uint8_t)*s++ : ' ';
        if (i & 1)
            id[word + i / 2] |= ch;
        else
            id[word + i / 2] = (uint16_t)(ch << 8);
    }
}

/* Word 93, hardware reset result: device 0 says whether device 1 answered (a jumpered pair,
 * 80-conductor cable, diagnostics passed). */
static uint16_t reset_result(const IdeDevice *d)
{
    if (d->unit == 0) {
        bool dev1 = d->ch->dev[1].media != IDE_MEDIA_NONE;
        return 0x4000 | 0x2000 | 0x0008 | 0x0002 | 0x0001 | (dev1 ? 0x0020 : 0x0040);
    }
    return 0x4000 | 0x2000 | 0x0800 | 0x0200 | 0x0100;
}

void ide_identify_common(const IdeDevice *d, uint16_t *id)
{
    id_string(id, 10, d->serial, 20);
    id_string(id, 23, d->firmware, 8);
    id_string(id, 27, d->model, 40);
    id[50] = 0x4000;
    id[51] = id[52] = 0x200;
    id[53] = 0x0006; /* words 64-70 and 88 valid */
    uint8_t mode = d->xfer_mode;
    id[63] = 0x0007 | ((mode & 0xf8) == ATA_XFER_MWDMA ? 0x100 << (mode & 7) : 0);
    id[64] = 0x0003; /* PIO 3 and 4 */
    id[65] = id[66] = id[67] = id[68] = 120;
    id[80] = 0x00f0; /* ATA/ATAPI-4 to -7 */
    id[88] = 0x003f | ((mode & 0xf8) == ATA_XFER_UDMA ? 0x100 << (mode & 7) : 0);
    id[93] = reset_result(d);
}

static void identify_to_reply(IdeDevice *d, uint16_t *id)
{
    /* integrity word: signature 0xa5, and a checksum making the 512 bytes sum to 0 */
    id[255] = 0x00a5;
    uint8_t sum = 0;
    for (unsigned i = 0; i < 255; i++)
        sum = (uint8_t)(sum + (id[i] & 0xff) + (id[i] >> 8));
    sum = (uint8_t)(sum + 0xa5);
    id[255] |= (uint16_t)((uint8_t)-sum) << 8;
    for (unsigned i = 0; i < 256; i++)
        st_le16(d->reply + 2 * i, id[i]);
}

static void ata_identify(IdeDevice *d, uint16_t *id)
{
    memset(id, 0, 512);
    id[0] = 0x0040; /* fixed device */
    id[1] = (uint16_t)d->cyls;
    id[3] = (uint16_t)d->heads;
    id[6] = (uint16_t)d->secs;
    ide_identify_common(d, id);
    id[47] = 0x8000 | ATA_MAX_MULT;
    id[49] = (1 << 11) | (1 << 9) | (1 << 8); /* IORDY, LBA, DMA */
    id[53] |= 0x0001;                         /* words 54-58 valid */
    id[54] = (uint16_t)d->cur_cyls;
    id[55] = (uint16_t)d->cur_heads;
    id[56] = (uint16_t)d->cur_secs;
    uint64_t chs = (uint64_t)d->cur_cyls * d->cur_heads * d->cur_secs;
    uint32_t cur_cap = (uint32_t)MIN(chs, (uint64_t)UINT32_MAX);
    id[57] = (uint16_t)cur_cap;
    id[58] = (uint16_t)(cur_cap >> 16);
    id[59] = d->mult ? (uint16_t)(0x100 | d->mult) : 0;
    uint32_t lba28 = (uint32_t)lba28_limit(d);
    id[60] = (uint16_t)lba28;
    id[61] = (uint16_t)(lba28 >> 16);
    /* NOP, look-ahead, write cache, power management; LBA48, FLUSH CACHE (EXT) */
    id[82] = (1 << 14) | (1 << 6) | (1 << 5) | (1 << 3);
    id[83] = (1 << 14) | (1 << 13) | (1 << 12) | (1 << 10);
    id[84] = (1 << 14);
    id[85] = (1 << 14) | (d->lookahead ? 1 << 6 : 0) | (d->wcache ? 1 << 5 : 0) | (1 << 3);
    id[86] = (1 << 13) | (1 << 12) | (1 << 10);
    id[87] = (1 << 14);
    for (unsigned i = 0; i < 4; i++)
        id[100 + i] = (uint16_t)(d->nsectors >> (16 * i));
}

/* ---- ATA commands -------------------------------------------------------------------------- */

/* READ/WRITE SECTORS, MULTIPLE and DMA, and their EXT forms. */
static void ata_rw(IdeDevice *d, bool write, bool dma, bool multiple, bool lba48)
{
    if (multiple && !d->mult) {
        ide_abort(d);
        return;
    }
    d->lba48 = lba48;
    uint64_t lba;
    if (!taskfile_lba(d, lba48, &lba)) {
        cmd_error(d, ATA_ER_IDNF);
        return;
    }
    uint32_t count = lba48 ? (uint32_t)(d->hob_nsector << 8 | d->nsector) : d->nsector;
    if (!count)
        count = lba48 ? 65536 : 256;
    uint64_t limit = lba48 ? d->nsectors : lba28_limit(d);
    if (lba >= limit || count > limit - lba) {
        cmd_error(d, ATA_ER_IDNF);
        return;
    }
    if (write && blk_is_readonly(d->blk)) {
        ide_abort(d);
        return;
    }
    d->standby = false;
    d->off = lba * ATA_SECTOR;
    d->block = (multiple ? d->mult : 1) * ATA_SECTOR;
    if (write)
        start_out(d, (uint64_t)count * ATA_SECTOR, dma);
    else
        ide_start_in(d, (uint64_t)count * ATA_SECTOR, true, dma);
}

static void ata_verify(IdeDevice *d, bool lba48)
{
    d->lba48 = lba48;
    uint64_t lba;
    uint32_t count = lba48 ? (uint32_t)(d->hob_nsector << 8 | d->nsector) : d->nsector;
    if (!count)
        count = lba48 ? 65536 : 256;
    uint64_t limit = lba48 ? d->nsectors : lba28_limit(d);
    if (!taskfile_lba(d, lba48, &lba) || lba >= limit || count > limit - lba) {
        cmd_error(d, ATA_ER_IDNF);
        return;
    }
    d->standby = false;
    cmd_ok(d);
}

static void ata_seek(IdeDevice *d)
{
    d->lba48 = false;
    uint64_t lba;
    if (!taskfile_lba(d, false, &lba) || lba >= lba28_limit(d)) {
        cmd_error(d, ATA_ER_IDNF);
        return;
    }
    cmd_ok(d);
}

static void ata_init_params(IdeDevice *d)
{
    unsigned heads = (d->device & ATA_DEV_HEAD) + 1u, secs = d->nsector;
    if (!secs) {
        ide_abort(d);
        return;
    }
    d->cur_heads = heads;
    d->cur_secs = secs;
    d->cur_cyls = (unsigned)MIN(d->nsectors / (heads * secs), (uint64_t)0xffff);
    cmd_ok(d);
}

static bool xfer_mode_valid(uint8_t v)
{
    switch (v & 0xf8) {
    case ATA_XFER_PIO_DEFAULT:
        return v <= ATA_XFER_PIO_DEFAULT_NOIORDY;
    case ATA_XFER_PIO_FLOW:
        return (v & 7) <= 4;
    case ATA_XFER_MWDMA:
        return (v & 7) <= 2;
    case ATA_XFER_UDMA:
        return (v & 7) <= 5;
    default:
        return false;
    }
}

static void set_features(IdeDevice *d)
{
    switch (d->feature) {
    case ATA_SF_SET_XFER_MODE:
        if (!xfer_mode_valid(d->nsector)) {
            ide_abort(d);
            return;
        }
        /* a DMA mode replaces the other kind's; a PIO mode keeps the DMA mode in force */
        if (d->nsector & (ATA_XFER_MWDMA | ATA_XFER_UDMA))
            d->xfer_mode = d->nsector;
        break;
    case ATA_SF_ENABLE_WCACHE:
    case ATA_SF_DISABLE_WCACHE:
        if (is_cd(d)) {
            ide_abort(d);
            return;
        }
        d->wcache = d->feature == ATA_SF_ENABLE_WCACHE;
        break;
    case ATA_SF_ENABLE_LOOKAHEAD:
    case ATA_SF_DISABLE_LOOKAHEAD:
        d->lookahead = d->feature == ATA_SF_ENABLE_LOOKAHEAD;
        break;
    case ATA_SF_ENABLE_REVERT:
    case ATA_SF_DISABLE_REVERT:
        break;
    default:
        ide_abort(d);
        return;
    }
    cmd_ok(d);
}

static void identify(IdeDevice *d, bool packet)
{
    uint16_t id[256];
    if (packet)
        atapi_identify(d, id);
    else
        ata_identify(d, id);
    identify_to_reply(d, id);
    d->block = 512;
    ide_start_in(d, 512, false, false);
}

/* EXECUTE DEVICE DIAGNOSTIC runs in both devices whichever is selected; device 0 reports
 * (device 1 alone when there is no device 0), and device 0 ends up selected. */
static void channel_diagnostic(IdeChannel *ch)
{
    for (unsigned u = 0; u < IDE_UNITS; u++) {
        IdeDevice *d = &ch->dev[u];
        if (d->media == IDE_MEDIA_NONE)
            continue;
        end_xfer(d);
        d->intrq = false;
        ide_set_signature(d);
        d->device = 0;
        d->error = ATA_DIAG_PASSED;
        d->status = is_cd(d) ? 0 : ATA_SR_DRDY | ATA_SR_DSC;
    }
    ch->cur = 0;
    IdeDevice *rep = ch->dev[0].media != IDE_MEDIA_NONE ? &ch->dev[0] : &ch->dev[1];
    if (rep->media != IDE_MEDIA_NONE)
        ide_raise_irq(rep);
    else
        update_irq(ch);
}

static void device_reset_state(IdeDevice *d, bool power_on);

static void exec_cmd(IdeChannel *ch, uint8_t cmd)
{
    if (ch->devctl & ATA_DC_SRST)
        return;
    if (cmd == ATA_CMD_EXECUTE_DEVICE_DIAGNOSTIC) {
        channel_diagnostic(ch);
        return;
    }
    IdeDevice *d = selected(ch);
    if (d->media == IDE_MEDIA_NONE)
        return;  /* nobody there to take it */
    end_xfer(d); /* a new command ends whatever was in progress */
    d->intrq = false;
    update_irq(ch);
    d->cmd = cmd;
    d->error = 0;
    bool cd = is_cd(d);

    /* commands of the PACKET feature set, and those a packet device has */
    switch (cmd) {
    case ATA_CMD_PACKET:
        if (cd)
            atapi_packet_start(d);
        else
            ide_abort(d);
        return;
    case ATA_CMD_IDENTIFY_PACKET_DEVICE:
        if (cd)
            identify(d, true);
        else
            ide_abort(d);
        return;
    case ATA_CMD_DEVICE_RESET:
        if (!cd) {
            ide_abort(d);
            return;
        }
        device_reset_state(d, false); /* no interrupt (ATA-6 8.10) */
        return;
    case ATA_CMD_SET_FEATURES:
        set_features(d);
        return;
    case ATA_CMD_CHECK_POWER_MODE:
        d->nsector = d->standby ? ATA_POWER_STANDBY : ATA_POWER_ACTIVE_IDLE;
        cmd_ok(d);
        return;
    case ATA_CMD_IDLE:
    case ATA_CMD_IDLE_IMMEDIATE:
    case ATA_CMD_STANDBY:
    case ATA_CMD_STANDBY_IMMEDIATE:
        d->standby = cmd == ATA_CMD_STANDBY || cmd == ATA_CMD_STANDBY_IMMEDIATE;
        cmd_ok(d);
        return;
    case ATA_CMD_NOP:
        ide_abort(d); /* NOP always aborts */
        return;
    default:
        break;
    }
    if (cd) {
        /* the commands that tell a host it talks to a packet device (ATA-6 9.12) */
        if (cmd == ATA_CMD_IDENTIFY_DEVICE || cmd == ATA_CMD_READ_SECTORS ||
            cmd == ATA_CMD_READ_SECTORS_NORETRY)
            ide_set_signature(d);
        ide_abort(d);
        return;
    }

    switch (cmd) {
    case ATA_CMD_IDENTIFY_DEVICE:
        identify(d, false);
        break;
    case ATA_CMD_READ_SECTORS:
    case ATA_CMD_READ_SECTORS_NORETRY:
        ata_rw(d, false, false, false, false);
        break;
    case ATA_CMD_READ_SECTORS_EXT:
        ata_rw(d, false, false, false, true);
        break;
    case ATA_CMD_READ_MULTIPLE:
        ata_rw(d, false, false, true, false);
        break;
    case ATA_CMD_READ_MULTIPLE_EXT:
        ata_rw(d, false, false, true, true);
        break;
    case ATA_CMD_READ_DMA:
    case ATA_CMD_READ_DMA_NORETRY:
        ata_rw(d, false, true, false, false);
        break;
    case ATA_CMD_READ_DMA_EXT:
        ata_rw(d, false, true, false, true);
        break;
    case ATA_CMD_WRITE_SECTORS:
    case ATA_CMD_WRITE_SECTORS_NORETRY:
        ata_rw(d, true, false, false, false);
        break;
    case ATA_CMD_WRITE_SECTORS_EXT:
        ata_rw(d, true, false, false, true);
        break;
    case ATA_CMD_WRITE_MULTIPLE:
        ata_rw(d, true, false, true, false);
        break;
    case ATA_CMD_WRITE_MULTIPLE_EXT:
        ata_rw(d, true, false, true, true);
        break;
    case ATA_CMD_WRITE_DMA:
    case ATA_CMD_WRITE_DMA_NORETRY:
        ata_rw(d, true, true, false, false);
        break;
    case ATA_CMD_WRITE_DMA_EXT:
        ata_rw(d, true, true, false, true);
        break;
    case ATA_CMD_READ_VERIFY_SECTORS:
    case ATA_CMD_READ_VERIFY_SECTORS_NORETRY:
        ata_verify(d, false);
        break;
    case ATA_CMD_READ_VERIFY_SECTORS_EXT:
        ata_verify(d, true);
        break;
    case ATA_CMD_SET_MULTIPLE_MODE:
        if (d->nsector > ATA_MAX_MULT || (d->nsector & (d->nsector - 1))) {
            ide_abort(d);
            break;
        }
        d->mult = d->nsector; /* 0 turns multiple mode off */
        cmd_ok(d);
        break;
    case ATA_CMD_INITIALIZE_DEVICE_PARAMETERS:
        ata_init_params(d);
        break;
    case ATA_CMD_FLUSH_CACHE:
    case ATA_CMD_FLUSH_CACHE_EXT:
        if (blk_flush(d->blk))
            ide_abort(d);
        else
            cmd_ok(d);
        break;
    default:
        if ((cmd & 0xf0) == ATA_CMD_RECALIBRATE) {
            d->lba_low = 1;
            d->lba_mid = d->lba_high = 0;
            d->device &= (uint8_t)~ATA_DEV_HEAD;
            cmd_ok(d);
        } else if ((cmd & 0xf0) == ATA_CMD_SEEK) {
            ata_seek(d);
        } else {
            ide_abort(d);
        }
        break;
    }
}

/* ---- resets -------------------------------------------------------------------------------- */

static void device_reset_state(IdeDevice *d, bool power_on)
{
    if (d->media == IDE_MEDIA_NONE)
        return;
    end_xfer(d);
    d->intrq = false;
    d->feature = d->hob_feature = 0;
    ide_set_signature(d);
    d->device = 0;
    d->error = ATA_DIAG_PASSED;
    d->status = is_cd(d) ? 0 : ATA_SR_DRDY | ATA_SR_DSC; /* packet devices leave DRDY clear */
    d->lba48 = false;
    if (power_on) {
        d->cur_cyls = d->cyls;
        d->cur_heads = d->heads;
        d->cur_secs = d->secs;
        d->mult = is_cd(d) ? 0 : ATA_MAX_MULT;
        d->xfer_mode = ATA_XFER_MWDMA | 2;
        d->wcache = d->lookahead = true;
        d->standby = false;
    }
    if (is_cd(d))
        atapi_reset(d, power_on);
}

static void write_devctl(IdeChannel *ch, uint8_t v)
{
    uint8_t old = ch->devctl;
    ch->devctl = v;
    if ((v & ATA_DC_SRST) && !(old & ATA_DC_SRST)) {
        /* both devices stop whatever they did and stay busy while SRST is held */
        for (unsigned u = 0; u < IDE_UNITS; u++) {
            IdeDevice *d = &ch->dev[u];
            if (d->media == IDE_MEDIA_NONE)
                continue;
            end_xfer(d);
            d->intrq = false;
            d->status = ATA_SR_BSY;
        }
        ch->dma_dev = NULL;
    } else if (!(v & ATA_DC_SRST) && (old & ATA_DC_SRST)) {
        for (unsigned u = 0; u < IDE_UNITS; u++)
            device_reset_state(&ch->dev[u], false);
        ch->cur = 0;
    }
    update_irq(ch);
}

static void channel_reset(IdeChannel *ch)
{
    ch->devctl = 0;
    ch->cur = 0;
    ch->dma_dev = NULL;
    ch->bmicom = ch->bmista = 0;
    ch->bmidtp = 0;
    for (unsigned u = 0; u < IDE_UNITS; u++)
        device_reset_state(&ch->dev[u], true);
    update_irq(ch);
}

void ide_reset(IdeController *c)
{
    for (unsigned i = 0; i < IDE_CHANNELS; i++)
        channel_reset(&c->ch[i]);
}

/* ---- the register file --------------------------------------------------------------------- */

static uint8_t reg_read(IdeChannel *ch, unsigned reg)
{
    IdeDevice *sel = selected(ch);
    IdeDevice *other = &ch->dev[!ch->cur];
    if (sel->media == IDE_MEDIA_NONE && other->media == IDE_MEDIA_NONE)
        return 0; /* an empty channel, as QEMU shows it */
    /* with device 1 absent, device 0 answers for it (and the other way round), but never
     * with its status: an absent device reads as status 0 */
    IdeDevice *r = sel->media != IDE_MEDIA_NONE ? sel : other;
    bool hob = ch->devctl & ATA_DC_HOB;
    switch (reg) {
    case ATA_REG_ERROR:
        return r->error;
    case ATA_REG_SECTOR_COUNT:
        return hob ? r->hob_nsector : r->nsector;
    case ATA_REG_LBA_LOW:
        return hob ? r->hob_lba_low : r->lba_low;
    case ATA_REG_LBA_MID:
        return hob ? r->hob_lba_mid : r->lba_mid;
    case ATA_REG_LBA_HIGH:
        return hob ? r->hob_lba_high : r->lba_high;
    case ATA_REG_DEVICE:
        return r->device;
    case ATA_REG_STATUS:
        if (sel->media == IDE_MEDIA_NONE)
            return 0;
        sel->intrq = false; /* reading Status acknowledges the interrupt */
        update_irq(ch);
        return sel->status;
    default:
        return 0xff;
    }
}

static void reg_write(IdeChannel *ch, unsigned reg, uint8_t v)
{
    ch->devctl &= (uint8_t)~ATA_DC_HOB; /* any command block write clears HOB */
    if (reg == ATA_REG_COMMAND) {
        exec_cmd(ch, v);
        return;
    }
    for (unsigned u = 0; u < IDE_UNITS; u++) {
        IdeDevice *d = &ch->dev[u];
        switch (reg) {
        case ATA_REG_FEATURES:
            d->hob_feature = d->feature;
            d->feature = v;
            break;
        case ATA_REG_SECTOR_COUNT:
            d->hob_nsector = d->nsector;
            d->nsector = v;
            break;
        case ATA_REG_LBA_LOW:
            d->hob_lba_low = d->lba_low;
            d->lba_low = v;
            break;
        case ATA_REG_LBA_MID:
            d->hob_lba_mid = d->lba_mid;
            d->lba_mid = v;
            break;
        case ATA_REG_LBA_HIGH:
            d->hob_lba_high = d->lba_high;
            d->lba_high = v;
            break;
        case ATA_REG_DEVICE:
            d->device = v;
            break;
        default:
            break;
        }
    }
    if (reg == ATA_REG_DEVICE) {
        ch->cur = (v & ATA_DEV_DEV) ? 1 : 0;
        update_irq(ch);
    }
}

static uint32_t cmd_io_read(void *dev, uint16_t off, unsigned size)
{
    IdeChannel *ch = dev;
    if (!ch->decode)
        return 0xffffffffu;
    if (off == ATA_REG_DATA)
        return data_read(ch, size);
    uint32_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint32_t)(off + i < ATA_CMD_BLOCK_PORTS ? reg_read(ch, off + i) : 0xff) << (8 * i);
    return v;
}

static void cmd_io_write(void *dev, uint16_t off, uint32_t v, unsigned size)
{
    IdeChannel *ch = dev;
    if (!ch->decode)
        return;
    if (off == ATA_REG_DATA) {
        data_write(ch, v, size);
        return;
    }
    for (unsigned i = 0; i < size && off + i < ATA_CMD_BLOCK_PORTS; i++)
        reg_write(ch, off + i, (uint8_t)(v >> (8 * i)));
}

static uint32_t ctl_io_read(void *dev, uint16_t off, unsigned size)
{
    IdeChannel *ch = dev;
    if (!ch->decode)
        return 0xffffffffu;
    /* Alternate Status: the status without acknowledging the interrupt */
    IdeDevice *d = selected(ch);
    uint32_t v = d->media != IDE_MEDIA_NONE ? d->status : 0;
    return size > 1 ? v | 0xffffff00u : v;
}

static void ctl_io_write(void *dev, uint16_t off, uint32_t v, unsigned size)
{
    IdeChannel *ch = dev;
    if (ch->decode)
        write_devctl(ch, (uint8_t)v);
}

static const IoOps cmd_ops = {cmd_io_read, cmd_io_write};
static const IoOps ctl_ops = {ctl_io_read, ctl_io_write};

/* ---- PIIX3 function 1 ---------------------------------------------------------------------- */

static void update_decode(IdeController *c)
{
    for (unsigned i = 0; i < IDE_CHANNELS; i++) {
        if (!c->pci) {
            c->ch[i].decode = true;
            continue;
        }
        const uint8_t *cfg = pci_config(c->pci);
        unsigned idetim = i ? PIIX_IDE_IDETIM_SEC : PIIX_IDE_IDETIM_PRI;
        uint16_t t = (uint16_t)(cfg[idetim] | cfg[idetim + 1] << 8);
        c->ch[i].decode = (cfg[PCI_COMMAND] & PCI_COMMAND_IO) && (t & PIIX_IDE_IDETIM_IDE);
    }
}

static void piix_config_write(void *opaque, PciDevice *d, unsigned off, uint32_t val, unsigned size)
{
    update_decode(opaque);
}

static void piix_bmdma_map(void *opaque, PciDevice *d, int bar, uint64_t old_addr,
                           uint64_t new_addr)
{
    IdeController *c = opaque;
    if (new_addr == PCI_BAR_UNMAPPED || new_addr > 0xffff - PIIX_IDE_BMDMA_SIZE + 1)
        ide_map_bmdma(c, 0);
    else
        ide_map_bmdma(c, (uint16_t)new_addr); /* a clash leaves it unmapped */
}

void ide_firmware_setup(IdeController *c)
{
    if (!c->pci)
        return;
    pci_config_write(c->pci, PIIX_IDE_IDETIM_PRI, PIIX_IDE_IDETIM_IDE, 2);
    pci_config_write(c->pci, PIIX_IDE_IDETIM_SEC, PIIX_IDE_IDETIM_IDE, 2);
}

/* ---- life cycle ---------------------------------------------------------------------------- */

IdeController *ide_new(IoBus *io, AddressSpace *dma_as, Piix3 *piix,
                       const IrqLine irq[IDE_CHANNELS], char *err, size_t errlen)
{
    IdeController *c = g_new0(IdeController, 1);
    c->io = io;
    c->as = dma_as;
    c->piix = piix;
    c->pci = piix ? piix3_ide(piix) : NULL;
    c->bm_maps = g_ptr_array_new_with_free_func(g_free);
    for (unsigned i = 0; i < IDE_CHANNELS; i++) {
        IdeChannel *ch = &c->ch[i];
        ch->ctl = c;
        ch->index = i;
        ch->base = channel_base[i];
        ch->ctl_port = channel_ctl[i];
        ch->irq = irq[i];
        for (unsigned u = 0; u < IDE_UNITS; u++) {
            ch->dev[u].ch = ch;
            ch->dev[u].unit = u;
        }
        if (io_register(io, ch->base, ATA_CMD_BLOCK_PORTS, &cmd_ops, ch) < 0 ||
            io_register(io, ch->ctl_port, ATA_CTL_BLOCK_PORTS, &ctl_ops, ch) < 0) {
            snprintf(err, errlen, "ide: cannot claim ports 0x%x-0x%x and 0x%x", ch->base,
                     ch->base + ATA_CMD_BLOCK_PORTS - 1, ch->ctl_port);
            g_ptr_array_free(c->bm_maps, TRUE);
            g_free(c);
            return NULL;
        }
    }
    update_decode(c);
    if (piix) {
        PiixIdeHooks hooks = {piix_config_write, piix_bmdma_map};
        piix3_ide_set_hooks(piix, &hooks, c);
        uint64_t bar = pci_bar_addr(c->pci, PIIX_IDE_BMDMA_BAR);
        piix_bmdma_map(c, c->pci, PIIX_IDE_BMDMA_BAR, PCI_BAR_UNMAPPED, bar);
    }
    ide_reset(c);
    return c;
}

void ide_free(IdeController *c)
{
    if (!c)
        return;
    if (c->piix)
        piix3_ide_set_hooks(c->piix, NULL, NULL);
    for (unsigned i = 0; i < IDE_CHANNELS; i++) {
        for (unsigned u = 0; u < IDE_UNITS; u++) {
            IdeDevice *d = &c->ch[i].dev[u];
            blk_close(d->blk);
            g_free(d->buf);
        }
    }
    /* the port ranges stay registered on the bus: as every device's, they must not be used
     * once the board is being freed */
    g_ptr_array_free(c->bm_maps, TRUE);
    g_free(c);
}

int ide_attach(IdeController *c, unsigned channel, unsigned unit, IdeMedia media, BlockDev *blk,
               char *err, size_t errlen)
{
    if (channel >= IDE_CHANNELS || unit >= IDE_UNITS || media == IDE_MEDIA_NONE ||
        (!blk && media != IDE_MEDIA_CDROM)) {
        snprintf(err, errlen, "ide: no such drive position %u.%u", channel, unit);
        blk_close(blk);
        return -EINVAL;
    }
    IdeDevice *d = &c->ch[channel].dev[unit];
    if (d->media != IDE_MEDIA_NONE) {
        snprintf(err, errlen, "ide: %s %s already has a drive", channel ? "secondary" : "primary",
                 unit ? "slave" : "master");
        blk_close(blk);
        return -EEXIST;
    }
    unsigned sector = media == IDE_MEDIA_CDROM ? ATAPI_SECTOR : ATA_SECTOR;
    uint64_t n = blk ? blk_size(blk) / sector : 0;
    if (blk && (!n || (media == IDE_MEDIA_CDROM && !blk_is_readonly(blk)))) {
        snprintf(err, errlen, "%s: %s", blk_path(blk),
                 n ? "a CD-ROM image must be opened read-only" : "the image has no sector");
        blk_close(blk);
        return -EINVAL;
    }
    d->media = media;
    d->blk = blk;
    d->nsectors = n;
    d->buf = g_malloc0(IDE_BUF_SIZE);
    snprintf(d->serial, sizeof(d->serial), "DV%08u", channel * IDE_UNITS + unit + 1);
    snprintf(d->firmware, sizeof(d->firmware), "%s", DUALVM_VERSION);
    snprintf(d->model, sizeof(d->model), "%s",
             media == IDE_MEDIA_CDROM ? "DUALVM DVD-ROM" : "DUALVM HARDDISK");
    if (media == IDE_MEDIA_DISK) {
        /* QEMU's guess for an image without a partition table to go by: 16 heads, 63 sectors */
        d->heads = 16;
        d->secs = 63;
        d->cyls = (unsigned)CLAMP(n / (16 * 63), (uint64_t)2, (uint64_t)16383);
    }
    device_reset_state(d, true);
    /* device 0's IDENTIFY word 93 and the diagnostic code depend on device 1 */
    return 0;
}

IdeMedia ide_media(IdeController *c, unsigned channel, unsigned unit)
{
    if (channel >= IDE_CHANNELS || unit >= IDE_UNITS)
        return IDE_MEDIA_NONE;
    return c->ch[channel].dev[unit].media;
}

bool ide_geometry(IdeController *c, unsigned channel, unsigned unit, unsigned *cyls,
                  unsigned *heads, unsigned *secs)
{
    if (ide_media(c, channel, unit) != IDE_MEDIA_DISK)
        return false;
    const IdeDevice *d = &c->ch[channel].dev[unit];
    *cyls = d->cyls;
    *heads = d->heads;
    *secs = d->secs;
    return true;
}
