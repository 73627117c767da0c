#include "hw/pc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <glib.h>

#include "cpu/cpuid.h"
#include "hw/acpi.h"
#include "hw/apic.h"
#include "hw/blockdev.h"
#include "hw/chardev.h"
#include "hw/debugcon.h"
#include "hw/debugexit.h"
#include "hw/i8042.h"
#include "hw/i8254.h"
#include "hw/i8259.h"
#include "hw/ide.h"
#include "hw/ioapic.h"
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
    ApicState *apic; /* NULL with cfg.no_apic, and then no IOAPIC either */
    IoapicState *ioapic;
    I8254State *pit;
    RtcState *rtc;
    I8042State *kbc;
    Port92State *port92;
    /* the ACPI PM registers (hw/acpi.h): how a guest powers off */
    AcpiPm *acpi_pm;
    VgaState *vga;
    IdeController *ide; /* PIIX3 function 1: the drives of cfg->ide */
    bool a20_kbc, a20_port92; /* the two A20 sources, ORed as the chipset does */
    IrqLine fpu_irq; /* ISA IRQ 13: the x87's FERR# */
    bool ferr;       /* FERR# asserted */
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

/* The 8259's INTR output: to the CPU directly without an APIC; else to LINT0 (which passes it
 * on in virtual wire mode and tells the CPU itself) and IOAPIC pin 0 (ExtINT), as a chipset
 * wires it. */
static void on_pic_intr(void *opaque, int n, int level)
{
    Machine *m = opaque;
    PcDevices *d = m->devices;
    if (d->apic) {
        if (d->ioapic)
            ioapic_set_irq(d->ioapic, PC_IOAPIC_PIN_EXTINT, level);
        apic_set_lint(d->apic, 0, level);
        return;
    }
    if (m->intr_changed)
        m->intr_changed(m->intr_changed_opaque);
}

/* --- the APICs: the CPU's local APIC at 0xFEE00000, the IOAPIC at 0xFEC00000 --- */

/* An ISA IRQ line: to the 8259 and to the IOAPIC pin of the same number, except IRQ 0 (the
 * PIT), which goes to pin 2 (the interrupt source override a PC's MP/ACPI tables state), and
 * IRQ 2, the cascade, which reaches no pin. */
static void on_isa_irq(void *opaque, int n, int level)
{
    PcDevices *d = ((Machine *)opaque)->devices;
    i8259_set_irq(d->pic, n, level);
    if (d->ioapic && n != I8259_CASCADE_IRQ)
        ioapic_set_irq(d->ioapic, n == 0 ? PC_IOAPIC_PIN_IRQ0 : n, level);
}

static bool apic_pic_pending(void *opaque)
{
    return i8259_intr_pending(((PcDevices *)((Machine *)opaque)->devices)->pic);
}

static int apic_pic_ack(void *opaque)
{
    return i8259_intr_ack(((PcDevices *)((Machine *)opaque)->devices)->pic);
}

static void on_apic_intr_changed(void *opaque)
{
    Machine *m = opaque;
    if (m->intr_changed)
        m->intr_changed(m->intr_changed_opaque);
}

static void on_apic_nmi(void *opaque)
{
    Machine *m = opaque;
    m->nmi_pending = true;
    if (m->intr_changed)
        m->intr_changed(m->intr_changed_opaque);
}

static void on_apic_eoi(void *opaque, uint8_t vector)
{
    PcDevices *d = ((Machine *)opaque)->devices;
    if (d->ioapic)
        ioapic_eoi(d->ioapic, vector);
}

static bool ioapic_to_apic(void *opaque, const ApicMsg *msg)
{
    return apic_deliver(opaque, msg);
}

static bool m_apic_intr_pending(void *apic)
{
    return apic_intr_pending(apic);
}

static int m_apic_intr_ack(void *apic)
{
    return apic_intr_ack(apic);
}

static uint64_t m_apic_base_get(void *apic)
{
    return apic_get_base(apic);
}

static int m_apic_base_set(void *apic, uint64_t val)
{
    return apic_set_base(apic, val);
}

static uint8_t m_apic_tpr_get(void *apic)
{
    return apic_get_tpr(apic);
}

static void m_apic_tpr_set(void *apic, uint8_t tpr)
{
    apic_set_tpr(apic, tpr);
}

/* After the PIC: the local APIC takes over the CPU's interrupt interface. */
static int pc_apic_init(Machine *m, PcDevices *d, char *err, size_t errlen)
{
    ApicBoard board = {
        .pic_pending = apic_pic_pending,
        .pic_ack = apic_pic_ack,
        .intr_changed = on_apic_intr_changed,
        .nmi = on_apic_nmi,
        .eoi = on_apic_eoi,
        .mem_changed = on_pam_changed,
        .opaque = m,
    };
    d->apic = apic_init(m->as, m->clock, PC_APIC_ID, &board, err, errlen);
    if (!d->apic)
        return -1;
    IoapicBoard ib = {ioapic_to_apic, d->apic};
    d->ioapic = ioapic_init(m->as, IOAPIC_DEFAULT_BASE, PC_IOAPIC_ID, &ib, err, errlen);
    if (!d->ioapic)
        return -1;
    m->has_apic = true;
    m->intr_pending = m_apic_intr_pending;
    m->intr_ack = m_apic_intr_ack;
    m->intr_opaque = d->apic;
    m->apic_base_get = m_apic_base_get;
    m->apic_base_set = m_apic_base_set;
    m->apic_tpr_get = m_apic_tpr_get;
    m->apic_tpr_set = m_apic_tpr_set;
    m->apic_opaque = d->apic;
    return 0;
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

static void on_acpi_poweroff(void *opaque)
{
    machine_request_stop(opaque, STOP_POWEROFF, 0, NULL);
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

/* The coprocessor error of a PC: FERR# raises IRQ 13; a write to port 0xF0 clears the
 * interrupt and, while FERR# stays asserted, asserts IGNNE# so the FPU goes on (PIIX: "FERR#
 * and IGNNE#"). IGNNE# goes with FERR#. */
static void on_ferr(void *opaque, int level)
{
    Machine *m = opaque;
    PcDevices *d = m->devices;
    if (level && !d->ferr)
        irq_set(&d->fpu_irq, 1);
    if (!level) {
        if (d->ferr)
            irq_set(&d->fpu_irq, 0);
        m->ignne = false;
    }
    d->ferr = level;
}

static uint32_t port_f0_read(void *dev, uint16_t offset, unsigned size)
{
    return 0xffffffffu;
}

static void port_f0_write(void *dev, uint16_t offset, uint32_t val, unsigned size)
{
    Machine *m = dev;
    PcDevices *d = m->devices;
    irq_set(&d->fpu_irq, 0);
    if (d->ferr)
        m->ignne = true;
}

static const IoOps port_f0_ops = {port_f0_read, port_f0_write};

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
    if (!m->cfg.no_apic && pc_apic_init(m, d, err, errlen) < 0)
        return -1;
    IrqLine isa[PIIX_NUM_ISA_IRQS];
    for (int i = 0; i < PIIX_NUM_ISA_IRQS; i++)
        isa[i] = irq_line(on_isa_irq, m, i);
    if (d->piix3)
        piix3_set_isa_irqs(d->piix3, isa);
    d->fpu_irq = isa[13];
    if (io_register(m->io, 0xf0, 1, &port_f0_ops, m) < 0) {
        snprintf(err, errlen, "cannot register the coprocessor error port 0xf0");
        return -1;
    }
    m->ferr = on_ferr;
    m->ferr_opaque = m;

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
    d->acpi_pm = acpi_pm_init(m->io, ACPI_PM_BASE, m->clock, on_acpi_poweroff, m);
    if (!d->acpi_pm) {
        snprintf(err, errlen, "cannot register the ACPI PM registers at 0x%x", ACPI_PM_BASE);
        return -1;
    }
    /* A20 on at power on, as QEMU's CPU reset leaves it: the keyboard controller's output
     * port has it set, port 0x92 reads 0 */
    d->a20_kbc = i8042_a20(d->kbc);
    d->a20_port92 = port92_a20(d->port92);
    update_a20(m);
    return 0;
}

/* --- storage: the PIIX3's IDE controller, its drives, and what the BIOS learns of them --- */

#define CMOS_DISK_TYPES 0x12      /* hd0 type (high nibble), hd1 (low); 0xf: see 0x19/0x1a */
#define CMOS_HD0_EXT_TYPE 0x19
#define CMOS_HD1_EXT_TYPE 0x1a
#define CMOS_HD0_PARAMS 0x1b      /* 9 bytes: cylinders, heads, write precomp, control, */
#define CMOS_HD1_PARAMS 0x24      /* landing zone, sectors per track */
#define CMOS_DISK_TRANSLATION 0x39 /* 2 bits per IDE position: 0 none, 1 LBA */
#define CMOS_HD_USER_TYPE 47
#define CMOS_BOOT_NET 4
#define CMOS_BOOT_NO_FDSIG 0x01 /* CMOS_BOOTFLAG1 bit 0: skip the floppy boot signature check */

/* A disk's type-47 entry, as QEMU's cmos_init_hd. */
static void cmos_init_hd(RtcState *rtc, uint8_t type_ofs, uint8_t info_ofs, unsigned cyls,
                         unsigned heads, unsigned secs)
{
    rtc_cmos_set(rtc, type_ofs, CMOS_HD_USER_TYPE);
    cmos_set16(rtc, info_ofs, cyls);
    rtc_cmos_set(rtc, info_ofs + 2, (uint8_t)heads);
    rtc_cmos_set(rtc, info_ofs + 3, 0xff); /* write precompensation: none */
    rtc_cmos_set(rtc, info_ofs + 4, 0xff);
    rtc_cmos_set(rtc, info_ofs + 5, (uint8_t)(0xc0 | (heads > 8 ? 0x08 : 0)));
    cmos_set16(rtc, info_ofs + 6, cyls); /* landing zone */
    rtc_cmos_set(rtc, info_ofs + 8, (uint8_t)secs);
}

static void pc_cmos_disks(PcDevices *d)
{
    unsigned cyls, heads, secs;
    uint8_t types = 0, trans = 0;
    if (ide_geometry(d->ide, 0, 0, &cyls, &heads, &secs)) {
        cmos_init_hd(d->rtc, CMOS_HD0_EXT_TYPE, CMOS_HD0_PARAMS, cyls, heads, secs);
        types |= 0xf0;
    }
    if (ide_geometry(d->ide, 0, 1, &cyls, &heads, &secs)) {
        cmos_init_hd(d->rtc, CMOS_HD1_EXT_TYPE, CMOS_HD1_PARAMS, cyls, heads, secs);
        types |= 0x0f;
    }
    rtc_cmos_set(d->rtc, CMOS_DISK_TYPES, types);
    /* the BIOS translation QEMU picks by itself: none while the geometry fits INT 13h's, else
     * LBA (SeaBIOS reads it from here on QEMU's board) */
    for (unsigned i = 0; i < MACHINE_IDE_DRIVES; i++)
        if (ide_geometry(d->ide, i / 2, i % 2, &cyls, &heads, &secs) && cyls > 1024)
            trans |= (uint8_t)(1 << (2 * i));
    rtc_cmos_set(d->rtc, CMOS_DISK_TRANSLATION, trans);
}

/* QEMU's -boot order for its PC: up to three of a/b (floppy), c (disk), d (CD-ROM), n
 * (network) into the CMOS boot flags SeaBIOS reads on QEMU's board. */
static int pc_boot_order(Machine *m, PcDevices *d, char *err, size_t errlen)
{
    const char *order = m->cfg.boot_order;
    if (m->cfg.boot_menu && fw_cfg_add_i16(d->fw_cfg, FW_CFG_BOOT_MENU, 1)) {
        snprintf(err, errlen, "fw_cfg: cannot set the boot menu item");
        return -1;
    }
    if (!order)
        return 0;
    uint8_t dev[3] = {0, 0, 0};
    size_t n = strlen(order);
    if (!n) {
        snprintf(err, errlen, "-boot order=: no boot device given (letters a, b, c, d, n)");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        char c = order[i];
        if (!strchr("abcdn", c)) {
            snprintf(err, errlen,
                     "-boot order=%s: invalid boot device '%c' (a/b floppy, c disk, d CD-ROM, n "
                     "network)",
                     order, c);
            return -1;
        }
        if (strchr(order + i + 1, c)) {
            snprintf(err, errlen, "-boot order=%s: boot device '%c' given twice", order, c);
            return -1;
        }
        if (i < 3)
            dev[i] = c == 'c'   ? CMOS_BOOT_DISK
                     : c == 'd' ? CMOS_BOOT_CDROM
                     : c == 'n' ? CMOS_BOOT_NET
                                : CMOS_BOOT_FLOPPY;
    }
    rtc_cmos_set(d->rtc, CMOS_BOOTFLAG2, (uint8_t)(dev[1] << 4 | dev[0]));
    rtc_cmos_set(d->rtc, CMOS_BOOTFLAG1, (uint8_t)(dev[2] << 4));
    return 0;
}

static int pc_storage_init(Machine *m, PcDevices *d, char *err, size_t errlen)
{
    const IrqLine irqs[IDE_CHANNELS] = {irq_line(on_isa_irq, m, IDE_PRIMARY_IRQ),
                                        irq_line(on_isa_irq, m, IDE_SECONDARY_IRQ)};
    d->ide = ide_new(m->io, m->as, d->piix3, irqs, err, errlen);
    if (!d->ide)
        return -1;
    for (unsigned i = 0; i < MACHINE_IDE_DRIVES; i++) {
        const DriveConfig *dc = &m->cfg.ide[i];
        if (!dc->present)
            continue;
        BlockDev *blk = NULL;
        if (dc->file) {
            unsigned flags = (dc->cdrom ? BLK_CDROM : 0) | (dc->readonly ? BLK_READONLY : 0) |
                             (dc->snapshot ? BLK_SNAPSHOT : 0);
            blk = blk_open(dc->file, flags, err, errlen);
            if (!blk)
                return -1;
        } else if (!dc->cdrom) {
            snprintf(err, errlen, "IDE drive %u: a disk needs an image (file=)", i);
            return -1;
        }
        if (ide_attach(d->ide, i / 2, i % 2, dc->cdrom ? IDE_MEDIA_CDROM : IDE_MEDIA_DISK, blk,
                       err, errlen) < 0)
            return -1;
    }
    pc_cmos_disks(d);
    return pc_boot_order(m, d, err, errlen);
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
    if (pc_storage_init(m, d, err, errlen) < 0)
        goto fail;

    d->com1_chr = chr_open(d->serial_spec, err, errlen);
    if (!d->com1_chr)
        goto fail;
    d->com1 =
        serial_init(m->io, PC_COM1_BASE, irq_line(on_isa_irq, m, PC_COM1_IRQ), d->com1_chr);
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
    if (d->ioapic)
        ioapic_reset(d->ioapic);
    if (d->apic)
        apic_reset(d->apic);
    m->nmi_pending = false;
    if (d->ferr) /* the CPU's reset takes FERR# away, and IGNNE# with it */
        irq_set(&d->fpu_irq, 0);
    d->ferr = false;
    m->ignne = false;
    if (d->pit)
        i8254_reset(d->pit);
    if (d->kbc)
        i8042_reset(d->kbc);
    if (d->port92)
        port92_reset(d->port92);
    if (d->acpi_pm)
        acpi_pm_reset(d->acpi_pm);
    if (d->com1)
        serial_reset(d->com1);
    if (d->vga)
        vga_reset(d->vga);
    if (d->piix3)
        piix3_reset(d->piix3);
    if (d->ide)
        ide_reset(d->ide);
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

struct IdeController *pc_ide(Machine *m)
{
    return ((PcDevices *)m->devices)->ide;
}

VgaState *pc_vga(Machine *m)
{
    return ((PcDevices *)m->devices)->vga;
}

I8042State *pc_i8042(Machine *m)
{
    return ((PcDevices *)m->devices)->kbc;
}

/* --- the MP table (Intel MultiProcessor Specification 1.4, chapter 4) --- */

#define MP_FLOATING_SIG "_MP_"
#define MP_CONFIG_SIG "PCMP"
#define MP_SPEC_REV 4 /* 1.4 */
#define MP_FLOATING_LEN 16
#define MP_CONFIG_HEADER_LEN 44
#define MP_ENTRY_PROCESSOR 0 /* 20 bytes; the others 8 */
#define MP_ENTRY_BUS 1
#define MP_ENTRY_IOAPIC 2
#define MP_ENTRY_IO_INT 3
#define MP_ENTRY_LOCAL_INT 4
#define MP_CPU_ENABLED 0x01
#define MP_CPU_BSP 0x02
#define MP_IOAPIC_ENABLED 0x01
#define MP_INT 0 /* interrupt types */
#define MP_NMI 1
#define MP_EXTINT 3
#define MP_IRQ_CONFORMS 0 /* polarity and trigger as the source bus has them */
#define MP_BUS_PCI 0
#define MP_BUS_ISA 1
#define MP_ALL_APICS 0xff

typedef struct MpWriter {
    uint8_t buf[PC_MPTABLE_SIZE];
    size_t len;
    unsigned entries;
} MpWriter;

static void mp_put(MpWriter *w, const void *p, size_t n)
{
    memcpy(w->buf + w->len, p, n);
    w->len += n;
}

static void mp_u8(MpWriter *w, uint8_t v)
{
    mp_put(w, &v, 1);
}

static void mp_u16(MpWriter *w, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    mp_put(w, b, 2);
}

static void mp_u32(MpWriter *w, uint32_t v)
{
    mp_u16(w, (uint16_t)v);
    mp_u16(w, (uint16_t)(v >> 16));
}

static void mp_set_u16(MpWriter *w, size_t at, uint16_t v)
{
    w->buf[at] = (uint8_t)v;
    w->buf[at + 1] = (uint8_t)(v >> 8);
}

/* The byte that makes [at, at+n) sum to zero goes at at+pos. */
static void mp_checksum(MpWriter *w, size_t at, size_t n, size_t pos)
{
    uint8_t sum = 0;
    w->buf[at + pos] = 0;
    for (size_t i = 0; i < n; i++)
        sum = (uint8_t)(sum + w->buf[at + i]);
    w->buf[at + pos] = (uint8_t)-sum;
}

static void mp_bus(MpWriter *w, uint8_t id, const char type[7])
{
    mp_u8(w, MP_ENTRY_BUS);
    mp_u8(w, id);
    mp_put(w, type, 6);
    w->entries++;
}

static void mp_int(MpWriter *w, uint8_t kind, uint8_t type, uint8_t bus, uint8_t irq,
                   uint8_t dest_id, uint8_t dest_pin)
{
    mp_u8(w, kind);
    mp_u8(w, type);
    mp_u16(w, MP_IRQ_CONFORMS);
    mp_u8(w, bus);
    mp_u8(w, irq);
    mp_u8(w, dest_id);
    mp_u8(w, dest_pin);
    w->entries++;
}

int pc_write_mp_table(Machine *m, char *err, size_t errlen)
{
    PcDevices *d = m->devices;
    if (!d->apic)
        return 0;
    MpWriter *w = g_new0(MpWriter, 1);
    const uint32_t table = PC_MPTABLE_BASE + MP_FLOATING_LEN;

    /* the floating pointer structure, then the configuration table right after it */
    mp_put(w, MP_FLOATING_SIG, 4);
    mp_u32(w, table);
    mp_u8(w, 1); /* length in 16-byte units */
    mp_u8(w, MP_SPEC_REV);
    mp_u8(w, 0); /* checksum */
    mp_u8(w, 0); /* feature 1: a configuration table is present, no default configuration */
    mp_u8(w, 0); /* feature 2: IMCRP clear, virtual wire mode (LINT0 ExtINT) */
    mp_u8(w, 0);
    mp_u8(w, 0);
    mp_u8(w, 0);
    mp_checksum(w, 0, MP_FLOATING_LEN, 10);

    size_t hdr = w->len;
    mp_put(w, MP_CONFIG_SIG, 4);
    mp_u16(w, 0); /* base table length, below */
    mp_u8(w, MP_SPEC_REV);
    mp_u8(w, 0); /* checksum */
    mp_put(w, "DUALVM  ", 8);
    mp_put(w, "PC          ", 12);
    mp_u32(w, 0); /* no OEM table */
    mp_u16(w, 0);
    mp_u16(w, 0); /* entry count, below */
    mp_u32(w, (uint32_t)APIC_DEFAULT_BASE);
    mp_u16(w, 0); /* no extended table */
    mp_u8(w, 0);
    mp_u8(w, 0);

    uint32_t id[4];
    CpuModel model = cpu_model_make(true);
    cpu_cpuid_model(&model, 1, 0, id);
    mp_u8(w, MP_ENTRY_PROCESSOR);
    mp_u8(w, PC_APIC_ID);
    mp_u8(w, (uint8_t)APIC_VERSION_VALUE);
    mp_u8(w, MP_CPU_ENABLED | MP_CPU_BSP);
    mp_u32(w, id[0]); /* signature: family, model, stepping */
    mp_u32(w, id[3]); /* CPUID.1:EDX */
    mp_u32(w, 0);
    mp_u32(w, 0);
    w->entries++;

    mp_bus(w, MP_BUS_PCI, "PCI   ");
    mp_bus(w, MP_BUS_ISA, "ISA   ");

    mp_u8(w, MP_ENTRY_IOAPIC);
    mp_u8(w, PC_IOAPIC_ID);
    mp_u8(w, (uint8_t)IOAPIC_VERSION_VALUE);
    mp_u8(w, MP_IOAPIC_ENABLED);
    mp_u32(w, (uint32_t)IOAPIC_DEFAULT_BASE);
    w->entries++;

    /* the 8259 on pin 0, the ISA IRQs on their pins, IRQ 0 overridden to pin 2 */
    mp_int(w, MP_ENTRY_IO_INT, MP_EXTINT, MP_BUS_ISA, 0, PC_IOAPIC_ID, PC_IOAPIC_PIN_EXTINT);
    for (uint8_t irq = 0; irq < PIIX_NUM_ISA_IRQS; irq++)
        if (irq != I8259_CASCADE_IRQ)
            mp_int(w, MP_ENTRY_IO_INT, MP_INT, MP_BUS_ISA, irq, PC_IOAPIC_ID,
                   irq == 0 ? PC_IOAPIC_PIN_IRQ0 : irq);
    /* virtual wire: the 8259 on LINT0, NMI on LINT1 */
    mp_int(w, MP_ENTRY_LOCAL_INT, MP_EXTINT, MP_BUS_ISA, 0, MP_ALL_APICS, 0);
    mp_int(w, MP_ENTRY_LOCAL_INT, MP_NMI, MP_BUS_ISA, 0, MP_ALL_APICS, 1);

    mp_set_u16(w, hdr + 4, (uint16_t)(w->len - hdr));
    mp_set_u16(w, hdr + 34, (uint16_t)w->entries);
    mp_checksum(w, hdr, w->len - hdr, 7);

    int rc = as_load(m->as, PC_MPTABLE_BASE, w->buf, w->len);
    if (rc)
        snprintf(err, errlen, "cannot write the MP table at 0x%llx: no RAM there",
                 (unsigned long long)PC_MPTABLE_BASE);
    g_free(w);
    return rc ? -1 : 0;
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
        acpi_pm_free(d->acpi_pm);
        i8042_free(d->kbc);
        rtc_free(d->rtc);
        i8254_free(d->pit);
        ioapic_free(d->ioapic);
        apic_free(d->apic);
        i8259_free(d->pic);
        debugcon_free(d->debugcon);
        chr_close(d->debugcon_chr);
        fw_cfg_free(d->fw_cfg);
        ide_free(d->ide); /* before the PIIX3: it unhooks itself */
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

/* --- what firmware would tell a kernel: the e820 map and the ACPI tables --- */

size_t pc_e820(Machine *m, E820Entry *e, size_t max)
{
    const E820Entry map[] = {
        {0, PC_EBDA_BASE, E820_RAM},
        {PC_EBDA_BASE, PC_LOWMEM_END - PC_EBDA_BASE, E820_RESERVED},
        {PC_ACPI_BASE, PC_HIGHMEM_START - PC_ACPI_BASE, E820_RESERVED},
        {PC_HIGHMEM_START, m->ram_size - PC_HIGHMEM_START, E820_RAM},
        {PC_FLASH_BASE, PC_FLASH_SIZE, E820_RESERVED},
    };
    size_t n = sizeof(map) / sizeof(map[0]);
    for (size_t i = 0; i < n && i < max; i++)
        e[i] = map[i];
    return n < max ? n : max;
}

int pc_write_acpi_tables(Machine *m, uint64_t *rsdp, char *err, size_t errlen)
{
    PcDevices *d = m->devices;
    AcpiConfig cfg = {
        .pm_base = ACPI_PM_BASE,
        /* the PCI memory window starts at the next 16 MiB above RAM (BARs need alignment) */
        .pci_hole_start = (uint32_t)((m->ram_size + 0xffffffull) & ~0xffffffull),
        .sci_irq = ACPI_SCI_IRQ,
        .apic = d->apic != NULL,
        .lapic_addr = (uint32_t)APIC_DEFAULT_BASE,
        .ioapic_addr = (uint32_t)IOAPIC_DEFAULT_BASE,
        .apic_id = PC_APIC_ID,
        .ioapic_id = PC_IOAPIC_ID,
    };
    uint8_t buf[ACPI_TABLES_MAX];
    size_t n = acpi_build_tables(buf, sizeof(buf), PC_ACPI_BASE, &cfg);
    if (!n || as_load(m->as, PC_ACPI_BASE, buf, n)) {
        snprintf(err, errlen, "cannot write the ACPI tables at 0x%llx",
                 (unsigned long long)PC_ACPI_BASE);
        return -1;
    }
    *rsdp = PC_ACPI_BASE;
    return 0;
}
