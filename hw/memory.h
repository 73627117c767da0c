/* hw/memory.h: the guest physical address space.
 *
 * A sorted set of non-overlapping regions: RAM (host memory, read/write), ROM (host memory,
 * guest writes ignored) and MMIO (device callbacks). Every guest-physical access by a device, a
 * loader or an engine goes through here; as_host_ptr() is the only way to get a host pointer and
 * it returns NULL unless the whole range is RAM/ROM in one region, so a guest-chosen address and
 * length can never reach outside guest memory. Host pointers are not to be kept across guest
 * exits (regions can be remapped).
 *
 * Writers that change RAM (as_write, DMA) notify the write hook so the translator can drop code
 * it translated from that memory.
 */
#ifndef DUALVM_HW_MEMORY_H
#define DUALVM_HW_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum MemResult {
    MEM_OK = 0,
    MEM_UNMAPPED = 1, /* no region there: reads give all-ones, writes are dropped */
} MemResult;

enum { MEM_RAM = 1, MEM_ROM = 2, MEM_MMIO = 3 };

typedef struct MmioOps {
    /* offset is relative to the region start; size is 1, 2, 4 or 8 */
    uint64_t (*read)(void *dev, uint64_t offset, unsigned size);
    void (*write)(void *dev, uint64_t offset, uint64_t val, unsigned size);
} MmioOps;

typedef struct MemRegion {
    uint64_t gpa, size;
    int kind; /* MEM_RAM, MEM_ROM, MEM_MMIO */
    uint8_t *host;
    const MmioOps *ops;
    void *dev;
    const char *name;
} MemRegion;

typedef void (*AsWriteHook)(void *opaque, uint64_t gpa, uint64_t len);

typedef struct AddressSpace AddressSpace;

AddressSpace *as_new(void);
void as_free(AddressSpace *as);

/* Add regions. Return 0, or -EINVAL (zero size, wraps past 2^64) / -EEXIST (overlap). The host
 * memory of RAM/ROM regions stays owned by the caller. */
int as_add_ram(AddressSpace *as, uint64_t gpa, uint64_t size, void *host, const char *name);
int as_add_rom(AddressSpace *as, uint64_t gpa, uint64_t size, void *host, const char *name);
int as_add_mmio(AddressSpace *as, uint64_t gpa, uint64_t size, const MmioOps *ops, void *dev,
                const char *name);
/* Remove the region that starts exactly at gpa; -ENOENT if none. */
int as_remove(AddressSpace *as, uint64_t gpa);

/* The region holding gpa, or NULL. The pointer is valid until the next add/remove. */
const MemRegion *as_find(AddressSpace *as, uint64_t gpa);

/* Host pointer to [gpa, gpa+len) if it is all inside one RAM or ROM region, else NULL.
 * writable=true also refuses ROM. */
void *as_host_ptr(AddressSpace *as, uint64_t gpa, size_t len, bool writable);

/* Copy to/from guest memory across any regions. Bytes in no region read as 0xff and writes to
 * them are dropped; the result says MEM_UNMAPPED if any byte was. ROM ignores writes (MEM_OK).
 * MMIO is accessed in naturally sized pieces of at most 8 bytes. */
MemResult as_read(AddressSpace *as, uint64_t gpa, void *buf, size_t len);
MemResult as_write(AddressSpace *as, uint64_t gpa, const void *buf, size_t len);

/* Device DMA: the whole range must be RAM (writes) or RAM/ROM (reads), without a hole, MMIO
 * or a wrap; otherwise nothing is transferred and the result is MEM_UNMAPPED, so a device
 * reports the error to the guest instead of having moved part of the data. */
MemResult as_dma_read(AddressSpace *as, uint64_t gpa, void *buf, size_t len);
MemResult as_dma_write(AddressSpace *as, uint64_t gpa, const void *buf, size_t len);

/* Loader path: write into RAM or ROM alike (firmware images live in ROM). Returns 0, or -EFAULT
 * if any byte of the range is not RAM/ROM. */
int as_load(AddressSpace *as, uint64_t gpa, const void *buf, size_t len);

void as_set_write_hook(AddressSpace *as, AsWriteHook hook, void *opaque);

/* How many MMIO accesses as_read/as_write have made so far: the translator's differential mode
 * runs a block that reached a device only once, since a device access cannot be undone. */
uint64_t as_mmio_accesses(const AddressSpace *as);

/* Iterate regions in address order (for KVM memory slots, e820 maps). */
size_t as_region_count(AddressSpace *as);
const MemRegion *as_region(AddressSpace *as, size_t i);

#endif
