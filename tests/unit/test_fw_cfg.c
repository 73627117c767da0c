/* fw_cfg: the port interface, the file directory, the PC board's items and the DMA interface,
 * including descriptors and transfers a hostile guest aims outside its memory. */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw/fw_cfg.h"
#include "hw/pc.h"

#define RAM_SIZE 0x10000ull
#define GUARD 4096
#define ROM_BASE 0x20000ull
#define ROM_SIZE 0x1000ull

static IoBus *io;
static AddressSpace *as;
static FwCfg *fw;
static uint8_t *ram_alloc, *ram, *rom;

/* Guest RAM [0, RAM_SIZE) lives between two guard areas of host memory that no transfer may
 * touch; a ROM page sits at ROM_BASE. */
static void setup(void)
{
    char err[128] = "";
    io = io_bus_new();
    as = as_new();
    ram_alloc = malloc(RAM_SIZE + 2 * GUARD);
    memset(ram_alloc, 0xa5, RAM_SIZE + 2 * GUARD);
    ram = ram_alloc + GUARD;
    memset(ram, 0, RAM_SIZE);
    rom = malloc(ROM_SIZE);
    memset(rom, 0x3c, ROM_SIZE);
    cr_assert_eq(as_add_ram(as, 0, RAM_SIZE, ram, "ram"), 0);
    cr_assert_eq(as_add_rom(as, ROM_BASE, ROM_SIZE, rom, "rom"), 0);
    fw = fw_cfg_new(io, as, err, sizeof(err));
    cr_assert_not_null(fw, "%s", err);
}

static void guards_intact(void)
{
    for (size_t i = 0; i < GUARD; i++) {
        cr_assert_eq(ram_alloc[i], 0xa5, "host memory below guest RAM written at -%zu", GUARD - i);
        cr_assert_eq(ram[RAM_SIZE + i], 0xa5, "host memory past guest RAM written at +%zu", i);
    }
    for (size_t i = 0; i < ROM_SIZE; i++)
        cr_assert_eq(rom[i], 0x3c, "ROM written at %zu", i);
}

static void teardown(void)
{
    guards_intact();
    fw_cfg_free(fw);
    as_free(as);
    io_bus_free(io);
    free(ram_alloc);
    free(rom);
}

TestSuite(fw_cfg, .init = setup, .fini = teardown);

static void select_key(uint16_t key)
{
    io_write(io, FW_CFG_PORT_SEL, key, 2);
}

static void read_data(void *buf, size_t n)
{
    uint8_t *p = buf;
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)io_read(io, FW_CFG_PORT_DATA, 1);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

Test(fw_cfg, signature_and_id)
{
    char sig[6] = "";
    select_key(FW_CFG_SIGNATURE);
    read_data(sig, 5);
    cr_assert_eq(memcmp(sig, "QEMU\0", 5), 0, "past the end reads 0");
    /* reselecting starts over; the write-channel bit does not change the item */
    select_key(FW_CFG_SIGNATURE | FW_CFG_WRITE_CHANNEL);
    read_data(sig, 4);
    cr_assert_eq(memcmp(sig, "QEMU", 4), 0);
    uint8_t id[4];
    select_key(FW_CFG_ID);
    read_data(id, 4);
    cr_assert_eq(id[0], FW_CFG_VERSION | FW_CFG_VERSION_DMA);
    cr_assert_eq(id[1] | id[2] | id[3], 0);
    /* the DMA address register reads back the DMA signature, byte by byte in port order */
    char dsig[9] = "";
    for (int i = 0; i < 8; i++)
        dsig[i] = (char)io_read(io, (uint16_t)(FW_CFG_PORT_DMA + i), 1);
    cr_assert_str_eq(dsig, "QEMU CFG");
    cr_assert_eq(io_read(io, FW_CFG_PORT_DMA, 4), 0x554d4551); /* "QEMU" little-endian */
    /* a missing item reads zeros; byte writes to the ports are ignored */
    select_key(0x1f);
    io_write(io, FW_CFG_PORT_DATA, 0x55, 1);
    read_data(id, 4);
    cr_assert_eq(id[0] | id[1] | id[2] | id[3], 0);
}

Test(fw_cfg, no_dma_without_address_space)
{
    char err[128] = "";
    IoBus *io2 = io_bus_new();
    FwCfg *f = fw_cfg_new(io2, NULL, err, sizeof(err));
    cr_assert_not_null(f, "%s", err);
    size_t len;
    const uint8_t *id = fw_cfg_get(f, FW_CFG_ID, &len);
    cr_assert(id && len == 4 && id[0] == FW_CFG_VERSION);
    cr_assert_eq(io_read(io2, FW_CFG_PORT_DMA, 1), 0xff, "no DMA ports");
    cr_assert_null(fw_cfg_new(io2, NULL, err, sizeof(err)), "ports claimed twice");
    fw_cfg_free(f);
    io_bus_free(io2);
}

Test(fw_cfg, file_directory_is_big_endian_and_sorted)
{
    cr_assert_eq(fw_cfg_add_file(fw, "zeta", "zz", 2), 0);
    cr_assert_eq(fw_cfg_add_file(fw, "etc/alpha", "abcdef", 6), 0);
    cr_assert_eq(fw_cfg_add_file(fw, "empty", NULL, 0), 0);
    uint8_t dir[4 + 4 * 64];
    select_key(FW_CFG_FILE_DIR);
    read_data(dir, sizeof(dir));
    cr_assert_eq(be32(dir), 3);
    const char *names[] = {"empty", "etc/alpha", "zeta"};
    uint32_t sizes[] = {0, 6, 2};
    for (int i = 0; i < 3; i++) {
        const uint8_t *e = dir + 4 + 64 * i;
        cr_assert_eq(be32(e), sizes[i], "size of %s", names[i]);
        uint16_t key = (uint16_t)(e[4] << 8 | e[5]);
        cr_assert_eq(key, FW_CFG_FILE_FIRST + i);
        cr_assert_eq(e[6] | e[7], 0);
        cr_assert_str_eq((const char *)e + 8, names[i]);
        cr_assert_eq(fw_cfg_file_key(fw, names[i]), key);
    }
    /* the name field is NUL-padded to 56 bytes */
    for (int i = 8 + 4; i < 64; i++)
        cr_assert_eq(dir[4 + 64 * 2 + i], 0);
    /* read a file through its key, as SeaBIOS does */
    char buf[7] = "";
    select_key((uint16_t)fw_cfg_file_key(fw, "etc/alpha"));
    read_data(buf, 6);
    cr_assert_str_eq(buf, "abcdef");

    cr_assert_eq(fw_cfg_add_file(fw, "zeta", "x", 1), -EEXIST);
    cr_assert_eq(fw_cfg_add_file(fw, "", "x", 1), -EINVAL);
    char longname[60];
    memset(longname, 'n', sizeof(longname));
    longname[56] = 0;
    cr_assert_eq(fw_cfg_add_file(fw, longname, "x", 1), -ENAMETOOLONG);
    longname[55] = 0;
    cr_assert_eq(fw_cfg_add_file(fw, longname, "x", 1), 0);
    cr_assert_eq(fw_cfg_file_key(fw, "nope"), -ENOENT);
    /* files are not keyed items */
    cr_assert_eq(fw_cfg_add_bytes(fw, FW_CFG_FILE_FIRST, "x", 1), -EINVAL);
    cr_assert_eq(fw_cfg_add_bytes(fw, FW_CFG_FILE_DIR, "x", 1), -EINVAL);
    /* modify keeps the key and updates the directory */
    int k = fw_cfg_file_key(fw, "zeta");
    cr_assert_eq(fw_cfg_modify_file(fw, "zeta", "12345", 5), 0);
    cr_assert_eq(fw_cfg_file_key(fw, "zeta"), k);
    select_key(FW_CFG_FILE_DIR);
    read_data(dir, sizeof(dir));
    cr_assert_eq(be32(dir), 4);
    cr_assert_eq(be32(dir + 4 + 64 * 3), 5);
}

Test(fw_cfg, too_many_files)
{
    char name[16];
    for (int i = 0; i < FW_CFG_MAX_FILES; i++) {
        snprintf(name, sizeof(name), "f%03d", i);
        cr_assert_eq(fw_cfg_add_file(fw, name, "x", 1), 0);
    }
    cr_assert_eq(fw_cfg_add_file(fw, "last", "x", 1), -ENOSPC);
}

Test(fw_cfg, kernel_items)
{
    cr_assert_eq(fw_cfg_add_kernel(fw, 0x100000, "KERNEL", 6), 0);
    cr_assert_eq(fw_cfg_add_initrd(fw, 0x7000000, "RD", 2), 0);
    cr_assert_eq(fw_cfg_add_setup(fw, 0x90000, "SETUP", 5), 0);
    cr_assert_eq(fw_cfg_add_cmdline(fw, 0x20000, "console=ttyS0"), 0);
    size_t len;
    const uint8_t *p = fw_cfg_get(fw, FW_CFG_KERNEL_ADDR, &len);
    cr_assert(p && len == 4 && p[0] == 0 && p[2] == 0x10);
    p = fw_cfg_get(fw, FW_CFG_KERNEL_SIZE, &len);
    cr_assert(p && len == 4 && p[0] == 6);
    p = fw_cfg_get(fw, FW_CFG_KERNEL_DATA, &len);
    cr_assert(p && len == 6 && !memcmp(p, "KERNEL", 6));
    p = fw_cfg_get(fw, FW_CFG_INITRD_SIZE, &len);
    cr_assert(p && p[0] == 2);
    p = fw_cfg_get(fw, FW_CFG_SETUP_DATA, &len);
    cr_assert(p && len == 5);
    p = fw_cfg_get(fw, FW_CFG_CMDLINE_SIZE, &len);
    cr_assert(p && p[0] == 14, "size counts the NUL");
    p = fw_cfg_get(fw, FW_CFG_CMDLINE_DATA, &len);
    cr_assert(p && len == 14 && !strcmp((const char *)p, "console=ttyS0"));
}

/* ---- DMA ---------------------------------------------------------------------------------- */

static void put_desc(uint64_t at, uint32_t control, uint32_t length, uint64_t addr)
{
    uint8_t d[16];
    for (int i = 0; i < 4; i++) {
        d[i] = (uint8_t)(control >> (24 - 8 * i));
        d[4 + i] = (uint8_t)(length >> (24 - 8 * i));
    }
    for (int i = 0; i < 8; i++)
        d[8 + i] = (uint8_t)(addr >> (56 - 8 * i));
    as_write(as, at, d, sizeof(d));
}

/* As SeaBIOS: outl(cpu_to_be32(desc), 0x518) (the high half stays 0). */
static void kick(uint64_t desc)
{
    io_write(io, FW_CFG_PORT_DMA, __builtin_bswap32((uint32_t)(desc >> 32)), 4);
    io_write(io, FW_CFG_PORT_DMA_LOW, __builtin_bswap32((uint32_t)desc), 4);
}

static uint32_t control_at(uint64_t desc)
{
    return be32(ram + desc);
}

Test(fw_cfg, dma_read_select_skip)
{
    cr_assert_eq(fw_cfg_add_file(fw, "etc/data", "0123456789", 10), 0);
    uint16_t key = (uint16_t)fw_cfg_file_key(fw, "etc/data");
    /* select + read 4 */
    put_desc(0x1000, (uint32_t)key << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 4, 0x2000);
    kick(0x1000);
    cr_assert_eq(control_at(0x1000), 0, "transfer not completed");
    cr_assert_eq(memcmp(ram + 0x2000, "0123", 4), 0);
    /* skip 2, then read on: 6, 7, 8, 9, then zeros past the end */
    put_desc(0x1000, FW_CFG_DMA_CTL_SKIP, 2, 0);
    kick(0x1000);
    cr_assert_eq(control_at(0x1000), 0);
    memset(ram + 0x3000, 0xee, 8);
    put_desc(0x1000, FW_CFG_DMA_CTL_READ, 6, 0x3000);
    kick(0x1000);
    cr_assert_eq(control_at(0x1000), 0);
    cr_assert_eq(memcmp(ram + 0x3000, "6789\0\0\xee", 7), 0);
    /* the port interface continues where DMA left off */
    select_key(key);
    put_desc(0x1000, FW_CFG_DMA_CTL_SKIP, 8, 0);
    kick(0x1000);
    char c[3] = "";
    read_data(c, 2);
    cr_assert_str_eq(c, "89");
    /* no operation bit: nothing moves, completes without error */
    put_desc(0x1000, 0, 100, 0x3000);
    kick(0x1000);
    cr_assert_eq(control_at(0x1000), 0);
    /* the signature through DMA, the way SeaBIOS reads the ID */
    put_desc(0x1000, FW_CFG_ID << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 4, 0x4000);
    kick(0x1000);
    cr_assert_eq(ram[0x4000], FW_CFG_VERSION | FW_CFG_VERSION_DMA);
}

Test(fw_cfg, dma_write_is_refused)
{
    put_desc(0x1000, FW_CFG_SIGNATURE << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_WRITE, 4,
             0x2000);
    kick(0x1000);
    cr_assert_eq(control_at(0x1000), FW_CFG_DMA_CTL_ERROR);
    size_t len;
    const uint8_t *sig = fw_cfg_get(fw, FW_CFG_SIGNATURE, &len);
    cr_assert(sig && !memcmp(sig, "QEMU", 4));
}

Test(fw_cfg, dma_clipped_at_the_end_of_ram)
{
    uint8_t big[300];
    memset(big, 0x77, sizeof(big));
    cr_assert_eq(fw_cfg_add_file(fw, "big", big, sizeof(big)), 0);
    uint16_t key = (uint16_t)fw_cfg_file_key(fw, "big");
    /* 300 bytes at 100 before the end of RAM: refused whole, no byte lands (a DMA range that
     * leaves RAM is an error, never a silent truncation) */
    memset(ram + RAM_SIZE - 100, 0x33, 100);
    put_desc(0x1000, (uint32_t)key << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 300,
             RAM_SIZE - 100);
    kick(0x1000);
    cr_assert_eq(control_at(0x1000), FW_CFG_DMA_CTL_ERROR);
    for (int i = 0; i < 100; i++)
        cr_assert_eq(ram[RAM_SIZE - 100 + i], 0x33, "byte %d written by a refused DMA", i);
    guards_intact();
}

Test(fw_cfg, dma_huge_length_zero_fill_stops_at_ram_end)
{
    /* read far past the end of a 4-byte item: 4 GiB - 1 of zeros asked into a 64 KiB guest */
    memset(ram + 0x8000, 0x11, RAM_SIZE - 0x8000);
    put_desc(0x1000, FW_CFG_SIGNATURE << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ,
             0xffffffffu, 0x8000);
    kick(0x1000);
    cr_assert_eq(control_at(0x1000), FW_CFG_DMA_CTL_ERROR);
    cr_assert_eq(memcmp(ram + 0x8000, "QEMU", 4), 0);
    /* the zero fill goes in whole chunks: the ones inside RAM are zeroed, the one that would
     * leave RAM is refused whole, so what was written is a prefix of zeros */
    cr_assert_eq(ram[0x8004], 0, "the first chunk inside RAM was not zeroed");
    uint64_t a = 0x8004;
    while (a < RAM_SIZE && ram[a] == 0)
        a++;
    for (; a < RAM_SIZE; a++)
        cr_assert_eq(ram[a], 0x11, "a byte past the refused chunk changed at 0x%llx",
                     (unsigned long long)a);
    guards_intact();
}

Test(fw_cfg, dma_to_wrapping_and_unmapped_addresses)
{
    /* a target that wraps past 2^64 */
    put_desc(0x1000, FW_CFG_SIGNATURE << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 0x100,
             0xfffffffffffffff0ull);
    kick(0x1000);
    cr_assert_eq(control_at(0x1000), FW_CFG_DMA_CTL_ERROR);
    /* a target in the hole between RAM and ROM, and one in ROM: both refused (DMA writes only
     * RAM) */
    put_desc(0x1000, FW_CFG_SIGNATURE << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 4,
             0x18000);
    kick(0x1000);
    cr_assert_eq(control_at(0x1000), FW_CFG_DMA_CTL_ERROR);
    put_desc(0x1000, FW_CFG_SIGNATURE << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 4,
             ROM_BASE);
    uint8_t rom0 = rom[0];
    kick(0x1000);
    cr_assert_eq(control_at(0x1000), FW_CFG_DMA_CTL_ERROR);
    cr_assert_eq(rom[0], rom0);
    /* a descriptor that is not in guest memory at all: nothing happens, nothing breaks */
    kick(0x80000000ull);
    kick(0xfffffffffffffff8ull);
    /* a descriptor straddling the end of RAM: refused, its first bytes get the error */
    put_desc(RAM_SIZE - 8, 0, 0, 0);
    memset(ram + RAM_SIZE - 8, 0, 8);
    ram[RAM_SIZE - 5] = FW_CFG_DMA_CTL_READ;
    kick(RAM_SIZE - 8);
    cr_assert_eq(be32(ram + RAM_SIZE - 8), FW_CFG_DMA_CTL_ERROR);
    /* the high half of the address register is used once and cleared, as QEMU */
    put_desc(0x1000, FW_CFG_SIGNATURE << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 4,
             0x5000);
    io_write(io, FW_CFG_PORT_DMA, __builtin_bswap32(1), 4); /* descriptor at 0x1_0000_1000 */
    io_write(io, FW_CFG_PORT_DMA_LOW, __builtin_bswap32(0x1000), 4);
    cr_assert_eq(control_at(0x1000),
                 (uint32_t)FW_CFG_SIGNATURE << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ,
                 "used the low half alone");
    io_write(io, FW_CFG_PORT_DMA_LOW, __builtin_bswap32(0x1000), 4);
    cr_assert_eq(control_at(0x1000), 0);
    cr_assert_eq(memcmp(ram + 0x5000, "QEMU", 4), 0);
    guards_intact();
}

/* ---- the PC board's items ----------------------------------------------------------------- */

Test(fw_cfg_board, pc_items_and_e820)
{
    MachineConfig cfg = {.ram_size = 64 << 20, .serial = "none"};
    char err[256] = "";
    Machine *m = pc_new(&cfg, err, sizeof(err));
    cr_assert_not_null(m, "%s", err);
    FwCfg *f = pc_fw_cfg(m);
    cr_assert_not_null(f);
    /* through the ports of the board */
    io_write(m->io, FW_CFG_PORT_SEL, FW_CFG_SIGNATURE, 2);
    char sig[5] = "";
    for (int i = 0; i < 4; i++)
        sig[i] = (char)io_read(m->io, FW_CFG_PORT_DATA, 1);
    cr_assert_str_eq(sig, "QEMU");
    size_t len;
    const uint8_t *p = fw_cfg_get(f, FW_CFG_RAM_SIZE, &len);
    cr_assert(p && len == 8 && le64(p) == 64ull << 20);
    p = fw_cfg_get(f, FW_CFG_NB_CPUS, &len);
    cr_assert(p && len == 2 && p[0] == 1 && p[1] == 0);
    p = fw_cfg_get(f, FW_CFG_MAX_CPUS, &len);
    cr_assert(p && len == 2 && p[0] == 1);
    p = fw_cfg_get(f, FW_CFG_UUID, &len);
    cr_assert(p && len == 16);
    p = fw_cfg_get(f, FW_CFG_BOOT_MENU, &len);
    cr_assert(p && len == 2 && p[0] == 0);

    int key = fw_cfg_file_key(f, "etc/e820");
    cr_assert_geq(key, FW_CFG_FILE_FIRST);
    p = fw_cfg_get(f, (uint16_t)key, &len);
    cr_assert_eq(len, FW_CFG_E820_ENTRY_SIZE);
    cr_assert_eq(le64(p), 0);
    cr_assert_eq(le64(p + 8), 64ull << 20);
    cr_assert_eq(p[16], E820_RAM);
    cr_assert_eq(p[17] | p[18] | p[19], 0);

    key = fw_cfg_file_key(f, "etc/boot-fail-wait");
    p = fw_cfg_get(f, (uint16_t)key, &len);
    cr_assert(p && len == 4 && !memcmp(p, "\xff\xff\xff\xff", 4));
    key = fw_cfg_file_key(f, "bootorder");
    p = fw_cfg_get(f, (uint16_t)key, &len);
    cr_assert(p && len == 0);

    /* DMA on the board: the descriptor and buffer in guest RAM */
    uint8_t d[16] = {0};
    uint32_t ctl = (uint32_t)FW_CFG_SIGNATURE << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ;
    for (int i = 0; i < 4; i++)
        d[i] = (uint8_t)(ctl >> (24 - 8 * i));
    d[7] = 4;
    d[14] = 0x20; /* buffer at 0x2000 */
    as_write(m->as, 0x1000, d, sizeof(d));
    io_write(m->io, FW_CFG_PORT_DMA_LOW, __builtin_bswap32(0x1000), 4);
    cr_assert_eq(memcmp(m->ram + 0x2000, "QEMU", 4), 0);
    cr_assert_eq(be32(m->ram + 0x1000), 0);
    pc_free(m);
}
