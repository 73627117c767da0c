/* loaders/firmware.c: a PC BIOS image (SeaBIOS) into the board's flash below 4 GiB. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loaders/loader.h"

#define FOUR_GIB (1ull << 32)

/* [gpa, gpa+len) is all ROM (the flash), not RAM or a device. */
static bool all_rom(AddressSpace *as, uint64_t gpa, uint64_t len)
{
    uint64_t end = gpa + len;
    while (gpa < end) {
        const MemRegion *r = as_find(as, gpa);
        if (!r || r->kind != MEM_ROM)
            return false;
        uint64_t left = r->size - (gpa - r->gpa);
        if (left >= end - gpa)
            return true;
        gpa += left;
    }
    return true;
}

int load_bios(AddressSpace *as, const char *path, char *err, size_t errlen)
{
    uint64_t size;
    int fd = loader_open(path, &size, err, errlen);
    if (fd < 0)
        return fd;
    int rc = 0;
    uint8_t *buf = NULL;
    if (size % FIRMWARE_ALIGN) {
        rc = loader_err(-ENOEXEC, err, errlen, path, "size %llu is not a multiple of 64 KiB",
                        (unsigned long long)size);
        goto out;
    }
    if (size > FIRMWARE_MAX_SIZE) {
        rc = loader_err(-ERANGE, err, errlen, path,
                        "size %llu is over the 256 KiB the board's flash holds",
                        (unsigned long long)size);
        goto out;
    }
    uint64_t gpa = FOUR_GIB - size;
    if (!all_rom(as, gpa, size)) {
        rc = loader_err(-ERANGE, err, errlen, path,
                        "no ROM at 0x%llx-0x%llx to hold the image (the board's flash)",
                        (unsigned long long)gpa, FOUR_GIB - 1);
        goto out;
    }
    buf = malloc(size);
    if (!buf) {
        rc = loader_err(-ENOMEM, err, errlen, path, "out of memory");
        goto out;
    }
    for (uint64_t done = 0; done < size;) {
        ssize_t got = pread(fd, buf + done, size - done, (off_t)done);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            int e = errno;
            rc = loader_err(-e, err, errlen, path, "read error at byte %llu: %s",
                            (unsigned long long)done, strerror(e));
            goto out;
        }
        if (got == 0) {
            rc = loader_err(-EIO, err, errlen, path, "file ended early at byte %llu",
                            (unsigned long long)done);
            goto out;
        }
        done += (uint64_t)got;
    }
    if (as_load(as, gpa, buf, size) != 0)
        rc = loader_err(-ERANGE, err, errlen, path, "guest memory at 0x%llx is not ROM",
                        (unsigned long long)gpa);
out:
    free(buf);
    close(fd);
    return rc;
}
