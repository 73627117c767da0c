#include "hw/i440fx.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

#define PAM_SEG_SMALL 0x4000ull  /* 0xC0000-0xEFFFF */
#define PAM_SEG_LARGE 0x10000ull /* 0xF0000-0xFFFFF */
#define PAM_SMALL_SEGMENTS 12
#define PAM_STATE_NONE 0xff /* not mapped yet */

enum { KIND_ROM_PCI, KIND_SHADOW_RO, KIND_SHADOW_WO, KIND_SHADOW_RW };

typedef struct PamSeg {
    I440fx *s;
    unsigned idx;
} PamSeg;

struct I440fx {
    PciDevice *pci;
    AddressSpace *as;
    uint8_t *shadow, *rom_c, *rom_e;
    MemChangedFn changed;
    void *opaque;
    uint8_t state[PAM_SEGMENTS]; /* what the address space shows now */
    uint64_t region_gpa[PAM_SEGMENTS];
    unsigned nregions;
    PamSeg seg[PAM_SEGMENTS];
};

static uint64_t seg_base(unsigned i)
{
    return i < PAM_SMALL_SEGMENTS ? PAM_BASE + i * PAM_SEG_SMALL : PAM_END - PAM_SEG_LARGE;
}

static uint64_t seg_size(unsigned i)
{
    return i < PAM_SMALL_SEGMENTS ? PAM_SEG_SMALL : PAM_SEG_LARGE;
}

/* RE/WE bits of segment i from the PAM registers. */
static uint8_t seg_attr(const I440fx *s, unsigned i)
{
    const uint8_t *c = pci_config(s->pci);
    if (i >= PAM_SMALL_SEGMENTS)
        return (c[I440FX_PAM0] >> 4) & 3;
    uint8_t r = c[I440FX_PAM0 + 1 + i / 2];
    return (i & 1 ? r >> 4 : r) & 3;
}

static uint8_t *rom_at(const I440fx *s, uint64_t gpa)
{
    return gpa < PAM_BASE + PAM_ROM_HALF ? s->rom_c + (gpa - PAM_BASE)
                                         : s->rom_e + (gpa - PAM_BASE - PAM_ROM_HALF);
}

static uint8_t *shadow_at(const I440fx *s, uint64_t gpa)
{
    return s->shadow + (gpa - PAM_BASE);
}

/* Write-only segments: reads come from the ROM, writes go to the shadow RAM. */
static uint64_t pam_wo_read(void *dev, uint64_t off, unsigned size)
{
    PamSeg *p = dev;
    const uint8_t *src = rom_at(p->s, seg_base(p->idx) + off);
    uint64_t v = 0;
    for (unsigned i = 0; i < size && off + i < seg_size(p->idx); i++)
        v |= (uint64_t)src[i] << (8 * i);
    return v;
}

static void pam_wo_write(void *dev, uint64_t off, uint64_t val, unsigned size)
{
    PamSeg *p = dev;
    uint8_t *dst = shadow_at(p->s, seg_base(p->idx) + off);
    for (unsigned i = 0; i < size && off + i < seg_size(p->idx); i++)
        dst[i] = (uint8_t)(val >> (8 * i));
}

static const MmioOps pam_wo_ops = {pam_wo_read, pam_wo_write};

static const char *const kind_name[] = {"pam-rom", "pam-shadow-ro", "pam-shadow-wo", "pam-shadow"};

static int add_run(I440fx *s, int kind, uint64_t gpa, uint64_t size, uint8_t *host, unsigned seg)
{
    int rc;
    switch (kind) {
    case KIND_SHADOW_RW:
        rc = as_add_ram(s->as, gpa, size, host, kind_name[kind]);
        break;
    case KIND_SHADOW_WO:
        rc = as_add_mmio(s->as, gpa, size, &pam_wo_ops, &s->seg[seg], kind_name[kind]);
        break;
    default:
        rc = as_add_rom(s->as, gpa, size, host, kind_name[kind]);
        break;
    }
    if (rc == 0)
        s->region_gpa[s->nregions++] = gpa;
    return rc;
}

static void unmap_all(I440fx *s)
{
    for (unsigned i = 0; i < s->nregions; i++)
        as_remove(s->as, s->region_gpa[i]);
    s->nregions = 0;
}

/* Lay the regions out for the states in want[]; runs of equal kind over contiguous host memory
 * become one region. */
static int map_states(I440fx *s, const uint8_t *want)
{
    unmap_all(s);
    int kind = -1;
    uint64_t run_gpa = 0, run_size = 0;
    uint8_t *run_host = NULL;
    unsigned run_seg = 0;
    for (unsigned i = 0; i < PAM_SEGMENTS; i++) {
        uint64_t gpa = seg_base(i), size = seg_size(i);
        int k = want[i];
        uint8_t *host = k == KIND_ROM_PCI ? rom_at(s, gpa) : shadow_at(s, gpa);
        if (k == kind && k != KIND_SHADOW_WO && host == run_host + run_size &&
            gpa == run_gpa + run_size) {
            run_size += size;
            continue;
        }
        if (kind >= 0) {
            int rc = add_run(s, kind, run_gpa, run_size, run_host, run_seg);
            if (rc)
                return rc;
        }
        kind = k;
        run_gpa = gpa;
        run_size = size;
        run_host = host;
        run_seg = i;
    }
    return add_run(s, kind, run_gpa, run_size, run_host, run_seg);
}

static int kind_of(uint8_t attr)
{
    switch (attr & (I440FX_PAM_RE | I440FX_PAM_WE)) {
    case I440FX_PAM_RE:
        return KIND_SHADOW_RO;
    case I440FX_PAM_WE:
        return KIND_SHADOW_WO;
    case I440FX_PAM_RE | I440FX_PAM_WE:
        return KIND_SHADOW_RW;
    default:
        return KIND_ROM_PCI;
    }
}

static int pam_update(I440fx *s)
{
    uint8_t want[PAM_SEGMENTS];
    uint64_t lo = UINT64_MAX, hi = 0;
    for (unsigned i = 0; i < PAM_SEGMENTS; i++) {
        want[i] = (uint8_t)kind_of(seg_attr(s, i));
        if (want[i] != s->state[i]) {
            if (seg_base(i) < lo)
                lo = seg_base(i);
            hi = seg_base(i) + seg_size(i);
        }
    }
    if (lo == UINT64_MAX)
        return 0;
    int rc = map_states(s, want);
    memcpy(s->state, want, sizeof(want));
    if (s->changed)
        s->changed(s->opaque, lo, hi - lo);
    return rc;
}

static void smram_update(I440fx *s)
{
    uint8_t *c = pci_config(s->pci), *wm = pci_wmask(s->pci);
    uint8_t v = (uint8_t)((c[I440FX_SMRAM] & ~I440FX_SMRAM_C_BASE_SEG) | I440FX_SMRAM_DEFAULT);
    if (v & I440FX_SMRAM_D_LCK) {
        /* locked until reset: D_OPEN forced closed, only D_CLS stays writable */
        v &= (uint8_t)~I440FX_SMRAM_D_OPEN;
        wm[I440FX_SMRAM] = I440FX_SMRAM_D_CLS;
    }
    c[I440FX_SMRAM] = v;
    /* No SMM in this machine: whatever D_OPEN says, 0xA0000-0xBFFFF stays the VGA window. */
}

static bool overlaps(unsigned off, unsigned size, unsigned reg, unsigned n)
{
    return off < reg + n && off + size > reg;
}

static void i440fx_config_write(void *opaque, PciDevice *d, unsigned off, uint32_t val,
                                unsigned size)
{
    I440fx *s = opaque;
    if (overlaps(off, size, I440FX_PAM0, I440FX_PAM_COUNT))
        pam_update(s);
    if (overlaps(off, size, I440FX_SMRAM, 1))
        smram_update(s);
}

static void set_reset_config(I440fx *s)
{
    uint8_t *c = pci_config(s->pci), *wm = pci_wmask(s->pci);
    memset(c + I440FX_PAM0, 0, I440FX_PAM_COUNT);
    wm[I440FX_PAM0] = I440FX_PAM0_WMASK;
    for (unsigned i = 1; i < I440FX_PAM_COUNT; i++)
        wm[I440FX_PAM0 + i] = I440FX_PAM_WMASK;
    c[I440FX_SMRAM] = I440FX_SMRAM_DEFAULT;
    wm[I440FX_SMRAM] =
        I440FX_SMRAM_D_OPEN | I440FX_SMRAM_D_CLS | I440FX_SMRAM_D_LCK | I440FX_SMRAM_G_SMRAME;
}

I440fx *i440fx_new(PciBus *bus, AddressSpace *as, uint8_t *shadow, uint8_t *rom_c, uint8_t *rom_e,
                   MemChangedFn changed, void *opaque, char *err, size_t errlen)
{
    if (!shadow || !rom_c || !rom_e) {
        snprintf(err, errlen, "i440fx: no memory given for the PAM area");
        return NULL;
    }
    I440fx *s = g_new0(I440fx, 1);
    s->as = as;
    s->shadow = shadow;
    s->rom_c = rom_c;
    s->rom_e = rom_e;
    s->changed = changed;
    s->opaque = opaque;
    for (unsigned i = 0; i < PAM_SEGMENTS; i++) {
        s->seg[i] = (PamSeg){s, i};
        s->state[i] = KIND_ROM_PCI;
    }
    s->pci = pci_register(bus, I440FX_DEVFN, "i440fx", I440FX_VENDOR_ID, I440FX_DEVICE_ID,
                          I440FX_REVISION, I440FX_CLASS);
    if (!s->pci) {
        snprintf(err, errlen, "i440fx: PCI 00:00.0 is taken");
        g_free(s);
        return NULL;
    }
    set_reset_config(s);
    pci_set_config_write(s->pci, i440fx_config_write, s);
    int rc = map_states(s, s->state);
    if (rc) {
        snprintf(err, errlen, "i440fx: cannot map the PAM area 0x%llx-0x%llx: %s",
                 (unsigned long long)PAM_BASE, (unsigned long long)PAM_END - 1, strerror(-rc));
        unmap_all(s);
        pci_unregister(s->pci);
        g_free(s);
        return NULL;
    }
    return s;
}

void i440fx_free(I440fx *s)
{
    if (!s)
        return;
    pci_set_config_write(s->pci, NULL, NULL);
    unmap_all(s);
    g_free(s);
}

void i440fx_reset(I440fx *s)
{
    set_reset_config(s);
    pam_update(s);
}

PciDevice *i440fx_pci(I440fx *s)
{
    return s->pci;
}

int i440fx_pam_state(I440fx *s, uint64_t gpa)
{
    if (gpa < PAM_BASE || gpa >= PAM_END)
        return -1;
    for (unsigned i = 0; i < PAM_SEGMENTS; i++)
        if (gpa >= seg_base(i) && gpa < seg_base(i) + seg_size(i))
            return seg_attr(s, i);
    return -1;
}
