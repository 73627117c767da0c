#include "hw/vga.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <glib.h>

struct VgaState {
    VgaRegs r;
    uint8_t *vram;
    uint32_t vram_size;
    AddressSpace *as;
    uint64_t lfb_gpa; /* 0: not mapped */
    uint64_t generation;

    /* on the PCI bus (vga_pci_init) */
    PciDevice *pci;
    VgaMemChangedFn changed;
    void *changed_opaque;
    uint64_t mmio_gpa, rom_gpa; /* PCI_BAR_UNMAPPED when not mapped */
    uint8_t *rom;
    size_t rom_size; /* the BAR's size: a power of two */
};

/* Bits that exist in each register; the rest read as zero (IBM VGA technical reference). */
static const uint8_t sr_mask[VGA_SEQ_C] = {0x03, 0x3d, 0x0f, 0x3f, 0x0e};
static const uint8_t gr_mask[VGA_GFX_C] = {0x0f, 0x0f, 0x0f, 0x1f, 0x03, 0x7b, 0x0f, 0x0f, 0xff};

/* Mode 3 (80x25 colour text), as the VGA BIOS leaves it: the power-on state. */
static const uint8_t mode3_sr[VGA_SEQ_C] = {0x03, 0x00, 0x03, 0x00, 0x02};
static const uint8_t mode3_gr[VGA_GFX_C] = {0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x0e, 0x00, 0xff};
static const uint8_t mode3_cr[VGA_CRTC_C] = {0x5f, 0x4f, 0x50, 0x82, 0x55, 0x81, 0xbf, 0x1f, 0x00,
                                             0x4f, 0x0d, 0x0e, 0x00, 0x00, 0x00, 0x00, 0x9c, 0x8e,
                                             0x8f, 0x28, 0x1f, 0x96, 0xb9, 0xa3, 0xff};
static const uint8_t mode3_ar[VGA_ATC_C] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14,
                                            0x07, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d,
                                            0x3e, 0x3f, 0x0c, 0x00, 0x0f, 0x08, 0x00};

/* A byte replicated into the four plane lanes, and a 4-bit plane set widened to lane masks. */
static inline uint32_t lanes(uint8_t v)
{
    return v * 0x01010101u;
}

static inline uint32_t plane_mask(unsigned planes)
{
    uint32_t m = 0;
    for (unsigned p = 0; p < 4; p++)
        if (planes & (1u << p))
            m |= 0xffu << (8 * p);
    return m;
}

static inline uint32_t load_planes(const VgaState *s, uint32_t off)
{
    const uint8_t *p = s->vram + 4 * (size_t)off;
    return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void store_planes(VgaState *s, uint32_t off, uint32_t val, uint32_t mask)
{
    uint8_t *p = s->vram + 4 * (size_t)off;
    for (unsigned i = 0; i < 4; i++)
        if (mask & (0xffu << (8 * i)))
            p[i] = (uint8_t)(val >> (8 * i));
}

static bool vbe_on(const VgaState *s)
{
    return s->r.vbe[VBE_DISPI_INDEX_ENABLE] & VBE_DISPI_ENABLED;
}

/* ---------------------------------------------------------------- VBE geometry */

static unsigned vbe_bpp_valid(unsigned bpp)
{
    switch (bpp) {
    case 4:
    case 8:
    case 15:
    case 16:
    case 24:
    case 32:
        return bpp;
    default:
        return 0;
    }
}

/* Bytes of video RAM per pixel row of width w: at 4 bpp the planes hold w/8 bytes each. */
static uint32_t vbe_line_bytes(unsigned bpp, unsigned w)
{
    return bpp == 4 ? w / 8 : w * ((bpp + 7) / 8);
}

/* What the display can address: all of video RAM, or one plane's share of it at 4 bpp. */
static uint32_t vbe_capacity(const VgaState *s, unsigned bpp)
{
    return bpp == 4 ? s->vram_size / 4 : s->vram_size;
}

/* The dispi interface has no way to refuse a value, so the registers are brought to the
 * nearest mode that fits while VBE is enabled (reads show the result): a known depth (else
 * 8), widths multiples of 8 within the maxima, the virtual width at least XRES, as many lines
 * as fit in video RAM, and a display start that keeps the screen inside it. */
static void vbe_fixup(VgaState *s)
{
    uint16_t *v = s->r.vbe;
    if (!(v[VBE_DISPI_INDEX_ENABLE] & VBE_DISPI_ENABLED))
        return;
    unsigned bpp = vbe_bpp_valid(v[VBE_DISPI_INDEX_BPP]);
    if (!bpp)
        bpp = v[VBE_DISPI_INDEX_BPP] = 8;
    unsigned xres = v[VBE_DISPI_INDEX_XRES] & ~7u;
    xres = xres < 8 ? 8 : xres > VBE_DISPI_MAX_XRES ? VBE_DISPI_MAX_XRES : xres;
    v[VBE_DISPI_INDEX_XRES] = (uint16_t)xres;
    unsigned vw = v[VBE_DISPI_INDEX_VIRT_WIDTH] & ~7u;
    if (vw < xres)
        vw = xres;
    uint32_t cap = vbe_capacity(s, bpp);
    uint32_t line = vbe_line_bytes(bpp, vw);
    if (line > cap) { /* a virtual width video RAM cannot hold one line of */
        vw = xres;
        line = vbe_line_bytes(bpp, vw);
    }
    v[VBE_DISPI_INDEX_VIRT_WIDTH] = (uint16_t)vw;
    uint32_t maxy = cap / line;
    unsigned yres = v[VBE_DISPI_INDEX_YRES];
    yres = yres < 1 ? 1 : yres > VBE_DISPI_MAX_YRES ? VBE_DISPI_MAX_YRES : yres;
    if (yres > maxy)
        yres = maxy;
    v[VBE_DISPI_INDEX_YRES] = (uint16_t)yres;
    v[VBE_DISPI_INDEX_VIRT_HEIGHT] = (uint16_t)(maxy > 0xffff ? 0xffff : maxy);

    uint32_t x = v[VBE_DISPI_INDEX_X_OFFSET];
    uint64_t xbytes = bpp == 4 ? x / 8 : (uint64_t)x * ((bpp + 7) / 8);
    uint64_t screen = (uint64_t)yres * line;
    if ((uint64_t)v[VBE_DISPI_INDEX_Y_OFFSET] * line + xbytes + screen > cap) {
        v[VBE_DISPI_INDEX_Y_OFFSET] = 0;
        if (xbytes + screen > cap)
            v[VBE_DISPI_INDEX_X_OFFSET] = 0;
    }
}

VbeMode vga_vbe_mode(const VgaState *s)
{
    const uint16_t *v = s->r.vbe;
    VbeMode m = {0};
    m.enabled = vbe_on(s);
    m.dac_8bit = v[VBE_DISPI_INDEX_ENABLE] & VBE_DISPI_8BIT_DAC;
    if (!m.enabled)
        return m;
    m.bpp = v[VBE_DISPI_INDEX_BPP];
    m.xres = v[VBE_DISPI_INDEX_XRES];
    m.yres = v[VBE_DISPI_INDEX_YRES];
    m.virt_width = v[VBE_DISPI_INDEX_VIRT_WIDTH];
    m.virt_height = v[VBE_DISPI_INDEX_VIRT_HEIGHT];
    m.line_bytes = vbe_line_bytes(m.bpp, m.virt_width);
    uint32_t x = v[VBE_DISPI_INDEX_X_OFFSET];
    m.start =
        v[VBE_DISPI_INDEX_Y_OFFSET] * m.line_bytes + (m.bpp == 4 ? x / 8 : x * ((m.bpp + 7) / 8));
    return m;
}

void vga_vbe_write(VgaState *s, uint16_t idx, uint16_t val)
{
    s->generation++;
    uint16_t *v = s->r.vbe;
    switch (idx) {
    case VBE_DISPI_INDEX_ID:
        if (val >= VBE_DISPI_ID0 && val <= VBE_DISPI_ID5)
            v[idx] = val;
        break;
    case VBE_DISPI_INDEX_XRES:
    case VBE_DISPI_INDEX_YRES:
    case VBE_DISPI_INDEX_BPP:
    case VBE_DISPI_INDEX_VIRT_WIDTH:
    case VBE_DISPI_INDEX_X_OFFSET:
    case VBE_DISPI_INDEX_Y_OFFSET:
        v[idx] = val;
        vbe_fixup(s);
        break;
    case VBE_DISPI_INDEX_BANK: {
        unsigned bpp = vbe_bpp_valid(v[VBE_DISPI_INDEX_BPP]);
        uint32_t banks = vbe_capacity(s, bpp ? bpp : 8) / VBE_DISPI_BANK_SIZE;
        v[idx] = (uint16_t)(val & (banks - 1)); /* banks is a power of two */
        break;
    }
    case VBE_DISPI_INDEX_ENABLE:
        if ((val & VBE_DISPI_ENABLED) && !vbe_on(s)) {
            /* A mode set: the virtual screen starts as the visible one. */
            v[VBE_DISPI_INDEX_VIRT_WIDTH] = 0;
            v[VBE_DISPI_INDEX_X_OFFSET] = v[VBE_DISPI_INDEX_Y_OFFSET] = 0;
            v[idx] = val;
            vbe_fixup(s);
            if (!(val & VBE_DISPI_NOCLEARMEM)) {
                VbeMode m = vga_vbe_mode(s);
                uint64_t n = (uint64_t)m.line_bytes * m.yres * (m.bpp == 4 ? 4 : 1);
                memset(s->vram, 0, n > s->vram_size ? s->vram_size : n);
            }
        }
        v[idx] = val;
        break;
    default: /* VIRT_HEIGHT and VIDEO_MEMORY_64K are derived, read-only */
        break;
    }
}

uint16_t vga_vbe_read(VgaState *s, uint16_t idx)
{
    const uint16_t *v = s->r.vbe;
    if (idx == VBE_DISPI_INDEX_VIDEO_MEMORY_64K)
        return (uint16_t)(s->vram_size / (64 * 1024));
    if (idx >= VBE_DISPI_INDEX_NB)
        return 0;
    if (v[VBE_DISPI_INDEX_ENABLE] & VBE_DISPI_GETCAPS) {
        switch (idx) {
        case VBE_DISPI_INDEX_XRES:
            return VBE_DISPI_MAX_XRES;
        case VBE_DISPI_INDEX_YRES:
            return VBE_DISPI_MAX_YRES;
        case VBE_DISPI_INDEX_BPP:
            return VBE_DISPI_MAX_BPP;
        }
    }
    return v[idx];
}

/* 0x1ce index, 0x1cf data, 0x1d0 data again: a 32-bit access at 0x1ce is index then data. */
static uint32_t vbe_io_read(void *dev, uint16_t off, unsigned size)
{
    VgaState *s = dev;
    if (size == 4 && off == 0)
        return s->r.vbe_index | (uint32_t)vga_vbe_read(s, s->r.vbe_index) << 16;
    uint32_t v = off == 0 ? s->r.vbe_index : vga_vbe_read(s, s->r.vbe_index);
    return size == 1 ? v & 0xff : v & 0xffff;
}

static void vbe_io_write(void *dev, uint16_t off, uint32_t val, unsigned size)
{
    VgaState *s = dev;
    if (size == 4 && off == 0) {
        s->r.vbe_index = (uint16_t)val;
        vga_vbe_write(s, s->r.vbe_index, (uint16_t)(val >> 16));
        return;
    }
    val &= size == 1 ? 0xff : 0xffff;
    if (off == 0)
        s->r.vbe_index = (uint16_t)val;
    else
        vga_vbe_write(s, s->r.vbe_index, (uint16_t)val);
}

static const IoOps vbe_ops = {vbe_io_read, vbe_io_write};

/* ---------------------------------------------------------------- video memory */

/* Window offset (from 0xA0000) to the address the VGA decodes, per the memory map select. */
static bool window_decode(const VgaState *s, uint32_t off, uint32_t *a)
{
    switch ((s->r.gr[VGA_GFX_MISC] & VGA_GR06_MEMORY_MAP_MASK) >> 2) {
    case 0:
        *a = off;
        return true;
    case 1:
        *a = off;
        return off < 0x10000;
    case 2:
        *a = off - 0x10000;
        return off >= 0x10000 && off < 0x18000;
    default:
        *a = off - 0x18000;
        return off >= 0x18000;
    }
}

/* Where a CPU access lands when VBE is on at 8 bpp or more: video RAM, linearly, at the bank.
 * Returns false if it is past the end of video RAM. */
static bool vbe_linear(const VgaState *s, uint32_t a, uint32_t *idx)
{
    uint64_t i = (uint64_t)s->r.vbe[VBE_DISPI_INDEX_BANK] * VBE_DISPI_BANK_SIZE + a;
    *idx = (uint32_t)i;
    return i < s->vram_size;
}

/* The planar address of a CPU access: plane offset and the planes it may touch (reads take
 * bit 0 of the read plane from it in odd/even mode). */
typedef struct PlaneAccess {
    uint32_t off;
    unsigned planes;   /* write enable, before the map mask */
    unsigned oe_plane; /* odd/even and chain-4: the plane the address selects */
} PlaneAccess;

static bool plane_decode(const VgaState *s, uint32_t a, bool write, PlaneAccess *pa)
{
    const VgaRegs *r = &s->r;
    if (vbe_on(s)) { /* 4 bpp VBE: planar, 64 KiB banks of plane bytes */
        uint64_t off = (uint64_t)r->vbe[VBE_DISPI_INDEX_BANK] * VBE_DISPI_BANK_SIZE + a;
        if (a >= VBE_DISPI_BANK_SIZE || off >= s->vram_size / 4)
            return false;
        pa->off = (uint32_t)off;
        pa->planes = 0xf;
        pa->oe_plane = 0;
        return true;
    }
    if (r->sr[VGA_SEQ_MEMORY_MODE] & VGA_SR04_CHN_4M) {
        pa->oe_plane = a & 3;
        pa->planes = 1u << (a & 3);
        pa->off = ((a & 0xfffc) | ((a >> 14) & 3));
    } else if (write ? !(r->sr[VGA_SEQ_MEMORY_MODE] & VGA_SR04_SEQ_MODE)
                     : (r->gr[VGA_GFX_MODE] & VGA_GR05_HOST_ODD_EVEN)) {
        pa->oe_plane = a & 1;
        pa->planes = (a & 1) ? 0xa : 0x5;
        pa->off = (a & 0xfffe) | ((a >> 16) & 1);
    } else {
        pa->oe_plane = 0;
        pa->planes = 0xf;
        pa->off = a & 0xffff;
    }
    return true;
}

static bool vga_mem_access_ok(const VgaState *s, uint32_t offset, uint32_t *a)
{
    return (s->r.misc & VGA_MIS_ENB_MEM) && offset < VGA_WINDOW_SIZE && window_decode(s, offset, a);
}

uint8_t vga_mem_read(VgaState *s, uint32_t offset)
{
    VgaRegs *r = &s->r;
    uint32_t a, idx;
    if (!vga_mem_access_ok(s, offset, &a))
        return 0xff;
    if (vbe_on(s) && r->vbe[VBE_DISPI_INDEX_BPP] != 4)
        return vbe_linear(s, a, &idx) ? s->vram[idx] : 0xff;
    PlaneAccess pa;
    if (!plane_decode(s, a, false, &pa))
        return 0xff;
    r->latch = load_planes(s, pa.off);
    if (r->gr[VGA_GFX_MODE] & VGA_GR05_READ_MODE) {
        /* colour compare: a 1 where every plane that matters has its compare colour */
        uint32_t care = plane_mask(r->gr[VGA_GFX_COMPARE_MASK]);
        uint32_t diff = (r->latch ^ plane_mask(r->gr[VGA_GFX_COMPARE_VALUE])) & care;
        diff |= diff >> 16;
        diff |= diff >> 8;
        return (uint8_t)~diff;
    }
    unsigned plane = r->gr[VGA_GFX_PLANE_READ] & 3;
    if (r->sr[VGA_SEQ_MEMORY_MODE] & VGA_SR04_CHN_4M && !vbe_on(s))
        plane = pa.oe_plane;
    else if (r->gr[VGA_GFX_MODE] & VGA_GR05_HOST_ODD_EVEN && !vbe_on(s))
        plane = (plane & 2) | pa.oe_plane;
    return (uint8_t)(r->latch >> (8 * plane));
}

/* The graphics controller's write data path: four plane bytes from the CPU byte, the latches
 * and the registers, and the bit mask that picks between them and the latches. */
static uint32_t write_data(const VgaRegs *r, uint8_t cpu, uint32_t *bitmask)
{
    unsigned rot = r->gr[VGA_GFX_DATA_ROTATE] & 7;
    uint8_t rotated = (uint8_t)((cpu >> rot) | (cpu << ((8 - rot) & 7)));
    uint8_t mask = r->gr[VGA_GFX_BIT_MASK];
    uint32_t d;
    switch (r->gr[VGA_GFX_MODE] & VGA_GR05_WRITE_MODE) {
    case 0: {
        uint32_t en = plane_mask(r->gr[VGA_GFX_SR_ENABLE]);
        d = (lanes(rotated) & ~en) | (plane_mask(r->gr[VGA_GFX_SR_VALUE]) & en);
        break;
    }
    case 1: /* the latches, as they are: no function, no bit mask */
        *bitmask = 0xffffffffu;
        return r->latch;
    case 2:
        d = plane_mask(cpu & 0x0f);
        break;
    default: /* 3: set/reset as data, the rotated CPU byte ANDed into the bit mask */
        d = plane_mask(r->gr[VGA_GFX_SR_VALUE]);
        mask &= rotated;
        break;
    }
    switch ((r->gr[VGA_GFX_DATA_ROTATE] >> 3) & 3) {
    case 1:
        d &= r->latch;
        break;
    case 2:
        d |= r->latch;
        break;
    case 3:
        d ^= r->latch;
        break;
    }
    *bitmask = lanes(mask);
    return d;
}

void vga_mem_write(VgaState *s, uint32_t offset, uint8_t val)
{
    VgaRegs *r = &s->r;
    uint32_t a, idx;
    if (!vga_mem_access_ok(s, offset, &a))
        return;
    s->generation++;
    if (vbe_on(s) && r->vbe[VBE_DISPI_INDEX_BPP] != 4) {
        if (vbe_linear(s, a, &idx))
            s->vram[idx] = val;
        return;
    }
    PlaneAccess pa;
    if (!plane_decode(s, a, true, &pa))
        return;
    uint32_t bitmask;
    uint32_t d = write_data(r, val, &bitmask);
    d = (d & bitmask) | (r->latch & ~bitmask);
    store_planes(s, pa.off, d, plane_mask(pa.planes & r->sr[VGA_SEQ_PLANE_WRITE]));
}

static uint64_t window_read(void *dev, uint64_t off, unsigned size)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint64_t)vga_mem_read(dev, (uint32_t)(off + i)) << (8 * i);
    return v;
}

static void window_write(void *dev, uint64_t off, uint64_t val, unsigned size)
{
    for (unsigned i = 0; i < size; i++)
        vga_mem_write(dev, (uint32_t)(off + i), (uint8_t)(val >> (8 * i)));
}

static const MmioOps window_ops = {window_read, window_write};

uint32_t vga_crtc_address(const VgaRegs *r, uint32_t ma, unsigned rs)
{
    uint32_t a;
    ma &= 0xffff;
    if (r->cr[VGA_CRTC_UNDERLINE] & VGA_CR14_DWORD)
        a = (ma << 2) | ((ma >> 12) & 3);
    else if (!(r->cr[VGA_CRTC_MODE] & VGA_CR17_BYTE_MODE))
        a = (ma << 1) | ((ma >> ((r->cr[VGA_CRTC_MODE] & VGA_CR17_ADDR_WRAP) ? 15 : 13)) & 1);
    else
        a = ma;
    if (!(r->cr[VGA_CRTC_MODE] & VGA_CR17_CMS))
        a = (a & ~0x2000u) | ((rs & 1u) << 13);
    if (!(r->cr[VGA_CRTC_MODE] & VGA_CR17_SRS))
        a = (a & ~0x4000u) | ((rs & 2u) << 13);
    return a & 0xffff;
}

/* ---------------------------------------------------------------- registers */

/* Ports of the colour or the monochrome set that the misc output has not selected do not
 * answer. */
static bool port_decoded(const VgaState *s, uint16_t port)
{
    if (s->r.misc & VGA_MIS_COLOR)
        return port < 0x3b0 || port > 0x3bf;
    return port < 0x3d0 || port > 0x3df;
}

uint8_t vga_ioport_read(VgaState *s, uint16_t port)
{
    VgaRegs *r = &s->r;
    uint8_t v;
    if (!port_decoded(s, port))
        return 0xff;
    switch (port) {
    case VGA_ATT_W:
        return r->ar_index;
    case VGA_ATT_R: {
        unsigned i = r->ar_index & 0x1f;
        return i < VGA_ATC_C ? r->ar[i] : 0;
    }
    case VGA_MIS_W: /* input status 0 */
        return 0x00;
    case VGA_VIDEO_ENABLE:
        return r->video_enable;
    case VGA_SEQ_I:
        return r->sr_index;
    case VGA_SEQ_D:
        return r->sr_index < VGA_SEQ_C ? r->sr[r->sr_index] : 0;
    case VGA_PEL_MSK:
        return r->dac_mask;
    case VGA_PEL_IR:
        return r->dac_state;
    case VGA_PEL_IW:
        return r->dac_write_index;
    case VGA_PEL_D:
        v = r->dac[r->dac_read_index][r->dac_read_sub];
        if (++r->dac_read_sub == 3) {
            r->dac_read_sub = 0;
            r->dac_read_index++;
        }
        return v;
    case VGA_FTC_R:
        return r->feature;
    case VGA_MIS_R:
        return r->misc;
    case VGA_GFX_I:
        return r->gr_index;
    case VGA_GFX_D:
        return r->gr_index < VGA_GFX_C ? r->gr[r->gr_index] : 0;
    case VGA_CRT_IM:
    case VGA_CRT_IC:
        return r->cr_index;
    case VGA_CRT_DM:
    case VGA_CRT_DC:
        if (r->cr_index < VGA_CRTC_C)
            return r->cr[r->cr_index];
        switch (r->cr_index) { /* the undocumented read-backs of the IBM VGA */
        case 0x22:
            return (uint8_t)(r->latch >> (8 * (r->gr[VGA_GFX_PLANE_READ] & 3)));
        case 0x24:
            return r->ar_flip_flop ? 0x80 : 0x00;
        case 0x26:
            return r->ar_index & 0x3f;
        }
        return 0;
    case VGA_IS1_RM:
    case VGA_IS1_RC:
        /* No beam to follow: each read flips retrace and display-enable, so every "wait for
         * the retrace to start/end" loop ends at once, the same way on every run. */
        r->st01 ^= VGA_IS1_VRETRACE | VGA_IS1_DD;
        r->ar_flip_flop = false;
        return r->st01;
    default:
        return 0xff;
    }
}

static void ar_write(VgaRegs *r, uint8_t val)
{
    if (!r->ar_flip_flop) {
        r->ar_index = val & 0x3f;
    } else {
        unsigned i = r->ar_index & 0x1f;
        if (i <= 0x0f)
            r->ar[i] = val & 0x3f;
        else if (i == VGA_ATC_MODE)
            r->ar[i] = val & ~0x10;
        else if (i == VGA_ATC_OVERSCAN)
            r->ar[i] = val;
        else if (i == VGA_ATC_PLANE_ENABLE)
            r->ar[i] = val & 0x3f;
        else if (i == VGA_ATC_PEL || i == VGA_ATC_COLOR_PAGE)
            r->ar[i] = val & 0x0f;
    }
    r->ar_flip_flop = !r->ar_flip_flop;
}

static void cr_write(VgaRegs *r, uint8_t val)
{
    unsigned i = r->cr_index;
    if (i >= VGA_CRTC_C)
        return;
    if ((r->cr[VGA_CRTC_V_SYNC_END] & VGA_CR11_LOCK_CR0_CR7) && i <= VGA_CRTC_OVERFLOW) {
        if (i == VGA_CRTC_OVERFLOW) /* line compare bit 8 stays writable */
            r->cr[i] = (uint8_t)((r->cr[i] & ~VGA_CR07_LC8) | (val & VGA_CR07_LC8));
        return;
    }
    r->cr[i] = val;
}

void vga_ioport_write(VgaState *s, uint16_t port, uint8_t val)
{
    VgaRegs *r = &s->r;
    if (!port_decoded(s, port))
        return;
    s->generation++;
    switch (port) {
    case VGA_ATT_W:
        ar_write(r, val);
        break;
    case VGA_MIS_W:
        r->misc = val & ~0x10;
        break;
    case VGA_VIDEO_ENABLE:
        r->video_enable = val & 1;
        break;
    case VGA_SEQ_I:
        r->sr_index = val & 0x07;
        break;
    case VGA_SEQ_D:
        if (r->sr_index < VGA_SEQ_C)
            r->sr[r->sr_index] = val & sr_mask[r->sr_index];
        break;
    case VGA_PEL_MSK:
        r->dac_mask = val;
        break;
    case VGA_PEL_IR:
        r->dac_read_index = val;
        r->dac_read_sub = 0;
        r->dac_state = 3;
        break;
    case VGA_PEL_IW:
        r->dac_write_index = val;
        r->dac_write_sub = 0;
        r->dac_state = 0;
        break;
    case VGA_PEL_D:
        r->dac_cache[r->dac_write_sub] =
            (r->vbe[VBE_DISPI_INDEX_ENABLE] & VBE_DISPI_8BIT_DAC) ? val : (val & 0x3f);
        if (++r->dac_write_sub == 3) {
            memcpy(r->dac[r->dac_write_index], r->dac_cache, 3);
            r->dac_write_sub = 0;
            r->dac_write_index++;
        }
        break;
    case VGA_GFX_I:
        r->gr_index = val & 0x0f;
        break;
    case VGA_GFX_D:
        if (r->gr_index < VGA_GFX_C)
            r->gr[r->gr_index] = val & gr_mask[r->gr_index];
        break;
    case VGA_CRT_IM:
    case VGA_CRT_IC:
        r->cr_index = val;
        break;
    case VGA_CRT_DM:
    case VGA_CRT_DC:
        cr_write(r, val);
        break;
    case VGA_IS1_RM:
    case VGA_IS1_RC:
        r->feature = val & 0x0b;
        break;
    }
}

/* Wider port accesses are byte cycles on consecutive ports (outw 0x3c4, 0x0f02 sets the index
 * and then the data), as the ISA bus runs them for an 8-bit device. */
static uint32_t vga_io_read(void *dev, uint16_t off, unsigned size)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < size; i++) {
        unsigned port = VGA_PORT_BASE + off + i;
        uint8_t b = off + i < VGA_PORT_COUNT ? vga_ioport_read(dev, (uint16_t)port) : 0xff;
        v |= (uint32_t)b << (8 * i);
    }
    return v;
}

static void vga_io_write(void *dev, uint16_t off, uint32_t val, unsigned size)
{
    for (unsigned i = 0; i < size && off + i < VGA_PORT_COUNT; i++)
        vga_ioport_write(dev, (uint16_t)(VGA_PORT_BASE + off + i), (uint8_t)(val >> (8 * i)));
}

static const IoOps vga_io_ops = {vga_io_read, vga_io_write};

/* ---------------------------------------------------------------- PCI */

static void notify(VgaState *s, uint64_t gpa, uint64_t len)
{
    if (s->changed && gpa != PCI_BAR_UNMAPPED)
        s->changed(s->changed_opaque, gpa, len);
}

/* BAR2, QEMU's layout: the VGA ports 0x3c0-0x3df as bytes, the dispi registers as 16-bit words,
 * and the "qext" registers (their size, and the framebuffer byte order: little endian). */
static uint64_t mmio_bar_read(void *dev, uint64_t off, unsigned size)
{
    VgaState *s = dev;
    uint64_t v = 0;
    if (off >= VGA_MMIO_VGA_PORTS && off < VGA_MMIO_VGA_PORTS + 0x20) {
        for (unsigned i = 0; i < size && off + i < VGA_MMIO_VGA_PORTS + 0x20; i++)
            v |= (uint64_t)vga_ioport_read(s, (uint16_t)(0x3c0 + off - VGA_MMIO_VGA_PORTS + i))
                 << (8 * i);
        return v;
    }
    if (off >= VGA_MMIO_DISPI && off < VGA_MMIO_DISPI + 2 * VBE_DISPI_INDEX_NB) {
        uint16_t w = vga_vbe_read(s, (uint16_t)((off - VGA_MMIO_DISPI) / 2));
        return (off & 1) ? w >> 8 : (size == 1 ? (w & 0xff) : w);
    }
    if (off == VGA_MMIO_QEXT_SIZE)
        return 8;
    if (off == VGA_MMIO_QEXT_BYTEORDER)
        return VGA_QEXT_LITTLE_ENDIAN;
    return 0; /* no EDID blob at 0x000 */
}

static void mmio_bar_write(void *dev, uint64_t off, uint64_t val, unsigned size)
{
    VgaState *s = dev;
    if (off >= VGA_MMIO_VGA_PORTS && off < VGA_MMIO_VGA_PORTS + 0x20) {
        for (unsigned i = 0; i < size && off + i < VGA_MMIO_VGA_PORTS + 0x20; i++)
            vga_ioport_write(s, (uint16_t)(0x3c0 + off - VGA_MMIO_VGA_PORTS + i),
                             (uint8_t)(val >> (8 * i)));
    } else if (off >= VGA_MMIO_DISPI && off < VGA_MMIO_DISPI + 2 * VBE_DISPI_INDEX_NB &&
               !(off & 1) && size >= 2) {
        vga_vbe_write(s, (uint16_t)((off - VGA_MMIO_DISPI) / 2), (uint16_t)val);
    }
    /* qext: the size is read-only and big endian is not offered */
}

static const MmioOps mmio_bar_ops = {mmio_bar_read, mmio_bar_write};

static void lfb_bar_map(void *opaque, PciDevice *d, int bar, uint64_t old_addr, uint64_t new_addr)
{
    VgaState *s = opaque;
    vga_map_lfb(s, new_addr == PCI_BAR_UNMAPPED ? 0 : new_addr);
    notify(s, old_addr, s->vram_size);
    notify(s, new_addr, s->vram_size);
}

static void mmio_bar_map(void *opaque, PciDevice *d, int bar, uint64_t old_addr, uint64_t new_addr)
{
    VgaState *s = opaque;
    if (s->mmio_gpa != PCI_BAR_UNMAPPED)
        as_remove(s->as, s->mmio_gpa);
    s->mmio_gpa = PCI_BAR_UNMAPPED;
    if (new_addr != PCI_BAR_UNMAPPED &&
        !as_add_mmio(s->as, new_addr, VGA_PCI_MMIO_SIZE, &mmio_bar_ops, s, "vga-mmio"))
        s->mmio_gpa = new_addr;
    notify(s, old_addr, VGA_PCI_MMIO_SIZE);
    notify(s, new_addr, VGA_PCI_MMIO_SIZE);
}

static void rom_bar_map(void *opaque, PciDevice *d, int bar, uint64_t old_addr, uint64_t new_addr)
{
    VgaState *s = opaque;
    if (s->rom_gpa != PCI_BAR_UNMAPPED)
        as_remove(s->as, s->rom_gpa);
    s->rom_gpa = PCI_BAR_UNMAPPED;
    if (new_addr != PCI_BAR_UNMAPPED &&
        !as_add_rom(s->as, new_addr, s->rom_size, s->rom, "vga-rom"))
        s->rom_gpa = new_addr;
    notify(s, old_addr, s->rom_size);
    notify(s, new_addr, s->rom_size);
}

int vga_pci_init(VgaState *s, PciBus *bus, unsigned devfn, VgaMemChangedFn changed, void *opaque,
                 char *err, size_t errlen)
{
    s->pci = pci_register(bus, devfn, "vga", VGA_PCI_VENDOR_ID, VGA_PCI_DEVICE_ID, VGA_PCI_REVISION,
                          VGA_PCI_CLASS);
    if (!s->pci) {
        snprintf(err, errlen, "vga: PCI %02x.%u is taken", PCI_SLOT(devfn), PCI_FUNC(devfn));
        return -1;
    }
    s->changed = changed;
    s->changed_opaque = opaque;
    int rc =
        pci_register_bar(s->pci, VGA_PCI_LFB_BAR, s->vram_size, PCI_BAR_PREFETCH, lfb_bar_map, s);
    if (!rc)
        rc = pci_register_bar(s->pci, VGA_PCI_MMIO_BAR, VGA_PCI_MMIO_SIZE, 0, mmio_bar_map, s);
    if (rc) {
        snprintf(err, errlen, "vga: cannot declare its BARs: %s", strerror(-rc));
        pci_unregister(s->pci);
        s->pci = NULL;
        return -1;
    }
    return 0;
}

PciDevice *vga_pci_device(VgaState *s)
{
    return s->pci;
}

int vga_pci_set_rom(VgaState *s, const void *data, size_t len)
{
    if (!s->pci || s->rom || !len || len > (16u << 20))
        return -EINVAL;
    size_t size = 0x1000; /* a page at least: KVM maps it */
    while (size < len)
        size <<= 1;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -ENOMEM;
    memcpy(p, data, len);
    int rc = pci_register_bar(s->pci, PCI_ROM_SLOT, size, 0, rom_bar_map, s);
    if (rc) {
        munmap(p, size);
        return rc;
    }
    s->rom = p;
    s->rom_size = size;
    return 0;
}

/* ---------------------------------------------------------------- life cycle */

void vga_reset(VgaState *s)
{
    VgaRegs *r = &s->r;
    memset(r, 0, sizeof(*r));
    r->misc = 0x67;
    memcpy(r->sr, mode3_sr, sizeof(r->sr));
    memcpy(r->gr, mode3_gr, sizeof(r->gr));
    memcpy(r->cr, mode3_cr, sizeof(r->cr));
    memcpy(r->ar, mode3_ar, sizeof(r->ar));
    r->ar_index = VGA_AR_INDEX_PAS;
    r->video_enable = 1;
    /* The DAC as the BIOS loads it for 16-colour modes: the EGA's 64 colours, index bits
     * 0-2 giving blue, green, red at 2/3 intensity and bits 3-5 adding 1/3. */
    for (unsigned i = 0; i < 64; i++) {
        r->dac[i][0] = (uint8_t)(((i >> 2) & 1) * 0x2a + ((i >> 5) & 1) * 0x15);
        r->dac[i][1] = (uint8_t)(((i >> 1) & 1) * 0x2a + ((i >> 4) & 1) * 0x15);
        r->dac[i][2] = (uint8_t)((i & 1) * 0x2a + ((i >> 3) & 1) * 0x15);
    }
    r->dac_mask = 0xff;
    r->vbe[VBE_DISPI_INDEX_ID] = VBE_DISPI_ID5;
    r->vbe[VBE_DISPI_INDEX_BPP] = 8;
    s->generation++;
}

VgaState *vga_init(AddressSpace *as, IoBus *io, char *err, size_t errlen)
{
    VgaState *s = g_new0(VgaState, 1);
    s->as = as;
    s->vram_size = VGA_VRAM_SIZE;
    /* page aligned and anonymous: the framebuffer is mapped into the guest as RAM */
    void *p = mmap(NULL, s->vram_size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        snprintf(err, errlen, "cannot allocate %u MiB of video RAM: %s", s->vram_size >> 20,
                 strerror(errno));
        g_free(s);
        return NULL;
    }
    s->vram = p;
    s->mmio_gpa = s->rom_gpa = PCI_BAR_UNMAPPED;
    int rc = io_register(io, VGA_PORT_BASE, VGA_PORT_COUNT, &vga_io_ops, s);
    if (rc) {
        snprintf(err, errlen, "cannot register the VGA ports 0x%x-0x%x: %s", VGA_PORT_BASE,
                 VGA_PORT_BASE + VGA_PORT_COUNT - 1, strerror(-rc));
        goto fail;
    }
    rc = io_register(io, VBE_DISPI_IOPORT_INDEX, 3, &vbe_ops, s);
    if (rc) {
        snprintf(err, errlen, "cannot register the VBE ports 0x%x-0x%x: %s", VBE_DISPI_IOPORT_INDEX,
                 VBE_DISPI_IOPORT_INDEX + 2, strerror(-rc));
        goto fail;
    }
    rc = as_add_mmio(as, VGA_WINDOW_BASE, VGA_WINDOW_SIZE, &window_ops, s, "vga-window");
    if (rc) {
        snprintf(err, errlen, "cannot map the VGA window at 0x%llx: %s",
                 (unsigned long long)VGA_WINDOW_BASE, strerror(-rc));
        goto fail;
    }
    vga_reset(s);
    return s;

fail:
    munmap(s->vram, s->vram_size);
    g_free(s);
    return NULL;
}

void vga_free(VgaState *s)
{
    if (!s)
        return;
    if (s->pci) {
        pci_set_bar_map(s->pci, VGA_PCI_LFB_BAR, NULL, NULL);
        pci_set_bar_map(s->pci, VGA_PCI_MMIO_BAR, NULL, NULL);
        pci_set_bar_map(s->pci, PCI_ROM_SLOT, NULL, NULL);
    }
    vga_map_lfb(s, 0);
    if (s->mmio_gpa != PCI_BAR_UNMAPPED)
        as_remove(s->as, s->mmio_gpa);
    if (s->rom_gpa != PCI_BAR_UNMAPPED)
        as_remove(s->as, s->rom_gpa);
    as_remove(s->as, VGA_WINDOW_BASE);
    if (s->rom)
        munmap(s->rom, s->rom_size);
    munmap(s->vram, s->vram_size);
    g_free(s);
}

int vga_map_lfb(VgaState *s, uint64_t gpa)
{
    if (gpa == s->lfb_gpa)
        return 0;
    if (s->lfb_gpa)
        as_remove(s->as, s->lfb_gpa);
    s->lfb_gpa = 0;
    if (!gpa)
        return 0;
    int rc = as_add_ram(s->as, gpa, s->vram_size, s->vram, "vga-lfb");
    if (!rc)
        s->lfb_gpa = gpa;
    return rc;
}

uint64_t vga_lfb_address(const VgaState *s)
{
    return s->lfb_gpa;
}

void vga_load_font(VgaState *s, unsigned map, unsigned first, unsigned count, unsigned height,
                   const uint8_t *glyphs)
{
    uint32_t base = (((map & 3) * 2) + ((map >> 2) & 1)) * 0x2000;
    if (height > 32)
        height = 32;
    for (unsigned c = 0; c < count && first + c < 256; c++)
        for (unsigned row = 0; row < 32; row++)
            s->vram[4 * (base + (first + c) * 32 + row) + 2] =
                row < height ? glyphs[c * height + row] : 0;
    s->generation++;
}

const VgaRegs *vga_regs(const VgaState *s)
{
    return &s->r;
}

const uint8_t *vga_vram(const VgaState *s)
{
    return s->vram;
}

uint32_t vga_vram_size(const VgaState *s)
{
    return s->vram_size;
}

uint64_t vga_generation(const VgaState *s)
{
    return s->generation;
}

bool vga_display_in_ram(const VgaState *s)
{
    return vbe_on(s) && s->lfb_gpa;
}
