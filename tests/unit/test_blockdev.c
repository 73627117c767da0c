/* hw/blockdev: raw images, the checks at open time, bounds, read-only and snapshot modes. */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hw/blockdev.h"

/* A temporary file of size bytes, byte i = pat(i). The caller unlinks and frees it. */
static uint8_t pat(uint64_t i)
{
    return (uint8_t)(i * 7 + (i >> 9));
}

static char *temp_image(uint64_t size)
{
    char *path = strdup("/tmp/dualvm-blk-XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    uint8_t buf[4096];
    for (uint64_t off = 0; off < size; off += sizeof(buf)) {
        size_t n = (size_t)(size - off < sizeof(buf) ? size - off : sizeof(buf));
        for (size_t i = 0; i < n; i++)
            buf[i] = pat(off + i);
        cr_assert_eq(pwrite(fd, buf, n, (off_t)off), (ssize_t)n);
    }
    close(fd);
    return path;
}

static void drop(char *path)
{
    unlink(path);
    free(path);
}

/* The file's bytes still follow pat() everywhere. */
static bool file_untouched(const char *path, uint64_t size)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    bool ok = true;
    for (uint64_t i = 0; i < size; i++) {
        int c = fgetc(f);
        if (c != pat(i)) {
            ok = false;
            break;
        }
    }
    fclose(f);
    return ok;
}

Test(blockdev, open_errors_name_the_file)
{
    char err[256];
    cr_assert_null(blk_open("/nonexistent/dir/disk.img", 0, err, sizeof(err)));
    cr_assert(strstr(err, "/nonexistent/dir/disk.img: No such file"), "%s", err);

    char *odd = temp_image(1000);
    cr_assert_null(blk_open(odd, 0, err, sizeof(err)));
    cr_assert(strstr(err, odd) && strstr(err, "size 1000 is not a multiple of 512"), "%s", err);
    drop(odd);

    char *empty = temp_image(0);
    cr_assert_null(blk_open(empty, 0, err, sizeof(err)));
    cr_assert(strstr(err, "empty"), "%s", err);
    drop(empty);

    char *half_cd = temp_image(3 * 512);
    cr_assert_null(blk_open(half_cd, BLK_CDROM, err, sizeof(err)));
    cr_assert(strstr(err, "not a multiple of 2048"), "%s", err);
    BlockDev *b = blk_open(half_cd, 0, err, sizeof(err)); /* fine as a disk */
    cr_assert_not_null(b, "%s", err);
    blk_close(b);
    drop(half_cd);

    cr_assert_null(blk_open("/tmp", 0, err, sizeof(err)));
    cr_assert(strstr(err, "/tmp: Is a directory"), "%s", err);
    cr_assert_null(blk_open("/tmp", BLK_READONLY, err, sizeof(err)));
    cr_assert(strstr(err, "/tmp: not a regular file"), "%s", err);
}

Test(blockdev, read_write_and_bounds)
{
    const uint64_t size = 64 * 512;
    char *path = temp_image(size);
    char err[256];
    BlockDev *b = blk_open(path, 0, err, sizeof(err));
    cr_assert_not_null(b, "%s", err);
    cr_assert_eq(blk_size(b), size);
    cr_assert_str_eq(blk_path(b), path);
    cr_assert(!blk_is_readonly(b));

    uint8_t buf[3000];
    cr_assert_eq(blk_read(b, 1234, buf, sizeof(buf)), 0);
    for (size_t i = 0; i < sizeof(buf); i++)
        cr_assert_eq(buf[i], pat(1234 + i));

    /* nothing past the end, not a byte: the buffer stays as it was */
    memset(buf, 0xee, sizeof(buf));
    cr_assert_eq(blk_read(b, size - 10, buf, 11), -EINVAL);
    cr_assert_eq(blk_read(b, size, buf, 1), -EINVAL);
    cr_assert_eq(blk_read(b, UINT64_MAX - 5, buf, 10), -EINVAL);
    cr_assert_eq(blk_write(b, size - 1, buf, 2), -EINVAL);
    cr_assert_eq(blk_write(b, UINT64_MAX, buf, 1), -EINVAL);
    cr_assert_eq(buf[0], 0xee);
    cr_assert_eq(blk_read(b, size, buf, 0), 0);
    cr_assert_eq(blk_read(b, size - 10, buf, 10), 0);

    memset(buf, 0x5a, 700);
    cr_assert_eq(blk_write(b, 100, buf, 700), 0);
    cr_assert_eq(blk_flush(b), 0);
    blk_close(b);
    FILE *f = fopen(path, "rb");
    uint8_t all[64 * 512];
    cr_assert_eq(fread(all, 1, sizeof(all), f), sizeof(all));
    fclose(f);
    for (size_t i = 0; i < sizeof(all); i++)
        cr_assert_eq(all[i], i >= 100 && i < 800 ? 0x5a : pat(i), "byte %zu", i);
    drop(path);
}

Test(blockdev, readonly_and_cdrom_refuse_writes)
{
    char *path = temp_image(8 * 2048);
    char err[256];
    uint8_t buf[512] = {1};
    BlockDev *ro = blk_open(path, BLK_READONLY, err, sizeof(err));
    cr_assert_not_null(ro, "%s", err);
    cr_assert(blk_is_readonly(ro));
    cr_assert_eq(blk_write(ro, 0, buf, sizeof(buf)), -EROFS);
    cr_assert_eq(blk_flush(ro), 0);
    blk_close(ro);
    BlockDev *cd = blk_open(path, BLK_CDROM, err, sizeof(err));
    cr_assert_not_null(cd, "%s", err);
    cr_assert(blk_is_readonly(cd));
    cr_assert_eq(blk_write(cd, 2048, buf, sizeof(buf)), -EROFS);
    cr_assert_eq(blk_read(cd, 2048, buf, sizeof(buf)), 0);
    cr_assert_eq(buf[0], pat(2048));
    blk_close(cd);
    cr_assert(file_untouched(path, 8 * 2048));
    drop(path);
}

Test(blockdev, snapshot_keeps_the_file)
{
    const uint64_t size = 32 * 512;
    char *path = temp_image(size);
    /* snapshot mode needs no write permission on the file */
    cr_assert_eq(chmod(path, 0444), 0);
    char err[256];
    BlockDev *b = blk_open(path, BLK_SNAPSHOT, err, sizeof(err));
    cr_assert_not_null(b, "%s", err);
    cr_assert(blk_is_snapshot(b));
    cr_assert_eq(blk_dirty_sectors(b), 0);

    /* a write across three sectors, unaligned at both ends */
    uint8_t w[1100];
    memset(w, 0xc3, sizeof(w));
    cr_assert_eq(blk_write(b, 500, w, sizeof(w)), 0);
    cr_assert_eq(blk_dirty_sectors(b), 4); /* sectors 0-3 */
    uint8_t r[4 * 512];
    cr_assert_eq(blk_read(b, 0, r, sizeof(r)), 0);
    for (size_t i = 0; i < sizeof(r); i++)
        cr_assert_eq(r[i], i >= 500 && i < 1600 ? 0xc3 : pat(i), "byte %zu", i);
    /* a read starting inside a dirty sector and running into clean ones */
    cr_assert_eq(blk_read(b, 1590, r, 1000), 0);
    for (size_t i = 0; i < 1000; i++)
        cr_assert_eq(r[i], 1590 + i < 1600 ? 0xc3 : pat(1590 + i));
    /* rewriting a dirty sector keeps its earlier changes around the new ones */
    cr_assert_eq(blk_write(b, 510, (uint8_t[]){1, 2}, 2), 0);
    cr_assert_eq(blk_read(b, 498, r, 16), 0);
    cr_assert_eq(r[0], pat(498));
    cr_assert_eq(r[2], 0xc3);
    cr_assert_eq(r[12], 1);
    cr_assert_eq(r[13], 2);
    cr_assert_eq(r[14], 0xc3);
    cr_assert_eq(blk_flush(b), 0);
    cr_assert_eq(blk_write(b, size, w, 1), -EINVAL);
    blk_close(b);
    cr_assert(file_untouched(path, size), "the snapshot wrote the file");
    drop(path);
}
