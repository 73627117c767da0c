/* fuzz/fuzz_util.c: helpers shared by the fuzz targets (fuzz/fuzz.h). */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz/fuzz.h"

size_t fz_bytes(FuzzIn *in, void *buf, size_t len)
{
    size_t n = len < in->n ? len : in->n;
    if (n)
        memcpy(buf, in->p, n);
    if (len > n)
        memset((uint8_t *)buf + n, 0, len - n);
    in->p += n;
    in->n -= n;
    return n;
}

int fz_memfile_reset(int fd, const void *data, size_t len)
{
    if (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)len) < 0)
        return -1;
    const uint8_t *p = data;
    size_t off = 0;
    while (off < len) {
        ssize_t w = pwrite(fd, p + off, len - off, (off_t)off);
        if (w <= 0)
            return -1;
        off += (size_t)w;
    }
    return 0;
}

int fz_memfile(const char *name, const void *data, size_t len, char *path, size_t pathlen)
{
    int fd = memfd_create(name, MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    if (fz_memfile_reset(fd, data, len) < 0) {
        close(fd);
        return -1;
    }
    snprintf(path, pathlen, "/proc/self/fd/%d", fd);
    return fd;
}
