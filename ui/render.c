#include "ui/render.h"

#include <errno.h>
#include <string.h>

#include <glib.h>

/* The longest scanline the CRTC can describe: 256 character clocks of 9 dots, plus one
 * character for pixel panning. */
#define MAX_DOTS ((256 + 1) * 9)

Surface *surface_new(int width, int height)
{
    Surface *s = g_new0(Surface, 1);
    if (surface_resize(s, width, height)) {
        g_free(s);
        return NULL;
    }
    return s;
}

void surface_free(Surface *s)
{
    if (!s)
        return;
    g_free(s->pixels);
    g_free(s);
}

int surface_resize(Surface *s, int width, int height)
{
    if (width < 1)
        width = 1;
    if (height < 1)
        height = 1;
    if (s->pixels && s->width == width && s->height == height)
        return 0;
    uint32_t *p = g_try_new(uint32_t, (size_t)width * (size_t)height);
    if (!p)
        return -ENOMEM;
    g_free(s->pixels);
    s->pixels = p;
    s->width = width;
    s->height = height;
    s->stride = width;
    return 0;
}

/* ---------------------------------------------------------------- colours */

static inline uint32_t c6to8(uint32_t v)
{
    v &= 0x3f;
    return (uint32_t)((v << 2) | (v >> 4));
}

static inline uint32_t c5to8(uint32_t v)
{
    return (v << 3) | (v >> 2);
}

static uint32_t dac_rgb(const VgaRegs *r, uint8_t index, bool dac8)
{
    const uint8_t *c = r->dac[index & r->dac_mask];
    if (dac8)
        return (uint32_t)c[0] << 16 | (uint32_t)c[1] << 8 | c[2];
    return c6to8(c[0]) << 16 | c6to8(c[1]) << 8 | c6to8(c[2]);
}

/* The attribute controller's path from a 4-bit pixel to a DAC index. */
static uint8_t attr_to_dac(const VgaRegs *r, uint8_t v)
{
    uint8_t p = r->ar[v & r->ar[VGA_ATC_PLANE_ENABLE] & 0x0f];
    uint8_t cs = r->ar[VGA_ATC_COLOR_PAGE];
    if (r->ar[VGA_ATC_MODE] & VGA_AR10_P54S)
        return (uint8_t)((p & 0x0f) | (cs & 0x0f) << 4);
    return (uint8_t)((p & 0x3f) | (cs & 0x0c) << 4);
}

static void lut16_fill(const VgaRegs *r, bool dac8, uint32_t lut[16])
{
    for (unsigned i = 0; i < 16; i++)
        lut[i] = dac_rgb(r, attr_to_dac(r, (uint8_t)i), dac8);
}

static void lut256_fill(const VgaRegs *r, bool dac8, uint32_t lut[256])
{
    for (unsigned i = 0; i < 256; i++)
        lut[i] = dac_rgb(r, (uint8_t)i, dac8);
}

/* ---------------------------------------------------------------- CRTC geometry */

static unsigned vertical_display_end(const VgaRegs *r)
{
    return r->cr[VGA_CRTC_V_DISP_END] | (r->cr[VGA_CRTC_OVERFLOW] & VGA_CR07_VDE8) << 7 |
           (r->cr[VGA_CRTC_OVERFLOW] & VGA_CR07_VDE9) << 3;
}

static unsigned line_compare(const VgaRegs *r)
{
    return r->cr[VGA_CRTC_LINE_COMPARE] | (r->cr[VGA_CRTC_OVERFLOW] & VGA_CR07_LC8) << 4 |
           (r->cr[VGA_CRTC_MAX_SCAN] & VGA_CR09_LC9) << 3;
}

static uint32_t start_address(const VgaRegs *r)
{
    return (uint32_t)r->cr[VGA_CRTC_START_HI] << 8 | r->cr[VGA_CRTC_START_LO];
}

static bool blanked(const VgaRegs *r)
{
    return !(r->ar_index & VGA_AR_INDEX_PAS) || (r->sr[VGA_SEQ_CLOCK_MODE] & VGA_SR01_SCREEN_OFF) ||
           (r->sr[VGA_SEQ_RESET] & 3) != 3;
}

/* One frame at the timing the CRTC and the clock select describe; a sane 60 Hz if they
 * describe nonsense. */
static int64_t frame_ns(const VgaRegs *r)
{
    static const uint64_t dot_hz[4] = {25175000, 28322000, 25175000, 25175000};
    uint64_t dot = dot_hz[(r->misc & VGA_MIS_CLOCK_MASK) >> 2];
    uint64_t cw = (r->sr[VGA_SEQ_CLOCK_MODE] & VGA_SR01_CHAR_CLK_8DOTS) ? 8 : 9;
    uint64_t htotal = (r->cr[VGA_CRTC_H_TOTAL] + 5u) * cw *
                      ((r->sr[VGA_SEQ_CLOCK_MODE] & VGA_SR01_DOT_CLK_DIV2) ? 2 : 1);
    uint64_t vtotal = (r->cr[VGA_CRTC_V_TOTAL] | (r->cr[VGA_CRTC_OVERFLOW] & VGA_CR07_VT8) << 8 |
                       (r->cr[VGA_CRTC_OVERFLOW] & VGA_CR07_VT9) << 4) +
                      2u;
    uint64_t ns = htotal * vtotal * 1000000000ull / dot;
    return ns < 1000000 ? 16666667 : (int64_t)ns;
}

typedef struct Phases {
    bool cursor_on, blink_on;
} Phases;

static Phases phases_at(const VgaRegs *r, int64_t now_ns)
{
    uint64_t frame = now_ns <= 0 ? 0 : (uint64_t)(now_ns / frame_ns(r));
    Phases p = {!((frame >> 3) & 1), !((frame >> 4) & 1)};
    return p;
}

RenderMode render_mode(VgaState *vga)
{
    const VgaRegs *r = vga_regs(vga);
    VbeMode vm = vga_vbe_mode(vga);
    RenderMode m = {0};
    if (vm.enabled) {
        m.kind = RENDER_VBE;
        m.width = (int)vm.xres;
        m.height = (int)vm.yres;
        m.bpp = (int)vm.bpp;
        return m;
    }
    unsigned dclk = (r->sr[VGA_SEQ_CLOCK_MODE] & VGA_SR01_DOT_CLK_DIV2) ? 2 : 1;
    unsigned chars = r->cr[VGA_CRTC_H_DISP] + 1u;
    m.height = (int)vertical_display_end(r) + 1;
    if (r->gr[VGA_GFX_MISC] & VGA_GR06_GRAPHICS_MODE) {
        uint8_t gr5 = r->gr[VGA_GFX_MODE];
        m.kind = RENDER_GRAPHICS;
        m.width = (int)(chars * 8 * dclk);
        m.bpp = (gr5 & VGA_GR05_SHIFT_256) ? 8 : (gr5 & VGA_GR05_SHIFT_INTERLEAVE) ? 2 : 4;
    } else {
        unsigned cw = (r->sr[VGA_SEQ_CLOCK_MODE] & VGA_SR01_CHAR_CLK_8DOTS) ? 8 : 9;
        m.kind = RENDER_TEXT;
        m.cols = (int)chars;
        m.char_width = (int)(cw * dclk);
        m.char_height = ((r->cr[VGA_CRTC_MAX_SCAN] & VGA_CR09_MAX_SCAN_MASK) + 1)
                        << ((r->cr[VGA_CRTC_MAX_SCAN] & VGA_CR09_DOUBLE_SCAN) ? 1 : 0);
        m.rows = m.height / m.char_height;
        m.width = m.cols * m.char_width;
    }
    if (blanked(r))
        m.kind = RENDER_BLANK;
    return m;
}

/* ---------------------------------------------------------------- the scanline walk */

/* The CRTC's counters from one scanline to the next: the row start address, the row scan
 * counter (from the preset row scan, wrapping at the maximum scan line, each value twice with
 * double scanning), and the line compare split that restarts both at zero. */
typedef struct Scan {
    uint32_t ma_row;
    unsigned rs;
    bool second; /* double scan: the repeat of this row scan value */
    bool split;  /* below the line compare */
} Scan;

static void scan_start(const VgaRegs *r, Scan *sc)
{
    sc->ma_row = start_address(r);
    sc->rs = r->cr[VGA_CRTC_PRESET_ROW] & 0x1f;
    sc->second = false;
    sc->split = false;
}

static void scan_next(const VgaRegs *r, Scan *sc, unsigned y)
{
    if (y == line_compare(r)) {
        sc->ma_row = 0;
        sc->rs = 0;
        sc->second = false;
        sc->split = true;
        return;
    }
    if (r->cr[VGA_CRTC_MAX_SCAN] & VGA_CR09_DOUBLE_SCAN) {
        sc->second = !sc->second;
        if (sc->second)
            return;
    }
    if (sc->rs >= (r->cr[VGA_CRTC_MAX_SCAN] & VGA_CR09_MAX_SCAN_MASK)) {
        sc->rs = 0;
        sc->ma_row += 2u * r->cr[VGA_CRTC_OFFSET];
    } else {
        sc->rs++;
    }
}

/* Horizontal pixel panning in dots (9-dot text counts 8 as none and 0-7 as 1-8). */
static unsigned pan_dots(const VgaRegs *r, const Scan *sc, bool nine)
{
    if (sc->split && (r->ar[VGA_ATC_MODE] & VGA_AR10_PAN_COMPAT))
        return 0;
    unsigned v = r->ar[VGA_ATC_PEL] & 0x0f;
    if (nine)
        return v >= 8 ? 0 : v + 1;
    return v & 7;
}

/* Send one line of attribute-controller inputs (one per dot, dclk surface pixels each) out
 * through the lookup table. */
static void emit_line(uint32_t *out, int width, const uint8_t *dots, unsigned pan, unsigned dclk,
                      const uint32_t *lut)
{
    for (int x = 0; x < width; x++)
        out[x] = lut[dots[(unsigned)x / dclk + pan]];
}

/* ---------------------------------------------------------------- text */

static uint32_t font_base(unsigned map)
{
    return ((map & 3) * 2 + ((map >> 2) & 1)) * 0x2000;
}

static void draw_text(VgaState *vga, Surface *dst, const RenderMode *m, int64_t now_ns)
{
    const VgaRegs *r = vga_regs(vga);
    const uint8_t *vram = vga_vram(vga);
    uint32_t lut[16];
    lut16_fill(r, false, lut);
    Phases ph = phases_at(r, now_ns);

    uint8_t cms = r->sr[VGA_SEQ_CHARACTER_MAP];
    uint32_t font_b = font_base((cms & 3) | ((cms >> 2) & 4));        /* attribute bit 3 = 0 */
    uint32_t font_a = font_base(((cms >> 2) & 3) | ((cms >> 3) & 4)); /* attribute bit 3 = 1 */
    unsigned cw = (r->sr[VGA_SEQ_CLOCK_MODE] & VGA_SR01_CHAR_CLK_8DOTS) ? 8 : 9;
    unsigned dclk = (unsigned)m->char_width / cw;
    bool blink = r->ar[VGA_ATC_MODE] & VGA_AR10_BLINK;
    bool lge = r->ar[VGA_ATC_MODE] & VGA_AR10_LINE_GFX;
    unsigned underline = r->cr[VGA_CRTC_UNDERLINE] & 0x1f;
    unsigned cur_start = r->cr[VGA_CRTC_CURSOR_START] & 0x1f;
    unsigned cur_end = r->cr[VGA_CRTC_CURSOR_END] & 0x1f;
    bool cursor = ph.cursor_on && !(r->cr[VGA_CRTC_CURSOR_START] & VGA_CR0A_CURSOR_OFF);
    uint32_t cursor_ma = ((uint32_t)r->cr[VGA_CRTC_CURSOR_HI] << 8 | r->cr[VGA_CRTC_CURSOR_LO]) +
                         ((r->cr[VGA_CRTC_CURSOR_END] & VGA_CR0B_SKEW_MASK) >> 5);
    unsigned byte_pan = (r->cr[VGA_CRTC_PRESET_ROW] >> 5) & 3;

    uint8_t dots[MAX_DOTS];
    Scan sc;
    scan_start(r, &sc);
    for (int y = 0; y < dst->height; y++) {
        unsigned pan = pan_dots(r, &sc, cw == 9);
        unsigned nchars = (unsigned)m->cols + (pan ? 1 : 0);
        for (unsigned c = 0; c < nchars; c++) {
            uint32_t ma = sc.ma_row + byte_pan + c;
            uint32_t a = vga_crtc_address(r, ma, sc.rs);
            uint8_t ch = vram[4 * a], at = vram[4 * a + 1];
            uint32_t glyph = ((at & 8) ? font_a : font_b) + ch * 32u + (sc.rs & 31);
            uint8_t bits = vram[4 * glyph + 2];
            uint8_t fg = at & 0x0f, bg = at >> 4;
            if (blink) {
                bg &= 7;
                if ((at & 0x80) && !ph.blink_on)
                    fg = bg;
            }
            bool nine = lge && (ch & 0xe0) == 0xc0 && (bits & 1);
            if ((at & 0x77) == 0x01 && sc.rs == underline) { /* monochrome-style underline */
                bits = 0xff;
                nine = true;
            }
            if (cursor && (ma & 0xffff) == (cursor_ma & 0xffff) && sc.rs >= cur_start &&
                sc.rs <= cur_end) {
                fg = at & 0x0f; /* the cursor does not blink with the character */
                bits = 0xff;
                nine = true;
            }
            uint8_t *d = dots + c * cw;
            for (unsigned i = 0; i < 8; i++)
                d[i] = (bits & (0x80 >> i)) ? fg : bg;
            if (cw == 9)
                d[8] = nine ? fg : bg;
        }
        emit_line(surface_row(dst, y), dst->width, dots, pan, dclk, lut);
        scan_next(r, &sc, (unsigned)y);
    }
}

/* ---------------------------------------------------------------- VGA graphics */

static void draw_graphics(VgaState *vga, Surface *dst, const RenderMode *m)
{
    const VgaRegs *r = vga_regs(vga);
    const uint8_t *vram = vga_vram(vga);
    uint32_t lut[256];
    bool c256 = m->bpp == 8;
    if (c256)
        lut256_fill(r, false, lut);
    else
        lut16_fill(r, false, lut);
    unsigned dclk = (r->sr[VGA_SEQ_CLOCK_MODE] & VGA_SR01_DOT_CLK_DIV2) ? 2 : 1;
    unsigned chars = r->cr[VGA_CRTC_H_DISP] + 1u;
    unsigned count_shift = (r->cr[VGA_CRTC_UNDERLINE] & VGA_CR14_COUNT_BY_4) ? 2
                           : (r->cr[VGA_CRTC_MODE] & VGA_CR17_COUNT_BY_2)    ? 1
                                                                             : 0;
    unsigned byte_pan = (r->cr[VGA_CRTC_PRESET_ROW] >> 5) & 3;

    uint8_t dots[MAX_DOTS];
    Scan sc;
    scan_start(r, &sc);
    for (int y = 0; y < dst->height; y++) {
        unsigned pan = pan_dots(r, &sc, false);
        unsigned nchars = chars + (pan ? 1 : 0);
        for (unsigned c = 0; c < nchars; c++) {
            uint32_t a = vga_crtc_address(r, sc.ma_row + byte_pan + (c >> count_shift), sc.rs);
            const uint8_t *p = vram + 4 * a;
            uint8_t *d = dots + 8 * c;
            if (c256) { /* four pixels from the four planes, two dots each */
                for (unsigned i = 0; i < 4; i++)
                    d[2 * i] = d[2 * i + 1] = p[i];
            } else if (m->bpp == 2) { /* CGA: 2-bit pixels, plane 0 then plane 1 (2, 3 high) */
                for (unsigned i = 0; i < 8; i++) {
                    unsigned sh = 6 - 2 * (i & 3), lo = i < 4 ? 0 : 1;
                    d[i] = (uint8_t)(((p[lo] >> sh) & 3) | ((p[lo + 2] >> sh) & 3) << 2);
                }
            } else { /* planar: bit 7 first, plane p gives pixel bit p */
                for (unsigned i = 0; i < 8; i++) {
                    unsigned b = 7 - i;
                    d[i] = (uint8_t)(((p[0] >> b) & 1) | ((p[1] >> b) & 1) << 1 |
                                     ((p[2] >> b) & 1) << 2 | ((p[3] >> b) & 1) << 3);
                }
            }
        }
        if (!c256)
            for (unsigned i = 0; i < nchars * 8; i++)
                dots[i] &= 0x0f;
        emit_line(surface_row(dst, y), dst->width, dots, pan, dclk, lut);
        scan_next(r, &sc, (unsigned)y);
    }
}

/* ---------------------------------------------------------------- VBE */

static void draw_vbe(VgaState *vga, Surface *dst)
{
    const VgaRegs *r = vga_regs(vga);
    const uint8_t *vram = vga_vram(vga);
    uint64_t vram_size = vga_vram_size(vga);
    VbeMode vm = vga_vbe_mode(vga);
    uint32_t lut[256];
    if (vm.bpp == 4)
        lut16_fill(r, vm.dac_8bit, lut);
    else
        lut256_fill(r, vm.dac_8bit, lut);
    uint64_t need = vm.bpp == 4 ? vm.xres / 8 : (uint64_t)vm.xres * ((vm.bpp + 7) / 8);
    uint64_t cap = vm.bpp == 4 ? vram_size / 4 : vram_size;

    for (int y = 0; y < dst->height; y++) {
        uint32_t *out = surface_row(dst, y);
        uint64_t off = vm.start + (uint64_t)y * vm.line_bytes;
        if (off + need > cap) {
            memset(out, 0, sizeof(uint32_t) * (size_t)dst->width);
            continue;
        }
        const uint8_t *row = vram + off;
        for (int x = 0; x < dst->width; x++) {
            const uint8_t *p;
            uint32_t v;
            switch (vm.bpp) {
            case 4:
                p = vram + 4 * (off + (unsigned)x / 8);
                v = 7 - ((unsigned)x & 7);
                out[x] = lut[((p[0] >> v) & 1) | ((p[1] >> v) & 1) << 1 | ((p[2] >> v) & 1) << 2 |
                             ((p[3] >> v) & 1) << 3];
                break;
            case 8:
                out[x] = lut[row[x]];
                break;
            case 15:
                v = row[2 * x] | (uint32_t)row[2 * x + 1] << 8;
                out[x] = c5to8((v >> 10) & 31) << 16 | c5to8((v >> 5) & 31) << 8 | c5to8(v & 31);
                break;
            case 16:
                v = row[2 * x] | (uint32_t)row[2 * x + 1] << 8;
                out[x] = c5to8(v >> 11) << 16 | c6to8((v >> 5) & 63) << 8 | c5to8(v & 31);
                break;
            case 24:
                p = row + 3 * x;
                out[x] = (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
                break;
            default: /* 32 */
                p = row + 4 * x;
                out[x] = (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
                break;
            }
        }
    }
}

int vga_render(VgaState *vga, Surface *dst, int64_t now_ns)
{
    RenderMode m = render_mode(vga);
    if (surface_resize(dst, m.width, m.height))
        return -ENOMEM;
    switch (m.kind) {
    case RENDER_TEXT:
        draw_text(vga, dst, &m, now_ns);
        break;
    case RENDER_GRAPHICS:
        draw_graphics(vga, dst, &m);
        break;
    case RENDER_VBE:
        draw_vbe(vga, dst);
        break;
    default:
        for (int y = 0; y < dst->height; y++)
            memset(surface_row(dst, y), 0, sizeof(uint32_t) * (size_t)dst->width);
        break;
    }
    return 0;
}

uint64_t render_key(VgaState *vga, int64_t now_ns)
{
    Phases ph = phases_at(vga_regs(vga), now_ns);
    return vga_generation(vga) << 2 | (uint64_t)ph.cursor_on << 1 | ph.blink_on;
}

/* ---------------------------------------------------------------- text screen */

int render_text_screen(VgaState *vga, TextScreen *ts)
{
    const VgaRegs *r = vga_regs(vga);
    const uint8_t *vram = vga_vram(vga);
    memset(ts, 0, sizeof(*ts));
    ts->cursor_col = ts->cursor_row = -1;
    if (vga_vbe_mode(vga).enabled || (r->gr[VGA_GFX_MISC] & VGA_GR06_GRAPHICS_MODE))
        return -1;
    unsigned chh = ((r->cr[VGA_CRTC_MAX_SCAN] & VGA_CR09_MAX_SCAN_MASK) + 1u)
                   << ((r->cr[VGA_CRTC_MAX_SCAN] & VGA_CR09_DOUBLE_SCAN) ? 1 : 0);
    ts->cols = r->cr[VGA_CRTC_H_DISP] + 1;
    ts->rows = (int)((vertical_display_end(r) + 1) / chh);
    ts->chars = g_new0(uint8_t, (size_t)ts->cols * (size_t)(ts->rows ? ts->rows : 1));
    ts->attrs = g_new0(uint8_t, (size_t)ts->cols * (size_t)(ts->rows ? ts->rows : 1));
    uint32_t cursor = (uint32_t)r->cr[VGA_CRTC_CURSOR_HI] << 8 | r->cr[VGA_CRTC_CURSOR_LO];
    bool cursor_on = !(r->cr[VGA_CRTC_CURSOR_START] & VGA_CR0A_CURSOR_OFF) &&
                     (r->cr[VGA_CRTC_CURSOR_START] & 0x1f) <= (r->cr[VGA_CRTC_CURSOR_END] & 0x1f);
    uint32_t ma_row = start_address(r);
    for (int y = 0; y < ts->rows; y++) {
        for (int x = 0; x < ts->cols; x++) {
            uint32_t ma = ma_row + (uint32_t)x;
            uint32_t a = vga_crtc_address(r, ma, 0);
            ts->chars[y * ts->cols + x] = vram[4 * a];
            ts->attrs[y * ts->cols + x] = vram[4 * a + 1];
            if (cursor_on && (ma & 0xffff) == cursor && ts->cursor_row < 0) {
                ts->cursor_row = y;
                ts->cursor_col = x;
            }
        }
        ma_row += 2u * r->cr[VGA_CRTC_OFFSET];
    }
    return 0;
}

void text_screen_free(TextScreen *ts)
{
    g_free(ts->chars);
    g_free(ts->attrs);
    ts->chars = ts->attrs = NULL;
}
