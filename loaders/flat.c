/* loaders/flat.c: a raw binary copied whole to one address and entered in flat 32-bit mode; for
 * test guests and hand-written images that carry no header at all. */
#include "loaders/loader.h"

#include <errno.h>
#include <unistd.h>

#define GDT_LEN 24u

int load_flat(AddressSpace *as, uint64_t ram_size, CpuState *cpu, const char *path, uint64_t addr,
              uint64_t entry, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    uint64_t size;
    int fd = loader_open(path, &size, err, errlen);
    if (fd < 0)
        return fd;
    if (entry == LOADER_ENTRY_DEFAULT)
        entry = addr;
    int rc;
    if (entry > UINT32_MAX) {
        rc = loader_err(-ERANGE, err, errlen, path,
                        "entry point 0x%llx is above 4 GiB (the CPU starts in 32-bit mode)",
                        (unsigned long long)entry);
        goto out;
    }
    rc = loader_check_ram(as, ram_size, addr, size, path, "image", err, errlen);
    if (rc < 0)
        goto out;
    rc = loader_copy(as, fd, 0, addr, size, 0, path, err, errlen);
    if (rc < 0)
        goto out;
    cpu_set_flat32(cpu, entry);
    bool gdt_free = addr >= LOADER_FLAT_GDT_ADDR + GDT_LEN || LOADER_FLAT_GDT_ADDR >= addr + size;
    if (gdt_free)
        loader_put_gdt(as, cpu, LOADER_FLAT_GDT_ADDR); /* not RAM there: no GDT, as if covered */
out:
    close(fd);
    return rc;
}
