/* load_bios: image size rules, where the image goes, and that a refused image leaves the flash
 * as it was. Images are written at test time into a temporary directory. */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hw/memory.h"
#include "hw/pc.h"
#include "loaders/loader.h"

#define FLASH_SIZE (256u * 1024)
#define FLASH_BASE (0x100000000ull - FLASH_SIZE)

static AddressSpace *as;
static uint8_t *flash, *ram;
static char dir[64], path[128];
static char err[512];

static void setup(void)
{
    as = as_new();
    flash = malloc(FLASH_SIZE);
    ram = calloc(1, 1 << 20);
    memset(flash, 0xff, FLASH_SIZE);
    cr_assert_eq(as_add_rom(as, FLASH_BASE, FLASH_SIZE, flash, "bios"), 0);
    cr_assert_eq(as_add_ram(as, 0, 1 << 20, ram, "ram"), 0);
    strcpy(dir, "/tmp/dualvm-fw-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    err[0] = 0;
}

static void teardown(void)
{
    unlink(path);
    rmdir(dir);
    as_free(as);
    free(flash);
    free(ram);
}

TestSuite(firmware, .init = setup, .fini = teardown);

/* An image of size bytes whose every byte is its 4 KiB page number. */
static const char *image(const char *name, size_t size)
{
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    for (size_t i = 0; i < size; i++)
        fputc((int)((i >> 12) & 0xff), f);
    fclose(f);
    return path;
}

static void flash_untouched(void)
{
    for (size_t i = 0; i < FLASH_SIZE; i++)
        cr_assert_eq(flash[i], 0xff, "flash byte %zu changed by a refused image", i);
}

Test(firmware, size_not_a_multiple_of_64k)
{
    const char *p = image("bios.bin", 12345);
    cr_assert_eq(load_bios(as, p, err, sizeof(err)), -ENOEXEC);
    char want[256];
    snprintf(want, sizeof(want), "%s: size 12345 is not a multiple of 64 KiB", p);
    cr_assert_str_eq(err, want);
    flash_untouched();
    /* just one byte over a good size is still wrong */
    p = image("bios.bin", 65537);
    cr_assert_eq(load_bios(as, p, err, sizeof(err)), -ENOEXEC);
    cr_assert_not_null(strstr(err, "size 65537 is not a multiple of 64 KiB"), "%s", err);
    flash_untouched();
}

Test(firmware, too_big)
{
    const char *p = image("big.bin", 512 * 1024);
    cr_assert_eq(load_bios(as, p, err, sizeof(err)), -ERANGE);
    cr_assert_not_null(strstr(err, "big.bin: size 524288 is over the 256 KiB"), "%s", err);
    cr_assert_null(strchr(err, '\n'));
    flash_untouched();
}

Test(firmware, missing_empty_and_directory)
{
    snprintf(path, sizeof(path), "%s/none.bin", dir);
    cr_assert_eq(load_bios(as, path, err, sizeof(err)), -ENOENT);
    cr_assert_not_null(strstr(err, "none.bin: No such file or directory"), "%s", err);
    const char *p = image("empty.bin", 0);
    cr_assert_eq(load_bios(as, p, err, sizeof(err)), -ENOEXEC);
    cr_assert_not_null(strstr(err, "empty.bin: empty file"), "%s", err);
    cr_assert_eq(load_bios(as, dir, err, sizeof(err)), -EISDIR);
    flash_untouched();
}

Test(firmware, needs_rom_at_the_top_of_4g)
{
    AddressSpace *bare = as_new();
    uint8_t *r = calloc(1, 0x10000);
    /* RAM where the flash should be is not a place for firmware */
    cr_assert_eq(as_add_ram(bare, 0xffff0000, 0x10000, r, "ram"), 0);
    const char *p = image("bios.bin", 64 * 1024);
    cr_assert_eq(load_bios(bare, p, err, sizeof(err)), -ERANGE);
    cr_assert_not_null(strstr(err, "no ROM at 0xffff0000-0xffffffff"), "%s", err);
    for (int i = 0; i < 0x10000; i++)
        cr_assert_eq(r[i], 0);
    as_free(bare);
    free(r);
    /* a 256 KiB image in a flash of 128 KiB: the bottom half has no ROM */
    bare = as_new();
    r = malloc(0x20000);
    cr_assert_eq(as_add_rom(bare, 0xfffe0000, 0x20000, r, "bios"), 0);
    p = image("bios-256k.bin", 256 * 1024);
    cr_assert_eq(load_bios(bare, p, err, sizeof(err)), -ERANGE);
    as_free(bare);
    free(r);
}

Test(firmware, image_goes_to_the_top_of_4g)
{
    const char *p = image("bios.bin", 128 * 1024);
    cr_assert_eq(load_bios(as, p, err, sizeof(err)), 0, "%s", err);
    uint8_t b;
    as_read(as, 0xfffe0000, &b, 1);
    cr_assert_eq(b, 0);
    as_read(as, 0xfffffff0, &b, 1);
    cr_assert_eq(b, 31);
    /* below the image the flash is still erased; RAM is not touched */
    cr_assert_eq(flash[FLASH_SIZE - 128 * 1024 - 1], 0xff);
    for (int i = 0; i < (1 << 20); i++)
        cr_assert_eq(ram[i], 0);
    p = image("bios-64k.bin", 64 * 1024);
    cr_assert_eq(load_bios(as, p, err, sizeof(err)), 0, "%s", err);
    as_read(as, 0xffff0000, &b, 1);
    cr_assert_eq(b, 0);
}

/* The distribution's SeaBIOS, when it is installed: its reset vector is a far jump. */
Test(firmware, distribution_seabios_on_the_board)
{
    const char *sb = "/usr/share/seabios/bios-256k.bin";
    struct stat st;
    if (stat(sb, &st) != 0)
        cr_skip_test("%s is not installed", sb);
    MachineConfig cfg = {.ram_size = 32 << 20, .serial = "none"};
    Machine *m = pc_new(&cfg, err, sizeof(err));
    cr_assert_not_null(m, "%s", err);
    cr_assert_eq(load_bios(m->as, sb, err, sizeof(err)), 0, "%s", err);
    uint8_t hi[16], lo[16];
    as_read(m->as, 0xfffffff0, hi, 16);
    as_read(m->as, 0xffff0, lo, 16);
    cr_assert_eq(hi[0], 0xea, "reset vector is not a far jump: %02x", hi[0]);
    cr_assert_eq(memcmp(hi, lo, 16), 0, "0xFFFF0 does not show the flash's last bytes");
    pc_free(m);
}
