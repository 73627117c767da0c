#include "hw/memory.h"

#include <errno.h>
#include <string.h>

#include <glib.h>

/* Regions are kept sorted by gpa and never overlap, so the region holding an address is the last
 * one starting at or below it. Ends are handled as inclusive "last byte" addresses throughout so
 * that a region ending exactly at 2^64 needs no special case and no sum can wrap. */
struct AddressSpace {
    GArray *regions; /* of MemRegion, sorted by gpa */
    guint last_hit;  /* index of the region the previous lookup found; checked first */
    AsWriteHook hook;
    void *hook_opaque;
    uint64_t mmio_accesses;
};

static inline MemRegion *region_at(const AddressSpace *as, guint i)
{
    return &g_array_index(as->regions, MemRegion, i);
}

static inline uint64_t region_last(const MemRegion *r)
{
    return r->gpa + (r->size - 1);
}

static inline bool region_holds(const MemRegion *r, uint64_t gpa)
{
    return gpa >= r->gpa && gpa <= region_last(r);
}

/* Index of the first region whose start is above gpa (0..n). */
static guint upper_bound(const AddressSpace *as, uint64_t gpa)
{
    guint lo = 0, hi = as->regions->len;
    while (lo < hi) {
        guint mid = lo + (hi - lo) / 2;
        if (region_at(as, mid)->gpa <= gpa)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static MemRegion *lookup(AddressSpace *as, uint64_t gpa)
{
    guint n = as->regions->len;
    if (as->last_hit < n && region_holds(region_at(as, as->last_hit), gpa))
        return region_at(as, as->last_hit);
    guint i = upper_bound(as, gpa);
    if (i == 0 || !region_holds(region_at(as, i - 1), gpa))
        return NULL;
    as->last_hit = i - 1;
    return region_at(as, i - 1);
}

/* Bytes from gpa to the end of its region, or (when gpa is in a hole) to the start of the next
 * region, capped at len. Never 0 for len > 0. */
static uint64_t span_in(const AddressSpace *as, const MemRegion *r, uint64_t gpa, uint64_t len)
{
    uint64_t last;
    if (r) {
        last = region_last(r);
    } else {
        guint i = upper_bound(as, gpa);
        last = i < as->regions->len ? region_at(as, i)->gpa - 1 : UINT64_MAX;
    }
    uint64_t avail = last - gpa; /* one less than the byte count, so 2^64 cannot overflow */
    return avail >= len - 1 ? len : avail + 1;
}

AddressSpace *as_new(void)
{
    AddressSpace *as = g_new0(AddressSpace, 1);
    as->regions = g_array_sized_new(FALSE, TRUE, sizeof(MemRegion), 16);
    return as;
}

void as_free(AddressSpace *as)
{
    if (!as)
        return;
    for (guint i = 0; i < as->regions->len; i++)
        g_free((char *)region_at(as, i)->name);
    g_array_free(as->regions, TRUE);
    g_free(as);
}

static int add_region(AddressSpace *as, const MemRegion *nr)
{
    if (nr->size == 0 || nr->size - 1 > UINT64_MAX - nr->gpa)
        return -EINVAL;
    guint i = upper_bound(as, nr->gpa);
    /* The neighbour below must end before us, the one above must start after our end. */
    if (i > 0 && region_last(region_at(as, i - 1)) >= nr->gpa)
        return -EEXIST;
    if (i < as->regions->len && region_at(as, i)->gpa <= region_last(nr))
        return -EEXIST;
    MemRegion r = *nr;
    r.name = g_strdup(nr->name ? nr->name : "");
    g_array_insert_val(as->regions, i, r);
    as->last_hit = i;
    return 0;
}

int as_add_ram(AddressSpace *as, uint64_t gpa, uint64_t size, void *host, const char *name)
{
    if (!host)
        return -EINVAL;
    MemRegion r = {.gpa = gpa, .size = size, .kind = MEM_RAM, .host = host, .name = name};
    return add_region(as, &r);
}

int as_add_rom(AddressSpace *as, uint64_t gpa, uint64_t size, void *host, const char *name)
{
    if (!host)
        return -EINVAL;
    MemRegion r = {.gpa = gpa, .size = size, .kind = MEM_ROM, .host = host, .name = name};
    return add_region(as, &r);
}

int as_add_mmio(AddressSpace *as, uint64_t gpa, uint64_t size, const MmioOps *ops, void *dev,
                const char *name)
{
    if (!ops)
        return -EINVAL;
    MemRegion r = {
        .gpa = gpa, .size = size, .kind = MEM_MMIO, .ops = ops, .dev = dev, .name = name};
    return add_region(as, &r);
}

int as_remove(AddressSpace *as, uint64_t gpa)
{
    guint i = upper_bound(as, gpa);
    if (i == 0 || region_at(as, i - 1)->gpa != gpa)
        return -ENOENT;
    g_free((char *)region_at(as, i - 1)->name);
    g_array_remove_index(as->regions, i - 1);
    as->last_hit = 0;
    return 0;
}

const MemRegion *as_find(AddressSpace *as, uint64_t gpa)
{
    return lookup(as, gpa);
}

void *as_host_ptr(AddressSpace *as, uint64_t gpa, size_t len, bool writable)
{
    MemRegion *r = lookup(as, gpa);
    if (!r || r->kind == MEM_MMIO || (writable && r->kind != MEM_RAM))
        return NULL;
    /* An empty range is fine anywhere inside the region; otherwise the last byte must be too,
     * compared without forming gpa + len (which a guest can make wrap). */
    if (len > 0 && (uint64_t)len - 1 > region_last(r) - gpa)
        return NULL;
    return r->host + (gpa - r->gpa);
}

/* MMIO piece size at gpa: the largest naturally aligned 8/4/2/1 that fits in len. */
static unsigned mmio_piece(uint64_t gpa, uint64_t len)
{
    for (unsigned sz = 8; sz > 1; sz >>= 1)
        if (len >= sz && (gpa & (sz - 1)) == 0)
            return sz;
    return 1;
}

static void mmio_read(const MemRegion *r, uint64_t gpa, uint8_t *buf, uint64_t len)
{
    while (len) {
        unsigned sz = mmio_piece(gpa, len);
        uint64_t v = r->ops->read ? r->ops->read(r->dev, gpa - r->gpa, sz) : UINT64_MAX;
        for (unsigned i = 0; i < sz; i++) /* little-endian whatever the host */
            buf[i] = (uint8_t)(v >> (8 * i));
        gpa += sz, buf += sz, len -= sz;
    }
}

static void mmio_write(const MemRegion *r, uint64_t gpa, const uint8_t *buf, uint64_t len)
{
    while (len) {
        unsigned sz = mmio_piece(gpa, len);
        uint64_t v = 0;
        for (unsigned i = 0; i < sz; i++)
            v |= (uint64_t)buf[i] << (8 * i);
        if (r->ops->write)
            r->ops->write(r->dev, gpa - r->gpa, v, sz);
        gpa += sz, buf += sz, len -= sz;
    }
}

/* Bytes of [gpa, gpa+len) that lie at or above 2^64 exist in no region. */
static uint64_t clip_len(uint64_t gpa, size_t len)
{
    if (len == 0)
        return 0;
    uint64_t room = UINT64_MAX - gpa; /* bytes after gpa */
    return (uint64_t)len - 1 > room ? room + 1 : len;
}

MemResult as_read(AddressSpace *as, uint64_t gpa, void *buf, size_t len)
{
    uint8_t *p = buf;
    uint64_t left = clip_len(gpa, len);
    MemResult res = left < len ? MEM_UNMAPPED : MEM_OK;
    if (left < len)
        memset(p + left, 0xff, len - left);
    while (left) {
        const MemRegion *r = lookup(as, gpa);
        uint64_t n = span_in(as, r, gpa, left);
        if (!r) {
            memset(p, 0xff, n);
            res = MEM_UNMAPPED;
        } else if (r->kind == MEM_MMIO) {
            /* A copy: the device may add or remove regions, moving the array under r. */
            MemRegion rc = *r;
            as->mmio_accesses++;
            mmio_read(&rc, gpa, p, n);
        } else {
            memcpy(p, r->host + (gpa - r->gpa), n);
        }
        p += n, left -= n;
        gpa += n; /* wraps to 0 only when left became 0 */
    }
    return res;
}

MemResult as_write(AddressSpace *as, uint64_t gpa, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    uint64_t left = clip_len(gpa, len);
    MemResult res = left < len ? MEM_UNMAPPED : MEM_OK;
    while (left) {
        const MemRegion *r = lookup(as, gpa);
        uint64_t n = span_in(as, r, gpa, left);
        if (!r) {
            res = MEM_UNMAPPED;
        } else if (r->kind == MEM_MMIO) {
            MemRegion rc = *r; /* see as_read */
            as->mmio_accesses++;
            mmio_write(&rc, gpa, p, n);
        } else if (r->kind == MEM_RAM) {
            memcpy(r->host + (gpa - r->gpa), p, n);
            if (as->hook)
                as->hook(as->hook_opaque, gpa, n);
        }
        p += n, left -= n;
        gpa += n;
    }
    return res;
}

/* Whether [gpa, gpa+len) is all guest memory a device may DMA to (RAM) or from (RAM or ROM):
 * no hole, no MMIO, no wrap past 2^64. */
static bool dma_range_ok(AddressSpace *as, uint64_t gpa, size_t len, bool write)
{
    if (len && (uint64_t)len - 1 > UINT64_MAX - gpa)
        return false;
    uint64_t left = len;
    while (left) {
        const MemRegion *r = lookup(as, gpa);
        if (!r || !(r->kind == MEM_RAM || (!write && r->kind == MEM_ROM)))
            return false;
        uint64_t n = span_in(as, r, gpa, left);
        left -= n;
        gpa += n;
    }
    return true;
}

MemResult as_dma_read(AddressSpace *as, uint64_t gpa, void *buf, size_t len)
{
    if (!dma_range_ok(as, gpa, len, false))
        return MEM_UNMAPPED;
    return as_read(as, gpa, buf, len);
}

MemResult as_dma_write(AddressSpace *as, uint64_t gpa, const void *buf, size_t len)
{
    if (!dma_range_ok(as, gpa, len, true))
        return MEM_UNMAPPED;
    return as_write(as, gpa, buf, len);
}

int as_load(AddressSpace *as, uint64_t gpa, const void *buf, size_t len)
{
    uint64_t left = clip_len(gpa, len);
    if (left < len)
        return -EFAULT;
    /* Check the whole range first so a failed load leaves guest memory untouched. */
    for (uint64_t a = gpa, l = left; l;) {
        const MemRegion *r = lookup(as, a);
        if (!r || r->kind == MEM_MMIO)
            return -EFAULT;
        uint64_t n = span_in(as, r, a, l);
        a += n, l -= n;
    }
    const uint8_t *p = buf;
    while (left) {
        const MemRegion *r = lookup(as, gpa);
        uint64_t n = span_in(as, r, gpa, left);
        memcpy(r->host + (gpa - r->gpa), p, n);
        if (as->hook)
            as->hook(as->hook_opaque, gpa, n);
        p += n, left -= n;
        gpa += n;
    }
    return 0;
}

uint64_t as_mmio_accesses(const AddressSpace *as)
{
    return as->mmio_accesses;
}

void as_set_write_hook(AddressSpace *as, AsWriteHook hook, void *opaque)
{
    as->hook = hook;
    as->hook_opaque = opaque;
}

size_t as_region_count(AddressSpace *as)
{
    return as->regions->len;
}

const MemRegion *as_region(AddressSpace *as, size_t i)
{
    return i < as->regions->len ? region_at(as, (guint)i) : NULL;
}
