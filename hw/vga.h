/* hw/vga.h: a standard IBM VGA with the Bochs VBE "dispi" extension (what QEMU's -vga std and
 * SeaBIOS's vgabios-stdvga drive).
 *
 * I/O: 0x3b0-0x3df (misc output, sequencer, CRTC at 0x3b4/5 or 0x3d4/5 as misc output bit 0
 * says, graphics controller, attribute controller, DAC, input status), and 0x1ce/0x1cf (dispi
 * index/data; 0x1d0 is a second data port, as QEMU has it, so a 32-bit OUT to 0x1ce sets index
 * and data at once). 16- and 32-bit port accesses are byte cycles on consecutive ports.
 *
 * Memory: 16 MiB of video RAM. The VGA sees its first 256 KiB as four 64 KiB planes; plane p,
 * offset o is byte 4*o + p (so a latch load is one 32-bit read). The legacy window
 * 0xA0000-0xBFFFF is an MMIO region that runs every access through the sequencer and graphics
 * controller (chain-4, odd/even, write modes 0-3, read modes 0-1, latches), or, with VBE on at
 * 8 bpp or more, straight into video RAM at BANK * 64 KiB. The whole video RAM is also a linear
 * framebuffer mapped as guest RAM (vga_map_lfb; on the PCI bus, BAR0 of the QEMU stdvga function
 * 1234:1111 that vga_pci_init() registers), so guest writes to it cost nothing and are not
 * seen by the device (see vga_generation()).
 *
 * Addressing follows the hardware, not a compacted model: in chain-4 mode CPU address a selects
 * plane a & 3 at offset (a & ~3) | (a >> 14 & 3), in odd/even mode plane a & 1 (plus the read
 * map's bit 1 for reads) at offset a & ~1 (bit 0 from a's bit 16), and the CRTC's word and
 * doubleword modes rotate its address counter the same way (vga_crtc_address()), so data
 * written in one addressing mode is where the other modes expect it.
 *
 * Power-on state: the registers of BIOS mode 3 (80x25 colour text at 0xB8000, the EGA palette
 * in the DAC) so that a guest started without a BIOS that writes to 0xB8000 is displayed; the
 * planes are zero, so there is no font until someone loads one into plane 2 (the VGA BIOS, the
 * guest, or vga_load_font()).
 */
#ifndef DUALVM_HW_VGA_H
#define DUALVM_HW_VGA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hw/ioport.h"
#include "hw/memory.h"
#include "hw/pci.h"

#define VGA_PORT_BASE 0x3b0
#define VGA_PORT_COUNT 0x30
#define VGA_WINDOW_BASE 0xa0000ull
#define VGA_WINDOW_SIZE 0x20000ull
#define VGA_PLANE_SIZE 0x10000u
#define VGA_VRAM_SIZE (16u << 20)

/* I/O ports */
#define VGA_CRT_IM 0x3b4 /* CRTC index, monochrome (misc output bit 0 clear) */
#define VGA_CRT_DM 0x3b5
#define VGA_IS1_RM 0x3ba /* input status 1 (read) / feature control (write), mono */
#define VGA_ATT_W 0x3c0  /* attribute index and data (write), index (read) */
#define VGA_ATT_R 0x3c1  /* attribute data (read) */
#define VGA_MIS_W 0x3c2  /* misc output (write) / input status 0 (read) */
#define VGA_VIDEO_ENABLE 0x3c3
#define VGA_SEQ_I 0x3c4
#define VGA_SEQ_D 0x3c5
#define VGA_PEL_MSK 0x3c6 /* DAC pixel mask */
#define VGA_PEL_IR 0x3c7  /* DAC read index (write) / DAC state (read) */
#define VGA_PEL_IW 0x3c8  /* DAC write index */
#define VGA_PEL_D 0x3c9   /* DAC data */
#define VGA_FTC_R 0x3ca   /* feature control (read) */
#define VGA_MIS_R 0x3cc   /* misc output (read) */
#define VGA_GFX_I 0x3ce
#define VGA_GFX_D 0x3cf
#define VGA_CRT_IC 0x3d4 /* CRTC index, colour */
#define VGA_CRT_DC 0x3d5
#define VGA_IS1_RC 0x3da

/* Misc output register */
#define VGA_MIS_COLOR 0x01      /* I/O address select: CRTC and IS1 at 0x3dx, else 0x3bx */
#define VGA_MIS_ENB_MEM 0x02    /* RAM enable: the CPU reaches video memory */
#define VGA_MIS_CLOCK_MASK 0x0c /* 0: 25.175 MHz, 1: 28.322 MHz */
#define VGA_MIS_PAGE 0x20       /* odd/even page select (not modelled) */

/* Input status 1 */
#define VGA_IS1_DD 0x01       /* display disabled (in a retrace) */
#define VGA_IS1_VRETRACE 0x08 /* vertical retrace */

/* Sequencer (SR) */
enum {
    VGA_SEQ_RESET = 0x00,
    VGA_SEQ_CLOCK_MODE = 0x01,
    VGA_SEQ_PLANE_WRITE = 0x02, /* map mask */
    VGA_SEQ_CHARACTER_MAP = 0x03,
    VGA_SEQ_MEMORY_MODE = 0x04,
    VGA_SEQ_C = 0x05,
};
#define VGA_SR01_CHAR_CLK_8DOTS 0x01 /* else 9 dots per character clock */
#define VGA_SR01_SHIFT_LOAD 0x04
#define VGA_SR01_DOT_CLK_DIV2 0x08 /* 40-column text, 320-pixel planar modes */
#define VGA_SR01_SHIFT_4 0x10
#define VGA_SR01_SCREEN_OFF 0x20
#define VGA_SR04_EXT_MEM 0x02
#define VGA_SR04_SEQ_MODE 0x04 /* odd/even addressing off for CPU writes */
#define VGA_SR04_CHN_4M 0x08   /* chain 4 */

/* Graphics controller (GR) */
enum {
    VGA_GFX_SR_VALUE = 0x00, /* set/reset */
    VGA_GFX_SR_ENABLE = 0x01,
    VGA_GFX_COMPARE_VALUE = 0x02,
    VGA_GFX_DATA_ROTATE = 0x03, /* bits 0-2 rotate count, 3-4 logical function */
    VGA_GFX_PLANE_READ = 0x04,  /* read map select */
    VGA_GFX_MODE = 0x05,
    VGA_GFX_MISC = 0x06,
    VGA_GFX_COMPARE_MASK = 0x07, /* colour don't care */
    VGA_GFX_BIT_MASK = 0x08,
    VGA_GFX_C = 0x09,
};
#define VGA_GR05_WRITE_MODE 0x03
#define VGA_GR05_READ_MODE 0x08        /* read mode 1: colour compare */
#define VGA_GR05_HOST_ODD_EVEN 0x10    /* odd/even addressing for CPU reads */
#define VGA_GR05_SHIFT_INTERLEAVE 0x20 /* CGA 4-colour pixel packing */
#define VGA_GR05_SHIFT_256 0x40        /* 256-colour pixel packing */
#define VGA_GR06_GRAPHICS_MODE 0x01
#define VGA_GR06_CHAIN_ODD_EVEN 0x02
#define VGA_GR06_MEMORY_MAP_MASK 0x0c /* 0: A0000 128K, 1: A0000 64K, 2: B0000 32K, 3: B8000 */

/* CRT controller (CR) */
enum {
    VGA_CRTC_H_TOTAL = 0x00,
    VGA_CRTC_H_DISP = 0x01,
    VGA_CRTC_H_BLANK_START = 0x02,
    VGA_CRTC_H_BLANK_END = 0x03,
    VGA_CRTC_H_SYNC_START = 0x04,
    VGA_CRTC_H_SYNC_END = 0x05,
    VGA_CRTC_V_TOTAL = 0x06,
    VGA_CRTC_OVERFLOW = 0x07,
    VGA_CRTC_PRESET_ROW = 0x08,
    VGA_CRTC_MAX_SCAN = 0x09,
    VGA_CRTC_CURSOR_START = 0x0a,
    VGA_CRTC_CURSOR_END = 0x0b,
    VGA_CRTC_START_HI = 0x0c,
    VGA_CRTC_START_LO = 0x0d,
    VGA_CRTC_CURSOR_HI = 0x0e,
    VGA_CRTC_CURSOR_LO = 0x0f,
    VGA_CRTC_V_SYNC_START = 0x10,
    VGA_CRTC_V_SYNC_END = 0x11,
    VGA_CRTC_V_DISP_END = 0x12,
    VGA_CRTC_OFFSET = 0x13,
    VGA_CRTC_UNDERLINE = 0x14,
    VGA_CRTC_V_BLANK_START = 0x15,
    VGA_CRTC_V_BLANK_END = 0x16,
    VGA_CRTC_MODE = 0x17,
    VGA_CRTC_LINE_COMPARE = 0x18,
    VGA_CRTC_C = 0x19,
};
#define VGA_CR07_VT8 0x01  /* vertical total bit 8 */
#define VGA_CR07_VDE8 0x02 /* vertical display end bit 8 */
#define VGA_CR07_LC8 0x10  /* line compare bit 8 (writable even with CR0-7 locked) */
#define VGA_CR07_VT9 0x20
#define VGA_CR07_VDE9 0x40
#define VGA_CR09_MAX_SCAN_MASK 0x1f
#define VGA_CR09_LC9 0x40
#define VGA_CR09_DOUBLE_SCAN 0x80
#define VGA_CR0A_CURSOR_OFF 0x20
#define VGA_CR0B_SKEW_MASK 0x60
#define VGA_CR11_LOCK_CR0_CR7 0x80
#define VGA_CR14_COUNT_BY_4 0x20
#define VGA_CR14_DWORD 0x40
#define VGA_CR17_CMS 0x01 /* clear: address bit 13 = row scan bit 0 (CGA interleave) */
#define VGA_CR17_SRS 0x02 /* clear: address bit 14 = row scan bit 1 (Hercules) */
#define VGA_CR17_HRS 0x04 /* vertical timing / 2 (not modelled) */
#define VGA_CR17_COUNT_BY_2 0x08
#define VGA_CR17_ADDR_WRAP 0x20 /* word mode: address bit 0 = counter bit 15, else bit 13 */
#define VGA_CR17_BYTE_MODE 0x40 /* else word mode */
#define VGA_CR17_SYNC_ENABLE 0x80

/* Attribute controller (AR) */
enum {
    VGA_ATC_PALETTE0 = 0x00, /* ... 0x0f */
    VGA_ATC_MODE = 0x10,
    VGA_ATC_OVERSCAN = 0x11,
    VGA_ATC_PLANE_ENABLE = 0x12,
    VGA_ATC_PEL = 0x13, /* horizontal pixel panning */
    VGA_ATC_COLOR_PAGE = 0x14,
    VGA_ATC_C = 0x15,
};
#define VGA_AR_INDEX_PAS 0x20    /* palette address source: clear = CPU owns palette, blank */
#define VGA_AR10_GRAPHICS 0x01   /* (informational: GR06 decides text/graphics) */
#define VGA_AR10_MONO 0x02       /* monochrome emulation */
#define VGA_AR10_LINE_GFX 0x04   /* 9th dot = 8th dot for characters 0xC0-0xDF */
#define VGA_AR10_BLINK 0x08      /* attribute bit 7 blinks, else it is background intensity */
#define VGA_AR10_PAN_COMPAT 0x20 /* no panning below the line compare split */
#define VGA_AR10_8BIT 0x40       /* 256-colour mode */
#define VGA_AR10_P54S 0x80       /* colour select bits 0-1 give DAC index bits 4-5 */

/* Bochs VBE dispi interface */
#define VBE_DISPI_IOPORT_INDEX 0x1ce
#define VBE_DISPI_IOPORT_DATA 0x1cf
enum {
    VBE_DISPI_INDEX_ID = 0x0,
    VBE_DISPI_INDEX_XRES = 0x1,
    VBE_DISPI_INDEX_YRES = 0x2,
    VBE_DISPI_INDEX_BPP = 0x3,
    VBE_DISPI_INDEX_ENABLE = 0x4,
    VBE_DISPI_INDEX_BANK = 0x5,
    VBE_DISPI_INDEX_VIRT_WIDTH = 0x6,
    VBE_DISPI_INDEX_VIRT_HEIGHT = 0x7,
    VBE_DISPI_INDEX_X_OFFSET = 0x8,
    VBE_DISPI_INDEX_Y_OFFSET = 0x9,
    VBE_DISPI_INDEX_VIDEO_MEMORY_64K = 0xa,
    VBE_DISPI_INDEX_NB = 0xb,
};
#define VBE_DISPI_ID0 0xb0c0
#define VBE_DISPI_ID5 0xb0c5 /* the newest: what we power on with */
#define VBE_DISPI_DISABLED 0x00
#define VBE_DISPI_ENABLED 0x01
#define VBE_DISPI_GETCAPS 0x02 /* XRES/YRES/BPP read the maxima while set */
#define VBE_DISPI_8BIT_DAC 0x20
#define VBE_DISPI_LFB_ENABLED 0x40
#define VBE_DISPI_NOCLEARMEM 0x80
#define VBE_DISPI_MAX_XRES 2560
#define VBE_DISPI_MAX_YRES 1600
#define VBE_DISPI_MAX_BPP 32
#define VBE_DISPI_BANK_SIZE 0x10000u
/* Where SeaBIOS's vgabios looks for the framebuffer when there is no PCI VGA to ask. */
#define VBE_DISPI_LFB_PHYSICAL_ADDRESS 0xe0000000ull

/* As QEMU's -vga std: what SeaBIOS's vgabios-stdvga.bin looks for on the PCI bus. */
#define VGA_PCI_VENDOR_ID 0x1234
#define VGA_PCI_DEVICE_ID 0x1111
#define VGA_PCI_REVISION 0x02
#define VGA_PCI_CLASS 0x030000 /* display, VGA compatible */
#define VGA_PCI_LFB_BAR 0
#define VGA_PCI_MMIO_BAR 2
#define VGA_PCI_MMIO_SIZE 0x1000u
/* QEMU's layout of the MMIO BAR (what Linux's bochs-drm uses when it is there) */
#define VGA_MMIO_VGA_PORTS 0x400 /* ports 0x3c0-0x3df, byte access */
#define VGA_MMIO_DISPI 0x500     /* dispi register i at 0x500 + 2 * i, 16-bit */
#define VGA_MMIO_QEXT 0x600      /* QEMU extended registers */
#define VGA_MMIO_QEXT_SIZE 0x600 /* bytes of extended registers: 8 */
#define VGA_MMIO_QEXT_BYTEORDER 0x604
#define VGA_QEXT_LITTLE_ENDIAN 0x1e1e1e1eu
#define VGA_BIOS_FILE "vgabios-stdvga.bin" /* from Debian's seabios package */

/* The register file, readable by renderers (ui/render.c) through vga_regs(). */
typedef struct VgaRegs {
    uint8_t misc;
    uint8_t sr_index, sr[VGA_SEQ_C];
    uint8_t gr_index, gr[VGA_GFX_C];
    uint8_t cr_index, cr[VGA_CRTC_C];
    uint8_t ar_index, ar[VGA_ATC_C]; /* ar_index keeps the PAS bit (0x20) */
    bool ar_flip_flop;               /* the next 0x3c0 write is data */
    uint8_t feature, video_enable, st01;

    uint8_t dac[256][3]; /* 6-bit components, 8-bit with VBE_DISPI_8BIT_DAC */
    uint8_t dac_mask;
    uint8_t dac_read_index, dac_write_index, dac_read_sub, dac_write_sub;
    uint8_t dac_state; /* what 0x3c7 reads: 0 after a write index, 3 after a read index */
    uint8_t dac_cache[3];

    uint32_t latch; /* plane p in bits 8p..8p+7 */

    uint16_t vbe_index;
    uint16_t vbe[VBE_DISPI_INDEX_NB];
} VgaRegs;

/* The VBE mode in force, after the device's sanity rules (vga_vbe_mode()). */
typedef struct VbeMode {
    bool enabled;
    unsigned xres, yres, bpp; /* bpp 4, 8, 15, 16, 24 or 32 */
    unsigned virt_width, virt_height;
    uint32_t line_bytes; /* bytes per line in video RAM; plane bytes (virt_width/8) at 4 bpp */
    uint32_t start;      /* first displayed byte (plane byte at 4 bpp) */
    bool dac_8bit;
} VbeMode;

typedef struct VgaState VgaState;

/* Claim the ports and the 0xA0000 window, allocate the video RAM. NULL with the reason in err.
 * The linear framebuffer is not mapped until vga_map_lfb() (or its PCI BAR is assigned). */
VgaState *vga_init(AddressSpace *as, IoBus *io, char *err, size_t errlen);
/* Takes its regions out of the address space and unhooks its PCI BARs: call it before
 * as_free() and pci_bus_free(), and only once the I/O bus is no longer used (ports cannot be
 * released). */
void vga_free(VgaState *s);
/* Back to the power-on state (registers only: video RAM keeps its contents). */
void vga_reset(VgaState *s);

/* Map the linear framebuffer (all of video RAM, as guest RAM) at gpa, or move it there (a PCI
 * BAR write); gpa 0 unmaps it. Returns 0 or a negative errno from hw/memory.h. */
int vga_map_lfb(VgaState *s, uint64_t gpa);
uint64_t vga_lfb_address(const VgaState *s);

/* Tells the board that guest-physical [gpa, gpa+len) changed meaning (a BAR moved). */
typedef void (*VgaMemChangedFn)(void *opaque, uint64_t gpa, uint64_t len);

/* Put the VGA on the PCI bus at devfn, as QEMU's stdvga (1234:1111, class VGA): BAR0 is the
 * linear framebuffer (all of video RAM, prefetchable memory, mapped where the firmware or guest
 * puts it, with memory decode on), BAR2 the 4 KiB MMIO register window. The legacy ports and
 * the 0xA0000 window always decode, as on any VGA. changed hears of every mapping change.
 * 0, or -1 with the reason in err. */
int vga_pci_init(VgaState *s, PciBus *bus, unsigned devfn, VgaMemChangedFn changed, void *opaque,
                 char *err, size_t errlen);
PciDevice *vga_pci_device(VgaState *s);
/* The expansion ROM behind the ROM BAR: the VGA BIOS (VGA_BIOS_FILE), which SeaBIOS finds
 * there, copies to 0xC0000 and runs, as with QEMU's stdvga. The bytes are copied; call once,
 * after vga_pci_init. 0 or a negative errno. */
int vga_pci_set_rom(VgaState *s, const void *data, size_t len);

/* Load a font into plane 2 as the VGA BIOS does: count glyphs of height rows (1-32), one byte a
 * row, into character map `map` (0-7, as the sequencer's character map select numbers them). */
void vga_load_font(VgaState *s, unsigned map, unsigned first, unsigned count, unsigned height,
                   const uint8_t *glyphs);

/* For renderers: the registers, the video RAM, and a counter bumped by every register write and
 * every write through the 0xA0000 window. Writes to the linear framebuffer are guest RAM
 * writes the device does not see: while vga_display_in_ram() says the picture lives there, a
 * UI must redraw (or compare) every frame whatever the counter says. */
const VgaRegs *vga_regs(const VgaState *s);
const uint8_t *vga_vram(const VgaState *s);
uint32_t vga_vram_size(const VgaState *s);
uint64_t vga_generation(const VgaState *s);
bool vga_display_in_ram(const VgaState *s);
VbeMode vga_vbe_mode(const VgaState *s);

/* The CRTC's address pipeline: memory address counter value ma on row scan line rs, through
 * word/doubleword rotation and the CGA/Hercules row-scan substitution (CR17 bits 0-1), to a
 * plane offset (0-0xffff). */
uint32_t vga_crtc_address(const VgaRegs *r, uint32_t ma, unsigned rs);

/* Direct register access for tests and for the display-less paths (same as the guest's ports
 * and window, one byte at a time). */
uint8_t vga_ioport_read(VgaState *s, uint16_t port);
void vga_ioport_write(VgaState *s, uint16_t port, uint8_t val);
uint8_t vga_mem_read(VgaState *s, uint32_t offset);            /* offset from 0xA0000 */
void vga_mem_write(VgaState *s, uint32_t offset, uint8_t val); /* offset from 0xA0000 */
uint16_t vga_vbe_read(VgaState *s, uint16_t index);
void vga_vbe_write(VgaState *s, uint16_t index, uint16_t val);

#endif
