#include "hw/blockdev.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

struct BlockDev {
    int fd;
    char *path;
    uint64_t size;
    unsigned flags;
    GHashTable *dirty; /* snapshot: sector number (gint64 key) -> BLK_SECTOR_SIZE bytes */
};

static bool range_ok(const BlockDev *b, uint64_t off, size_t len)
{
    return off <= b->size && len <= b->size - off;
}

/* pread/pwrite until done: short transfers and EINTR are retried, EOF is an I/O error (the
 * size was checked, so a shrinking file is the only way to get one). */
static int full_pread(int fd, void *buf, size_t len, uint64_t off)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EIO;
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

static int full_pwrite(int fd, const void *buf, size_t len, uint64_t off)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EIO;
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

BlockDev *blk_open(const char *path, unsigned flags, char *err, size_t errlen)
{
    if (flags & BLK_CDROM)
        flags |= BLK_READONLY;
    /* snapshot mode never writes the file, so it needs no write permission either */
    bool rw = !(flags & (BLK_READONLY | BLK_SNAPSHOT));
    int fd = open(path, (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (rw && (e == EACCES || e == EROFS || e == EPERM))
            snprintf(err, errlen,
                     "%s: cannot open for writing: %s (use readonly=on, or -snapshot to keep "
                     "writes in memory)",
                     path, strerror(e));
        else
            snprintf(err, errlen, "%s: %s", path, strerror(e));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file or block device", path);
        close(fd);
        return NULL;
    }
    off_t end = lseek(fd, 0, SEEK_END);
    if (end < 0) {
        snprintf(err, errlen, "%s: cannot find its size: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    uint64_t size = (uint64_t)end;
    unsigned sector = (flags & BLK_CDROM) ? BLK_CD_SECTOR_SIZE : BLK_SECTOR_SIZE;
    if (size == 0) {
        snprintf(err, errlen, "%s: the image is empty", path);
        close(fd);
        return NULL;
    }
    if (size % sector) {
        snprintf(err, errlen,
                 "%s: size %llu is not a multiple of %u bytes (%s images are whole %u-byte "
                 "sectors)",
                 path, (unsigned long long)size, sector, (flags & BLK_CDROM) ? "CD-ROM" : "disk",
                 sector);
        close(fd);
        return NULL;
    }
    BlockDev *b = g_new0(BlockDev, 1);
    b->fd = fd;
    b->path = g_strdup(path);
    b->size = size;
    b->flags = flags;
    if (flags & BLK_SNAPSHOT)
        b->dirty = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, g_free);
    return b;
}

void blk_close(BlockDev *b)
{
    if (!b)
        return;
    close(b->fd);
    if (b->dirty)
        g_hash_table_destroy(b->dirty);
    g_free(b->path);
    g_free(b);
}

static uint8_t *dirty_lookup(const BlockDev *b, uint64_t sector)
{
    gint64 key = (gint64)sector;
    return g_hash_table_lookup(b->dirty, &key);
}

int blk_read(BlockDev *b, uint64_t off, void *buf, size_t len)
{
    if (!range_ok(b, off, len))
        return -EINVAL;
    if (!len)
        return 0;
    int rc = full_pread(b->fd, buf, len, off);
    if (rc || !b->dirty || g_hash_table_size(b->dirty) == 0)
        return rc;
    /* overlay the sectors written in snapshot mode */
    uint8_t *out = buf;
    uint64_t first = off / BLK_SECTOR_SIZE, last = (off + len - 1) / BLK_SECTOR_SIZE;
    for (uint64_t s = first; s <= last; s++) {
        const uint8_t *d = dirty_lookup(b, s);
        if (!d)
            continue;
        uint64_t s_start = s * BLK_SECTOR_SIZE;
        uint64_t from = MAX(s_start, off), to = MIN(s_start + BLK_SECTOR_SIZE, off + len);
        memcpy(out + (from - off), d + (from - s_start), (size_t)(to - from));
    }
    return 0;
}

static int snapshot_write(BlockDev *b, uint64_t off, const uint8_t *in, size_t len)
{
    uint64_t first = off / BLK_SECTOR_SIZE, last = (off + len - 1) / BLK_SECTOR_SIZE;
    for (uint64_t s = first; s <= last; s++) {
        uint64_t s_start = s * BLK_SECTOR_SIZE;
        uint64_t from = MAX(s_start, off), to = MIN(s_start + BLK_SECTOR_SIZE, off + len);
        uint8_t *d = dirty_lookup(b, s);
        if (!d) {
            d = g_malloc(BLK_SECTOR_SIZE);
            /* a partial sector keeps the file's bytes around the written ones */
            if (to - from < BLK_SECTOR_SIZE) {
                int rc = full_pread(b->fd, d, BLK_SECTOR_SIZE, s_start);
                if (rc) {
                    g_free(d);
                    return rc;
                }
            }
            gint64 *key = g_new(gint64, 1);
            *key = (gint64)s;
            g_hash_table_insert(b->dirty, key, d);
        }
        memcpy(d + (from - s_start), in + (from - off), (size_t)(to - from));
    }
    return 0;
}

int blk_write(BlockDev *b, uint64_t off, const void *buf, size_t len)
{
    if (b->flags & BLK_READONLY)
        return -EROFS;
    if (!range_ok(b, off, len))
        return -EINVAL;
    if (!len)
        return 0;
    if (b->dirty)
        return snapshot_write(b, off, buf, len);
    return full_pwrite(b->fd, buf, len, off);
}

int blk_flush(BlockDev *b)
{
    if (b->flags & (BLK_READONLY | BLK_SNAPSHOT))
        return 0;
    while (fdatasync(b->fd) < 0) {
        if (errno != EINTR)
            return -errno;
    }
    return 0;
}

uint64_t blk_size(const BlockDev *b)
{
    return b->size;
}

const char *blk_path(const BlockDev *b)
{
    return b->path;
}

bool blk_is_readonly(const BlockDev *b)
{
    return b->flags & BLK_READONLY;
}

bool blk_is_snapshot(const BlockDev *b)
{
    return b->flags & BLK_SNAPSHOT;
}

size_t blk_dirty_sectors(const BlockDev *b)
{
    return b->dirty ? g_hash_table_size(b->dirty) : 0;
}
