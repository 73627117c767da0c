#include "hw/pc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <glib.h>

#include "hw/chardev.h"
#include "hw/debugexit.h"
#include "hw/serial.h"

/* Everything the board owns beyond the Machine core; hangs off m->devices. */
typedef struct PcDevices {
    char *serial_spec; /* m->cfg.serial points here */
    uint8_t *bios, *bios_high;
    CharDev *com1_chr;
    SerialState *com1;
    DebugExit *debugexit;
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
    d->bios = alloc_guest(PC_BIOS_SIZE);
    d->bios_high = alloc_guest(PC_BIOS_SIZE);
    if (!d->bios || !d->bios_high) {
        snprintf(err, errlen, "cannot allocate the BIOS ROM: %s", strerror(errno));
        goto fail;
    }
    /* Erased flash reads as all ones, so a machine with no firmware loaded executes 0xff bytes
     * rather than zeros that look like valid code. */
    memset(d->bios, 0xff, PC_BIOS_SIZE);
    memset(d->bios_high, 0xff, PC_BIOS_SIZE);

    m->as = as_new();
    m->io = io_bus_new();
    m->clock = clock_new();
    int rc = as_add_ram(m->as, 0, PC_LOWMEM_END, m->ram, "ram-low");
    if (!rc)
        rc = as_add_ram(m->as, PC_HIGHMEM_START, ram_size - PC_HIGHMEM_START,
                        m->ram + PC_HIGHMEM_START, "ram-high");
    if (!rc)
        rc = as_add_rom(m->as, PC_BIOS_BASE, PC_BIOS_SIZE, d->bios, "bios");
    if (!rc)
        rc = as_add_rom(m->as, PC_BIOS_HIGH_BASE, PC_BIOS_SIZE, d->bios_high, "bios-high");
    if (rc) {
        snprintf(err, errlen, "cannot build the memory map: %s", strerror(-rc));
        goto fail;
    }

    d->com1_chr = chr_open(d->serial_spec, err, errlen);
    if (!d->com1_chr)
        goto fail;
    /* IRQ 4 stays unconnected until the PIC exists: serial_set_irq(d->com1, <PIC input 4>). */
    d->com1 = serial_init(m->io, PC_COM1_BASE, irq_line(NULL, NULL, PC_COM1_IRQ), d->com1_chr);
    if (!d->com1) {
        snprintf(err, errlen, "cannot register COM1 at 0x%x", PC_COM1_BASE);
        goto fail;
    }
    d->debugexit = debugexit_init(m->io, PC_DEBUGEXIT_PORT, PC_DEBUGEXIT_SIZE, on_debug_exit, m);
    if (!d->debugexit) {
        snprintf(err, errlen, "cannot register the debug exit port at 0x%x", PC_DEBUGEXIT_PORT);
        goto fail;
    }
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

void pc_free(Machine *m)
{
    if (!m)
        return;
    PcDevices *d = m->devices;
    if (d) {
        serial_free(d->com1);
        debugexit_free(d->debugexit);
        chr_close(d->com1_chr); /* restores the terminal */
    }
    io_bus_free(m->io);
    as_free(m->as);
    clock_free(m->clock);
    if (m->ram)
        munmap(m->ram, m->ram_size);
    if (d) {
        if (d->bios)
            munmap(d->bios, PC_BIOS_SIZE);
        if (d->bios_high)
            munmap(d->bios_high, PC_BIOS_SIZE);
        g_free(d->serial_spec);
        g_free(d);
    }
    g_free(m);
}
