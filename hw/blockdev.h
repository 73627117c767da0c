/* hw/blockdev.h: a raw disk or CD-ROM image behind a storage device model (hw/ide.h).
 *
 * The image is a host file opened once, read/write for disks and read-only for CD-ROMs and
 * readonly=on drives; its size is checked at open time (a disk image must be a whole number of
 * 512-byte sectors, a CD-ROM image of 2048-byte sectors, and neither may be empty), so every
 * error the user can make is one line then, naming the file. Afterwards each request is checked
 * against the size: nothing ever reads or writes past the end of the image, and a request that
 * would is refused with -EINVAL before touching the file.
 *
 * Reads and writes are synchronous (the run loop is single-threaded) and loop over short
 * pread/pwrite results and EINTR until the whole length is done or a real error comes back.
 *
 * Snapshot mode (-snapshot, snapshot=on) never writes the file: written sectors go to a sparse
 * in-memory map of dirty 512-byte sectors, reads take a sector from the map when it is there and
 * from the file otherwise, and flush is a no-op. The map dies with the BlockDev.
 */
#ifndef DUALVM_HW_BLOCKDEV_H
#define DUALVM_HW_BLOCKDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BLK_SECTOR_SIZE 512u
#define BLK_CD_SECTOR_SIZE 2048u

/* blk_open() flags */
enum {
    BLK_READONLY = 1 << 0, /* O_RDONLY; writes fail with -EROFS */
    BLK_SNAPSHOT = 1 << 1, /* writes go to memory, the file stays as it was */
    BLK_CDROM = 1 << 2,    /* 2048-byte sectors, and read-only */
};

typedef struct BlockDev BlockDev;

/* Open path as flags say. NULL with one line in err naming the file and what is wrong (missing,
 * not a regular file or block device, empty, size not a multiple of the sector size, no
 * permission to write it: use readonly=on or -snapshot). */
BlockDev *blk_open(const char *path, unsigned flags, char *err, size_t errlen);
void blk_close(BlockDev *b);

/* Read or write len bytes at byte offset off. 0, or a negative errno: -EINVAL (the range is not
 * inside the image: nothing was transferred), -EROFS (a write to a read-only image), -EIO or the
 * host's errno for a failed transfer (part of it may have happened). */
int blk_read(BlockDev *b, uint64_t off, void *buf, size_t len);
int blk_write(BlockDev *b, uint64_t off, const void *buf, size_t len);
/* fdatasync the image (nothing in snapshot mode or read-only). 0 or a negative errno. */
int blk_flush(BlockDev *b);

uint64_t blk_size(const BlockDev *b); /* bytes */
const char *blk_path(const BlockDev *b);
bool blk_is_readonly(const BlockDev *b);
bool blk_is_snapshot(const BlockDev *b);
/* Sectors written in snapshot mode so far (the map's size), for tests. */
size_t blk_dirty_sectors(const BlockDev *b);

#endif
