/* ui/render.h: the picture a monitor would show for the VGA's current state.
 *
 * Size rule (QEMU's, checked against qemu-system-i386 7.2 screendumps): one surface pixel per
 * dot the CRTC puts out on one scanline, and one surface row per displayed scanline. So mode
 * 13h is 640x400 (each of its 320x200 pixels a 2x2 block, as the CRTC doubles both ways), mode
 * 12h 640x480, modes 0Dh/04h/06h 640x400, 80x25 text 720x400 (9-dot characters). The one
 * difference from QEMU: 40-column text is 720x400 here (the dot clock halved doubles each
 * 9-dot character to 18), where QEMU draws 16 dots. VBE modes are XRES x YRES. The overscan
 * border is not drawn.
 *
 * Time: cursor and blink state come from now_ns, never from the host clock, so the same state
 * and time give the same picture. Frames are counted at the refresh rate the CRTC timing gives
 * (70 Hz for the 400-line modes); the cursor is on for 8 frames and off for 8, blinking
 * characters on for 16 and off for 16, both on at time 0 (what screenshots use).
 *
 * Colours: 6-bit DAC values become 8 bits as (v << 2) | (v >> 4) (0x2a -> 0xaa, 0x3f -> 0xff);
 * the pixel mask (0x3c6) applies. In 16-colour modes the attribute controller's colour plane
 * enable, palette, mode control bit 7 and colour select build the DAC index; in 256-colour and
 * VBE 8-bpp modes the pixel is the DAC index (the attribute palette is bypassed, as QEMU and
 * Bochs do).
 */
#ifndef DUALVM_UI_RENDER_H
#define DUALVM_UI_RENDER_H

#include <stdbool.h>
#include <stdint.h>

#include "hw/vga.h"

/* XRGB pixels (0x00RRGGBB); stride counts pixels from one row to the next. */
typedef struct Surface {
    int width, height, stride;
    uint32_t *pixels;
} Surface;

Surface *surface_new(int width, int height);
void surface_free(Surface *s);
/* Make s width x height (contents undefined). 0, or -ENOMEM leaving s as it was. */
int surface_resize(Surface *s, int width, int height);

static inline uint32_t *surface_row(const Surface *s, int y)
{
    return s->pixels + (size_t)y * s->stride;
}

typedef enum RenderKind {
    RENDER_BLANK,    /* screen off, sequencer in reset or palette owned by the CPU: black */
    RENDER_TEXT,     /* alphanumeric mode */
    RENDER_GRAPHICS, /* VGA planar, CGA-compatible or 256-colour graphics */
    RENDER_VBE,      /* Bochs VBE mode */
} RenderKind;

typedef struct RenderMode {
    RenderKind kind;
    int width, height;                       /* the picture, in surface pixels */
    int cols, rows, char_width, char_height; /* text: cells, and dots per cell (9 or 8, x2
                                                with the dot clock halved; scanlines) */
    int bpp; /* graphics: 1-4 (planes), 2 (CGA), 8; VBE: its depth */
} RenderMode;

/* What vga_render would draw now. */
RenderMode render_mode(VgaState *vga);

/* Draw the picture into dst, resizing dst to it. Returns 0, or -ENOMEM if dst could not be
 * resized (dst is unchanged then). */
int vga_render(VgaState *vga, Surface *dst, int64_t now_ns);

/* A value that changes whenever vga_render's result may have: the device's generation and the
 * blink phases at now_ns. A UI may skip a redraw while it stays the same, except while
 * vga_display_in_ram() (the linear framebuffer is written without the device seeing it). */
uint64_t render_key(VgaState *vga, int64_t now_ns);

/* The characters and attributes of a text screen, row by row, as the CRTC addresses them
 * (start address, offset; line compare and panning are ignored). */
typedef struct TextScreen {
    int cols, rows;
    uint8_t *chars, *attrs;     /* cols * rows each */
    int cursor_col, cursor_row; /* -1 if the cursor is off or outside the screen */
} TextScreen;

/* 0, or -1 if the VGA is not in a text mode (ts is then empty). Free with text_screen_free. */
int render_text_screen(VgaState *vga, TextScreen *ts);
void text_screen_free(TextScreen *ts);

#endif
