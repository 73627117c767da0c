/* vga_expect: the pictures the vga_* guests draw, computed from the same formulas the guests
 * use (not by running any VGA model), and compared pixel by pixel with a screenshot: dualvm's
 * -screenshot PNG, or a PPM screendump from QEMU. For the text guest it also checks the
 * -screenshot-text dump.
 *
 *   vga_expect MODE [--bpp N] [--no-cursor] [--tolerance T] [--write FILE.ppm]
 *              [--compare IMAGE] [--text DUMP]
 *   MODE: mode13 | planar | text | vbe
 *
 * The rules a monitor follows, as written down in ui/render.h and checked against QEMU:
 * 6-bit DAC values show as (v << 2) | (v >> 4), 5-bit ones as (v << 3) | (v >> 2); mode 13h
 * is 640x400 (each pixel 2x2), text 720x400 with 9-dot cells, the cursor drawn (time 0).
 * QEMU rounds 6- and 5-bit colours differently: --tolerance 7 accepts that.
 *
 * Exit status: 0 when everything matches, 1 with a report when not, 2 on bad usage or files.
 */
#include <iconv.h>
#include <png.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct Image {
    int w, h;
    uint32_t *px; /* 0xRRGGBB */
} Image;

static uint32_t rgb(unsigned r, unsigned g, unsigned b)
{
    return (r & 255) << 16 | (g & 255) << 8 | (b & 255);
}

static unsigned c6(unsigned v)
{
    v &= 63;
    return (v << 2) | (v >> 4);
}

static unsigned c5(unsigned v)
{
    v &= 31;
    return (v << 3) | (v >> 2);
}

static uint32_t dac6(unsigned r, unsigned g, unsigned b)
{
    return rgb(c6(r), c6(g), c6(b));
}

/* EGA colour rgbRGB as a BIOS (and the text guest) loads it into the DAC */
static uint32_t ega(unsigned i)
{
    return dac6(((i >> 2) & 1) * 42 + ((i >> 5) & 1) * 21,
                ((i >> 1) & 1) * 42 + ((i >> 4) & 1) * 21, (i & 1) * 42 + ((i >> 3) & 1) * 21);
}

static Image *image_new(int w, int h)
{
    Image *im = calloc(1, sizeof(*im));
    im->w = w;
    im->h = h;
    im->px = calloc((size_t)w * (size_t)h, sizeof(uint32_t));
    return im;
}

static void image_free(Image *im)
{
    if (im)
        free(im->px);
    free(im);
}

/* ---- the guests' pictures ---- */

static unsigned mode13_colour(unsigned x, unsigned y)
{
    return ((x + 2 * y) ^ ((x >> 4) * (y >> 4))) & 255;
}

static Image *expect_mode13(void)
{
    Image *im = image_new(640, 400);
    for (int y = 0; y < 400; y++)
        for (int x = 0; x < 640; x++) {
            unsigned i = mode13_colour((unsigned)x / 2, (unsigned)y / 2);
            im->px[y * 640 + x] = dac6(i >> 2, (3 * i) & 63, 63 - (i >> 2));
        }
    return im;
}

/* vga_planar, pixel by pixel: colour bars, set/reset stripes, write-mode-3 patterns, then a
 * diagonal line; the attribute palette is the identity and DAC[i] is the guest's formula. */
static Image *expect_planar(void)
{
    static uint8_t pix[480][640];
    for (unsigned y = 0; y < 480; y++)
        for (unsigned x = 0; x < 640; x++) {
            if (y < 160) {
                pix[y][x] = (x >> 5) & 15;
            } else if (y < 320) {
                pix[y][x] = (y >> 3) & 15;
            } else {
                unsigned colour = ((x >> 3) ^ y) & 15;
                unsigned pattern = (y & 1) ? 0xaa : 0x55;
                pix[y][x] = (pattern >> (7 - (x & 7))) & 1 ? (uint8_t)colour : 0;
            }
        }
    for (unsigned i = 0; i < 480; i++)
        pix[i][i + 80] = 15;
    Image *im = image_new(640, 480);
    for (int y = 0; y < 480; y++)
        for (int x = 0; x < 640; x++) {
            unsigned i = pix[y][x];
            im->px[y * 640 + x] = dac6((i * 21) & 63, (i * 13 + 7) & 63, (63 - i * 4) & 63);
        }
    return im;
}

/* vga_text: the font, the screen, the cursor */
static const char text_banner[] = "dualvm vga_text: a font in plane 2, 80x25 cells of 9x16";
static const uint8_t text_palette[16] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07,
                                         0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f};

static uint8_t glyph(unsigned c, unsigned row)
{
    if (row >= 16)
        return 0;
    unsigned g = (((row * 0x1d) ^ c) + (c >> 3) * row) & 255;
    if ((c & 0xf0) == 0xb0) /* QEMU extends the 9th dot for 0xB0-0xDF, IBM for 0xC0-0xDF */
        g &= 0xfe;
    return (uint8_t)g;
}

static void text_cell(unsigned r, unsigned c, uint8_t *ch, uint8_t *attr)
{
    if (r == 0) {
        *ch = c < sizeof(text_banner) - 1 ? (uint8_t)text_banner[c] : ' ';
        *attr = 0x1f;
    } else {
        *ch = (uint8_t)(((r - 1) * 80 + c) & 255);
        *attr = (uint8_t)(((r * 7) ^ (c * 3)) & 255);
    }
}

static Image *expect_text(bool cursor)
{
    Image *im = image_new(720, 400);
    for (unsigned r = 0; r < 25; r++)
        for (unsigned c = 0; c < 80; c++) {
            uint8_t ch, attr;
            text_cell(r, c, &ch, &attr);
            uint32_t fg = ega(text_palette[attr & 15]), bg = ega(text_palette[attr >> 4]);
            for (unsigned y = 0; y < 16; y++) {
                uint8_t bits = glyph(ch, y);
                bool full = cursor && r == 12 && c == 40 && (y == 13 || y == 14);
                for (unsigned d = 0; d < 9; d++) {
                    bool on =
                        d < 8 ? (bits >> (7 - d)) & 1 : (ch >= 0xc0 && ch <= 0xdf && (bits & 1));
                    im->px[(r * 16 + y) * 720 + c * 9 + d] = (on || full) ? fg : bg;
                }
            }
        }
    return im;
}

/* Code page 437 in UTF-8: the graphic characters of the IBM font for 0x01-0x1f and 0x7f (glibc
 * maps those to control codes), iconv's IBM437 for the upper half, ASCII between. */
static const char *const cp437_controls[32] = {
    " ", "☺", "☻", "♥", "♦", "♣", "♠", "•", "◘", "○", "◙", "♂", "♀", "♪", "♫", "☼",
    "►", "◄", "↕", "‼", "¶", "§", "▬", "↨", "↑", "↓", "→", "←", "∟", "↔", "▲", "▼",
};

static bool cp437_append(uint8_t c, char **out, iconv_t cd)
{
    if (c < 0x20) {
        size_t n = strlen(cp437_controls[c]);
        memcpy(*out, cp437_controls[c], n);
        *out += n;
    } else if (c == 0x7f) {
        memcpy(*out, "⌂", 3);
        *out += 3;
    } else if (c < 0x80) {
        *(*out)++ = (char)c;
    } else {
        char in = (char)c, *pin = &in;
        size_t inleft = 1, outleft = 8;
        if (iconv(cd, &pin, &inleft, out, &outleft) == (size_t)-1)
            return false;
    }
    return true;
}

static char *expect_text_dump(void)
{
    iconv_t cd = iconv_open("UTF-8", "IBM437");
    if (cd == (iconv_t)-1) {
        perror("vga_expect: iconv_open IBM437");
        exit(2);
    }
    char *buf = malloc(25 * (80 * 4 + 1) + 1), *p = buf;
    for (unsigned r = 0; r < 25; r++) {
        for (unsigned c = 0; c < 80; c++) {
            uint8_t ch, attr;
            text_cell(r, c, &ch, &attr);
            if (!cp437_append(ch, &p, cd)) {
                fprintf(stderr, "vga_expect: iconv cannot convert 0x%02x\n", ch);
                exit(2);
            }
        }
        *p++ = '\n';
    }
    *p = 0;
    iconv_close(cd);
    return buf;
}

static Image *expect_vbe(unsigned bpp)
{
    Image *im = image_new(640, 480);
    for (unsigned y = 0; y < 480; y++)
        for (unsigned x = 0; x < 640; x++) {
            unsigned r = x & 255, g = y & 255, b = ((x >> 2) ^ (y >> 1)) & 255, i = (x ^ y) & 255;
            uint32_t v;
            switch (bpp) {
            case 8:
                v = dac6(i >> 2, (3 * i) & 63, 63 - (i >> 2));
                break;
            case 15:
                v = rgb(c5(r >> 3), c5(g >> 3), c5(b >> 3));
                break;
            case 16:
                v = rgb(c5(r >> 3), c6(g >> 2), c5(b >> 3));
                break;
            default:
                v = rgb(r, g, b);
                break;
            }
            im->px[y * 640 + x] = v;
        }
    return im;
}

/* ---- files ---- */

static Image *read_png(const char *path)
{
    png_image img;
    memset(&img, 0, sizeof(img));
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, path)) {
        fprintf(stderr, "vga_expect: %s: %s\n", path, img.message);
        return NULL;
    }
    img.format = PNG_FORMAT_RGB;
    uint8_t *buf = malloc(PNG_IMAGE_SIZE(img));
    if (!png_image_finish_read(&img, NULL, buf, 0, NULL)) {
        fprintf(stderr, "vga_expect: %s: %s\n", path, img.message);
        free(buf);
        return NULL;
    }
    Image *im = image_new((int)img.width, (int)img.height);
    for (size_t i = 0; i < (size_t)im->w * (size_t)im->h; i++)
        im->px[i] = rgb(buf[3 * i], buf[3 * i + 1], buf[3 * i + 2]);
    free(buf);
    return im;
}

static Image *read_ppm(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return NULL;
    }
    int w, h, max;
    if (fscanf(f, "P6 %d %d %d", &w, &h, &max) != 3 || max != 255 || fgetc(f) == EOF) {
        fprintf(stderr, "vga_expect: %s: not a binary PPM with 8-bit channels\n", path);
        fclose(f);
        return NULL;
    }
    Image *im = image_new(w, h);
    for (size_t i = 0; i < (size_t)w * (size_t)h; i++) {
        uint8_t p[3];
        if (fread(p, 1, 3, f) != 3) {
            fprintf(stderr, "vga_expect: %s: truncated\n", path);
            fclose(f);
            image_free(im);
            return NULL;
        }
        im->px[i] = rgb(p[0], p[1], p[2]);
    }
    fclose(f);
    return im;
}

static int write_ppm(const Image *im, const char *path)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        return -1;
    }
    fprintf(f, "P6\n%d %d\n255\n", im->w, im->h);
    for (size_t i = 0; i < (size_t)im->w * (size_t)im->h; i++) {
        uint8_t p[3] = {(uint8_t)(im->px[i] >> 16), (uint8_t)(im->px[i] >> 8), (uint8_t)im->px[i]};
        fwrite(p, 1, 3, f);
    }
    return fclose(f);
}

static bool close_enough(uint32_t a, uint32_t b, int tol)
{
    for (int s = 0; s < 24; s += 8) {
        int d = (int)((a >> s) & 255) - (int)((b >> s) & 255);
        if (d > tol || d < -tol)
            return false;
    }
    return true;
}

static int compare(const Image *want, const char *path, int tol)
{
    size_t n = strlen(path);
    Image *got = n > 4 && !strcmp(path + n - 4, ".ppm") ? read_ppm(path) : read_png(path);
    if (!got)
        return 2;
    int rc = 0;
    long bad = 0;
    if (got->w != want->w || got->h != want->h) {
        printf("vga_expect: %s is %dx%d, expected %dx%d\n", path, got->w, got->h, want->w, want->h);
        image_free(got);
        return 1;
    }
    for (int y = 0; y < want->h; y++)
        for (int x = 0; x < want->w; x++) {
            uint32_t a = got->px[y * want->w + x], b = want->px[y * want->w + x];
            if (close_enough(a, b, tol))
                continue;
            if (bad++ < 10)
                printf("vga_expect: %s: pixel (%d,%d) is %06x, expected %06x\n", path, x, y, a, b);
        }
    if (bad) {
        char exp[4096];
        snprintf(exp, sizeof(exp), "%s.expected.ppm", path);
        write_ppm(want, exp);
        printf("vga_expect: %s: %ld of %d pixels differ (tolerance %d); expected picture in %s\n",
               path, bad, want->w * want->h, tol, exp);
        rc = 1;
    } else {
        printf("vga_expect: %s: all %d pixels match (%dx%d, tolerance %d)\n", path,
               want->w * want->h, want->w, want->h, tol);
    }
    image_free(got);
    return rc;
}

static int compare_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 2;
    }
    char *want = expect_text_dump();
    static char got[1 << 16];
    size_t n = fread(got, 1, sizeof(got) - 1, f);
    fclose(f);
    got[n] = 0;
    if (strcmp(got, want)) {
        const char *g = got, *w = want;
        for (int line = 1; *g || *w; line++) {
            const char *ge = strchr(g, '\n'), *we = strchr(w, '\n');
            size_t gl = ge ? (size_t)(ge - g) : strlen(g), wl = we ? (size_t)(we - w) : strlen(w);
            if (gl != wl || memcmp(g, w, gl)) {
                printf("vga_expect: %s: line %d is\n  '%.*s'\nexpected\n  '%.*s'\n", path, line,
                       (int)gl, g, (int)wl, w);
                break;
            }
            g = ge ? ge + 1 : g + gl;
            w = we ? we + 1 : w + wl;
        }
        free(want);
        return 1;
    }
    printf("vga_expect: %s: the text screen matches (25 lines of 80 characters)\n", path);
    free(want);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: vga_expect mode13|planar|text|vbe [--bpp N] [--no-cursor] "
                        "[--tolerance T] [--write FILE.ppm] [--compare IMAGE] [--text DUMP]\n");
        return 2;
    }
    const char *mode = argv[1], *write = NULL, *image = NULL, *text = NULL;
    unsigned bpp = 32;
    int tol = 0;
    bool cursor = true;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--bpp") && i + 1 < argc)
            bpp = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--tolerance") && i + 1 < argc)
            tol = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-cursor"))
            cursor = false;
        else if (!strcmp(argv[i], "--write") && i + 1 < argc)
            write = argv[++i];
        else if (!strcmp(argv[i], "--compare") && i + 1 < argc)
            image = argv[++i];
        else if (!strcmp(argv[i], "--text") && i + 1 < argc)
            text = argv[++i];
        else {
            fprintf(stderr, "vga_expect: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }
    Image *want;
    if (!strcmp(mode, "mode13"))
        want = expect_mode13();
    else if (!strcmp(mode, "planar"))
        want = expect_planar();
    else if (!strcmp(mode, "text"))
        want = expect_text(cursor);
    else if (!strcmp(mode, "vbe"))
        want = expect_vbe(bpp);
    else {
        fprintf(stderr, "vga_expect: unknown mode '%s'\n", mode);
        return 2;
    }
    int rc = 0;
    if (write && write_ppm(want, write))
        rc = 2;
    if (image) {
        int r = compare(want, image, tol);
        rc = r > rc ? r : rc;
    }
    if (text) {
        int r = compare_text(text);
        rc = r > rc ? r : rc;
    }
    image_free(want);
    return rc;
}
