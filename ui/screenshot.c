#include "ui/screenshot.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>
#include <png.h>

int surface_write_png(const Surface *s, const char *path, char *err, size_t errlen)
{
    size_t row = (size_t)s->width * 3;
    uint8_t *rgb = g_try_malloc(row * (size_t)s->height);
    if (!rgb) {
        snprintf(err, errlen, "%s: no memory for a %dx%d image", path, s->width, s->height);
        return -1;
    }
    for (int y = 0; y < s->height; y++) {
        const uint32_t *in = surface_row(s, y);
        uint8_t *out = rgb + (size_t)y * row;
        for (int x = 0; x < s->width; x++) {
            out[3 * x] = (uint8_t)(in[x] >> 16);
            out[3 * x + 1] = (uint8_t)(in[x] >> 8);
            out[3 * x + 2] = (uint8_t)in[x];
        }
    }
    png_image img;
    memset(&img, 0, sizeof(img));
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)s->width;
    img.height = (png_uint_32)s->height;
    img.format = PNG_FORMAT_RGB;
    errno = 0;
    int ok = png_image_write_to_file(&img, path, 0, rgb, (png_int_32)row, NULL);
    g_free(rgb);
    if (!ok) {
        /* libpng names no errno; fopen failing is by far the likeliest cause */
        snprintf(err, errlen, "%s: cannot write the PNG: %s%s%s", path, img.message,
                 errno ? ": " : "", errno ? strerror(errno) : "");
        png_image_free(&img);
        return -1;
    }
    return 0;
}

int screenshot_png(VgaState *vga, const char *path, int64_t now_ns, char *err, size_t errlen)
{
    Surface *s = surface_new(1, 1);
    if (!s || vga_render(vga, s, now_ns)) {
        snprintf(err, errlen, "%s: no memory to draw the screen", path);
        surface_free(s);
        return -1;
    }
    int rc = surface_write_png(s, path, err, errlen);
    surface_free(s);
    return rc;
}

/* Code page 437 as Unicode names its glyphs: the graphic characters IBM's font draws for the
 * control codes 0x01-0x1f and 0x7f, then the upper half. */
static const uint16_t cp437_low[32] = {
    0x0020, 0x263a, 0x263b, 0x2665, 0x2666, 0x2663, 0x2660, 0x2022, 0x25d8, 0x25cb, 0x25d9,
    0x2642, 0x2640, 0x266a, 0x266b, 0x263c, 0x25ba, 0x25c4, 0x2195, 0x203c, 0x00b6, 0x00a7,
    0x25ac, 0x21a8, 0x2191, 0x2193, 0x2192, 0x2190, 0x221f, 0x2194, 0x25b2, 0x25bc,
};

static const uint16_t cp437_high[128] = {
    /* 0x80 */ 0x00c7, 0x00fc, 0x00e9, 0x00e2, 0x00e4, 0x00e0, 0x00e5, 0x00e7,
    /* 0x88 */ 0x00ea, 0x00eb, 0x00e8, 0x00ef, 0x00ee, 0x00ec, 0x00c4, 0x00c5,
    /* 0x90 */ 0x00c9, 0x00e6, 0x00c6, 0x00f4, 0x00f6, 0x00f2, 0x00fb, 0x00f9,
    /* 0x98 */ 0x00ff, 0x00d6, 0x00dc, 0x00a2, 0x00a3, 0x00a5, 0x20a7, 0x0192,
    /* 0xa0 */ 0x00e1, 0x00ed, 0x00f3, 0x00fa, 0x00f1, 0x00d1, 0x00aa, 0x00ba,
    /* 0xa8 */ 0x00bf, 0x2310, 0x00ac, 0x00bd, 0x00bc, 0x00a1, 0x00ab, 0x00bb,
    /* 0xb0 */ 0x2591, 0x2592, 0x2593, 0x2502, 0x2524, 0x2561, 0x2562, 0x2556,
    /* 0xb8 */ 0x2555, 0x2563, 0x2551, 0x2557, 0x255d, 0x255c, 0x255b, 0x2510,
    /* 0xc0 */ 0x2514, 0x2534, 0x252c, 0x251c, 0x2500, 0x253c, 0x255e, 0x255f,
    /* 0xc8 */ 0x255a, 0x2554, 0x2569, 0x2566, 0x2560, 0x2550, 0x256c, 0x2567,
    /* 0xd0 */ 0x2568, 0x2564, 0x2565, 0x2559, 0x2558, 0x2552, 0x2553, 0x256b,
    /* 0xd8 */ 0x256a, 0x2518, 0x250c, 0x2588, 0x2584, 0x258c, 0x2590, 0x2580,
    /* 0xe0 */ 0x03b1, 0x00df, 0x0393, 0x03c0, 0x03a3, 0x03c3, 0x00b5, 0x03c4,
    /* 0xe8 */ 0x03a6, 0x0398, 0x03a9, 0x03b4, 0x221e, 0x03c6, 0x03b5, 0x2229,
    /* 0xf0 */ 0x2261, 0x00b1, 0x2265, 0x2264, 0x2320, 0x2321, 0x00f7, 0x2248,
    /* 0xf8 */ 0x00b0, 0x2219, 0x00b7, 0x221a, 0x207f, 0x00b2, 0x25a0, 0x00a0,
};

size_t cp437_to_utf8(uint8_t c, char out[4])
{
    uint32_t u = c < 0x20    ? cp437_low[c]
                 : c == 0x7f ? 0x2302
                 : c >= 0x80 ? cp437_high[c - 0x80]
                             : c;
    if (u < 0x80) {
        out[0] = (char)u;
        return 1;
    }
    if (u < 0x800) {
        out[0] = (char)(0xc0 | (u >> 6));
        out[1] = (char)(0x80 | (u & 0x3f));
        return 2;
    }
    out[0] = (char)(0xe0 | (u >> 12));
    out[1] = (char)(0x80 | ((u >> 6) & 0x3f));
    out[2] = (char)(0x80 | (u & 0x3f));
    return 3;
}

char *text_screen_utf8(const TextScreen *ts)
{
    GString *g = g_string_sized_new((gsize)(ts->cols + 1) * (gsize)ts->rows * 3);
    char u[4];
    for (int y = 0; y < ts->rows; y++) {
        for (int x = 0; x < ts->cols; x++)
            g_string_append_len(g, u, (gssize)cp437_to_utf8(ts->chars[y * ts->cols + x], u));
        g_string_append_c(g, '\n');
    }
    return g_string_free(g, FALSE);
}

int screenshot_text(VgaState *vga, const char *path, char *err, size_t errlen)
{
    TextScreen ts;
    char *text = render_text_screen(vga, &ts) == 0 ? text_screen_utf8(&ts) : g_strdup("");
    text_screen_free(&ts);
    GError *gerr = NULL;
    bool ok = g_file_set_contents(path, text, (gssize)strlen(text), &gerr);
    g_free(text);
    if (!ok) {
        snprintf(err, errlen, "%s", gerr->message);
        g_error_free(gerr);
        return -1;
    }
    return 0;
}

int screenshot_save(VgaState *vga, const char *png_path, const char *text_path, char *err,
                    size_t errlen)
{
    if (png_path && screenshot_png(vga, png_path, 0, err, errlen))
        return -1;
    if (text_path && screenshot_text(vga, text_path, err, errlen))
        return -1;
    return 0;
}
