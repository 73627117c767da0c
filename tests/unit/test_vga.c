/* VGA register semantics: the sequencer/graphics controller data path (write modes 0-3, read
 * modes 0-1, latches, chain-4, odd/even), the attribute flip-flop, the DAC, the CRTC, and the
 * Bochs VBE dispi interface with its framebuffer, on the PCI bus as QEMU's stdvga. Expected
 * values come from the IBM VGA register descriptions, not from running the device. */
#include <criterion/criterion.h>

#include <string.h>

#include "hw/pci.h"
#include "hw/vga.h"

static AddressSpace *as;
static IoBus *io;
static VgaState *vga;

static void outb(uint16_t port, uint8_t v)
{
    io_write(io, port, v, 1);
}

static uint8_t inb(uint16_t port)
{
    return (uint8_t)io_read(io, port, 1);
}

static void outw(uint16_t port, uint16_t v)
{
    io_write(io, port, v, 2);
}

static uint16_t inw(uint16_t port)
{
    return (uint16_t)io_read(io, port, 2);
}

static void sr(uint8_t i, uint8_t v)
{
    outb(VGA_SEQ_I, i);
    outb(VGA_SEQ_D, v);
}

static void gr(uint8_t i, uint8_t v)
{
    outb(VGA_GFX_I, i);
    outb(VGA_GFX_D, v);
}

static void cr(uint8_t i, uint8_t v)
{
    outb(VGA_CRT_IC, i);
    outb(VGA_CRT_DC, v);
}

static uint8_t cr_read(uint8_t i)
{
    outb(VGA_CRT_IC, i);
    return inb(VGA_CRT_DC);
}

static void ar(uint8_t i, uint8_t v)
{
    inb(VGA_IS1_RC);
    outb(VGA_ATT_W, i);
    outb(VGA_ATT_W, v);
}

static void mem_w(uint32_t gpa, uint8_t v)
{
    cr_assert_eq(as_write(as, gpa, &v, 1), MEM_OK);
}

static uint8_t mem_r(uint32_t gpa)
{
    uint8_t v;
    as_read(as, gpa, &v, 1);
    return v;
}

/* plane p, offset o as the device stores it */
static uint8_t plane(unsigned p, uint32_t o)
{
    return vga_vram(vga)[4 * o + p];
}

static void dispi_w(uint16_t idx, uint16_t v)
{
    outw(VBE_DISPI_IOPORT_INDEX, idx);
    outw(VBE_DISPI_IOPORT_DATA, v);
}

static uint16_t dispi_r(uint16_t idx)
{
    outw(VBE_DISPI_IOPORT_INDEX, idx);
    return inw(VBE_DISPI_IOPORT_DATA);
}

/* Planar graphics at 0xA0000 (64 KiB), all planes enabled, write mode 0, nothing else. */
static void planar_setup(void)
{
    outb(VGA_MIS_W, 0x63);
    sr(VGA_SEQ_PLANE_WRITE, 0x0f);
    sr(VGA_SEQ_MEMORY_MODE, 0x06);
    gr(VGA_GFX_SR_VALUE, 0);
    gr(VGA_GFX_SR_ENABLE, 0);
    gr(VGA_GFX_DATA_ROTATE, 0);
    gr(VGA_GFX_PLANE_READ, 0);
    gr(VGA_GFX_MODE, 0x00);
    gr(VGA_GFX_MISC, 0x05);
    gr(VGA_GFX_BIT_MASK, 0xff);
}

/* Fill the four planes at offset o with p0..p3 (through the CPU path, map mask per plane). */
static void planes_fill(uint32_t o, uint8_t p0, uint8_t p1, uint8_t p2, uint8_t p3)
{
    uint8_t v[4] = {p0, p1, p2, p3};
    for (unsigned p = 0; p < 4; p++) {
        sr(VGA_SEQ_PLANE_WRITE, (uint8_t)(1 << p));
        mem_w(0xa0000 + o, v[p]);
    }
    sr(VGA_SEQ_PLANE_WRITE, 0x0f);
}

static void setup(void)
{
    char err[256];
    as = as_new();
    io = io_bus_new();
    vga = vga_init(as, io, err, sizeof(err));
    cr_assert_not_null(vga, "%s", err);
}

static void teardown(void)
{
    vga_free(vga);
    io_bus_free(io);
    as_free(as);
}

TestSuite(vga, .init = setup, .fini = teardown);

Test(vga, power_on_is_mode_3)
{
    cr_assert_eq(inb(VGA_MIS_R), 0x67);
    outb(VGA_SEQ_I, VGA_SEQ_MEMORY_MODE);
    cr_assert_eq(inb(VGA_SEQ_D), 0x02);
    outb(VGA_GFX_I, VGA_GFX_MISC);
    cr_assert_eq(inb(VGA_GFX_D), 0x0e); /* text, chain odd/even, 0xB8000 */
    cr_assert_eq(cr_read(VGA_CRTC_H_DISP), 0x4f);
    cr_assert_eq(cr_read(VGA_CRTC_MAX_SCAN), 0x4f); /* 16-line characters */
    inb(VGA_IS1_RC);
    cr_assert_eq(inb(VGA_ATT_W), VGA_AR_INDEX_PAS); /* the screen is on */
    outb(VGA_ATT_W, 0x20 | 6);
    cr_assert_eq(inb(VGA_ATT_R), 0x14); /* brown */
    /* DAC entry 0x14: EGA rgbRGB = 010100: red 2/3, green 1/3 */
    outb(VGA_PEL_IR, 0x14);
    cr_assert_eq(inb(VGA_PEL_D), 0x2a);
    cr_assert_eq(inb(VGA_PEL_D), 0x15);
    cr_assert_eq(inb(VGA_PEL_D), 0x00);
    cr_assert_eq(inb(VGA_PEL_MSK), 0xff);
    cr_assert_eq(dispi_r(VBE_DISPI_INDEX_ID), VBE_DISPI_ID5);
    cr_assert_eq(dispi_r(VBE_DISPI_INDEX_VIDEO_MEMORY_64K), VGA_VRAM_SIZE >> 16);
    cr_assert_eq(dispi_r(VBE_DISPI_INDEX_ENABLE), 0);
}

Test(vga, register_masks_and_word_writes)
{
    sr(VGA_SEQ_MEMORY_MODE, 0xff);
    cr_assert_eq(inb(VGA_SEQ_D), 0x0e);
    sr(VGA_SEQ_CLOCK_MODE, 0xff);
    cr_assert_eq(inb(VGA_SEQ_D), 0x3d);
    gr(VGA_GFX_MODE, 0xff);
    cr_assert_eq(inb(VGA_GFX_D), 0x7b);
    gr(VGA_GFX_PLANE_READ, 0xff);
    cr_assert_eq(inb(VGA_GFX_D), 0x03);
    /* outw writes the index, then the data at the next port */
    outw(VGA_SEQ_I, 0x0502);
    cr_assert_eq(inb(VGA_SEQ_I), 0x02);
    cr_assert_eq(inb(VGA_SEQ_D), 0x05);
    io_write(io, VGA_GFX_I, 0x0f08, 2);
    cr_assert_eq(io_read(io, VGA_GFX_I, 2), 0x0f08);
}

Test(vga, crtc_follows_the_io_address_select)
{
    cr_assert_eq(inb(VGA_MIS_R) & VGA_MIS_COLOR, VGA_MIS_COLOR);
    cr(VGA_CRTC_OFFSET, 0x28);
    outb(VGA_CRT_IM, VGA_CRTC_OFFSET); /* the mono ports do not answer */
    cr_assert_eq(inb(VGA_CRT_DM), 0xff);
    cr_assert_eq(inb(VGA_IS1_RM), 0xff);

    outb(VGA_MIS_W, 0x66); /* monochrome addressing */
    cr_assert_eq(inb(VGA_CRT_DC), 0xff);
    outb(VGA_CRT_IM, VGA_CRTC_OFFSET);
    cr_assert_eq(inb(VGA_CRT_DM), 0x28);
    outb(VGA_CRT_DM, 0x50);
    outb(VGA_MIS_W, 0x67);
    cr_assert_eq(cr_read(VGA_CRTC_OFFSET), 0x50);
}

Test(vga, crtc_write_protect)
{
    cr(VGA_CRTC_V_SYNC_END, 0x8e); /* protect CR0-CR7 */
    cr(VGA_CRTC_H_TOTAL, 0x12);
    cr_assert_eq(cr_read(VGA_CRTC_H_TOTAL), 0x5f);
    cr(VGA_CRTC_OVERFLOW, 0x00); /* only the line compare bit 8 takes */
    cr_assert_eq(cr_read(VGA_CRTC_OVERFLOW), 0x1f & ~VGA_CR07_LC8);
    cr(VGA_CRTC_OVERFLOW, 0xff);
    cr_assert_eq(cr_read(VGA_CRTC_OVERFLOW), 0x1f);
    cr(VGA_CRTC_OFFSET, 0x30); /* above CR7: not protected */
    cr_assert_eq(cr_read(VGA_CRTC_OFFSET), 0x30);
    cr(VGA_CRTC_V_SYNC_END, 0x0e);
    cr(VGA_CRTC_H_TOTAL, 0x12);
    cr_assert_eq(cr_read(VGA_CRTC_H_TOTAL), 0x12);
}

Test(vga, attribute_flip_flop)
{
    inb(VGA_IS1_RC); /* reset: next write is the index */
    cr_assert_eq(cr_read(0x24) & 0x80, 0);
    outb(VGA_ATT_W, 0x25); /* index 5, PAS on */
    cr_assert_eq(cr_read(0x24) & 0x80, 0x80);
    outb(VGA_ATT_W, 0x2a); /* data */
    cr_assert_eq(inb(VGA_ATT_W), 0x25);
    cr_assert_eq(inb(VGA_ATT_R), 0x2a);
    outb(VGA_ATT_W, 0x27); /* index again */
    outb(VGA_ATT_W, 0x3f);
    outb(VGA_ATT_W, 0x25);
    cr_assert_eq(inb(VGA_ATT_R), 0x2a);

    /* an index write, then a status read in the middle: the next write is an index again */
    outb(VGA_ATT_W, 0x26);
    inb(VGA_IS1_RC);
    outb(VGA_ATT_W, 0x27);
    cr_assert_eq(inb(VGA_ATT_W), 0x27);
    outb(VGA_ATT_W, 0x11);
    cr_assert_eq(inb(VGA_ATT_R), 0x11);

    /* data masks */
    ar(0x20 | VGA_ATC_PEL, 0xff);
    cr_assert_eq(inb(VGA_ATT_R), 0x0f);
    ar(0x20 | 3, 0xff);
    cr_assert_eq(inb(VGA_ATT_R), 0x3f);
    /* the monochrome status port does not reset the flip-flop in colour mode */
    inb(VGA_IS1_RC);
    outb(VGA_ATT_W, 0x20 | 3);
    inb(VGA_IS1_RM);
    outb(VGA_ATT_W, 0x01);
    cr_assert_eq(inb(VGA_ATT_R), 0x01);
}

Test(vga, input_status_toggles_retrace)
{
    uint8_t a = inb(VGA_IS1_RC), b = inb(VGA_IS1_RC);
    cr_assert_eq((a ^ b) & (VGA_IS1_VRETRACE | VGA_IS1_DD), VGA_IS1_VRETRACE | VGA_IS1_DD);
}

Test(vga, dac_indexes_and_auto_increment)
{
    outb(VGA_PEL_IW, 10);
    cr_assert_eq(inb(VGA_PEL_IR), 0); /* DAC state: write mode */
    const uint8_t rgb[6] = {1, 2, 3, 0x3f, 0xff, 0x40};
    for (int i = 0; i < 6; i++)
        outb(VGA_PEL_D, rgb[i]);
    cr_assert_eq(inb(VGA_PEL_IW), 12);
    outb(VGA_PEL_IR, 10);
    cr_assert_eq(inb(VGA_PEL_IR), 3);                    /* read mode */
    const uint8_t want[6] = {1, 2, 3, 0x3f, 0x3f, 0x00}; /* 6-bit components */
    for (int i = 0; i < 6; i++)
        cr_assert_eq(inb(VGA_PEL_D), want[i], "component %d", i);
    /* the read index moved on to 12, still the EGA colour 001100 of the power-on DAC */
    cr_assert_eq(inb(VGA_PEL_D), 0x2a);
    /* a partial write does not land until the third component */
    uint8_t before = vga_regs(vga)->dac[20][0];
    outb(VGA_PEL_IW, 20);
    outb(VGA_PEL_D, 5);
    outb(VGA_PEL_D, 6);
    cr_assert_eq(vga_regs(vga)->dac[20][0], before);
    outb(VGA_PEL_D, 7);
    cr_assert_eq(vga_regs(vga)->dac[20][2], 7);
    /* the index wraps after 255 */
    outb(VGA_PEL_IW, 255);
    for (int i = 0; i < 3; i++)
        outb(VGA_PEL_D, 9);
    cr_assert_eq(inb(VGA_PEL_IW), 0);
}

Test(vga, write_mode_0_set_reset_rotate_bitmask)
{
    planar_setup();
    mem_w(0xa0000, 0x5a);
    for (unsigned p = 0; p < 4; p++)
        cr_assert_eq(plane(p, 0), 0x5a);
    /* set/reset enabled for planes 0 and 2, values 1 and 0 */
    gr(VGA_GFX_SR_ENABLE, 0x05);
    gr(VGA_GFX_SR_VALUE, 0x01);
    mem_w(0xa0001, 0x33);
    cr_assert_eq(plane(0, 1), 0xff);
    cr_assert_eq(plane(1, 1), 0x33);
    cr_assert_eq(plane(2, 1), 0x00);
    cr_assert_eq(plane(3, 1), 0x33);
    gr(VGA_GFX_SR_ENABLE, 0);
    /* rotate right by 3 */
    gr(VGA_GFX_DATA_ROTATE, 3);
    mem_w(0xa0002, 0x81);
    cr_assert_eq(plane(1, 2), 0x30);
    gr(VGA_GFX_DATA_ROTATE, 0);
    /* bit mask: unmasked bits come from the latches, loaded by a read */
    planes_fill(3, 0xf0, 0x0f, 0xaa, 0x55);
    (void)mem_r(0xa0003);
    gr(VGA_GFX_BIT_MASK, 0x3c);
    mem_w(0xa0003, 0x00);
    cr_assert_eq(plane(0, 3), 0xc0);
    cr_assert_eq(plane(1, 3), 0x03);
    cr_assert_eq(plane(2, 3), 0x82);
    cr_assert_eq(plane(3, 3), 0x41);
    gr(VGA_GFX_BIT_MASK, 0xff);
    /* the map mask keeps planes out of it */
    sr(VGA_SEQ_PLANE_WRITE, 0x02);
    mem_w(0xa0003, 0x77);
    cr_assert_eq(plane(0, 3), 0xc0);
    cr_assert_eq(plane(1, 3), 0x77);
}

Test(vga, logical_functions_use_the_latches)
{
    planar_setup();
    planes_fill(8, 0xf0, 0xf0, 0xf0, 0xf0);
    const uint8_t want[4] = {0x3c, 0x30, 0xfc, 0xcc}; /* none, AND, OR, XOR with 0x3c */
    for (unsigned f = 0; f < 4; f++) {
        planes_fill(8, 0xf0, 0xf0, 0xf0, 0xf0);
        (void)mem_r(0xa0008);
        gr(VGA_GFX_DATA_ROTATE, (uint8_t)(f << 3));
        mem_w(0xa0008, 0x3c);
        cr_assert_eq(plane(2, 8), want[f], "function %u", f);
    }
}

Test(vga, write_mode_1_copies_latches)
{
    planar_setup();
    planes_fill(0x100, 1, 2, 3, 4);
    (void)mem_r(0xa0100);
    gr(VGA_GFX_MODE, 0x01);
    gr(VGA_GFX_BIT_MASK, 0x00); /* ignored in write mode 1 */
    mem_w(0xa0200, 0xee);       /* the CPU byte is ignored */
    for (unsigned p = 0; p < 4; p++)
        cr_assert_eq(plane(p, 0x200), p + 1);
}

Test(vga, write_mode_2_colour_per_pixel)
{
    planar_setup();
    planes_fill(0x10, 0, 0, 0, 0);
    (void)mem_r(0xa0010);
    gr(VGA_GFX_MODE, 0x02);
    gr(VGA_GFX_BIT_MASK, 0x10); /* pixel 3 of the byte */
    mem_w(0xa0010, 0x0b);       /* colour 1011 */
    cr_assert_eq(plane(0, 0x10), 0x10);
    cr_assert_eq(plane(1, 0x10), 0x10);
    cr_assert_eq(plane(2, 0x10), 0x00);
    cr_assert_eq(plane(3, 0x10), 0x10);
}

Test(vga, write_mode_3_rotated_data_masks_set_reset)
{
    planar_setup();
    planes_fill(0x20, 0xff, 0x00, 0xff, 0x00);
    (void)mem_r(0xa0020);
    gr(VGA_GFX_MODE, 0x03);
    gr(VGA_GFX_SR_VALUE, 0x06); /* colour 0110 */
    gr(VGA_GFX_BIT_MASK, 0xf0);
    gr(VGA_GFX_DATA_ROTATE, 1);
    mem_w(0xa0020, 0x3c); /* rotated: 0x1e; mask 0xf0 & 0x1e = 0x10 */
    cr_assert_eq(plane(0, 0x20), 0xef);
    cr_assert_eq(plane(1, 0x20), 0x10);
    cr_assert_eq(plane(2, 0x20), 0xff);
    cr_assert_eq(plane(3, 0x20), 0x00);
}

Test(vga, read_modes)
{
    planar_setup();
    planes_fill(0x40, 0x11, 0x22, 0x44, 0x88);
    for (unsigned p = 0; p < 4; p++) {
        gr(VGA_GFX_PLANE_READ, (uint8_t)p);
        cr_assert_eq(mem_r(0xa0040), 0x11 << p);
    }
    cr_assert_eq(cr_read(0x22), 0x88); /* the latch of the read plane */
    /* colour compare: pixel i of the byte has colour 1 << (i & 3) ... */
    gr(VGA_GFX_MODE, 0x08);
    gr(VGA_GFX_COMPARE_MASK, 0x0f);
    gr(VGA_GFX_COMPARE_VALUE, 0x01);
    cr_assert_eq(mem_r(0xa0040), 0x11); /* bits 0 and 4: plane 0 only */
    gr(VGA_GFX_COMPARE_VALUE, 0x08);
    cr_assert_eq(mem_r(0xa0040), 0x88);
    gr(VGA_GFX_COMPARE_VALUE, 0x00);
    cr_assert_eq(mem_r(0xa0040), 0x00);
    /* don't care about plane 3: colour 8 pixels now compare equal to 0 */
    gr(VGA_GFX_COMPARE_MASK, 0x07);
    cr_assert_eq(mem_r(0xa0040), 0x88);
    gr(VGA_GFX_COMPARE_MASK, 0x00);
    cr_assert_eq(mem_r(0xa0040), 0xff);
}

Test(vga, chain4_addressing)
{
    planar_setup();
    sr(VGA_SEQ_MEMORY_MODE, 0x0e); /* chain 4 */
    gr(VGA_GFX_MODE, 0x40);
    const uint32_t addrs[] = {0, 1, 2, 3, 5, 321, 0x3fff, 0x4000, 0x4001, 0x9c3f, 0xffff};
    for (unsigned i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
        uint32_t a = addrs[i];
        uint8_t v = (uint8_t)(0x80 + i);
        mem_w(0xa0000 + a, v);
        uint32_t off = (a & 0xfffc) | ((a >> 14) & 3);
        cr_assert_eq(plane(a & 3, off), v, "address 0x%x", a);
        cr_assert_eq(mem_r(0xa0000 + a), v, "address 0x%x", a);
    }
    /* the map mask still gates the plane the address selects */
    sr(VGA_SEQ_PLANE_WRITE, 0x0e);
    mem_w(0xa0000 + 8, 0x12);
    cr_assert_eq(plane(0, 8), 0);
    mem_w(0xa0000 + 9, 0x34);
    cr_assert_eq(plane(1, 8), 0x34);
    /* the CRTC's doubleword mode reads pixel N where chain-4 wrote it */
    cr(VGA_CRTC_UNDERLINE, 0x40);
    for (uint32_t n = 0; n < 64000; n += 4)
        cr_assert_eq(vga_crtc_address(vga_regs(vga), n >> 2, 0), (n & 0xfffc) | ((n >> 14) & 3));
}

Test(vga, odd_even_addressing)
{
    /* the power-on text mode: odd/even, 0xB8000 */
    mem_w(0xb8000, 'H');
    mem_w(0xb8001, 0x1f);
    mem_w(0xb8002, 'i');
    mem_w(0xb8003, 0x2e);
    cr_assert_eq(plane(0, 0), 'H');
    cr_assert_eq(plane(1, 0), 0x1f);
    cr_assert_eq(plane(0, 2), 'i');
    cr_assert_eq(plane(1, 2), 0x2e);
    cr_assert_eq(plane(2, 0), 0); /* the font plane is not written */
    cr_assert_eq(mem_r(0xb8001), 0x1f);
    cr_assert_eq(mem_r(0xb8002), 'i');
    /* read map select bit 1 picks planes 2/3 */
    gr(VGA_GFX_PLANE_READ, 2);
    cr_assert_eq(mem_r(0xb8000), 0);
    /* the CRTC's word mode finds character i at plane offset 2i */
    for (uint32_t i = 0; i < 2000; i++)
        cr_assert_eq(vga_crtc_address(vga_regs(vga), i, 0), 2 * i);
}

Test(vga, memory_map_select_and_ram_enable)
{
    /* text mode: B8000-BFFFF only */
    mem_w(0xa0000, 0x11);
    cr_assert_eq(mem_r(0xa0000), 0xff);
    cr_assert_eq(mem_r(0xb0000), 0xff);
    mem_w(0xb8000, 0x22);
    cr_assert_eq(mem_r(0xb8000), 0x22);
    planar_setup(); /* A0000-AFFFF */
    cr_assert_eq(mem_r(0xb8000), 0xff);
    gr(VGA_GFX_MISC, 0x09); /* B0000-B7FFF */
    mem_w(0xb0010, 0x33);
    cr_assert_eq(plane(0, 0x10), 0x33);
    cr_assert_eq(mem_r(0xb8000), 0xff);
    gr(VGA_GFX_MISC, 0x01);             /* A0000-BFFFF */
    cr_assert_eq(mem_r(0xb0010), 0x33); /* offset 0x10010 wraps to plane offset 0x10 */
    outb(VGA_MIS_W, 0x61);              /* RAM disabled */
    mem_w(0xa0010, 0x44);
    cr_assert_eq(mem_r(0xa0010), 0xff);
    outb(VGA_MIS_W, 0x63);
    cr_assert_eq(mem_r(0xa0010), 0x33);
}

Test(vga, generation_counts_changes)
{
    uint64_t g = vga_generation(vga);
    mem_w(0xb8000, 1);
    cr_assert_gt(vga_generation(vga), g);
    g = vga_generation(vga);
    (void)mem_r(0xb8000);
    cr_assert_eq(vga_generation(vga), g);
    outb(VGA_PEL_IW, 0);
    cr_assert_gt(vga_generation(vga), g);
}

Test(vga, vbe_id_and_caps)
{
    dispi_w(VBE_DISPI_INDEX_ID, VBE_DISPI_ID0);
    cr_assert_eq(dispi_r(VBE_DISPI_INDEX_ID), VBE_DISPI_ID0);
    dispi_w(VBE_DISPI_INDEX_ID, 0x1234);
    cr_assert_eq(dispi_r(VBE_DISPI_INDEX_ID), VBE_DISPI_ID0);
    dispi_w(VBE_DISPI_INDEX_ID, 0xb0c4);
    cr_assert_eq(dispi_r(VBE_DISPI_INDEX_ID), 0xb0c4);
    dispi_w(VBE_DISPI_INDEX_XRES, 800);
    dispi_w(VBE_DISPI_INDEX_ENABLE, VBE_DISPI_GETCAPS);
    cr_assert_eq(dispi_r(VBE_DISPI_INDEX_XRES), VBE_DISPI_MAX_XRES);
    cr_assert_eq(dispi_r(VBE_DISPI_INDEX_YRES), VBE_DISPI_MAX_YRES);
    cr_assert_eq(dispi_r(VBE_DISPI_INDEX_BPP), 32);
    dispi_w(VBE_DISPI_INDEX_ENABLE, 0);
    cr_assert_eq(dispi_r(VBE_DISPI_INDEX_XRES), 800);
    /* a 32-bit access at 0x1ce is the index and then the data */
    io_write(io, VBE_DISPI_IOPORT_INDEX, (600u << 16) | VBE_DISPI_INDEX_YRES, 4);
    cr_assert_eq(dispi_r(VBE_DISPI_INDEX_YRES), 600);
    cr_assert_eq(io_read(io, VBE_DISPI_IOPORT_INDEX, 4), (600u << 16) | VBE_DISPI_INDEX_YRES);
}

static void vbe_set(unsigned x, unsigned y, unsigned bpp, uint16_t flags)
{
    dispi_w(VBE_DISPI_INDEX_ENABLE, 0);
    dispi_w(VBE_DISPI_INDEX_XRES, (uint16_t)x);
    dispi_w(VBE_DISPI_INDEX_YRES, (uint16_t)y);
    dispi_w(VBE_DISPI_INDEX_BPP, (uint16_t)bpp);
    dispi_w(VBE_DISPI_INDEX_ENABLE, VBE_DISPI_ENABLED | flags);
}

Test(vga, vbe_mode_set_and_fixups)
{
    vbe_set(640, 480, 32, VBE_DISPI_LFB_ENABLED);
    VbeMode m = vga_vbe_mode(vga);
    cr_assert(m.enabled);
    cr_assert_eq(m.xres, 640);
    cr_assert_eq(m.yres, 480);
    cr_assert_eq(m.bpp, 32);
    cr_assert_eq(m.line_bytes, 2560);
    cr_assert_eq(dispi_r(VBE_DISPI_INDEX_VIRT_WIDTH), 640);
    cr_assert_eq(dispi_r(VBE_DISPI_INDEX_VIRT_HEIGHT), VGA_VRAM_SIZE / 2560);
    /* a wider virtual screen and a display start in it */
    dispi_w(VBE_DISPI_INDEX_VIRT_WIDTH, 1024);
    dispi_w(VBE_DISPI_INDEX_X_OFFSET, 16);
    dispi_w(VBE_DISPI_INDEX_Y_OFFSET, 100);
    m = vga_vbe_mode(vga);
    cr_assert_eq(m.line_bytes, 4096);
    cr_assert_eq(m.start, 100 * 4096 + 16 * 4);
    /* a Y offset past the end of video RAM is refused */
    dispi_w(VBE_DISPI_INDEX_Y_OFFSET, 4000);
    cr_assert_eq(dispi_r(VBE_DISPI_INDEX_Y_OFFSET), 0);
    /* a new mode starts with the virtual screen equal to the visible one */
    vbe_set(800, 600, 16, 0);
    cr_assert_eq(dispi_r(VBE_DISPI_INDEX_VIRT_WIDTH), 800);
    cr_assert_eq(dispi_r(VBE_DISPI_INDEX_X_OFFSET), 0);
    cr_assert_eq(vga_vbe_mode(vga).line_bytes, 1600);
    /* unknown depth becomes 8, widths round down to a multiple of 8 */
    vbe_set(643, 480, 12, 0);
    cr_assert_eq(dispi_r(VBE_DISPI_INDEX_BPP), 8);
    cr_assert_eq(dispi_r(VBE_DISPI_INDEX_XRES), 640);
    vbe_set(640, 480, 15, 0);
    cr_assert_eq(vga_vbe_mode(vga).line_bytes, 1280);
    vbe_set(640, 480, 24, 0);
    cr_assert_eq(vga_vbe_mode(vga).line_bytes, 1920);
}

Test(vga, vbe_clears_memory_unless_told_not_to)
{
    vbe_set(64, 64, 8, 0);
    memset((uint8_t *)vga_vram(vga), 0x77, 64 * 64);
    dispi_w(VBE_DISPI_INDEX_ENABLE, VBE_DISPI_ENABLED); /* already on: no mode set */
    cr_assert_eq(vga_vram(vga)[100], 0x77);
    vbe_set(64, 64, 8, VBE_DISPI_NOCLEARMEM);
    cr_assert_eq(vga_vram(vga)[100], 0x77);
    vbe_set(64, 64, 8, 0);
    cr_assert_eq(vga_vram(vga)[100], 0);
}

Test(vga, vbe_banked_window)
{
    vbe_set(1024, 768, 8, 0);
    outb(VGA_MIS_W, 0x63);
    gr(VGA_GFX_MISC, 0x05);
    mem_w(0xa0000 + 0x1234, 0x56);
    cr_assert_eq(vga_vram(vga)[0x1234], 0x56);
    dispi_w(VBE_DISPI_INDEX_BANK, 3);
    cr_assert_eq(dispi_r(VBE_DISPI_INDEX_BANK), 3);
    mem_w(0xa0000 + 0x10, 0x9a);
    cr_assert_eq(vga_vram(vga)[3 * 0x10000 + 0x10], 0x9a);
    cr_assert_eq(mem_r(0xa0000 + 0x10), 0x9a);
    dispi_w(VBE_DISPI_INDEX_BANK, 0x1ff); /* 256 banks of 64 KiB */
    cr_assert_eq(dispi_r(VBE_DISPI_INDEX_BANK), 0xff);
}

Test(vga, vbe_8bit_dac)
{
    vbe_set(640, 480, 8, VBE_DISPI_8BIT_DAC);
    outb(VGA_PEL_IW, 1);
    outb(VGA_PEL_D, 0xff);
    outb(VGA_PEL_D, 0x80);
    outb(VGA_PEL_D, 0x41);
    outb(VGA_PEL_IR, 1);
    cr_assert_eq(inb(VGA_PEL_D), 0xff);
    cr_assert_eq(inb(VGA_PEL_D), 0x80);
    cr_assert_eq(inb(VGA_PEL_D), 0x41);
    cr_assert(vga_vbe_mode(vga).dac_8bit);
}

Test(vga, linear_framebuffer_is_ram)
{
    cr_assert_eq(vga_map_lfb(vga, VBE_DISPI_LFB_PHYSICAL_ADDRESS), 0);
    cr_assert_eq(vga_lfb_address(vga), VBE_DISPI_LFB_PHYSICAL_ADDRESS);
    uint32_t v = 0x11223344;
    cr_assert_eq(as_write(as, VBE_DISPI_LFB_PHYSICAL_ADDRESS + 0x1000, &v, 4), MEM_OK);
    cr_assert_eq(vga_vram(vga)[0x1000], 0x44);
    cr_assert_not_null(as_host_ptr(as, VBE_DISPI_LFB_PHYSICAL_ADDRESS, VGA_VRAM_SIZE, true));
    cr_assert_eq(vga_map_lfb(vga, 0xd0000000), 0);
    cr_assert_null(as_find(as, VBE_DISPI_LFB_PHYSICAL_ADDRESS));
    cr_assert_eq(as_find(as, 0xd0000000)->kind, MEM_RAM);
    cr_assert_not(vga_display_in_ram(vga));
    vbe_set(640, 480, 32, VBE_DISPI_LFB_ENABLED);
    cr_assert(vga_display_in_ram(vga));
}

/* ---- on the PCI bus ---- */

static uint64_t changed_gpa, changed_len;
static int changed_calls;

static void on_changed(void *opaque, uint64_t gpa, uint64_t len)
{
    changed_calls++;
    changed_gpa = gpa;
    changed_len = len;
}

Test(vga, pci_stdvga)
{
    char err[256];
    PciBus *bus = pci_bus_new(io, err, sizeof(err));
    cr_assert_not_null(bus, "%s", err);
    cr_assert_eq(vga_pci_init(vga, bus, PCI_DEVFN(2, 0), on_changed, NULL, err, sizeof(err)), 0,
                 "%s", err);
    PciDevice *d = vga_pci_device(vga);
    cr_assert_eq(pci_config_read(d, PCI_VENDOR_ID, 2), 0x1234);
    cr_assert_eq(pci_config_read(d, PCI_DEVICE_ID, 2), 0x1111);
    cr_assert_eq(pci_config_read(d, PCI_CLASS_DEVICE, 2), 0x0300);
    /* BAR0: 16 MiB prefetchable memory */
    pci_config_write(d, PCI_BASE_ADDRESS_0, 0xffffffff, 4);
    cr_assert_eq(pci_config_read(d, PCI_BASE_ADDRESS_0, 4), 0xff000008);
    pci_config_write(d, PCI_BASE_ADDRESS_0, 0xfd000000, 4);
    cr_assert_eq(vga_lfb_address(vga), 0, "not decoded before memory space is enabled");
    changed_calls = 0;
    pci_config_write(d, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
    cr_assert_eq(vga_lfb_address(vga), 0xfd000000);
    cr_assert_geq(changed_calls, 1);
    uint8_t b = 0x5c;
    as_write(as, 0xfd000010, &b, 1);
    cr_assert_eq(vga_vram(vga)[0x10], 0x5c);
    /* moved by the firmware */
    pci_config_write(d, PCI_BASE_ADDRESS_0, 0xe0000000, 4);
    cr_assert_eq(vga_lfb_address(vga), 0xe0000000);
    cr_assert_eq(changed_gpa, 0xe0000000);
    cr_assert_eq(changed_len, VGA_VRAM_SIZE);
    cr_assert_null(as_find(as, 0xfd000000));

    /* BAR2: QEMU's MMIO register window */
    pci_config_write(d, PCI_BASE_ADDRESS_0 + 8, 0xfebf0000, 4);
    uint32_t v = 0;
    as_read(as, 0xfebf0000 + VGA_MMIO_QEXT_SIZE, &v, 4);
    cr_assert_eq(v, 8);
    uint16_t w = 1024;
    as_write(as, 0xfebf0000 + VGA_MMIO_DISPI + 2 * VBE_DISPI_INDEX_XRES, &w, 2);
    cr_assert_eq(dispi_r(VBE_DISPI_INDEX_XRES), 1024);
    uint8_t seq = VGA_SEQ_PLANE_WRITE;
    as_write(as, 0xfebf0000 + VGA_MMIO_VGA_PORTS + 4, &seq, 1); /* 0x3c4 */
    cr_assert_eq(inb(VGA_SEQ_I), VGA_SEQ_PLANE_WRITE);

    /* the expansion ROM */
    uint8_t rom[5000];
    for (unsigned i = 0; i < sizeof(rom); i++)
        rom[i] = (uint8_t)(i * 7);
    rom[0] = 0x55;
    rom[1] = 0xaa;
    cr_assert_eq(vga_pci_set_rom(vga, rom, sizeof(rom)), 0);
    pci_config_write(d, PCI_ROM_ADDRESS, 0xffffffff, 4);
    cr_assert_eq(pci_config_read(d, PCI_ROM_ADDRESS, 4), 0xffffe001); /* 8 KiB */
    pci_config_write(d, PCI_ROM_ADDRESS, 0xfeb00000 | PCI_ROM_ADDRESS_ENABLE, 4);
    uint8_t got[4];
    as_read(as, 0xfeb00000, got, 4);
    cr_assert_eq(got[0], 0x55);
    cr_assert_eq(got[1], 0xaa);
    cr_assert_eq(got[3], (uint8_t)21);
    vga_free(vga);
    vga = NULL;
    cr_assert_null(as_find(as, 0xe0000000));
    pci_bus_free(bus);
}
