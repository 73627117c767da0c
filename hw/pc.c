#include "hw/pc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <glib.h>

#include "hw/chardev.h"
#include "hw/debugcon.h"
#include "hw/debugexit.h"
#include "hw/i8042.h"
#include "hw/i8254.h"
#include "hw/i8259.h"
#include "hw/mc146818.h"
#include "hw/port92.h"
#include "hw/serial.h"
#include "hw/vga.h"

/* Everything the board owns beyond the Machine core; hangs off m->devices. */
typedef struct PcDevices {
    char *serial_spec;  /* m->cfg.serial points here */
    uint8_t *bios_high; /* the BIOS flash, PC_FLASH_SIZE below 4 GiB */
    CharDev *com1_chr;
    SerialState *com1;
    DebugExit *debugexit;
    uint8_t *pc_rom; /* what the PCI side shows at 0xC0000-0xDFFFF */
    PciBus *pci;
    I440fx *i440fx;
    Piix3 *piix3;
    FwCfg *fw_cfg;
    char *debugcon_spec;
    CharDev *debugcon_chr;
    DebugCon *debugcon;
    I8259State *pic;
    I8254State *pit;
    RtcState *rtc;
    I8042State *kbc;
    Port92State *port92;
    VgaState *vga;
    bool a20_kbc, a20_port92; /* the two A20 sources, ORed as the chipset does */
} PcDevices;

/* Anonymous and page aligned, as KVM memory slots need; MAP_NORESERVE so a large -m costs only
 * what the guest touches. */
static uint8_t *alloc_guest(uint64_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void on_debug_exit(void *opaque, int status)
{
    machine_request_stop(opaque, STOP_EXIT_DEVICE, status, NULL);
}

static void on_pam_changed(void *opaque, uint64_t gpa, uint64_t len)
{
    machine_mem_changed(opaque, gpa, len);
}

static void on_rcr_reset(void *opaque, bool hard)
{
    machine_request_reset(opaque);
}

/* QEMU's fw_cfg items for its PC board, the ones SeaBIOS reads. */
static int pc_fw_cfg_init(Machine *m, FwCfg *fw)
{
    static const uint8_t uuid[16];
    /* As QEMU: one RAM entry from 0 (the firmware carves out the VGA/BIOS hole itself; the
     * RAM behind 0xC0000-0xFFFFF is the PAM shadow). */
    E820Entry e820[] = {{0, m->ram_size, E820_RAM}};
    uint32_t no_legacy_reservations = 0;
    uint8_t fail_wait[4] = {0xff, 0xff, 0xff, 0xff}; /* -1: no retry, QEMU's default */
    int rc = fw_cfg_add_bytes(fw, FW_CFG_UUID, uuid, sizeof(uuid));
    if (!rc)
        rc = fw_cfg_add_i64(fw, FW_CFG_RAM_SIZE, m->ram_size);
    if (!rc)
        rc = fw_cfg_add_i16(fw, FW_CFG_NOGRAPHIC, 0);
    if (!rc)
        rc = fw_cfg_add_i16(fw, FW_CFG_NB_CPUS, 1);
    if (!rc)
        rc = fw_cfg_add_i16(fw, FW_CFG_MAX_CPUS, 1);
    if (!rc)
        rc = fw_cfg_add_i16(fw, FW_CFG_BOOT_MENU, 0); /* SeaBIOS's "etc/show-boot-menu" */
    if (!rc)
        rc = fw_cfg_add_i32(fw, FW_CFG_IRQ0_OVERRIDE, 1);
    if (!rc)
        rc = fw_cfg_add_bytes(fw, FW_CFG_E820_TABLE, &no_legacy_reservations, 4);
    if (!rc)
        rc = fw_cfg_add_e820(fw, e820, 1);
    if (!rc)
        rc = fw_cfg_add_file(fw, "bootorder", NULL, 0);
    if (!rc)
        rc = fw_cfg_add_file(fw, "etc/boot-fail-wait", fail_wait, sizeof(fail_wait));
    return rc;
}

/* PCI host (i440FX with the PAM area), PIIX3, fw_cfg and the debug console. */
static int pc_chipset_init(Machine *m, PcDevices *d, char *err, size_t errlen)
{
    d->pci = pci_bus_new(m->io, err, errlen);
    if (!d->pci)
        return -1;
    d->i440fx =
        i440fx_new(d->pci, m->as, m->ram + PAM_BASE, d->pc_rom,
                   d->bios_high + PC_FLASH_SIZE - PC_ISA_BIOS_SIZE, on_pam_changed, m, err, errlen);
    if (!d->i440fx)
        return -1;
    d->piix3 = piix3_new(d->pci, PC_PIIX3_SLOT, err, errlen);
    if (!d->piix3)
        return -1;
    piix3_set_reset_handler(d->piix3, on_rcr_reset, m); /* PIRQ -> PIC: pc_legacy_init */
    d->fw_cfg = fw_cfg_new(m->io, m->as, err, errlen);
    if (!d->fw_cfg)
        return -1;
    int rc = pc_fw_cfg_init(m, d->fw_cfg);
    if (rc) {
        snprintf(err, errlen, "fw_cfg: cannot add the board's items: %s", strerror(-rc));
        return -1;
    }
    if (m->cfg.debugcon && strcmp(m->cfg.debugcon, "none")) {
        d->debugcon_spec = g_strdup(m->cfg.debugcon);
        m->cfg.debugcon = d->debugcon_spec;
        char why[256];
        d->debugcon_chr = chr_open(d->debugcon_spec, why, sizeof(why));
        if (!d->debugcon_chr) {
            snprintf(err, errlen, "debugcon: %s", why);
            return -1;
        }
        d->debugcon = debugcon_init(m->io, DEBUGCON_PORT_SEABIOS, d->debugcon_chr);
        if (!d->debugcon || debugcon_add_port(d->debugcon, m->io, DEBUGCON_PORT_BOCHS) < 0) {
            snprintf(err, errlen, "debugcon: cannot claim ports 0x%x and 0x%x",
                     DEBUGCON_PORT_SEABIOS, DEBUGCON_PORT_BOCHS);
            return -1;
        }
    } else {
        m->cfg.debugcon = "none";
    }
    return 0;
}

/* --- the legacy ISA devices: PIC, PIT, RTC/CMOS, keyboard controller, port 0x92 --- */

static bool pic_intr_pending(void *pic)
{
    return i8259_intr_pending(pic);
}

static int pic_intr_ack(void *pic)
{
    return i8259_intr_ack(pic);
}

static void on_pic_intr(void *opaque, int n, int level)
{
    Machine *m = opaque;
    if (m->intr_changed)
        m->intr_changed(m->intr_changed_opaque);
}

static void update_a20(Machine *m)
{
    PcDevices *d = m->devices;
    machine_set_a20(m, d->a20_kbc || d->a20_port92);
}

static void on_kbc_a20(void *opaque, bool enabled)
{
    Machine *m = opaque;
    ((PcDevices *)m->devices)->a20_kbc = enabled;
    update_a20(m);
}

static void on_port92_a20(void *opaque, bool enabled)
{
    Machine *m = opaque;
    ((PcDevices *)m->devices)->a20_port92 = enabled;
    update_a20(m);
}

static void on_legacy_reset(void *opaque)
{
    machine_request_reset(opaque);
}

/* The CMOS bytes a PC BIOS reads, as QEMU's pc_cmos_init fills them for SeaBIOS (which sizes
 * RAM from 0x34/0x35, else 0x30/0x31, and memory above 4 GiB from 0x5b-0x5d). */
#define CMOS_SHUTDOWN_STATUS 0x0f
#define CMOS_FLOPPY_TYPES 0x10
#define CMOS_EQUIPMENT 0x14
#define CMOS_BASE_MEM_LO 0x15 /* KiB below 1 MiB */
#define CMOS_EXT_MEM_LO 0x17  /* KiB from 1 MiB, up to 65535 */
#define CMOS_EXT_MEM2_LO 0x30 /* the same, as POST found it */
#define CMOS_MEM16M_LO 0x34   /* 64 KiB units from 16 MiB to 4 GiB, up to 65535 */
#define CMOS_BOOTFLAG1 0x38   /* boot device 3 (high nibble), floppy signature check off */
#define CMOS_BOOTFLAG2 0x3d   /* boot devices 2 and 1 */
#define CMOS_MEM4G_LO 0x5b    /* 64 KiB units above 4 GiB, 3 bytes */
#define CMOS_SMP_COUNT 0x5f   /* CPUs - 1 */
#define CMOS_EQUIP_FPU 0x02
#define CMOS_EQUIP_PS2_MOUSE 0x04
#define CMOS_BOOT_FLOPPY 1
#define CMOS_BOOT_DISK 2
#define CMOS_BOOT_CDROM 3

static void cmos_set16(RtcState *rtc, uint8_t idx, uint64_t v)
{
    if (v > 0xffff)
        v = 0xffff;
    rtc_cmos_set(rtc, idx, (uint8_t)v);
    rtc_cmos_set(rtc, idx + 1, (uint8_t)(v >> 8));
}

static void pc_cmos_init(Machine *m, RtcState *rtc)
{
    uint64_t ram = m->ram_size, above_4g = 0;
    cmos_set16(rtc, CMOS_BASE_MEM_LO, PC_LOWMEM_END >> 10);
    cmos_set16(rtc, CMOS_EXT_MEM_LO, ram > (1u << 20) ? (ram - (1u << 20)) >> 10 : 0);
    cmos_set16(rtc, CMOS_EXT_MEM2_LO, ram > (1u << 20) ? (ram - (1u << 20)) >> 10 : 0);
    cmos_set16(rtc, CMOS_MEM16M_LO, ram > (16u << 20) ? (ram - (16u << 20)) >> 16 : 0);
    rtc_cmos_set(rtc, CMOS_MEM4G_LO, (uint8_t)(above_4g >> 16));
    rtc_cmos_set(rtc, CMOS_MEM4G_LO + 1, (uint8_t)(above_4g >> 24));
    rtc_cmos_set(rtc, CMOS_MEM4G_LO + 2, (uint8_t)(above_4g >> 32));
    rtc_cmos_set(rtc, CMOS_SMP_COUNT, 0);
    rtc_cmos_set(rtc, CMOS_FLOPPY_TYPES, 0);                                  /* no drives */
    rtc_cmos_set(rtc, CMOS_EQUIPMENT, CMOS_EQUIP_FPU | CMOS_EQUIP_PS2_MOUSE); /* VGA, no fd */
    rtc_cmos_set(rtc, CMOS_SHUTDOWN_STATUS, 0);                               /* cold boot */
    /* QEMU's default boot order "cad": disk, CD-ROM, floppy */
    rtc_cmos_set(rtc, CMOS_BOOTFLAG2, CMOS_BOOT_CDROM << 4 | CMOS_BOOT_DISK);
    rtc_cmos_set(rtc, CMOS_BOOTFLAG1, CMOS_BOOT_FLOPPY << 4);
}

static int pc_legacy_init(Machine *m, PcDevices *d, char *err, size_t errlen)
{
    d->pic = i8259_init(m->io, irq_line(on_pic_intr, m, 0));
    if (!d->pic) {
        snprintf(err, errlen, "cannot register the interrupt controllers at 0x%x/0x%x/0x%x",
                 I8259_MASTER_BASE, I8259_SLAVE_BASE, I8259_ELCR_BASE);
        return -1;
    }
    m->intr_pending = pic_intr_pending;
    m->intr_ack = pic_intr_ack;
    m->intr_opaque = d->pic;
    IrqLine isa[PIIX_NUM_ISA_IRQS];
    for (int i = 0; i < PIIX_NUM_ISA_IRQS; i++)
        isa[i] = irq_line(i8259_set_irq, d->pic, i);
    if (d->piix3)
        piix3_set_isa_irqs(d->piix3, isa);

    d->pit = i8254_init(m->io, I8254_BASE, m->clock, isa[0]);
    if (!d->pit || i8254_init_port61(d->pit, m->io, I8254_PORT61) < 0) {
        snprintf(err, errlen, "cannot register the PIT at 0x%x and port 0x%x", I8254_BASE,
                 I8254_PORT61);
        return -1;
    }
    d->rtc = rtc_init(m->io, RTC_BASE, m->clock, isa[RTC_IRQ]);
    if (!d->rtc) {
        snprintf(err, errlen, "cannot register the RTC at 0x%x", RTC_BASE);
        return -1;
    }
    pc_cmos_init(m, d->rtc);

    I8042Board kbc_board = {on_kbc_a20, on_legacy_reset, m};
    d->kbc = i8042_init(m->io, isa[I8042_KBD_IRQ], isa[I8042_AUX_IRQ], &kbc_board);
    Port92Board p92_board = {on_port92_a20, on_legacy_reset, m};
    d->port92 = port92_init(m->io, PORT92_PORT, &p92_board);
    if (!d->kbc || !d->port92) {
        snprintf(err, errlen, "cannot register the keyboard controller or port 0x%x", PORT92_PORT);
        return -1;
    }
    /* A20 on at power on, as QEMU's CPU reset leaves it: the keyboard controller's output
     * port has it set, port 0x92 reads 0 */
    d->a20_kbc = i8042_a20(d->kbc);
    d->a20_port92 = port92_a20(d->port92);
    update_a20(m);
    return 0;
}

Machine *pc_new(const MachineConfig *cfg, char *err, size_t errlen)
{
    uint64_t ram_size = cfg->ram_size;
    if (ram_size < PC_RAM_MIN) {
        snprintf(err, errlen, "RAM size %llu KiB is too small: a PC needs at least 2 MiB",
                 (unsigned long long)(ram_size >> 10));
        return NULL;
    }
    if (ram_size > PC_RAM_MAX) {
        snprintf(err, errlen,
                 "RAM size %llu MiB is not supported yet: above 3584 MiB the RAM must be split "
                 "around the PCI hole",
                 (unsigned long long)(ram_size >> 20));
        return NULL;
    }
    ram_size = (ram_size + 0xfff) & ~0xfffull;

    Machine *m = g_new0(Machine, 1);
    PcDevices *d = g_new0(PcDevices, 1);
    m->devices = d;
    m->cfg = *cfg;
    d->serial_spec = g_strdup(cfg->serial ? cfg->serial : "none");
    m->cfg.serial = d->serial_spec;
    m->cfg.ram_size = ram_size;

    m->ram = alloc_guest(ram_size);
    if (!m->ram) {
        snprintf(err, errlen, "cannot allocate %llu MiB of guest RAM: %s",
                 (unsigned long long)(ram_size >> 20), strerror(errno));
        goto fail;
    }
    m->ram_size = ram_size;
    d->bios_high = alloc_guest(PC_FLASH_SIZE);
    d->pc_rom = alloc_guest(PC_OPTION_ROM_SIZE);
    if (!d->bios_high || !d->pc_rom) {
        snprintf(err, errlen, "cannot allocate the BIOS ROM: %s", strerror(errno));
        goto fail;
    }
    /* Erased flash reads as all ones, so a machine with no firmware loaded executes 0xff bytes
     * rather than zeros that look like valid code. */
    memset(d->bios_high, 0xff, PC_FLASH_SIZE);

    m->as = as_new();
    m->io = io_bus_new();
    m->clock = clock_new();
    int rc = as_add_ram(m->as, 0, PC_LOWMEM_END, m->ram, "ram-low");
    if (!rc)
        rc = as_add_ram(m->as, PC_HIGHMEM_START, ram_size - PC_HIGHMEM_START,
                        m->ram + PC_HIGHMEM_START, "ram-high");
    if (!rc) /* 0xC0000-0xFFFFF: pc_chipset_init's i440FX maps it */
        rc = as_add_rom(m->as, PC_FLASH_BASE, PC_FLASH_SIZE, d->bios_high, "bios");
    if (rc) {
        snprintf(err, errlen, "cannot build the memory map: %s", strerror(-rc));
        goto fail;
    }
    if (pc_chipset_init(m, d, err, errlen) < 0)
        goto fail;
    if (pc_legacy_init(m, d, err, errlen) < 0)
        goto fail;

    d->com1_chr = chr_open(d->serial_spec, err, errlen);
    if (!d->com1_chr)
        goto fail;
    d->com1 =
        serial_init(m->io, PC_COM1_BASE, irq_line(i8259_set_irq, d->pic, PC_COM1_IRQ), d->com1_chr);
    if (!d->com1) {
        snprintf(err, errlen, "cannot register COM1 at 0x%x", PC_COM1_BASE);
        goto fail;
    }
    d->debugexit = debugexit_init(m->io, PC_DEBUGEXIT_PORT, PC_DEBUGEXIT_SIZE, on_debug_exit, m);
    if (!d->debugexit) {
        snprintf(err, errlen, "cannot register the debug exit port at 0x%x", PC_DEBUGEXIT_PORT);
        goto fail;
    }
    /* VGA: legacy ports and 0xA0000 window, and QEMU's stdvga PCI function (BAR0 = the linear
     * framebuffer; BAR moves reach the engine like PAM changes do) */
    d->vga = vga_init(m->as, m->io, err, errlen);
    if (!d->vga || vga_pci_init(d->vga, d->pci, PCI_DEVFN(PC_VGA_SLOT, 0), on_pam_changed, m,
                                err, errlen) < 0)
        goto fail;
    m->poll = pc_poll;
    m->reset = pc_reset;
    return m;

fail:
    pc_free(m);
    return NULL;
}

void pc_poll(Machine *m)
{
    PcDevices *d = m->devices;
    chr_poll(d->com1_chr); /* even when COM1 has no room: Ctrl-A x must still get through */
    serial_poll(d->com1);
    if (chr_quit_requested(d->com1_chr))
        machine_request_stop(m, STOP_SIGNAL, 0, "terminated by Ctrl-A x");
}

/* A system reset (not power-on): the chipset and devices go back to their reset state; RAM,
 * the CMOS/RTC (battery backed, with the shutdown status byte a BIOS reads) and the firmware
 * flash keep their contents, as on a PC. The CPU is the run loop's to reset. */
void pc_reset(Machine *m)
{
    PcDevices *d = m->devices;
    if (d->pic)
        i8259_reset(d->pic);
    if (d->pit)
        i8254_reset(d->pit);
    if (d->kbc)
        i8042_reset(d->kbc);
    if (d->port92)
        port92_reset(d->port92);
    if (d->com1)
        serial_reset(d->com1);
    if (d->vga)
        vga_reset(d->vga);
    if (d->piix3)
        piix3_reset(d->piix3);
    if (d->i440fx)
        i440fx_reset(d->i440fx); /* PAM back to ROM: tells the engine through mem_changed */
    d->a20_kbc = true;
    d->a20_port92 = false;
    update_a20(m);
}

FwCfg *pc_fw_cfg(Machine *m)
{
    return ((PcDevices *)m->devices)->fw_cfg;
}

PciBus *pc_pci_bus(Machine *m)
{
    return ((PcDevices *)m->devices)->pci;
}

I440fx *pc_i440fx(Machine *m)
{
    return ((PcDevices *)m->devices)->i440fx;
}

Piix3 *pc_piix3(Machine *m)
{
    return ((PcDevices *)m->devices)->piix3;
}

VgaState *pc_vga(Machine *m)
{
    return ((PcDevices *)m->devices)->vga;
}

void pc_free(Machine *m)
{
    if (!m)
        return;
    PcDevices *d = m->devices;
    if (d) {
        serial_free(d->com1);
        debugexit_free(d->debugexit);
        port92_free(d->port92);
        i8042_free(d->kbc);
        rtc_free(d->rtc);
        i8254_free(d->pit);
        i8259_free(d->pic);
        debugcon_free(d->debugcon);
        chr_close(d->debugcon_chr);
        fw_cfg_free(d->fw_cfg);
        piix3_free(d->piix3);
        i440fx_free(d->i440fx);
        vga_free(d->vga); /* before the bus: it unhooks its BARs */
        pci_bus_free(d->pci);
        chr_close(d->com1_chr); /* restores the terminal */
    }
    io_bus_free(m->io);
    as_free(m->as);
    clock_free(m->clock);
    if (m->ram)
        munmap(m->ram, m->ram_size);
    if (d) {
        if (d->bios_high)
            munmap(d->bios_high, PC_FLASH_SIZE);
        if (d->pc_rom)
            munmap(d->pc_rom, PC_OPTION_ROM_SIZE);
        g_free(d->debugcon_spec);
        g_free(d->serial_spec);
        g_free(d);
    }
    g_free(m);
}
