/* The renderer against pictures worked out here from the VGA's rules: a glyph loaded into
 * plane 2 drawn at its cell in its attribute's colours, the 9th column, cursor and blink
 * phases by time, mode 13h/12h/CGA pixels at their (x, y) in their DAC colour, VBE depths, and
 * the PNG and text screenshots. Everything is driven through the ports and the 0xA0000 window
 * as a guest would. */
#include <criterion/criterion.h>

#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "hw/vga.h"
#include "ui/render.h"
#include "ui/screenshot.h"

static AddressSpace *as;
static IoBus *io;
static VgaState *vga;
static Surface *surf;

static void outb(uint16_t port, uint8_t v)
{
    io_write(io, port, v, 1);
}

static uint8_t inb(uint16_t port)
{
    return (uint8_t)io_read(io, port, 1);
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

static void ar(uint8_t i, uint8_t v)
{
    inb(VGA_IS1_RC);
    outb(VGA_ATT_W, i);
    outb(VGA_ATT_W, v);
    outb(VGA_ATT_W, 0x20);
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

static void dac(uint8_t i, uint8_t r, uint8_t g, uint8_t b)
{
    outb(VGA_PEL_IW, i);
    outb(VGA_PEL_D, r);
    outb(VGA_PEL_D, g);
    outb(VGA_PEL_D, b);
}

static void dispi_w(uint16_t idx, uint16_t v)
{
    io_write(io, VBE_DISPI_IOPORT_INDEX, idx, 2);
    io_write(io, VBE_DISPI_IOPORT_DATA, v, 2);
}

/* Colours from first principles: a 6-bit DAC value v shows as (v << 2) | (v >> 4) */
static uint32_t c8(unsigned v6)
{
    return (v6 << 2) | (v6 >> 4);
}

static uint32_t rgb6(unsigned r, unsigned g, unsigned b)
{
    return c8(r) << 16 | c8(g) << 8 | c8(b);
}

/* The DAC as the BIOS loads it for 16-colour modes: EGA colour rgbRGB */
static uint32_t ega(unsigned i)
{
    return rgb6(((i >> 2) & 1) * 42 + ((i >> 5) & 1) * 21,
                ((i >> 1) & 1) * 42 + ((i >> 4) & 1) * 21, (i & 1) * 42 + ((i >> 3) & 1) * 21);
}

/* The attribute palette of the 16-colour text and graphics modes */
static const uint8_t std_palette[16] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07,
                                        0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f};

static uint32_t px(int x, int y)
{
    cr_assert(x >= 0 && x < surf->width && y >= 0 && y < surf->height, "(%d,%d) outside %dx%d", x,
              y, surf->width, surf->height);
    return surface_row(surf, y)[x];
}

static void render(int64_t t)
{
    cr_assert_eq(vga_render(vga, surf, t), 0);
}

/* A mode, as the BIOS programs one: misc, sequencer (held in reset meanwhile), CRTC (unlocked
 * first), graphics controller, attribute controller, then the screen on. */
typedef struct ModeRegs {
    uint8_t misc, sr[5], cr[25], gr[9], ar[21];
} ModeRegs;

static void set_mode(const ModeRegs *m)
{
    outb(VGA_MIS_W, m->misc);
    sr(0, 0x01);
    for (uint8_t i = 1; i < 5; i++)
        sr(i, m->sr[i]);
    sr(0, 0x03);
    cr(VGA_CRTC_V_SYNC_END, m->cr[VGA_CRTC_V_SYNC_END] & 0x7f);
    for (uint8_t i = 0; i < 25; i++)
        cr(i, m->cr[i]);
    for (uint8_t i = 0; i < 9; i++)
        gr(i, m->gr[i]);
    inb(VGA_IS1_RC);
    for (uint8_t i = 0; i < 21; i++) {
        outb(VGA_ATT_W, i);
        outb(VGA_ATT_W, m->ar[i]);
    }
    outb(VGA_ATT_W, 0x20);
}

static const ModeRegs mode13 = {
    0x63,
    {0x03, 0x01, 0x0f, 0x00, 0x0e},
    {0x5f, 0x4f, 0x50, 0x82, 0x54, 0x80, 0xbf, 0x1f, 0x00, 0x41, 0x00, 0x00, 0x00,
     0x00, 0x00, 0x00, 0x9c, 0x0e, 0x8f, 0x28, 0x40, 0x96, 0xb9, 0xa3, 0xff},
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x05, 0x0f, 0xff},
    {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,
     0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x41, 0x00, 0x0f, 0x00, 0x00},
};

static const ModeRegs mode12 = {
    0xe3,
    {0x03, 0x01, 0x0f, 0x00, 0x06},
    {0x5f, 0x4f, 0x50, 0x82, 0x54, 0x80, 0x0b, 0x3e, 0x00, 0x40, 0x00, 0x00, 0x00,
     0x00, 0x00, 0x00, 0xea, 0x0c, 0xdf, 0x28, 0x00, 0xe7, 0x04, 0xe3, 0xff},
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x0f, 0xff},
    {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07, 0x38, 0x39, 0x3a,
     0x3b, 0x3c, 0x3d, 0x3e, 0x3f, 0x01, 0x00, 0x0f, 0x00, 0x00},
};

static const ModeRegs mode04 = {
    0x63,
    {0x03, 0x09, 0x03, 0x00, 0x02},
    {0x2d, 0x27, 0x28, 0x90, 0x2b, 0x80, 0xbf, 0x1f, 0x00, 0xc1, 0x00, 0x00, 0x00,
     0x00, 0x00, 0x00, 0x9c, 0x8e, 0x8f, 0x14, 0x00, 0x96, 0xb9, 0xa2, 0xff},
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x30, 0x0f, 0x00, 0xff},
    {0x00, 0x13, 0x15, 0x17, 0x02, 0x04, 0x06, 0x07, 0x10, 0x11, 0x12,
     0x13, 0x14, 0x15, 0x16, 0x17, 0x01, 0x00, 0x03, 0x00, 0x00},
};

static void setup(void)
{
    char err[256];
    as = as_new();
    io = io_bus_new();
    vga = vga_init(as, io, err, sizeof(err));
    cr_assert_not_null(vga, "%s", err);
    surf = surface_new(1, 1);
    cr_assert_not_null(surf);
}

static void teardown(void)
{
    surface_free(surf);
    vga_free(vga);
    io_bus_free(io);
    as_free(as);
}

TestSuite(render, .init = setup, .fini = teardown);

/* ---- text ---- */

static uint8_t glyph_row(unsigned ch, unsigned row)
{
    return (uint8_t)((ch * 29 + row * 37 + (row << 4)) ^ (ch >> 1));
}

/* Load glyphs into plane 2 as the BIOS does: sequential planar access to plane 2 at 0xA0000,
 * then back to odd/even text addressing. */
static void load_font_via_cpu(unsigned first, unsigned count)
{
    sr(VGA_SEQ_PLANE_WRITE, 0x04);
    sr(VGA_SEQ_MEMORY_MODE, 0x06);
    gr(VGA_GFX_PLANE_READ, 0x02);
    gr(VGA_GFX_MODE, 0x00);
    gr(VGA_GFX_MISC, 0x04);
    for (unsigned c = first; c < first + count; c++)
        for (unsigned row = 0; row < 32; row++)
            mem_w(0xa0000 + c * 32 + row, row < 16 ? glyph_row(c, row) : 0);
    sr(VGA_SEQ_PLANE_WRITE, 0x03);
    sr(VGA_SEQ_MEMORY_MODE, 0x02);
    gr(VGA_GFX_PLANE_READ, 0x00);
    gr(VGA_GFX_MODE, 0x10);
    gr(VGA_GFX_MISC, 0x0e);
}

static void put_char(unsigned col, unsigned row, uint8_t ch, uint8_t attr)
{
    mem_w(0xb8000 + (row * 80 + col) * 2, ch);
    mem_w(0xb8000 + (row * 80 + col) * 2 + 1, attr);
}

/* Check a 9x16 cell against the glyph and colours, with what the 9th column should be. */
static void check_cell(unsigned col, unsigned row, uint8_t ch, uint32_t fg, uint32_t bg,
                       bool ninth_copies)
{
    for (unsigned y = 0; y < 16; y++) {
        uint8_t bits = glyph_row(ch, y);
        for (unsigned d = 0; d < 9; d++) {
            bool on = d < 8 ? (bits >> (7 - d)) & 1 : (ninth_copies && (bits & 1));
            cr_assert_eq(px((int)(col * 9 + d), (int)(row * 16 + y)), on ? fg : bg,
                         "char 0x%02x row %u dot %u", ch, y, d);
        }
    }
}

Test(render, text_glyph_from_plane2)
{
    load_font_via_cpu(0, 256);
    cr(VGA_CRTC_CURSOR_START, 0x20); /* cursor off */
    put_char(3, 2, 'A', 0x1e);
    put_char(79, 24, 0x8f, 0x4a);
    render(0);
    RenderMode m = render_mode(vga);
    cr_assert_eq(m.kind, RENDER_TEXT);
    cr_assert_eq(surf->width, 720);
    cr_assert_eq(surf->height, 400);
    cr_assert_eq(m.cols, 80);
    cr_assert_eq(m.rows, 25);
    check_cell(3, 2, 'A', ega(std_palette[0xe]), ega(std_palette[1]), false);
    check_cell(79, 24, 0x8f, ega(std_palette[0xa]), ega(std_palette[4]), false);
    /* an untouched cell: character 0 on black */
    check_cell(0, 0, 0, ega(0), ega(0), false);
}

Test(render, text_ninth_column_line_graphics)
{
    load_font_via_cpu(0xc0, 0x30);
    load_font_via_cpu(0x41, 1);
    cr(VGA_CRTC_CURSOR_START, 0x20);
    put_char(0, 0, 0xc4, 0x07);
    put_char(1, 0, 0xdf, 0x07);
    put_char(2, 0, 0xe0, 0x07);
    put_char(3, 0, 0x41, 0x07);
    render(0);
    uint32_t fg = ega(std_palette[7]), bg = ega(0);
    check_cell(0, 0, 0xc4, fg, bg, true);
    check_cell(1, 0, 0xdf, fg, bg, true);
    check_cell(2, 0, 0xe0, fg, bg, false);
    check_cell(3, 0, 0x41, fg, bg, false);
    ar(VGA_ATC_MODE, 0x08); /* line graphics off */
    render(0);
    check_cell(0, 0, 0xc4, fg, bg, false);
    /* 8-dot characters */
    sr(VGA_SEQ_CLOCK_MODE, 0x01);
    render(0);
    cr_assert_eq(surf->width, 640);
    for (unsigned d = 0; d < 8; d++)
        cr_assert_eq(px((int)(8 + d), 3), (glyph_row(0xdf, 3) >> (7 - d)) & 1 ? fg : bg);
}

/* One frame of mode 3: 28.322 MHz dot clock, (0x5f + 5) x 9 dots, 0x1bf + 2 lines. */
static const int64_t frame3 = (int64_t)((0x5f + 5) * 9 * (0x1bf + 2) * 1000000000ull / 28322000);

Test(render, text_cursor_shape_position_and_blink)
{
    load_font_via_cpu(0, 256);
    put_char(10, 5, ' ', 0x2c); /* glyph_row(' ') is not blank: check the cursor's rows only */
    unsigned pos = 5 * 80 + 10;
    cr(VGA_CRTC_CURSOR_HI, (uint8_t)(pos >> 8));
    cr(VGA_CRTC_CURSOR_LO, (uint8_t)pos);
    cr(VGA_CRTC_CURSOR_START, 13);
    cr(VGA_CRTC_CURSOR_END, 14);
    uint32_t fg = ega(std_palette[0xc]);
    render(0);
    for (unsigned y = 13; y <= 14; y++)
        for (unsigned d = 0; d < 9; d++)
            cr_assert_eq(px((int)(90 + d), (int)(80 + y)), fg, "row %u dot %u", y, d);
    uint8_t bits = glyph_row(' ', 12);
    cr_assert_eq(px(90, 92), (bits & 0x80) ? fg : ega(std_palette[2]));
    /* off for frames 8-15, on again from 16 */
    render(8 * frame3 + frame3 / 2);
    cr_assert_eq(px(90, 93), (glyph_row(' ', 13) & 0x80) ? fg : ega(std_palette[2]));
    cr_assert_eq(px(91, 93), (glyph_row(' ', 13) & 0x40) ? fg : ega(std_palette[2]));
    render(16 * frame3 + frame3 / 2);
    cr_assert_eq(px(91, 93), fg);
    cr_assert_neq(render_key(vga, 0), render_key(vga, 8 * frame3 + 1));
    /* disabled, or start after end: no cursor */
    cr(VGA_CRTC_CURSOR_START, 0x2d);
    render(0);
    cr_assert_eq(px(91, 93), (glyph_row(' ', 13) & 0x40) ? fg : ega(std_palette[2]));
    cr(VGA_CRTC_CURSOR_START, 14);
    cr(VGA_CRTC_CURSOR_END, 13);
    render(0);
    cr_assert_eq(px(91, 93), (glyph_row(' ', 13) & 0x40) ? fg : ega(std_palette[2]));
}

Test(render, text_blink_and_background_intensity)
{
    load_font_via_cpu(0, 256);
    cr(VGA_CRTC_CURSOR_START, 0x20);
    put_char(0, 0, 'B', 0xc9); /* blink, background 4 (12 when bit 7 is intensity), fg 9 */
    render(0);                 /* the BIOS default: bit 7 blinks */
    check_cell(0, 0, 'B', ega(std_palette[9]), ega(std_palette[4]), false);
    render(16 * frame3 + 1); /* blink phase off: the foreground takes the background colour */
    check_cell(0, 0, 'B', ega(std_palette[4]), ega(std_palette[4]), false);
    render(32 * frame3 + 1);
    check_cell(0, 0, 'B', ega(std_palette[9]), ega(std_palette[4]), false);
    ar(VGA_ATC_MODE, 0x04); /* bit 7 is background intensity */
    render(16 * frame3 + 1);
    check_cell(0, 0, 'B', ega(std_palette[9]), ega(std_palette[0xc]), false);
}

Test(render, text_second_font_and_palette_path)
{
    /* character map A (attribute bit 3 set) = map 1 at 16 KiB, map B = map 0 */
    static uint8_t font[16];
    for (unsigned i = 0; i < 16; i++)
        font[i] = (uint8_t)(0x80 >> (i & 7));
    vga_load_font(vga, 1, 'C', 1, 16, font);
    load_font_via_cpu('C', 1);
    sr(VGA_SEQ_CHARACTER_MAP, 0x04);
    cr(VGA_CRTC_CURSOR_START, 0x20);
    put_char(0, 0, 'C', 0x0f); /* map A */
    put_char(1, 0, 'C', 0x07); /* map B */
    /* palette register 15 -> DAC 0x3f; give DAC 0x3f a colour of our own */
    dac(0x3f, 10, 20, 30);
    render(0);
    for (unsigned y = 0; y < 16; y++) {
        for (unsigned d = 0; d < 8; d++) {
            cr_assert_eq(px((int)d, (int)y), d == (y & 7) ? rgb6(10, 20, 30) : ega(0));
            bool on = (glyph_row('C', y) >> (7 - d)) & 1;
            cr_assert_eq(px((int)(9 + d), (int)y), on ? ega(std_palette[7]) : ega(0));
        }
    }
    /* colour plane enable drops bit 3; colour select and P54S move the DAC index */
    ar(VGA_ATC_PLANE_ENABLE, 0x07);
    render(0);
    cr_assert_eq(px(0, 0), ega(std_palette[7]));
    ar(VGA_ATC_PLANE_ENABLE, 0x0f);
    ar(VGA_ATC_COLOR_PAGE, 0x05); /* bits 2-3 -> DAC bits 6-7: 0x40 + 0x3f */
    dac(0x7f, 1, 2, 3);
    render(0);
    cr_assert_eq(px(0, 0), rgb6(1, 2, 3));
    ar(VGA_ATC_MODE, 0x80 | 0x0c); /* P54S: bits 0-3 -> DAC bits 4-7, palette bits 0-3 */
    dac(0x5f, 4, 5, 6);
    render(0);
    cr_assert_eq(px(0, 0), rgb6(4, 5, 6));
    /* the pixel mask */
    outb(VGA_PEL_MSK, 0x0f);
    render(0);
    cr_assert_eq(px(0, 0), ega(0x0f));
}

Test(render, text_dump_and_cp437)
{
    const char *msg = "Hi \x01\xc9\xcd\xbb\xb0\xe1";
    for (unsigned i = 0; msg[i]; i++)
        put_char(i, 1, (uint8_t)msg[i], 0x07);
    unsigned pos = 80 + 2;
    cr(VGA_CRTC_CURSOR_HI, 0);
    cr(VGA_CRTC_CURSOR_LO, (uint8_t)pos);
    TextScreen ts;
    cr_assert_eq(render_text_screen(vga, &ts), 0);
    cr_assert_eq(ts.cols, 80);
    cr_assert_eq(ts.rows, 25);
    cr_assert_eq(ts.chars[80], 'H');
    cr_assert_eq(ts.attrs[80], 0x07);
    cr_assert_eq(ts.cursor_row, 1);
    cr_assert_eq(ts.cursor_col, 2);
    char *text = text_screen_utf8(&ts);
    gchar **lines = g_strsplit(text, "\n", -1);
    cr_assert_eq(g_strv_length(lines), 26); /* 25 rows, each ending in a newline */
    cr_assert_eq(g_utf8_strlen(lines[0], -1), 80);
    cr_assert(g_str_has_prefix(lines[1], "Hi \u263a\u2554\u2550\u2557\u2591\u00df "), "%s",
              lines[1]);
    cr_assert_eq(g_utf8_strlen(lines[1], -1), 80);
    g_strfreev(lines);
    g_free(text);
    text_screen_free(&ts);
    char u[4];
    cr_assert_eq(cp437_to_utf8(0x00, u), 1);
    cr_assert_eq(u[0], ' ');
    cr_assert_eq(cp437_to_utf8(0x7f, u), 3);
    cr_assert_eq(memcmp(u, "\u2302", 3), 0);
    cr_assert_eq(cp437_to_utf8(0xff, u), 2);
    cr_assert_eq(memcmp(u, "\u00a0", 2), 0);
    /* no text in a graphics mode */
    set_mode(&mode13);
    cr_assert_eq(render_text_screen(vga, &ts), -1);
    text_screen_free(&ts);
}

/* ---- graphics ---- */

Test(render, mode13_pixel_at_its_place_in_its_colour)
{
    set_mode(&mode13);
    dac(200, 10, 20, 30);
    dac(0, 0, 0, 0);
    mem_w(0xa0000 + 33 * 320 + 17, 200);
    mem_w(0xa0000 + 199 * 320 + 319, 200);
    render(0);
    RenderMode m = render_mode(vga);
    cr_assert_eq(m.kind, RENDER_GRAPHICS);
    cr_assert_eq(m.bpp, 8);
    cr_assert_eq(surf->width, 640); /* every pixel a 2x2 block */
    cr_assert_eq(surf->height, 400);
    uint32_t c = rgb6(10, 20, 30);
    for (int dy = 0; dy < 2; dy++)
        for (int dx = 0; dx < 2; dx++) {
            cr_assert_eq(px(34 + dx, 66 + dy), c);
            cr_assert_eq(px(638 + dx, 398 + dy), c);
        }
    cr_assert_eq(px(33, 66), 0);
    cr_assert_eq(px(36, 66), 0);
    cr_assert_eq(px(34, 65), 0);
    cr_assert_eq(px(34, 68), 0);
    /* every pixel of a full pattern */
    for (unsigned y = 0; y < 200; y++)
        for (unsigned x = 0; x < 320; x++)
            mem_w(0xa0000 + y * 320 + x, (uint8_t)(x ^ y));
    for (unsigned i = 0; i < 256; i++)
        dac((uint8_t)i, (uint8_t)(i & 63), (uint8_t)((i >> 2) & 63), (uint8_t)(63 - (i & 63)));
    render(0);
    for (unsigned y = 0; y < 400; y++)
        for (unsigned x = 0; x < 640; x++) {
            unsigned i = ((x / 2) ^ (y / 2)) & 0xff;
            cr_assert_eq(px((int)x, (int)y), rgb6(i & 63, (i >> 2) & 63, 63 - (i & 63)));
        }
}

Test(render, mode13_line_compare_split)
{
    set_mode(&mode13);
    for (unsigned i = 0; i < 4; i++)
        dac((uint8_t)i, (uint8_t)(i * 10), 0, 0);
    mem_w(0xa0000 + 0, 1);         /* row 0 */
    mem_w(0xa0000 + 100 * 320, 2); /* row 100 */
    /* start the display at row 100 and split at scanline 199: the lower half shows row 0 */
    unsigned start = 100 * 320 / 4;
    cr(VGA_CRTC_START_HI, (uint8_t)(start >> 8));
    cr(VGA_CRTC_START_LO, (uint8_t)start);
    cr(VGA_CRTC_OVERFLOW, 0x1f & ~VGA_CR07_LC8); /* line compare bits 8 and 9 clear */
    cr(VGA_CRTC_MAX_SCAN, 0x01);
    cr(VGA_CRTC_LINE_COMPARE, 199);
    render(0);
    cr_assert_eq(px(0, 0), rgb6(20, 0, 0));
    cr_assert_eq(px(0, 200), rgb6(10, 0, 0));
}

Test(render, mode12_planar_write_mode_2)
{
    set_mode(&mode12);
    for (unsigned i = 0; i < 64; i++)
        dac((uint8_t)i, (uint8_t)(((i >> 2) & 1) * 42 + ((i >> 5) & 1) * 21),
            (uint8_t)(((i >> 1) & 1) * 42 + ((i >> 4) & 1) * 21),
            (uint8_t)((i & 1) * 42 + ((i >> 3) & 1) * 21));
    gr(VGA_GFX_MODE, 0x02);
    const struct {
        unsigned x, y, c;
    } pts[] = {{100, 200, 9}, {101, 200, 14}, {0, 0, 15}, {639, 479, 6}, {320, 240, 1}};
    for (unsigned i = 0; i < sizeof(pts) / sizeof(pts[0]); i++) {
        uint32_t a = 0xa0000 + pts[i].y * 80 + pts[i].x / 8;
        gr(VGA_GFX_BIT_MASK, (uint8_t)(0x80 >> (pts[i].x & 7)));
        (void)mem_r(a); /* load the latches: the other pixels of the byte stay */
        mem_w(a, (uint8_t)pts[i].c);
    }
    render(0);
    cr_assert_eq(surf->width, 640);
    cr_assert_eq(surf->height, 480);
    for (unsigned i = 0; i < sizeof(pts) / sizeof(pts[0]); i++)
        cr_assert_eq(px((int)pts[i].x, (int)pts[i].y), ega(std_palette[pts[i].c]), "point %u", i);
    cr_assert_eq(px(102, 200), ega(0));
    cr_assert_eq(px(99, 200), ega(0));
    /* horizontal panning by 3 pixels */
    ar(VGA_ATC_PEL, 3);
    render(0);
    cr_assert_eq(px(97, 200), ega(std_palette[9]));
}

Test(render, cga_mode4_interleaved_scanlines)
{
    set_mode(&mode04);
    for (unsigned i = 0; i < 64; i++)
        dac((uint8_t)i, (uint8_t)(((i >> 2) & 1) * 42 + ((i >> 5) & 1) * 21),
            (uint8_t)(((i >> 1) & 1) * 42 + ((i >> 4) & 1) * 21),
            (uint8_t)((i & 1) * 42 + ((i >> 3) & 1) * 21));
    /* CGA layout: even lines at 0xB8000, odd lines at 0xBA000, 80 bytes a line, 4 pixels a
     * byte from bit 7 */
    const struct {
        unsigned x, y, c;
    } pts[] = {{5, 7, 3}, {6, 7, 1}, {0, 0, 2}, {319, 199, 3}, {160, 100, 1}};
    for (unsigned i = 0; i < sizeof(pts) / sizeof(pts[0]); i++) {
        uint32_t a = 0xb8000 + (pts[i].y & 1) * 0x2000 + (pts[i].y / 2) * 80 + pts[i].x / 4;
        unsigned sh = 6 - 2 * (pts[i].x & 3);
        mem_w(a, (uint8_t)(mem_r(a) | pts[i].c << sh));
    }
    render(0);
    cr_assert_eq(surf->width, 640);
    cr_assert_eq(surf->height, 400);
    for (unsigned i = 0; i < sizeof(pts) / sizeof(pts[0]); i++)
        for (int d = 0; d < 4; d++)
            cr_assert_eq(px((int)pts[i].x * 2 + (d & 1), (int)pts[i].y * 2 + d / 2),
                         ega(mode04.ar[pts[i].c]), "point %u", i);
    cr_assert_eq(px(14, 14), ega(0));
}

Test(render, blanking)
{
    set_mode(&mode13);
    dac(0, 63, 63, 63);
    render(0);
    cr_assert_eq(px(0, 0), 0xffffff);
    inb(VGA_IS1_RC);
    outb(VGA_ATT_W, 0x00); /* the palette belongs to the CPU: no picture */
    render(0);
    cr_assert_eq(render_mode(vga).kind, RENDER_BLANK);
    cr_assert_eq(px(0, 0), 0);
    outb(VGA_ATT_W, 0x20);
    inb(VGA_IS1_RC);
    outb(VGA_ATT_W, 0x20);
    sr(VGA_SEQ_CLOCK_MODE, 0x21); /* screen off */
    render(0);
    cr_assert_eq(px(0, 0), 0);
    sr(VGA_SEQ_CLOCK_MODE, 0x01);
    render(0);
    cr_assert_eq(px(0, 0), 0xffffff);
}

/* ---- VBE ---- */

static void vbe_set(unsigned x, unsigned y, unsigned bpp, uint16_t flags)
{
    dispi_w(VBE_DISPI_INDEX_ENABLE, 0);
    dispi_w(VBE_DISPI_INDEX_XRES, (uint16_t)x);
    dispi_w(VBE_DISPI_INDEX_YRES, (uint16_t)y);
    dispi_w(VBE_DISPI_INDEX_BPP, (uint16_t)bpp);
    dispi_w(VBE_DISPI_INDEX_ENABLE, VBE_DISPI_ENABLED | VBE_DISPI_LFB_ENABLED | flags);
}

static void lfb_w(uint32_t off, const void *p, size_t n)
{
    cr_assert_eq(as_write(as, VBE_DISPI_LFB_PHYSICAL_ADDRESS + off, p, n), MEM_OK);
}

Test(render, vbe_depths)
{
    cr_assert_eq(vga_map_lfb(vga, VBE_DISPI_LFB_PHYSICAL_ADDRESS), 0);
    vbe_set(64, 48, 32, 0);
    uint32_t p32 = 0x00123456;
    lfb_w((10 * 64 + 5) * 4, &p32, 4);
    render(0);
    cr_assert_eq(render_mode(vga).kind, RENDER_VBE);
    cr_assert_eq(surf->width, 64);
    cr_assert_eq(surf->height, 48);
    cr_assert_eq(px(5, 10), 0x123456);
    cr_assert_eq(px(4, 10), 0);

    vbe_set(64, 48, 24, 0);
    uint8_t p24[3] = {0x56, 0x34, 0x12}; /* blue, green, red */
    lfb_w((10 * 64 + 5) * 3, p24, 3);
    render(0);
    cr_assert_eq(px(5, 10), 0x123456);

    vbe_set(64, 48, 16, 0);
    uint16_t p16[3] = {0xf800, 0x07e0, 0x001f};
    lfb_w(0, p16, 6);
    uint16_t g = 0x8410; /* 10000 100000 10000 */
    lfb_w(2 * 64 * 2, &g, 2);
    render(0);
    cr_assert_eq(px(0, 0), 0xff0000);
    cr_assert_eq(px(1, 0), 0x00ff00);
    cr_assert_eq(px(2, 0), 0x0000ff);
    cr_assert_eq(px(0, 2), (uint32_t)((16 << 3 | 16 >> 2) << 16 | (32 << 2 | 32 >> 4) << 8 |
                                      (16 << 3 | 16 >> 2)));

    vbe_set(64, 48, 15, 0);
    uint16_t p15[2] = {0x7c00, 0x03e0};
    lfb_w(0, p15, 4);
    render(0);
    cr_assert_eq(px(0, 0), 0xff0000);
    cr_assert_eq(px(1, 0), 0x00ff00);

    vbe_set(64, 48, 8, 0);
    dac(7, 63, 32, 1);
    uint8_t p8 = 7;
    lfb_w(47 * 64 + 63, &p8, 1);
    render(0);
    cr_assert_eq(px(63, 47), rgb6(63, 32, 1));
    dispi_w(VBE_DISPI_INDEX_ENABLE, VBE_DISPI_ENABLED | VBE_DISPI_8BIT_DAC);
    dac(7, 0x81, 0x42, 0x03);
    render(0);
    cr_assert_eq(px(63, 47), 0x814203);
}

Test(render, vbe_display_start)
{
    cr_assert_eq(vga_map_lfb(vga, VBE_DISPI_LFB_PHYSICAL_ADDRESS), 0);
    vbe_set(64, 48, 32, 0);
    dispi_w(VBE_DISPI_INDEX_VIRT_WIDTH, 128);
    uint32_t v = 0xabcdef;
    lfb_w((3 * 128 + 20) * 4, &v, 4);
    dispi_w(VBE_DISPI_INDEX_X_OFFSET, 16);
    dispi_w(VBE_DISPI_INDEX_Y_OFFSET, 2);
    render(0);
    cr_assert_eq(px(4, 1), 0xabcdef);
}

Test(render, vbe_planar_4bpp)
{
    vbe_set(800, 600, 4, 0);
    /* the VGA's planar path, as the BIOS leaves it for mode 0x102 */
    outb(VGA_MIS_W, 0xe3);
    sr(VGA_SEQ_PLANE_WRITE, 0x0f);
    sr(VGA_SEQ_MEMORY_MODE, 0x06);
    gr(VGA_GFX_MISC, 0x05);
    gr(VGA_GFX_MODE, 0x02);
    gr(VGA_GFX_BIT_MASK, 0x01);
    uint32_t off = 599 * 100 + 99; /* pixel (799, 599): plane byte 59999 */
    dispi_w(VBE_DISPI_INDEX_BANK, (uint16_t)(off >> 16));
    (void)mem_r(0xa0000 + (off & 0xffff));
    mem_w(0xa0000 + (off & 0xffff), 0x0c);
    render(0);
    cr_assert_eq(surf->width, 800);
    cr_assert_eq(px(799, 599), ega(std_palette[0xc]));
    cr_assert_eq(px(798, 599), ega(0));
}

/* ---- files ---- */

Test(render, png_round_trip)
{
    Surface *s = surface_new(7, 5);
    for (int y = 0; y < 5; y++)
        for (int x = 0; x < 7; x++)
            surface_row(s, y)[x] = (uint32_t)(x * 0x250000 + y * 0x3300 + (x ^ y) * 17);
    char path[] = "/tmp/test_render_XXXXXX.png";
    int fd = mkstemps(path, 4);
    cr_assert_geq(fd, 0);
    close(fd);
    char err[256];
    cr_assert_eq(surface_write_png(s, path, err, sizeof(err)), 0, "%s", err);
    png_image img;
    memset(&img, 0, sizeof(img));
    img.version = PNG_IMAGE_VERSION;
    cr_assert(png_image_begin_read_from_file(&img, path), "%s", img.message);
    cr_assert_eq(img.width, 7);
    cr_assert_eq(img.height, 5);
    img.format = PNG_FORMAT_RGB;
    uint8_t buf[7 * 5 * 3];
    cr_assert(png_image_finish_read(&img, NULL, buf, 0, NULL), "%s", img.message);
    for (int y = 0; y < 5; y++)
        for (int x = 0; x < 7; x++) {
            uint32_t want = surface_row(s, y)[x];
            const uint8_t *p = buf + (y * 7 + x) * 3;
            cr_assert_eq((uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2], want);
        }
    unlink(path);
    surface_free(s);
    cr_assert_neq(surface_write_png(surf, "/nonexistent-dir/x.png", err, sizeof(err)), 0);
    cr_assert_not_null(strstr(err, "/nonexistent-dir/x.png"), "%s", err);
}

Test(render, screenshot_files)
{
    put_char(0, 0, 'o', 0x07);
    put_char(1, 0, 'k', 0x07);
    char png[] = "/tmp/test_render_XXXXXX.png", txt[] = "/tmp/test_render_XXXXXX.txt";
    close(mkstemps(png, 4));
    close(mkstemps(txt, 4));
    char err[256];
    cr_assert_eq(screenshot_save(vga, png, txt, err, sizeof(err)), 0, "%s", err);
    gchar *text = NULL;
    gsize len = 0;
    cr_assert(g_file_get_contents(txt, &text, &len, NULL));
    cr_assert_eq(len, 25 * 81);
    cr_assert(g_str_has_prefix(text, "ok  "));
    g_free(text);
    set_mode(&mode13);
    cr_assert_eq(screenshot_save(vga, NULL, txt, err, sizeof(err)), 0, "%s", err);
    cr_assert(g_file_get_contents(txt, &text, &len, NULL));
    cr_assert_eq(len, 0);
    g_free(text);
    unlink(png);
    unlink(txt);
}

Test(render, key_and_forty_columns)
{
    uint64_t k = render_key(vga, 0);
    cr_assert_eq(render_key(vga, 0), k);
    put_char(0, 0, 'x', 0x07);
    cr_assert_neq(render_key(vga, 0), k);
    /* 40x25: the halved dot clock makes each 9-dot character 18 pixels wide */
    sr(VGA_SEQ_CLOCK_MODE, 0x08);
    cr(VGA_CRTC_V_SYNC_END, 0x0e); /* unlock CR0-CR7 (mode 3 leaves them locked) */
    cr(VGA_CRTC_H_DISP, 0x27);
    RenderMode m = render_mode(vga);
    cr_assert_eq(m.cols, 40);
    cr_assert_eq(m.char_width, 18);
    render(0);
    cr_assert_eq(surf->width, 720);
    cr_assert_eq(surf->height, 400);
}
