/* fuzz/fuzz_devices.c: device register sequences, as a guest (or a rogue guest) would issue
 * them, against one device of the PC at a time or against the whole board.
 *
 * Each input builds a fresh PC (4 MiB of RAM, IDE disks and CD-ROMs on in-memory images, COM1
 * and the debug console to nowhere, virtual time under the input's control), maps the PCI BARs
 * as firmware would, then turns the rest of the input into port and MMIO reads and writes,
 * guest RAM contents for DMA (PRD tables, fw_cfg descriptors, data), the passing of time
 * (timers), interrupt acknowledges and the few calls the CPU side makes (APIC base, TPR, FERR#),
 * window input and screen rendering. The format is in fuzz/ops.h.
 *
 * Whatever the input, nothing may crash, trip a sanitizer, leak, or touch host memory outside
 * what the devices own: the guest is hostile by assumption.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz/devices_map.h"
#include "fuzz/fuzz.h"
#include "fuzz/ops.h"
#include "ui/render.h"

#define MAX_OPS 20000
#define MAX_RENDERS 4

static int disk_fd[3] = {-1, -1, -1};
static char disk_path[3][64];
static uint8_t *disk_image[3];
static const size_t disk_size[3] = {256 * 1024, 64 * 1024, 32 * 2048};

/* Images with recognisable contents: each sector starts with its number. */
static uint8_t *make_image(size_t size, unsigned sector)
{
    uint8_t *p = calloc(1, size);
    for (size_t s = 0; s * sector < size; s++) {
        uint8_t *q = p + s * sector;
        memcpy(q, &s, sizeof(uint32_t));
        for (unsigned i = 4; i < sector; i++)
            q[i] = (uint8_t)(s * 7 + i);
    }
    return p;
}

/* FUZZ_TRACE=1 in the environment: each access and what it read, on stderr (to check that a
 * seed does what it means to). */
static bool trace;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    trace = getenv("FUZZ_TRACE") != NULL;
    static const char *names[3] = {"hda", "hdb", "cdrom"};
    for (int i = 0; i < 3; i++) {
        disk_image[i] = make_image(disk_size[i], i == 2 ? 2048 : 512);
        disk_fd[i] =
            fz_memfile(names[i], disk_image[i], disk_size[i], disk_path[i], sizeof(disk_path[i]));
        if (disk_fd[i] < 0) {
            perror("fuzz_devices: memfd_create");
            exit(1);
        }
    }
    return 0;
}

static void pci_write(Machine *m, unsigned devfn, unsigned reg, uint32_t val, unsigned size)
{
    io_write(m->io, PCI_CONFIG_ADDRESS, PCI_CONFADD_ENABLE | devfn << 8 | (reg & 0xfc), 4);
    io_write(m->io, (uint16_t)(PCI_CONFIG_DATA + (reg & 3)), val, size);
}

/* What firmware leaves before a guest runs: the IDE function decoding with its bus master at
 * FUZZ_IDE_BMDMA_PORT, the VGA's BARs mapped and decoding. */
static void map_bars(Machine *m)
{
    unsigned ide = PCI_DEVFN(PC_PIIX3_SLOT, 1), vga = PCI_DEVFN(PC_VGA_SLOT, 0);
    pci_write(m, ide, 0x10 + 4 * PIIX_IDE_BMDMA_BAR, FUZZ_IDE_BMDMA_PORT | 1, 4);
    pci_write(m, ide, 0x40, PIIX_IDE_IDETIM_IDE, 2);
    pci_write(m, ide, 0x42, PIIX_IDE_IDETIM_IDE, 2);
    pci_write(m, ide, 0x04, PCI_COMMAND_IO | PCI_COMMAND_MASTER, 2);
    pci_write(m, vga, 0x10 + 4 * VGA_PCI_LFB_BAR, FUZZ_VGA_LFB, 4);
    pci_write(m, vga, 0x10 + 4 * VGA_PCI_MMIO_BAR, FUZZ_VGA_MMIO, 4);
    pci_write(m, vga, 0x04, PCI_COMMAND_IO | PCI_COMMAND_MEMORY, 2);
}

static unsigned io_size(uint8_t b)
{
    static const unsigned sz[4] = {1, 2, 4, 1};
    return sz[b & 3];
}

static unsigned mem_size(uint8_t b)
{
    return 1u << (b & 3);
}

/* What the run loop does between engine slices when the machine asks for something. */
static void handle_stop(Machine *m)
{
    if (!m->stop)
        return;
    if (trace)
        fprintf(stderr, "stop %d: %s\n", m->stop, m->stop_msg);
    if (m->stop == STOP_RESET && m->reset)
        m->reset(m);
    m->stop = STOP_NONE;
    m->stop_msg[0] = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FuzzIn in = {data, size};
    unsigned f = fz_u8(&in) % FOCUS_COUNT;
    uint8_t flags = fz_u8(&in);

    /* fresh images each time: what one input wrote must not change the next one's run */
    for (int i = 0; i < 3; i++)
        if (fz_memfile_reset(disk_fd[i], disk_image[i], disk_size[i]) < 0)
            abort();
    MachineConfig cfg = {.ram_size = FUZZ_RAM_SIZE, .serial = "none", .debugcon = "none"};
    cfg.no_apic = flags & 1;
    cfg.ide[0] = (DriveConfig){.file = disk_path[0], .present = true};
    cfg.ide[1] = (DriveConfig){.file = disk_path[1], .present = true, .snapshot = true};
    cfg.ide[2] = (DriveConfig){.file = disk_path[2], .present = true, .cdrom = true};
    cfg.ide[3] = (DriveConfig){.present = true, .cdrom = true}; /* no disc */
    char err[256];
    Machine *m = pc_new(&cfg, err, sizeof(err));
    if (!m) {
        fprintf(stderr, "fuzz_devices: pc_new: %s\n", err);
        abort();
    }
    /* virtual time from here on is the input's; the reset restarts the devices' counters at
     * this moment, so that an input runs the same every time */
    int64_t now = 1000000000;
    clock_set_test_time(m->clock, now);
    m->reset(m);
    clock_run_timers(m->clock);
    map_bars(m);

    Surface *surf = NULL;
    int renders = 0;
    for (int ops = 0; in.n && ops < MAX_OPS; ops++) {
        uint8_t op = fz_u8(&in) % DEV_OP_COUNT;
        switch (op) {
        case DEV_OP_OUT: {
            uint16_t port = fuzz_pick_port(f, fz_u16(&in));
            unsigned sz = io_size(fz_u8(&in));
            uint32_t v = fz_u32(&in);
            if (trace)
                fprintf(stderr, "out%u %04x <- %x\n", sz, port, v);
            io_write(m->io, port, v, sz);
            break;
        }
        case DEV_OP_IN: {
            uint16_t port = fuzz_pick_port(f, fz_u16(&in));
            unsigned sz = io_size(fz_u8(&in));
            uint32_t v = io_read(m->io, port, sz);
            if (trace)
                fprintf(stderr, "in%u  %04x -> %x\n", sz, port, v);
            break;
        }
        case DEV_OP_MWRITE: {
            uint64_t gpa = fuzz_pick_addr(f, fz_u32(&in));
            unsigned sz = mem_size(fz_u8(&in));
            uint64_t v = fz_u64(&in);
            if (trace)
                fprintf(stderr, "mw%u %08llx <- %llx\n", sz, (unsigned long long)gpa,
                        (unsigned long long)v);
            as_write(m->as, gpa, &v, sz);
            break;
        }
        case DEV_OP_MREAD: {
            uint64_t gpa = fuzz_pick_addr(f, fz_u32(&in));
            uint64_t v = 0;
            unsigned sz = mem_size(fz_u8(&in));
            as_read(m->as, gpa, &v, sz);
            if (trace)
                fprintf(stderr, "mr%u %08llx -> %llx\n", sz, (unsigned long long)gpa,
                        (unsigned long long)v);
            break;
        }
        case DEV_OP_RAM: {
            uint32_t gpa = fz_u32(&in);
            uint8_t buf[256];
            size_t n = (size_t)fz_u8(&in) + 1;
            fz_bytes(&in, buf, n);
            as_write(m->as, gpa, buf, n);
            break;
        }
        case DEV_OP_TIME:
            now += (int64_t)fz_u16(&in) * 1000;
            clock_set_test_time(m->clock, now);
            clock_run_timers(m->clock);
            break;
        case DEV_OP_ACK:
            if (m->intr_pending && m->intr_pending(m->intr_opaque)) {
                int vec = m->intr_ack(m->intr_opaque);
                if (trace)
                    fprintf(stderr, "ack -> vector %d\n", vec);
            }
            break;
        case DEV_OP_OUTS:
        case DEV_OP_INS: {
            uint16_t port = fuzz_pick_port(f, fz_u16(&in));
            unsigned sz = io_size(fz_u8(&in));
            unsigned count = fz_u8(&in);
            for (unsigned i = 0; i < count; i++) {
                if (op == DEV_OP_INS) {
                    uint32_t v = io_read(m->io, port, sz);
                    if (trace)
                        fprintf(stderr, "%s%x", i ? " " : "ins: ", v);
                    continue;
                }
                uint32_t v = 0;
                fz_bytes(&in, &v, sz);
                io_write(m->io, port, v, sz);
            }
            if (trace)
                fprintf(stderr, "%s%s %u x %u at %04x\n", op == DEV_OP_INS && count ? "\n" : "",
                        op == DEV_OP_INS ? "ins" : "outs", count, sz, port);
            break;
        }
        case DEV_OP_CPU: {
            uint8_t what = fz_u8(&in) % CPU_WHAT_COUNT;
            uint64_t v = fz_u64(&in);
            if (what == CPU_APIC_BASE && m->apic_base_set) {
                m->apic_base_set(m->apic_opaque, v);
                m->apic_base_get(m->apic_opaque);
            } else if (what == CPU_TPR && m->apic_tpr_set) {
                m->apic_tpr_set(m->apic_opaque, (uint8_t)v);
                m->apic_tpr_get(m->apic_opaque);
            } else if (what == CPU_FERR && m->ferr) {
                m->ferr(m->ferr_opaque, (int)(v & 1));
            } else if (what == CPU_NMI_TAKE) {
                m->nmi_pending = false;
            }
            break;
        }
        case DEV_OP_INPUT: {
            uint8_t what = fz_u8(&in) % INPUT_WHAT_COUNT;
            uint8_t a = fz_u8(&in), b = fz_u8(&in);
            I8042State *kbc = pc_i8042(m);
            if (what == INPUT_KEY)
                i8042_key_event(kbc, (b & 0x80 ? I8042_KEY_E0 : 0) | a, b & 1);
            else
                i8042_mouse_event(kbc, (int8_t)a * 4, (int8_t)b * 4, (a ^ b) % 3 - 1,
                                  (a >> 3) & 0x1f);
            break;
        }
        case DEV_OP_MISC: {
            uint8_t what = fz_u8(&in) % MISC_WHAT_COUNT;
            if (what == MISC_RESET) {
                machine_request_reset(m);
            } else if (what == MISC_TEXT) {
                TextScreen ts;
                if (render_text_screen(pc_vga(m), &ts) == 0)
                    text_screen_free(&ts);
            } else if (renders < MAX_RENDERS) {
                /* what the window or a screenshot draws, from the registers the guest set */
                renders++;
                if (!surf)
                    surf = surface_new(1, 1);
                vga_render(pc_vga(m), surf, clock_ns(m->clock));
            }
            break;
        }
        }
        handle_stop(m);
    }
    surface_free(surf);
    pc_free(m);
    return 0;
}
