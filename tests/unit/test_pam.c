/* The i440FX's PAM: 0xC0000-0xFFFFF read from ROM or shadow RAM and written to shadow RAM or
 * nowhere, per segment, as the guest programs PAM0-6 through configuration space; the
 * notification that goes with each change; and the same on the PC board with a BIOS image and
 * the translator's TLB. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accel/accel.h"
#include "dbt/dbt.h"
#include "hw/i440fx.h"
#include "hw/pc.h"
#include "hw/pci.h"
#include "loaders/loader.h"

static IoBus *io;
static PciBus *bus;
static AddressSpace *as;
static I440fx *nb;
static uint8_t *shadow, *rom_c, *rom_e;

typedef struct Change {
    uint64_t gpa, len;
} Change;
static Change changes[32];
static int nchanges;

static void on_changed(void *opaque, uint64_t gpa, uint64_t len)
{
    cr_assert_eq(opaque, &nchanges);
    cr_assert_lt(nchanges, 32);
    changes[nchanges++] = (Change){gpa, len};
}

static void setup(void)
{
    char err[128] = "";
    io = io_bus_new();
    as = as_new();
    bus = pci_bus_new(io, err, sizeof(err));
    cr_assert_not_null(bus, "%s", err);
    shadow = malloc(PAM_SIZE);
    rom_c = malloc(PAM_ROM_HALF);
    rom_e = malloc(PAM_ROM_HALF);
    /* every byte tells where it came from: shadow 0x5x, option ROM 0xcx, BIOS ROM 0xex */
    memset(shadow, 0x55, PAM_SIZE);
    memset(rom_c, 0xcc, PAM_ROM_HALF);
    memset(rom_e, 0xee, PAM_ROM_HALF);
    nchanges = 0;
    nb = i440fx_new(bus, as, shadow, rom_c, rom_e, on_changed, &nchanges, err, sizeof(err));
    cr_assert_not_null(nb, "%s", err);
}

static void teardown(void)
{
    i440fx_free(nb);
    pci_bus_free(bus);
    as_free(as);
    io_bus_free(io);
    free(shadow);
    free(rom_c);
    free(rom_e);
}

TestSuite(pam, .init = setup, .fini = teardown);

static void cfg_writeb(unsigned reg, uint8_t v)
{
    io_write(io, PCI_CONFIG_ADDRESS, PCI_CONFADD_ENABLE | (reg & 0xfc), 4);
    io_write(io, (uint16_t)(PCI_CONFIG_DATA + (reg & 3)), v, 1);
}

static uint32_t cfg_read(unsigned reg, unsigned size)
{
    io_write(io, PCI_CONFIG_ADDRESS, PCI_CONFADD_ENABLE | (reg & 0xfc), 4);
    return io_read(io, (uint16_t)(PCI_CONFIG_DATA + (reg & 3)), size);
}

static uint8_t rd(uint64_t gpa)
{
    uint8_t b = 0;
    cr_assert_eq(as_read(as, gpa, &b, 1), MEM_OK, "0x%llx unmapped", (unsigned long long)gpa);
    return b;
}

static void wr(uint64_t gpa, uint8_t v)
{
    as_write(as, gpa, &v, 1);
}

Test(pam, host_bridge_identity)
{
    cr_assert_eq(cfg_read(0, 4), 0x12378086);
    cr_assert_eq(cfg_read(PCI_REVISION_ID, 4), 0x06000002);
    cr_assert_eq(cfg_read(PCI_SUBSYSTEM_VENDOR_ID, 4), 0x11001af4, "SeaBIOS's QEMU check");
    cr_assert_eq(cfg_read(I440FX_SMRAM, 1), I440FX_SMRAM_DEFAULT);
    cr_assert_eq(cfg_read(I440FX_PAM0, 1), 0);
    cr_assert_eq(i440fx_pci(nb), pci_find(bus, 0));
}

Test(pam, reset_state_reads_rom_and_drops_writes)
{
    cr_assert_eq(rd(0xc0000), 0xcc);
    cr_assert_eq(rd(0xdffff), 0xcc);
    cr_assert_eq(rd(0xe0000), 0xee);
    cr_assert_eq(rd(0xffff0), 0xee);
    wr(0xf0000, 0x12);
    wr(0xc4000, 0x12);
    cr_assert_eq(rd(0xf0000), 0xee);
    cr_assert_eq(shadow[0x30000], 0x55);
    cr_assert_eq(rom_e[0x10000], 0xee);
    cr_assert_eq(rom_c[0x4000], 0xcc);
    cr_assert_eq(nchanges, 0);
    /* ROM reads take the fast path: a host pointer into the ROM, read-only */
    cr_assert_eq(as_host_ptr(as, 0xf0000, 16, false), rom_e + 0x10000);
    cr_assert_null(as_host_ptr(as, 0xf0000, 16, true));
    cr_assert_eq(i440fx_pam_state(nb, 0xf0000), 0);
    cr_assert_eq(i440fx_pam_state(nb, 0xbffff), -1);
}

Test(pam, read_write_shadow)
{
    cfg_writeb(I440FX_PAM0, 0x30);
    cr_assert_eq(nchanges, 1);
    cr_assert_eq(changes[0].gpa, 0xf0000);
    cr_assert_eq(changes[0].len, 0x10000);
    cr_assert_eq(rd(0xf0000), 0x55);
    wr(0xf1234, 0x42);
    cr_assert_eq(shadow[0x31234], 0x42);
    cr_assert_eq(rd(0xf1234), 0x42);
    cr_assert_eq(rom_e[0x11234], 0xee, "the ROM must not change");
    /* RAM: a writable host pointer, as the TLB and KVM slots want */
    cr_assert_eq(as_host_ptr(as, 0xf0000, 0x10000, true), shadow + 0x30000);
    const MemRegion *r = as_find(as, 0xf0000);
    cr_assert(r && r->kind == MEM_RAM);
    /* the rest of the area is untouched */
    cr_assert_eq(rd(0xeffff), 0xee);
    cr_assert_eq(rd(0xc0000), 0xcc);
    cr_assert_eq(i440fx_pam_state(nb, 0xfffff), I440FX_PAM_RE | I440FX_PAM_WE);
}

Test(pam, read_only_shadow)
{
    cfg_writeb(I440FX_PAM0, 0x30);
    wr(0xf0000, 0x77);
    cfg_writeb(I440FX_PAM0, 0x10);
    cr_assert_eq(nchanges, 2);
    cr_assert_eq(rd(0xf0000), 0x77);
    wr(0xf0000, 0x88);
    cr_assert_eq(rd(0xf0000), 0x77, "write-protected shadow took a write");
    cr_assert_eq(shadow[0x30000], 0x77);
    cr_assert_eq(as_host_ptr(as, 0xf0000, 1, false), shadow + 0x30000);
    cr_assert_null(as_host_ptr(as, 0xf0000, 1, true));
}

Test(pam, write_only_shadow)
{
    cfg_writeb(I440FX_PAM0, 0x20);
    cr_assert_eq(rd(0xf0010), 0xee);
    wr(0xf0010, 0x99);
    cr_assert_eq(shadow[0x30010], 0x99, "write did not reach the shadow");
    cr_assert_eq(rd(0xf0010), 0xee, "read did not come from ROM");
    uint32_t w = 0x11223344;
    as_write(as, 0xf0100, &w, 4);
    cr_assert_eq(memcmp(shadow + 0x30100, "\x44\x33\x22\x11", 4), 0);
    /* then open it for reads: what was copied in is there */
    cfg_writeb(I440FX_PAM0, 0x30);
    cr_assert_eq(rd(0xf0010), 0x99);
}

Test(pam, segments_are_independent)
{
    /* PAM1: low nibble 0xC0000-0xC3FFF, high nibble 0xC4000-0xC7FFF */
    cfg_writeb(I440FX_PAM0 + 1, 0x03);
    cr_assert_eq(nchanges, 1);
    cr_assert_eq(changes[0].gpa, 0xc0000);
    cr_assert_eq(changes[0].len, 0x4000);
    cr_assert_eq(rd(0xc0000), 0x55);
    cr_assert_eq(rd(0xc3fff), 0x55);
    cr_assert_eq(rd(0xc4000), 0xcc);
    cfg_writeb(I440FX_PAM0 + 6, 0x30); /* 0xEC000-0xEFFFF */
    cr_assert_eq(changes[1].gpa, 0xec000);
    cr_assert_eq(changes[1].len, 0x4000);
    cr_assert_eq(rd(0xebfff), 0xee);
    cr_assert_eq(rd(0xec000), 0x55);
    cr_assert_eq(rd(0xeffff), 0x55);
    cr_assert_eq(rd(0xf0000), 0xee);
    for (unsigned i = 0; i < 12; i++) {
        uint64_t a = 0xc0000 + i * 0x4000;
        int want = (i == 0 || i == 11) ? 3 : 0;
        cr_assert_eq(i440fx_pam_state(nb, a), want, "segment %u", i);
    }
}

Test(pam, register_masks_and_no_change_no_notice)
{
    cfg_writeb(I440FX_PAM0, 0xff);
    cr_assert_eq(cfg_read(I440FX_PAM0, 1), 0x30);
    cfg_writeb(I440FX_PAM0 + 3, 0xff);
    cr_assert_eq(cfg_read(I440FX_PAM0 + 3, 1), 0x33);
    int n = nchanges;
    cfg_writeb(I440FX_PAM0, 0x30);
    cfg_writeb(I440FX_PAM0 + 3, 0x33);
    cfg_writeb(I440FX_PAM0 + 3, 0x77); /* reserved bits only differ */
    cr_assert_eq(nchanges, n, "rewriting the same state must not notify");
}

/* What SeaBIOS's make_bios_writable/readonly do: dwords at 0x58 and 0x5c. */
Test(pam, seabios_sequence)
{
    uint32_t lo = cfg_read(0x58, 4), hi = cfg_read(0x5c, 4);
    cr_assert_eq(lo, 0);
    lo = (lo & 0xff) | 0x30u << 8 | 0x33u << 16 | 0x33u << 24;
    hi = 0x33333333;
    io_write(io, PCI_CONFIG_ADDRESS, PCI_CONFADD_ENABLE | 0x58, 4);
    io_write(io, PCI_CONFIG_DATA, lo, 4);
    io_write(io, PCI_CONFIG_ADDRESS, PCI_CONFADD_ENABLE | 0x5c, 4);
    io_write(io, PCI_CONFIG_DATA, hi, 4);
    cr_assert_eq(nchanges, 2);
    /* everything RAM: one region over the whole shadow */
    const MemRegion *r = as_find(as, 0xc0000);
    cr_assert(r && r->kind == MEM_RAM && r->gpa == 0xc0000 && r->size == PAM_SIZE);
    /* the copy from the high flash, then lock: 0x11 below 0xF0000, 0x10 for 0xF0000 */
    memset(shadow, 0x66, PAM_SIZE);
    io_write(io, PCI_CONFIG_ADDRESS, PCI_CONFADD_ENABLE | 0x58, 4);
    io_write(io, PCI_CONFIG_DATA, 0x11111000, 4);
    io_write(io, PCI_CONFIG_ADDRESS, PCI_CONFADD_ENABLE | 0x5c, 4);
    io_write(io, PCI_CONFIG_DATA, 0x11111111, 4);
    r = as_find(as, 0xc0000);
    cr_assert(r && r->kind == MEM_ROM && r->size == PAM_SIZE && r->host == shadow);
    wr(0xd0000, 1);
    cr_assert_eq(rd(0xd0000), 0x66);
}

Test(pam, reset_goes_back_to_rom)
{
    cfg_writeb(I440FX_PAM0, 0x30);
    cfg_writeb(I440FX_PAM0 + 2, 0x33);
    int n = nchanges;
    i440fx_reset(nb);
    cr_assert_eq(nchanges, n + 1);
    cr_assert_eq(changes[n].gpa, 0xc8000);
    cr_assert_eq(changes[n].gpa + changes[n].len, 0x100000);
    cr_assert_eq(rd(0xf0000), 0xee);
    cr_assert_eq(rd(0xc8000), 0xcc);
    cr_assert_eq(cfg_read(0x58, 4), 0);
    cr_assert_eq(cfg_read(0x5c, 4), 0);
}

Test(pam, smram_stays_closed)
{
    uint8_t vga = 0;
    cfg_writeb(I440FX_SMRAM, I440FX_SMRAM_D_OPEN | I440FX_SMRAM_G_SMRAME | 0x07);
    cr_assert_eq(cfg_read(I440FX_SMRAM, 1), 0x4a, "C_BASE_SEG is fixed at 010b");
    cr_assert_null(as_find(as, 0xa0000), "no SMRAM appears at 0xA0000");
    cr_assert_eq(as_read(as, 0xa0000, &vga, 1), MEM_UNMAPPED);
    /* D_LCK closes D_OPEN and locks the register until reset */
    cfg_writeb(I440FX_SMRAM, I440FX_SMRAM_D_OPEN | I440FX_SMRAM_D_LCK | 0x0a);
    cr_assert_eq(cfg_read(I440FX_SMRAM, 1), 0x1a);
    cfg_writeb(I440FX_SMRAM, I440FX_SMRAM_D_OPEN | 0x02);
    cr_assert_eq(cfg_read(I440FX_SMRAM, 1), 0x1a);
    cfg_writeb(I440FX_SMRAM, 0x3a); /* D_CLS stays writable */
    cr_assert_eq(cfg_read(I440FX_SMRAM, 1), 0x3a);
    i440fx_reset(nb);
    cr_assert_eq(cfg_read(I440FX_SMRAM, 1), I440FX_SMRAM_DEFAULT);
    cfg_writeb(I440FX_SMRAM, I440FX_SMRAM_D_OPEN | 0x02);
    cr_assert_eq(cfg_read(I440FX_SMRAM, 1), 0x42);
}

/* ---- on the PC board --------------------------------------------------------------------- */

static char bios_path[64];

static void write_bios(size_t size)
{
    strcpy(bios_path, "/tmp/dualvm-pam-XXXXXX");
    int fd = mkstemp(bios_path);
    cr_assert_geq(fd, 0);
    uint8_t *img = malloc(size);
    for (size_t i = 0; i < size; i++)
        img[i] = (uint8_t)(i >> 12); /* page number: tells where a byte came from */
    cr_assert_eq(write(fd, img, size), (ssize_t)size);
    close(fd);
    free(img);
}

static Machine *board_with_bios(size_t size)
{
    MachineConfig cfg = {.ram_size = 16 << 20, .serial = "none"};
    char err[256] = "";
    Machine *m = pc_new(&cfg, err, sizeof(err));
    cr_assert_not_null(m, "%s", err);
    write_bios(size);
    cr_assert_eq(load_bios(m->as, bios_path, err, sizeof(err)), 0, "%s", err);
    unlink(bios_path);
    return m;
}

static void board_pam0(Machine *m, uint8_t v)
{
    io_write(m->io, PCI_CONFIG_ADDRESS, PCI_CONFADD_ENABLE | I440FX_PAM0, 4);
    io_write(m->io, PCI_CONFIG_DATA + 1, v, 1);
}

static void count_machine_change(void *opaque, uint64_t gpa, uint64_t len)
{
    on_changed(&nchanges, gpa, len);
}

Test(pam_board, bios_visible_low_and_high_and_notifies_the_engine)
{
    Machine *m = board_with_bios(128 * 1024);
    uint8_t b[16];
    /* the image's last page (page 31 of 128 KiB) at the reset vector and at 0xFFFF0 */
    as_read(m->as, 0xfffffff0, b, 1);
    cr_assert_eq(b[0], 31);
    as_read(m->as, 0xffff0, b, 1);
    cr_assert_eq(b[0], 31);
    as_read(m->as, 0xe0000, b, 1);
    cr_assert_eq(b[0], 0);
    as_read(m->as, 0xfffe0000, b, 1);
    cr_assert_eq(b[0], 0);
    /* below a 128 KiB image the flash is erased */
    as_read(m->as, 0xfffc0000, b, 1);
    cr_assert_eq(b[0], 0xff);
    /* option ROM space reads as QEMU's zeroed pc.rom */
    as_read(m->as, 0xc0000, b, 1);
    cr_assert_eq(b[0], 0);

    nchanges = 0;
    m->mem_changed = count_machine_change;
    board_pam0(m, 0x30);
    cr_assert_eq(nchanges, 1);
    cr_assert_eq(changes[0].gpa, 0xf0000);
    as_read(m->as, 0xffff0, b, 1);
    cr_assert_eq(b[0], 0, "shadow RAM starts empty");
    as_write(m->as, 0xffff0, "\xea", 1);
    cr_assert_eq(m->ram[0xffff0], 0xea, "the shadow is the board's RAM at the same offset");
    as_read(m->as, 0xfffffff0, b, 1);
    cr_assert_eq(b[0], 31, "the flash alias is not affected");
    m->mem_changed = NULL;
    pc_free(m);
}

Test(pam_board, bios_256k)
{
    Machine *m = board_with_bios(256 * 1024);
    uint8_t b;
    as_read(m->as, 0xfffc0000, &b, 1);
    cr_assert_eq(b, 0);
    as_read(m->as, 0xe0000, &b, 1);
    cr_assert_eq(b, 32, "0xE0000 shows the image's last 128 KiB");
    as_read(m->as, 0xfffff, &b, 1);
    cr_assert_eq(b, 63);
    pc_free(m);
}

/* The translator caches host pointers per page: a PAM change must not leave it reading the ROM
 * it cached before. */
Test(pam_board, translator_tlb_follows_pam)
{
    Machine *m = board_with_bios(128 * 1024);
    Vcpu v = {.machine = m, .ops = &accel_dbt_ops};
    cr_assert_eq(accel_dbt_ops.init(&v), 0, "%s", v.error);
    cr_assert_not_null(m->mem_changed, "the engine did not hook mem_changed");
    DbtCpu *env = v.engine;
    env->s.cr0 &= ~(uint64_t)CR0_PG;
    cr_assert_eq(dbt_ld_lin(env, 0xf0000, 1), 16); /* page 16 of the image: fills the TLB */
    cr_assert_eq(dbt_ld_lin(env, 0xf0000, 1), 16);
    board_pam0(m, 0x30);
    cr_assert_eq(dbt_ld_lin(env, 0xf0000, 1), 0, "stale TLB entry still points at the ROM");
    dbt_st_lin(env, 0xf0000, 0x5a, 1);
    cr_assert_eq(m->ram[0xf0000], 0x5a);
    board_pam0(m, 0x10);
    dbt_st_lin(env, 0xf0000, 0x77, 1);
    cr_assert_eq(m->ram[0xf0000], 0x5a, "write-protected shadow written through the TLB");
    cr_assert_eq(dbt_ld_lin(env, 0xf0000, 1), 0x5a);
    board_pam0(m, 0x00);
    cr_assert_eq(dbt_ld_lin(env, 0xf0000, 1), 16);
    accel_dbt_ops.destroy(&v);
    cr_assert_null(m->mem_changed);
    pc_free(m);
}
