/* loaders/loader.c: what every loader needs: opening the image, wording errors, checking that a
 * guest range is RAM, copying file bytes into guest memory, the boot GDT. */
#include "loaders/loader.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOW_HOLE_START 0xA0000ull
#define LOW_HOLE_END 0x100000ull
#define FOUR_GIB (1ull << 32)
#define COPY_CHUNK (64 * 1024)

int loader_err(int rc, char *err, size_t errlen, const char *path, const char *fmt, ...)
{
    if (!err || !errlen)
        return rc;
    int n = snprintf(err, errlen, "%s: ", path ? path : "(null)");
    if (n >= 0 && (size_t)n < errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return rc;
}

int loader_open(const char *path, uint64_t *size, char *err, size_t errlen)
{
    if (!path || !*path)
        return loader_err(-ENOENT, err, errlen, path, "no file name given");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return loader_err(-e, err, errlen, path, "%s", strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return loader_err(-e, err, errlen, path, "%s", strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return loader_err(-EISDIR, err, errlen, path, "%s", strerror(EISDIR));
    }
    /* Sizes and offsets are checked against st_size; a pipe or device has none to trust. */
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return loader_err(-EINVAL, err, errlen, path, "not a regular file");
    }
    if (st.st_size == 0) {
        close(fd);
        return loader_err(-ENOEXEC, err, errlen, path, "empty file");
    }
    *size = (uint64_t)st.st_size;
    return fd;
}

static void format_ram_size(AddressSpace *as, uint64_t ram_size, char *buf, size_t len)
{
    if (!ram_size) {
        /* Caller did not say: the top of the highest RAM region is what a user set with -m. */
        for (size_t i = 0; i < as_region_count(as); i++) {
            const MemRegion *r = as_region(as, i);
            if (r && r->kind == MEM_RAM && r->gpa + r->size > ram_size)
                ram_size = r->gpa + r->size;
        }
    }
    if (ram_size % (1024 * 1024) == 0)
        snprintf(buf, len, "%llu MiB", (unsigned long long)(ram_size >> 20));
    else if (ram_size % 1024 == 0)
        snprintf(buf, len, "%llu KiB", (unsigned long long)(ram_size >> 10));
    else
        snprintf(buf, len, "%llu bytes", (unsigned long long)ram_size);
}

/* [a, a+alen) and [b, b+blen) intersect; both lengths nonzero and neither range wraps. */
static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

int loader_check_ram(AddressSpace *as, uint64_t ram_size, uint64_t gpa, uint64_t len,
                     const char *path, const char *what, char *err, size_t errlen)
{
    if (len == 0)
        return 0;
    if (len > FOUR_GIB || gpa > FOUR_GIB - len) {
        /* Print the end without wrapping past 2^64 so the message itself is not misleading. */
        unsigned long long end = gpa > UINT64_MAX - len ? UINT64_MAX : gpa + len;
        return loader_err(-ERANGE, err, errlen, path,
                          "%s at 0x%llx-0x%llx is above 4 GiB (the CPU starts in 32-bit mode)",
                          what, (unsigned long long)gpa, end);
    }
    uint64_t end = gpa + len, cur = gpa;
    bool ok = true;
    while (cur < end) {
        const MemRegion *r = as_find(as, cur);
        if (!r || r->kind != MEM_RAM) {
            ok = false;
            break;
        }
        uint64_t left_in_region = r->size - (cur - r->gpa);
        if (left_in_region >= end - cur)
            break;
        cur += left_in_region;
    }
    if (ok)
        return 0;

    /* Word the failure by what is in the way: something the PC puts there (ROM, a device, the
     * legacy VGA/BIOS window) is a layout clash; plain nothing means RAM is too small. */
    const char *blocker = NULL;
    bool in_hole = overlaps(gpa, len, LOW_HOLE_START, LOW_HOLE_END - LOW_HOLE_START);
    for (size_t i = 0; i < as_region_count(as); i++) {
        const MemRegion *r = as_region(as, i);
        if (!r || r->kind == MEM_RAM || r->gpa >= end)
            continue;
        if (r->gpa >= gpa || gpa - r->gpa < r->size) {
            blocker = r->name;
            in_hole = true;
            break;
        }
    }
    if (in_hole) {
        if (blocker && *blocker)
            return loader_err(-ERANGE, err, errlen, path,
                              "%s at 0x%llx-0x%llx overlaps the ROM/device hole (%s)", what,
                              (unsigned long long)gpa, (unsigned long long)end, blocker);
        return loader_err(-ERANGE, err, errlen, path,
                          "%s at 0x%llx-0x%llx overlaps the ROM/device hole", what,
                          (unsigned long long)gpa, (unsigned long long)end);
    }
    char sz[48];
    format_ram_size(as, ram_size, sz, sizeof(sz));
    return loader_err(-ERANGE, err, errlen, path, "%s at 0x%llx-0x%llx is outside RAM (%s)", what,
                      (unsigned long long)gpa, (unsigned long long)end, sz);
}

int loader_pread(int fd, void *buf, size_t len, uint64_t off)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, (uint8_t *)buf + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -EIO;
        done += (size_t)n;
    }
    return 0;
}

int loader_copy(AddressSpace *as, int fd, uint64_t off, uint64_t gpa, uint64_t len,
                uint64_t zero_len, const char *path, char *err, size_t errlen)
{
    uint8_t *buf = malloc(COPY_CHUNK);
    if (!buf)
        return loader_err(-ENOMEM, err, errlen, path, "out of memory");
    int rc = 0;
    uint64_t done = 0;
    while (done < len) {
        size_t want = len - done < COPY_CHUNK ? (size_t)(len - done) : COPY_CHUNK;
        ssize_t got = pread(fd, buf, want, (off_t)(off + done));
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            int e = errno;
            rc = loader_err(-e, err, errlen, path, "read error at byte %llu: %s",
                            (unsigned long long)(off + done), strerror(e));
            goto out;
        }
        if (got == 0) {
            /* Sizes were checked against fstat: only a file changing under us gets here. */
            rc = loader_err(-EIO, err, errlen, path, "file ended early at byte %llu",
                            (unsigned long long)(off + done));
            goto out;
        }
        if (as_load(as, gpa + done, buf, (size_t)got) != 0) {
            rc = loader_err(-ERANGE, err, errlen, path, "guest memory at 0x%llx is not RAM",
                            (unsigned long long)(gpa + done));
            goto out;
        }
        done += (uint64_t)got;
    }
    memset(buf, 0, COPY_CHUNK);
    for (uint64_t z = 0; z < zero_len;) {
        size_t n = zero_len - z < COPY_CHUNK ? (size_t)(zero_len - z) : COPY_CHUNK;
        if (as_load(as, gpa + len + z, buf, n) != 0) {
            rc = loader_err(-ERANGE, err, errlen, path, "guest memory at 0x%llx is not RAM",
                            (unsigned long long)(gpa + len + z));
            goto out;
        }
        z += n;
    }
out:
    free(buf);
    return rc;
}

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

int loader_put_gdt(AddressSpace *as, CpuState *cpu, uint64_t gpa)
{
    /* Flat 4 GiB, 32-bit, DPL 0, with the accessed bit already set so the CPU never needs to
     * write the descriptor back: the same attributes cpu_set_flat32() puts in the caches. */
    uint8_t gdt[24] = {0};
    put_le64(gdt + 8, 0x00CF9B000000FFFFull);
    put_le64(gdt + 16, 0x00CF93000000FFFFull);
    if (!as_host_ptr(as, gpa, sizeof(gdt), true) || as_load(as, gpa, gdt, sizeof(gdt)) != 0)
        return -ERANGE;
    cpu->gdt.base = gpa;
    cpu->gdt.limit = sizeof(gdt) - 1;
    return 0;
}
