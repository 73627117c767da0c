/* mkpattern: write the test pattern the boot programs check (tests/boot/bootlib.inc, verify).
 *
 *   mkpattern FILE TAG FIRST COUNT
 *
 * Writes COUNT 512-byte units, numbered from FIRST, at byte offset FIRST * 512 of FILE (which
 * is created if needed and never truncated): dword i (0-127) of unit u is TAG | u << 7 | i,
 * little-endian. TAG is a number such as 0x5a000000. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int parse(const char *s, unsigned long long *v)
{
    char *end;
    errno = 0;
    *v = strtoull(s, &end, 0);
    return errno || end == s || *end ? -1 : 0;
}

int main(int argc, char **argv)
{
    unsigned long long tag, first, count;
    if (argc != 5 || parse(argv[2], &tag) || parse(argv[3], &first) || parse(argv[4], &count) ||
        tag > 0xffffffffull || first + count > (1ull << 18)) {
        fprintf(stderr, "usage: mkpattern FILE TAG FIRST COUNT (units of 512 bytes, below 2^18)\n");
        return 2;
    }
    int fd = open(argv[1], O_WRONLY | O_CREAT, 0644);
    if (fd < 0) {
        fprintf(stderr, "mkpattern: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    for (unsigned long long u = first; u < first + count; u++) {
        uint8_t unit[512];
        for (uint32_t i = 0; i < 128; i++) {
            uint32_t v = (uint32_t)tag | (uint32_t)u << 7 | i;
            unit[4 * i] = (uint8_t)v;
            unit[4 * i + 1] = (uint8_t)(v >> 8);
            unit[4 * i + 2] = (uint8_t)(v >> 16);
            unit[4 * i + 3] = (uint8_t)(v >> 24);
        }
        if (pwrite(fd, unit, sizeof(unit), (off_t)(u * 512)) != (ssize_t)sizeof(unit)) {
            fprintf(stderr, "mkpattern: %s: %s\n", argv[1], strerror(errno));
            close(fd);
            return 1;
        }
    }
    if (close(fd) < 0) {
        fprintf(stderr, "mkpattern: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    return 0;
}
