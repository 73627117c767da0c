/* fuzz/ops.h: the input formats of the fuzz targets, shared by the targets and by the seed
 * generator (gen_corpus.c), which writes inputs in them. All numbers are little-endian; a
 * stream that ends early reads as zeros.
 *
 * fuzz_devices: [focus u8] [flags u8] then ops until the input ends:
 *   DEV_OP_OUT    port u16, size u8 (1/2/4 by its low 2 bits), value u32
 *   DEV_OP_IN     port u16, size u8
 *   DEV_OP_MWRITE where u32, size u8 (1/2/4/8 by its low 2 bits), value u64
 *   DEV_OP_MREAD  where u32, size u8
 *   DEV_OP_RAM    gpa u32, len u8 (n = len + 1), n bytes: written to guest memory (DMA data)
 *   DEV_OP_TIME   delta u16 (microseconds): virtual time moves on, due timers run
 *   DEV_OP_ACK    the CPU's interrupt acknowledge cycle, if an interrupt is pending
 *   DEV_OP_OUTS   port u16, size u8, count u8, then count values of size bytes (REP OUTS)
 *   DEV_OP_INS    port u16, size u8, count u8 (REP INS)
 *   DEV_OP_CPU    what u8, value u64: WRMSR APIC_BASE, CR8/TPR, FERR#, A20 from the CPU side
 *   DEV_OP_INPUT  what u8, a u8, b u8: a key event or a mouse event from the window
 *   DEV_OP_MISC   what u8: render the screen, system reset, text screen dump
 * With a focus other than FOCUS_PC, a port is taken modulo the focused device's port count
 * and mapped onto its ports, and a "where" modulo the size of its MMIO windows; with FOCUS_PC
 * ports are any of the 65536 and "where" is a guest-physical address below 4 GiB, or with bit
 * 31 clear an offset into one of the board's windows (fuzz_devices.c: pc_windows).
 * flags bit 0: the board without APICs (-machine apic=off).
 *
 * fuzz_dbt: [mode u8] [flags u8] [state: FUZZ_DBT_STATE_BYTES] then code bytes placed at the
 *   entry point (at most FUZZ_DBT_CODE_MAX); the state bytes give the GPRs, EFLAGS and the
 *   rest as fuzz_dbt.c reads them. flags: bit 0 the host-code back end (else the interpreter),
 *   bit 1 no APICs, bit 2 the PICs unmasked (else masked), bit 3 both back ends, compared.
 *
 * fuzz_loaders: [kind u8] [args: 8 bytes] then the file's bytes.
 */
#ifndef DUALVM_FUZZ_OPS_H
#define DUALVM_FUZZ_OPS_H

enum {
    DEV_OP_OUT,
    DEV_OP_IN,
    DEV_OP_MWRITE,
    DEV_OP_MREAD,
    DEV_OP_RAM,
    DEV_OP_TIME,
    DEV_OP_ACK,
    DEV_OP_OUTS,
    DEV_OP_INS,
    DEV_OP_CPU,
    DEV_OP_INPUT,
    DEV_OP_MISC,
    DEV_OP_COUNT
};

/* DEV_OP_CPU what */
enum { CPU_APIC_BASE, CPU_TPR, CPU_FERR, CPU_NMI_TAKE, CPU_WHAT_COUNT };
/* DEV_OP_INPUT what */
enum { INPUT_KEY, INPUT_MOUSE, INPUT_WHAT_COUNT };
/* DEV_OP_MISC what */
enum { MISC_RENDER, MISC_RESET, MISC_TEXT, MISC_WHAT_COUNT };

/* fuzz_devices focus: the whole board, or one device on it */
enum {
    FOCUS_PC,
    FOCUS_PIC,
    FOCUS_PIT,
    FOCUS_KBC,
    FOCUS_RTC,
    FOCUS_SERIAL,
    FOCUS_PCI, /* configuration space, PAM, reset control, port 0x92 */
    FOCUS_FWCFG,
    FOCUS_IDE,
    FOCUS_VGA,
    FOCUS_APIC,
    FOCUS_IOAPIC,
    FOCUS_COUNT
};

/* Where fuzz_devices maps the PCI BARs before the ops run (as firmware would) */
#define FUZZ_IDE_BMDMA_PORT 0xc000
#define FUZZ_VGA_LFB 0xfd000000u
#define FUZZ_VGA_MMIO 0xfebf0000u
#define FUZZ_RAM_SIZE (4u << 20)

/* fuzz_dbt modes */
enum {
    DBT_MODE_REAL,   /* real mode, CS:IP from the state */
    DBT_MODE_PM16,   /* 16-bit protected mode, ring 0 */
    DBT_MODE_PM32,   /* flat 32-bit protected mode, ring 0 */
    DBT_MODE_PAGING, /* 32-bit, paging on (4 KiB page tables, PSE, or PAE by the state) */
    DBT_MODE_RING3,  /* 32-bit ring 3 with a TSS: faults switch stacks */
    DBT_MODE_VM86,   /* virtual-8086 mode under a 32-bit monitor */
    DBT_MODE_RAW,    /* descriptor caches, control registers and tables all from the state */
    DBT_MODE_COUNT
};
#define FUZZ_DBT_STATE_BYTES 128
#define FUZZ_DBT_CODE_MAX 4096

/* fuzz_loaders kinds */
enum {
    LOAD_MULTIBOOT, /* -kernel FILE (ELF or a.out kludge), args: 8 bytes of command line */
    LOAD_FLAT,      /* -device loader,file=FILE,addr=A: args u32 addr, u32 entry */
    LOAD_BIOS,      /* -bios FILE */
    LOAD_DISK,      /* -hda FILE, then the IDE reads it: args pick sectors */
    LOAD_CDROM,     /* -cdrom FILE, then ATAPI reads */
    LOAD_LINUX,     /* -kernel bzImage (when the Linux loader is there) */
    LOAD_INITRD,    /* -initrd FILE with a fixed small bzImage */
    LOAD_KIND_COUNT
};

#endif
