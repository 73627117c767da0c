/* fuzz/fuzz.h: what the fuzz targets share.
 *
 * Each target defines LLVMFuzzerTestOneInput (and may define LLVMFuzzerInitialize). Built with
 * -DDUALVM_FUZZ=ON (clang), libFuzzer drives it; in every other build fuzz/replay.c supplies
 * main() and runs the target once per corpus file, so CI replays the corpora with gcc alone.
 *
 * An input is read as a stream: the fz_* readers take bytes from the front and give zeros once
 * it is used up, so every byte string is a valid input and a mutation changes what follows it
 * as little as possible.
 */
#ifndef DUALVM_FUZZ_H
#define DUALVM_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

typedef struct FuzzIn {
    const uint8_t *p;
    size_t n;
} FuzzIn;

static inline uint8_t fz_u8(FuzzIn *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

static inline uint16_t fz_u16(FuzzIn *in)
{
    uint16_t lo = fz_u8(in);
    return (uint16_t)(lo | fz_u8(in) << 8);
}

static inline uint32_t fz_u32(FuzzIn *in)
{
    uint32_t lo = fz_u16(in);
    return lo | (uint32_t)fz_u16(in) << 16;
}

static inline uint64_t fz_u64(FuzzIn *in)
{
    uint64_t lo = fz_u32(in);
    return lo | (uint64_t)fz_u32(in) << 32;
}

/* Copy up to len bytes into buf; the rest of buf is zeroed. Returns how many came from in. */
size_t fz_bytes(FuzzIn *in, void *buf, size_t len);

/* An anonymous in-memory file holding data: its fd (or -1), and in path a name that open()
 * accepts ("/proc/self/fd/N"), for code that takes file names. Close the fd when done. */
int fz_memfile(const char *name, const void *data, size_t len, char *path, size_t pathlen);

/* Replace the contents of a file made by fz_memfile. 0 or -1. */
int fz_memfile_reset(int fd, const void *data, size_t len);

#endif
