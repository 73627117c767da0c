#include <criterion/criterion.h>

#include <errno.h>
#include <string.h>

#include "hw/memory.h"

static AddressSpace *as;
static uint8_t ram[0x3000], rom[0x1000];

/* MMIO device that records accesses and reads back a pattern from its offset. */
typedef struct Access {
    uint64_t off, val;
    unsigned size;
    bool write;
} Access;
static Access log_[64];
static int nlog;

static uint64_t dev_read(void *dev, uint64_t off, unsigned size)
{
    log_[nlog++] = (Access){off, 0, size, false};
    uint64_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint64_t)(0x40 + ((off + i) & 0x3f)) << (8 * i);
    return v;
}

static void dev_write(void *dev, uint64_t off, uint64_t val, unsigned size)
{
    log_[nlog++] = (Access){off, val, size, true};
}

static const MmioOps dev_ops = {dev_read, dev_write};

typedef struct Hook {
    uint64_t gpa, len;
} Hook;
static Hook hooks[16];
static int nhooks;

static void hook(void *opaque, uint64_t gpa, uint64_t len)
{
    *(int *)opaque += 1;
    hooks[nhooks++] = (Hook){gpa, len};
}
static int hook_count;

static void setup(void)
{
    as = as_new();
    nlog = nhooks = hook_count = 0;
    memset(ram, 0, sizeof(ram));
    memset(rom, 0xaa, sizeof(rom));
    /* layout: RAM 0x0000-0x2fff, hole 0x3000-0x3fff, MMIO 0x4000-0x4fff, ROM 0x5000-0x5fff */
    cr_assert_eq(as_add_ram(as, 0x0000, sizeof(ram), ram, "ram"), 0);
    cr_assert_eq(as_add_mmio(as, 0x4000, 0x1000, &dev_ops, NULL, "dev"), 0);
    cr_assert_eq(as_add_rom(as, 0x5000, sizeof(rom), rom, "rom"), 0);
    as_set_write_hook(as, hook, &hook_count);
}

static void teardown(void)
{
    as_free(as);
}

TestSuite(memory, .init = setup, .fini = teardown);

Test(memory, regions_sorted_and_found)
{
    cr_assert_eq(as_region_count(as), 3);
    cr_assert_eq(as_region(as, 0)->gpa, 0x0000);
    cr_assert_eq(as_region(as, 1)->gpa, 0x4000);
    cr_assert_eq(as_region(as, 2)->gpa, 0x5000);
    cr_assert_null(as_region(as, 3));
    cr_assert_str_eq(as_find(as, 0x2fff)->name, "ram");
    cr_assert_null(as_find(as, 0x3000));
    cr_assert_eq(as_find(as, 0x4fff)->kind, MEM_MMIO);
    cr_assert_eq(as_find(as, 0x5000)->kind, MEM_ROM);
    cr_assert_null(as_find(as, 0x6000));
    /* lookups alternate between regions so the one-entry cache must not return a stale hit */
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(as_find(as, 0x10)->gpa, 0);
        cr_assert_null(as_find(as, 0x3800));
        cr_assert_eq(as_find(as, 0x5800)->gpa, 0x5000);
    }
}

Test(memory, overlap_and_bad_ranges_refused)
{
    static uint8_t buf[0x1000];
    cr_assert_eq(as_add_ram(as, 0x2fff, 0x10, buf, "x"), -EEXIST);   /* tail of ram */
    cr_assert_eq(as_add_ram(as, 0x3fff, 0x2, buf, "x"), -EEXIST);    /* head of mmio */
    cr_assert_eq(as_add_ram(as, 0x3800, 0x3000, buf, "x"), -EEXIST); /* covers mmio+rom */
    cr_assert_eq(as_add_ram(as, 0x4800, 0x10, buf, "x"), -EEXIST);   /* inside mmio */
    cr_assert_eq(as_add_ram(as, 0x3000, 0, buf, "x"), -EINVAL);
    cr_assert_eq(as_add_ram(as, UINT64_MAX - 0xf, 0x20, buf, "x"), -EINVAL); /* wraps */
    cr_assert_eq(as_add_ram(as, 0x3000, 0x10, NULL, "x"), -EINVAL);
    cr_assert_eq(as_add_mmio(as, 0x3000, 0x10, NULL, NULL, "x"), -EINVAL);
    cr_assert_eq(as_region_count(as), 3);
    /* exactly filling the hole is fine, as is a region ending exactly at 2^64 */
    cr_assert_eq(as_add_ram(as, 0x3000, 0x1000, buf, "hole"), 0);
    cr_assert_eq(as_add_ram(as, UINT64_MAX - 0xfff, 0x1000, buf, "top"), 0);
    cr_assert_eq(as_find(as, UINT64_MAX)->gpa, UINT64_MAX - 0xfff);
    cr_assert_eq(as_region_count(as), 5);
}

Test(memory, remove)
{
    cr_assert_eq(as_remove(as, 0x4001), -ENOENT);
    cr_assert_eq(as_remove(as, 0x3000), -ENOENT);
    cr_assert_eq(as_remove(as, 0x4000), 0);
    cr_assert_null(as_find(as, 0x4000));
    cr_assert_eq(as_region_count(as), 2);
    static uint8_t buf[0x2000];
    cr_assert_eq(as_add_ram(as, 0x3000, 0x2000, buf, "big"), 0);
}

Test(memory, read_across_ram_hole_mmio)
{
    for (int i = 0; i < 16; i++)
        ram[0x3000 - 16 + i] = (uint8_t)i;
    uint8_t buf[16 + 0x1000 + 4];
    cr_assert_eq(as_read(as, 0x3000 - 16, buf, sizeof(buf)), MEM_UNMAPPED);
    for (int i = 0; i < 16; i++)
        cr_assert_eq(buf[i], i);
    for (int i = 16; i < 16 + 0x1000; i++)
        cr_assert_eq(buf[i], 0xff, "hole byte %d", i);
    /* first 4 MMIO bytes, read as one aligned 4-byte access */
    cr_assert_eq(nlog, 1);
    cr_assert_eq(log_[0].size, 4);
    cr_assert_eq(log_[0].off, 0);
    cr_assert_eq(buf[16 + 0x1000], 0x40);
    cr_assert_eq(buf[16 + 0x1000 + 3], 0x43);
    /* all RAM: MEM_OK */
    cr_assert_eq(as_read(as, 0, buf, 16), MEM_OK);
}

Test(memory, read_rom_and_ram_boundary)
{
    uint8_t buf[4];
    cr_assert_eq(as_read(as, 0x5ffe, buf, 4), MEM_UNMAPPED);
    cr_assert_eq(buf[0], 0xaa);
    cr_assert_eq(buf[1], 0xaa);
    cr_assert_eq(buf[2], 0xff);
    cr_assert_eq(buf[3], 0xff);
}

Test(memory, read_wrapping_past_2_64)
{
    uint8_t buf[8];
    memset(buf, 0, sizeof(buf));
    cr_assert_eq(as_read(as, UINT64_MAX - 3, buf, 8), MEM_UNMAPPED);
    for (int i = 0; i < 8; i++)
        cr_assert_eq(buf[i], 0xff);
    ram[0] = 0x12;
    /* the part past 2^64 must not wrap around to address 0 */
    static uint8_t top[0x10];
    memset(top, 0x77, sizeof(top));
    cr_assert_eq(as_add_ram(as, UINT64_MAX - 0xf, 0x10, top, "top"), 0);
    cr_assert_eq(as_read(as, UINT64_MAX - 1, buf, 4), MEM_UNMAPPED);
    cr_assert_eq(buf[0], 0x77);
    cr_assert_eq(buf[1], 0x77);
    cr_assert_eq(buf[2], 0xff);
    cr_assert_eq(buf[3], 0xff);
    cr_assert_eq(as_write(as, UINT64_MAX, "\x01\x02", 2), MEM_UNMAPPED);
    cr_assert_eq(top[15], 0x01);
    cr_assert_eq(ram[0], 0x12);
}

Test(memory, mmio_split_in_aligned_pieces)
{
    uint8_t buf[15];
    /* 0x4003..0x4011: 1 @3, 4 @4, 8 @8, 2 @0x10 */
    as_read(as, 0x4003, buf, sizeof(buf));
    cr_assert_eq(nlog, 4);
    unsigned sizes[] = {1, 4, 8, 2};
    uint64_t offs[] = {3, 4, 8, 0x10};
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(log_[i].size, sizes[i], "piece %d", i);
        cr_assert_eq(log_[i].off, offs[i], "piece %d", i);
    }
    for (int i = 0; i < 15; i++)
        cr_assert_eq(buf[i], 0x40 + 3 + i);

    nlog = 0;
    uint8_t w[6] = {1, 2, 3, 4, 5, 6};
    cr_assert_eq(as_write(as, 0x4002, w, sizeof(w)), MEM_OK);
    cr_assert_eq(nlog, 2);
    cr_assert(log_[0].write && log_[0].size == 2 && log_[0].off == 2 && log_[0].val == 0x0201);
    cr_assert(log_[1].write && log_[1].size == 4 && log_[1].off == 4 && log_[1].val == 0x06050403);
    cr_assert_eq(hook_count, 0); /* MMIO writes are not RAM writes */
}

Test(memory, host_ptr_refusals)
{
    cr_assert_eq(as_host_ptr(as, 0x100, 0x100, true), ram + 0x100);
    cr_assert_eq(as_host_ptr(as, 0, sizeof(ram), true), ram);
    cr_assert_null(as_host_ptr(as, 0x2fff, 2, false)); /* crosses into the hole */
    cr_assert_null(as_host_ptr(as, 0x3000, 1, false)); /* hole */
    cr_assert_null(as_host_ptr(as, 0x4000, 4, false)); /* MMIO */
    cr_assert_eq(as_host_ptr(as, 0x5000, 0x1000, false), rom);
    cr_assert_null(as_host_ptr(as, 0x5000, 1, true)); /* ROM is not writable */
    cr_assert_null(as_host_ptr(as, 0x5000, 0x1001, false));
    /* a length that would wrap gpa+len past 2^64 back into the region */
    cr_assert_null(as_host_ptr(as, 0x10, SIZE_MAX, false));
    cr_assert_null(as_host_ptr(as, 0x10, (size_t)0 - 8, false)); /* end = 0x8 */
    static uint8_t top[0x1000];
    cr_assert_eq(as_add_ram(as, UINT64_MAX - 0xfff, 0x1000, top, "top"), 0);
    cr_assert_eq(as_host_ptr(as, UINT64_MAX, 1, true), top + 0xfff);
    cr_assert_null(as_host_ptr(as, UINT64_MAX, 2, true));
    cr_assert_null(as_host_ptr(as, UINT64_MAX - 0xfff, 0x1001, true));
}

Test(memory, write_hook_and_rom_ignored)
{
    uint8_t w[0x20];
    memset(w, 0x5a, sizeof(w));
    /* RAM tail + hole: one hook call for the RAM part only */
    cr_assert_eq(as_write(as, 0x2ff0, w, 0x20), MEM_UNMAPPED);
    cr_assert_eq(nhooks, 1);
    cr_assert_eq(hooks[0].gpa, 0x2ff0);
    cr_assert_eq(hooks[0].len, 0x10);
    cr_assert_eq(ram[0x2fff], 0x5a);
    cr_assert_eq(ram[0x2fef], 0);

    nhooks = 0;
    cr_assert_eq(as_write(as, 0x5000, w, 4), MEM_OK);
    cr_assert_eq(rom[0], 0xaa);
    cr_assert_eq(nhooks, 0);
}

Test(memory, load_into_ram_and_rom)
{
    uint8_t img[0x10];
    memset(img, 0x33, sizeof(img));
    cr_assert_eq(as_load(as, 0x5ff0, img, 0x10), 0);
    cr_assert_eq(rom[0xff0], 0x33);
    cr_assert_eq(nhooks, 1);
    cr_assert_eq(as_load(as, 0x100, img, 0x10), 0);
    cr_assert_eq(ram[0x10f], 0x33);
    /* partly outside RAM/ROM: refused and nothing written */
    cr_assert_eq(as_load(as, 0x2ff8, img, 0x10), -EFAULT);
    cr_assert_eq(ram[0x2ff8], 0);
    cr_assert_eq(as_load(as, 0x3ff8, img, 0x10), -EFAULT);
    cr_assert_eq(as_load(as, UINT64_MAX - 4, img, 0x10), -EFAULT);
    cr_assert_eq(as_load(as, 0x10, img, SIZE_MAX), -EFAULT);
    cr_assert_eq(nlog, 0);
    cr_assert_eq(as_load(as, 0x3000, img, 0), 0);
}

/* Device DMA is all or nothing: a range that leaves RAM (into a hole, MMIO or ROM, or past
 * 2^64) transfers no byte, so the device can report the error without a half-done copy. */
Test(memory, dma_whole_range_or_nothing)
{
    uint8_t buf[32];
    memset(buf, 0x5a, sizeof(buf));
    /* RAM into the hole: nothing written, no hook */
    cr_assert_eq(as_dma_write(as, 0x3000 - 16, buf, sizeof(buf)), MEM_UNMAPPED);
    for (int i = 0; i < 16; i++)
        cr_assert_eq(ram[0x3000 - 16 + i], 0, "byte %d written before the refusal", i);
    cr_assert_eq(hook_count, 0);
    /* into MMIO and into ROM: refused without touching the device */
    cr_assert_eq(as_dma_write(as, 0x4000 - 8, buf, 16), MEM_UNMAPPED);
    cr_assert_eq(as_dma_write(as, 0x5000, buf, 4), MEM_UNMAPPED);
    cr_assert_eq(as_dma_read(as, 0x4000, buf, 4), MEM_UNMAPPED);
    cr_assert_eq(nlog, 0);
    /* past the top of the address space */
    cr_assert_eq(as_dma_read(as, UINT64_MAX - 3, buf, 8), MEM_UNMAPPED);
    /* reads may come from ROM; all-RAM writes go through and are seen by the hook */
    cr_assert_eq(as_dma_read(as, 0x5000, buf, 4), MEM_OK);
    cr_assert_eq(buf[0], 0xaa);
    cr_assert_eq(as_dma_write(as, 0x10, buf, 4), MEM_OK);
    cr_assert_eq(ram[0x10], 0xaa);
    cr_assert_eq(hook_count, 1);
}
