/* fuzz/images.h: small valid images of the kinds the loaders take, built in memory: the seeds
 * of fuzz_loaders (gen_corpus.c) and the fixed kernel its initrd runs boot with. Each builder
 * writes into out (at least the size it returns; call with out NULL to ask the size). */
#ifndef DUALVM_FUZZ_IMAGES_H
#define DUALVM_FUZZ_IMAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static inline void img_put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void img_put32(uint8_t *p, uint32_t v)
{
    img_put16(p, v & 0xffff);
    img_put16(p + 2, v >> 16);
}

static inline void img_put64(uint8_t *p, uint64_t v)
{
    img_put32(p, (uint32_t)v);
    img_put32(p + 4, (uint32_t)(v >> 32));
}

/* CRC-32 as the kernel's build tool computes it (reflected, ~0 start, no final inversion). */
static inline uint32_t img_crc32(const uint8_t *p, size_t n)
{
    uint32_t crc = 0xffffffffu;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = crc & 1 ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
    }
    return crc;
}

/* A bzImage: one setup sector after the boot sector, kernel_len bytes of protected-mode code
 * (a HLT loop), protocol version, x86-64 flag as asked, the build CRC in its last 4 bytes. */
#define IMG_BZ_SETUP_SECTS 1u
static inline size_t img_bzimage(uint8_t *out, size_t kernel_len, uint16_t version, bool x64)
{
    size_t setup = (IMG_BZ_SETUP_SECTS + 1) * 512;
    kernel_len = (kernel_len + 15) & ~(size_t)15;
    if (kernel_len < 16)
        kernel_len = 16;
    size_t total = setup + kernel_len;
    if (!out)
        return total;
    memset(out, 0, total);
    out[0x1f1] = IMG_BZ_SETUP_SECTS;
    img_put32(out + 0x1f4, (uint32_t)(kernel_len / 16)); /* syssize */
    img_put16(out + 0x1fe, 0xaa55);
    out[0x200] = 0xeb; /* jmp: the header runs to 0x202 + 0x66 = 0x268 */
    out[0x201] = 0x66;
    memcpy(out + 0x202, "HdrS", 4);
    img_put16(out + 0x206, version);
    out[0x211] = 0x01;                                     /* LOADED_HIGH */
    img_put32(out + 0x214, 0x100000);                      /* code32_start */
    img_put32(out + 0x22c, 0x37ffffff);                    /* initrd_addr_max */
    img_put32(out + 0x230, 0x200000);                      /* kernel_alignment */
    img_put16(out + 0x236, x64 ? 0x3 : 0x0);               /* xloadflags */
    img_put32(out + 0x238, 2047);                          /* cmdline_size */
    img_put32(out + 0x248, 0x10);                          /* payload_offset */
    img_put32(out + 0x24c, (uint32_t)(kernel_len - 0x20)); /* payload_length */
    img_put64(out + 0x258, 0x100000);                      /* pref_address */
    img_put32(out + 0x260, 0x10000);                       /* init_size */
    for (size_t i = setup; i < total - 4; i++)
        out[i] = 0xf4; /* hlt */
    img_put32(out + total - 4, img_crc32(out, total - 4));
    return total;
}

/* A newc cpio archive with one file and the trailer. */
static inline size_t img_cpio_entry(uint8_t *out, const char *name, const void *data, size_t len)
{
    size_t namesize = strlen(name) + 1;
    size_t hdr_name = 110 + namesize, pad1 = (4 - hdr_name % 4) % 4;
    size_t pad2 = (4 - len % 4) % 4;
    size_t total = hdr_name + pad1 + len + pad2;
    if (!out)
        return total;
    char h[111];
    /* magic ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor
     * namesize check */
    snprintf(h, sizeof(h), "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", 1u,
             0100644u, 0u, 0u, 1u, 0u, (unsigned)len, 0u, 0u, 0u, 0u, (unsigned)namesize, 0u);
    memcpy(out, h, 110);
    memcpy(out + 110, name, namesize);
    memset(out + hdr_name, 0, pad1);
    memcpy(out + hdr_name + pad1, data, len);
    memset(out + hdr_name + pad1 + len, 0, pad2);
    return total;
}

static inline size_t img_cpio(uint8_t *out, const char *name, const void *data, size_t len)
{
    size_t a = img_cpio_entry(NULL, name, data, len);
    size_t b = img_cpio_entry(NULL, "TRAILER!!!", "", 0);
    if (out) {
        img_cpio_entry(out, name, data, len);
        img_cpio_entry(out + a, "TRAILER!!!", "", 0);
    }
    return a + b;
}

/* A multiboot ELF32 kernel: one PT_LOAD segment at paddr with the multiboot header and code
 * (HLT), memsz = filesz + bss. */
static inline size_t img_multiboot_elf(uint8_t *out, uint32_t paddr, uint32_t bss)
{
    const size_t ehdr = 52, phdr = 32, body = 64;
    size_t total = ehdr + phdr + body;
    if (!out)
        return total;
    memset(out, 0, total);
    memcpy(out, "\177ELF", 4);
    out[4] = 1; /* ELFCLASS32 */
    out[5] = 1; /* little-endian */
    out[6] = 1;
    img_put16(out + 16, 2); /* ET_EXEC */
    img_put16(out + 18, 3); /* EM_386 */
    img_put32(out + 20, 1);
    img_put32(out + 24, paddr + 12);     /* entry: after the multiboot header */
    img_put32(out + 28, (uint32_t)ehdr); /* phoff */
    img_put16(out + 40, (uint16_t)ehdr);
    img_put16(out + 42, (uint16_t)phdr);
    img_put16(out + 44, 1);
    uint8_t *p = out + ehdr;
    img_put32(p, 1); /* PT_LOAD */
    img_put32(p + 4, (uint32_t)(ehdr + phdr));
    img_put32(p + 8, paddr);
    img_put32(p + 12, paddr);
    img_put32(p + 16, (uint32_t)body);
    img_put32(p + 20, (uint32_t)body + bss);
    img_put32(p + 24, 7);
    img_put32(p + 28, 4);
    uint8_t *b = out + ehdr + phdr;
    img_put32(b, 0x1BADB002u);
    img_put32(b + 4, 0x3);
    img_put32(b + 8, (uint32_t) - (0x1BADB002u + 0x3));
    memset(b + 12, 0xf4, body - 12);
    return total;
}

/* A multiboot a.out-kludge kernel (flag bit 16): the header gives the load addresses. */
static inline size_t img_multiboot_aout(uint8_t *out, uint32_t load, uint32_t len, uint32_t bss)
{
    size_t total = len < 64 ? 64 : len;
    if (!out)
        return total;
    memset(out, 0xf4, total);
    img_put32(out, 0x1BADB002u);
    img_put32(out + 4, 0x10003);
    img_put32(out + 8, (uint32_t) - (0x1BADB002u + 0x10003));
    img_put32(out + 12, load);                         /* header_addr */
    img_put32(out + 16, load);                         /* load_addr */
    img_put32(out + 20, load + (uint32_t)total);       /* load_end_addr */
    img_put32(out + 24, load + (uint32_t)total + bss); /* bss_end_addr */
    img_put32(out + 28, load + 32);                    /* entry */
    return total;
}

#endif
