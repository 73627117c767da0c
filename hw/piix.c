#include "hw/piix.h"

#include <stdio.h>
#include <string.h>

#include <glib.h>

struct Piix3 {
    PciBus *bus;
    PciDevice *isa, *ide;
    IrqLine isa_irq[PIIX_NUM_ISA_IRQS];
    int pirq_count[PIIX_NUM_PIRQS]; /* asserted INTx lines on each PIRQ */
    int driven[PIIX_NUM_ISA_IRQS];  /* the level last driven onto each ISA IRQ */
    uint8_t rcr;
    PiixResetFn reset_fn;
    void *reset_opaque;
    PiixIdeHooks ide_hooks;
    void *ide_opaque;
};

/* ---- PIRQ routing ----------------------------------------------------------------------- */

/* IRQs the PIRQRC registers may name (datasheet: 0-2, 8 and 13 are reserved). */
static bool irq_routable(unsigned irq)
{
    return irq >= 3 && irq <= 15 && irq != 8 && irq != 13;
}

int piix3_pirq_irq(Piix3 *p, unsigned pirq)
{
    if (pirq >= PIIX_NUM_PIRQS)
        return -1;
    uint8_t r = pci_config(p->isa)[PIIX_PIRQRC + pirq];
    unsigned irq = r & PIIX_PIRQRC_IRQ_MASK;
    if ((r & PIIX_PIRQRC_IRQROUTEEN) || !irq_routable(irq))
        return -1;
    return (int)irq;
}

static void update_isa_irqs(Piix3 *p)
{
    int level[PIIX_NUM_ISA_IRQS] = {0};
    for (unsigned n = 0; n < PIIX_NUM_PIRQS; n++) {
        int irq = piix3_pirq_irq(p, n);
        if (irq >= 0 && p->pirq_count[n] > 0)
            level[irq] = 1;
    }
    for (unsigned i = 0; i < PIIX_NUM_ISA_IRQS; i++) {
        if (level[i] != p->driven[i]) {
            p->driven[i] = level[i];
            irq_set(&p->isa_irq[i], level[i]);
        }
    }
}

static void route_intx(void *opaque, unsigned devfn, unsigned pin, int level)
{
    Piix3 *p = opaque;
    unsigned pirq = (pin + PCI_SLOT(devfn) + PIIX_NUM_PIRQS - 1) % PIIX_NUM_PIRQS;
    p->pirq_count[pirq] += level ? 1 : -1;
    if (p->pirq_count[pirq] < 0)
        p->pirq_count[pirq] = 0;
    update_isa_irqs(p);
}

void piix3_set_isa_irqs(Piix3 *p, const IrqLine lines[PIIX_NUM_ISA_IRQS])
{
    memcpy(p->isa_irq, lines, sizeof(p->isa_irq));
    for (unsigned i = 0; i < PIIX_NUM_ISA_IRQS; i++)
        if (p->driven[i])
            irq_set(&p->isa_irq[i], 1);
}

/* ---- function 0 ------------------------------------------------------------------------- */

static void isa_config_write(void *opaque, PciDevice *d, unsigned off, uint32_t val, unsigned size)
{
    Piix3 *p = opaque;
    if (off < PIIX_PIRQRC + PIIX_NUM_PIRQS && off + size > PIIX_PIRQRC)
        update_isa_irqs(p);
}

static void isa_reset_config(Piix3 *p)
{
    uint8_t *c = pci_config(p->isa);
    /* Power-on values from the datasheet (the ones QEMU's PIIX3 resets to). */
    c[PCI_COMMAND] = PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
    c[PCI_COMMAND + 1] = 0;
    c[PCI_STATUS] = 0;
    c[PCI_STATUS + 1] = PCI_STATUS_DEVSEL_MEDIUM >> 8;
    c[PIIX_IORT] = 0x4d;
    c[PIIX_XBCS] = 0x03;
    c[PIIX_XBCS + 1] = 0x00;
    for (unsigned i = 0; i < PIIX_NUM_PIRQS; i++)
        c[PIIX_PIRQRC + i] = PIIX_PIRQRC_IRQROUTEEN;
    c[PIIX_TOM] = 0x02;
    c[PIIX_MBIRQ0] = 0x80;
    c[PIIX_MBIRQ1] = 0x80;
    c[PIIX_MBDMA] = 0x0c;
    c[PIIX_MBDMA + 1] = 0x0c;
    c[PIIX_PCSC] = 0x02;
    c[PIIX_PCSC + 1] = 0x00;
    c[PIIX_APICBASE] = 0x00;
    c[PIIX_DLC] = 0x00;
    c[PIIX_SMICNTL] = 0x08;
    memset(c + PIIX_SMIEN, 0, 2);
    memset(c + PIIX_SEE, 0, 4);
    c[PIIX_FTMR] = 0x0f;
    memset(c + PIIX_SMIREQ, 0, 2);
    c[PIIX_CTLTMR] = 0x00;
    c[PIIX_CTHTMR] = 0x00;
    uint8_t *wm = pci_wmask(p->isa);
    for (unsigned i = 0; i < PIIX_NUM_PIRQS; i++)
        wm[PIIX_PIRQRC + i] = PIIX_PIRQRC_WMASK;
}

/* ---- RCR at 0xcf9 (offset 1 of the host bridge's 0xcf8-0xcfb) --------------------------- */

static uint32_t rcr_read(void *dev, uint16_t off, unsigned size)
{
    Piix3 *p = dev;
    if (off == PIIX_RCR_PORT - PCI_CONFIG_ADDRESS && size == 1)
        return p->rcr;
    return 0xffffffffu;
}

static void rcr_write(void *dev, uint16_t off, uint32_t val, unsigned size)
{
    Piix3 *p = dev;
    if (off != PIIX_RCR_PORT - PCI_CONFIG_ADDRESS || size != 1)
        return;
    bool start = (val & PIIX_RCR_RCPU) && !(p->rcr & PIIX_RCR_RCPU);
    p->rcr = (uint8_t)(val & (PIIX_RCR_SRST | PIIX_RCR_RCPU));
    if (start) {
        bool hard = val & PIIX_RCR_SRST;
        p->rcr &= (uint8_t)~PIIX_RCR_RCPU; /* the reset clears the trigger */
        if (p->reset_fn)
            p->reset_fn(p->reset_opaque, hard);
    }
}

static const IoOps rcr_ops = {rcr_read, rcr_write};

void piix3_set_reset_handler(Piix3 *p, PiixResetFn fn, void *opaque)
{
    p->reset_fn = fn;
    p->reset_opaque = opaque;
}

/* ---- function 1 ------------------------------------------------------------------------- */

static void ide_config_write(void *opaque, PciDevice *d, unsigned off, uint32_t val, unsigned size)
{
    Piix3 *p = opaque;
    if (p->ide_hooks.config_write)
        p->ide_hooks.config_write(p->ide_opaque, d, off, val, size);
}

static void ide_bmdma_map(void *opaque, PciDevice *d, int bar, uint64_t old_addr, uint64_t new_addr)
{
    Piix3 *p = opaque;
    if (p->ide_hooks.bmdma_map)
        p->ide_hooks.bmdma_map(p->ide_opaque, d, bar, old_addr, new_addr);
}

static void ide_reset_config(Piix3 *p)
{
    uint8_t *c = pci_config(p->ide);
    c[PCI_COMMAND] = 0;
    c[PCI_COMMAND + 1] = 0;
    c[PCI_STATUS] = 0;
    c[PCI_STATUS + 1] = PCI_STATUS_DEVSEL_MEDIUM >> 8;
    memset(c + PIIX_IDE_IDETIM_PRI, 0, 5);
    c[PCI_BASE_ADDRESS_0 + 4 * PIIX_IDE_BMDMA_BAR] = PCI_BASE_ADDRESS_SPACE_IO;
    memset(c + PCI_BASE_ADDRESS_0 + 4 * PIIX_IDE_BMDMA_BAR + 1, 0, 3);
}

void piix3_ide_set_hooks(Piix3 *p, const PiixIdeHooks *hooks, void *opaque)
{
    if (hooks)
        p->ide_hooks = *hooks;
    else
        memset(&p->ide_hooks, 0, sizeof(p->ide_hooks));
    p->ide_opaque = opaque;
}

/* ---- the whole chip --------------------------------------------------------------------- */

void piix3_reset(Piix3 *p)
{
    isa_reset_config(p);
    ide_reset_config(p);
    /* BAR decode may have changed (IDE command register cleared) */
    pci_config_write(p->ide, PCI_COMMAND, 0, 2);
    p->rcr = 0;
    update_isa_irqs(p);
}

Piix3 *piix3_new(PciBus *bus, unsigned slot, char *err, size_t errlen)
{
    Piix3 *p = g_new0(Piix3, 1);
    p->bus = bus;
    p->isa = pci_register(bus, PCI_DEVFN(slot, 0), "piix3-isa", PIIX3_VENDOR_ID,
                          PIIX3_ISA_DEVICE_ID, 0, PIIX3_ISA_CLASS);
    if (p->isa)
        p->ide = pci_register(bus, PCI_DEVFN(slot, 1), "piix3-ide", PIIX3_VENDOR_ID,
                              PIIX3_IDE_DEVICE_ID, 0, PIIX3_IDE_CLASS);
    if (!p->isa || !p->ide) {
        snprintf(err, errlen, "piix3: PCI 00:%02x.%d is taken", slot & 0x1f, p->isa ? 1 : 0);
        pci_unregister(p->isa);
        g_free(p);
        return NULL;
    }
    pci_set_config_write(p->isa, isa_config_write, p);
    pci_set_config_write(p->ide, ide_config_write, p);
    pci_register_bar(p->ide, PIIX_IDE_BMDMA_BAR, PIIX_IDE_BMDMA_SIZE, PCI_BAR_IO, ide_bmdma_map, p);
    isa_reset_config(p);
    ide_reset_config(p);
    pci_bus_set_irq_router(bus, route_intx, p);
    pci_bus_set_passthrough(bus, &rcr_ops, p);
    return p;
}

void piix3_free(Piix3 *p)
{
    if (!p)
        return;
    pci_bus_set_irq_router(p->bus, NULL, NULL);
    pci_bus_set_passthrough(p->bus, NULL, NULL);
    pci_set_config_write(p->isa, NULL, NULL);
    pci_set_config_write(p->ide, NULL, NULL);
    pci_set_bar_map(p->ide, PIIX_IDE_BMDMA_BAR, NULL, NULL);
    g_free(p);
}

PciDevice *piix3_isa(Piix3 *p)
{
    return p->isa;
}

PciDevice *piix3_ide(Piix3 *p)
{
    return p->ide;
}
