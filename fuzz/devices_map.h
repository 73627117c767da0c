/* fuzz/devices_map.h: how fuzz_devices maps the port numbers and addresses of its input onto
 * the focused device (fuzz/ops.h), and the inverse, for the seed generator. */
#ifndef DUALVM_FUZZ_DEVICES_MAP_H
#define DUALVM_FUZZ_DEVICES_MAP_H

#include <stdint.h>

#include "fuzz/ops.h"
#include "hw/apic.h"
#include "hw/fw_cfg.h"
#include "hw/i440fx.h"
#include "hw/i8042.h"
#include "hw/i8254.h"
#include "hw/i8259.h"
#include "hw/ide.h"
#include "hw/ioapic.h"
#include "hw/mc146818.h"
#include "hw/pc.h"
#include "hw/pci.h"
#include "hw/piix.h"
#include "hw/port92.h"
#include "hw/vga.h"

typedef struct PortRange {
    uint16_t port, count;
} PortRange;

typedef struct Window {
    uint32_t gpa, size;
} Window;

typedef struct Focus {
    const char *name;
    PortRange ports[6];
    Window mmio[3];
} Focus;

static const Focus fuzz_focus[FOCUS_COUNT] = {
    [FOCUS_PC] = {"pc", {{0}}, {{0}}},
    [FOCUS_PIC] = {"pic",
                   {{I8259_MASTER_BASE, 2}, {I8259_SLAVE_BASE, 2}, {I8259_ELCR_BASE, 2}},
                   {{0}}},
    [FOCUS_PIT] = {"pit", {{I8254_BASE, 4}, {I8254_PORT61, 1}}, {{0}}},
    [FOCUS_KBC] = {"kbc", {{I8042_DATA_PORT, 1}, {I8042_CMD_PORT, 1}}, {{0}}},
    [FOCUS_RTC] = {"rtc", {{RTC_BASE, 2}}, {{0}}},
    [FOCUS_SERIAL] = {"serial", {{PC_COM1_BASE, 8}}, {{0}}},
    [FOCUS_PCI] = {"pci",
                   {{PCI_CONFIG_ADDRESS, 8}, {PORT92_PORT, 1}, {0xf0, 1}},
                   {{PAM_BASE, PAM_SIZE}, {PC_FLASH_BASE, PC_FLASH_SIZE}}},
    [FOCUS_FWCFG] = {"fw_cfg", {{FW_CFG_PORT_SEL, 2}, {FW_CFG_PORT_DMA, 8}}, {{0}}},
    [FOCUS_IDE] = {"ide",
                   {{IDE_PRIMARY_BASE, 8},
                    {IDE_PRIMARY_CTL, 1},
                    {IDE_SECONDARY_BASE, 8},
                    {IDE_SECONDARY_CTL, 1},
                    {FUZZ_IDE_BMDMA_PORT, PIIX_IDE_BMDMA_SIZE}},
                   {{0}}},
    [FOCUS_VGA] = {"vga",
                   {{VGA_PORT_BASE, VGA_PORT_COUNT}, {VBE_DISPI_IOPORT_INDEX, 3}},
                   {{VGA_WINDOW_BASE, VGA_WINDOW_SIZE},
                    {FUZZ_VGA_LFB, VGA_VRAM_SIZE},
                    {FUZZ_VGA_MMIO, VGA_PCI_MMIO_SIZE}}},
    [FOCUS_APIC] = {"apic", {{0}}, {{APIC_DEFAULT_BASE, APIC_MMIO_SIZE}}},
    [FOCUS_IOAPIC] = {"ioapic", {{0}}, {{IOAPIC_DEFAULT_BASE, IOAPIC_MMIO_SIZE}}},
};

/* FOCUS_PC: "where" with bit 31 clear is an offset into one of these (the interesting places);
 * with it set, a raw address. */
static const Window fuzz_pc_windows[] = {
    {0, 0x1000},                        /* low RAM: IVT, BDA */
    {FUZZ_RAM_SIZE - 0x1000, 0x2000},   /* the end of RAM and what follows */
    {VGA_WINDOW_BASE, VGA_WINDOW_SIZE}, /* legacy VGA */
    {PAM_BASE, PAM_SIZE},               /* option ROMs / BIOS shadow (PAM) */
    {FUZZ_VGA_LFB, VGA_VRAM_SIZE},      /* linear framebuffer */
    {FUZZ_VGA_MMIO, VGA_PCI_MMIO_SIZE}, /* stdvga MMIO BAR */
    {IOAPIC_DEFAULT_BASE, IOAPIC_MMIO_SIZE},
    {APIC_DEFAULT_BASE, APIC_MMIO_SIZE},
    {PC_FLASH_BASE, PC_FLASH_SIZE}, /* BIOS flash (ROM) */
};

#define FUZZ_PC_WINDOWS (sizeof(fuzz_pc_windows) / sizeof(fuzz_pc_windows[0]))

static inline uint16_t fuzz_pick_port(unsigned f, uint16_t raw)
{
    const Focus *fc = &fuzz_focus[f];
    unsigned total = 0;
    for (int i = 0; i < 6 && fc->ports[i].count; i++)
        total += fc->ports[i].count;
    if (!total) /* an MMIO-only device: any port, to see it stays out of the way */
        return raw;
    unsigned k = raw % total;
    for (int i = 0;; i++) {
        if (k < fc->ports[i].count)
            return (uint16_t)(fc->ports[i].port + k);
        k -= fc->ports[i].count;
    }
}

static inline uint64_t fuzz_pick_addr(unsigned f, uint32_t raw)
{
    if (f == FOCUS_PC) {
        if (raw & 0x80000000u)
            return raw;
        const Window *w = &fuzz_pc_windows[(raw >> 24) % FUZZ_PC_WINDOWS];
        return w->gpa + (raw & 0xffffff) % w->size;
    }
    const Focus *fc = &fuzz_focus[f];
    uint64_t total = 0;
    for (int i = 0; i < 3 && fc->mmio[i].size; i++)
        total += fc->mmio[i].size;
    if (!total) /* a port-only device: low RAM, where DMA lands */
        return raw % FUZZ_RAM_SIZE;
    uint64_t k = raw % total;
    for (int i = 0;; i++) {
        if (k < fc->mmio[i].size)
            return fc->mmio[i].gpa + k;
        k -= fc->mmio[i].size;
    }
}

/* The inverses, for writing inputs: the raw value that picks port (or gpa) under focus f. */
static inline uint16_t fuzz_port_raw(unsigned f, uint16_t port)
{
    const Focus *fc = &fuzz_focus[f];
    unsigned k = 0;
    for (int i = 0; i < 6 && fc->ports[i].count; i++) {
        if (port >= fc->ports[i].port && port < fc->ports[i].port + fc->ports[i].count)
            return (uint16_t)(k + port - fc->ports[i].port);
        k += fc->ports[i].count;
    }
    return port;
}

static inline uint32_t fuzz_addr_raw(unsigned f, uint32_t gpa)
{
    if (f == FOCUS_PC) {
        if (gpa & 0x80000000u)
            return gpa;
        for (unsigned i = 0; i < FUZZ_PC_WINDOWS; i++)
            if (gpa >= fuzz_pc_windows[i].gpa &&
                gpa - fuzz_pc_windows[i].gpa < fuzz_pc_windows[i].size)
                return i << 24 | (gpa - fuzz_pc_windows[i].gpa);
        return gpa;
    }
    const Focus *fc = &fuzz_focus[f];
    uint32_t k = 0;
    for (int i = 0; i < 3 && fc->mmio[i].size; i++) {
        if (gpa >= fc->mmio[i].gpa && gpa - fc->mmio[i].gpa < fc->mmio[i].size)
            return k + (gpa - fc->mmio[i].gpa);
        k += fc->mmio[i].size;
    }
    return gpa;
}

#endif
