/* ui/screenshot.h: what the screen shows, saved to files: the picture as a PNG (libpng, 8-bit
 * RGB, the size ui/render.h describes) and a text-mode screen as UTF-8 text (code page 437
 * mapped to Unicode, one line per character row, every column written, so 80x25 text gives 25
 * lines of 80 characters).
 *
 * Screenshots are taken at time 0 of the blink cycle (cursor and blinking characters shown), so
 * the same guest state always gives the same file.
 */
#ifndef DUALVM_UI_SCREENSHOT_H
#define DUALVM_UI_SCREENSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "hw/vga.h"
#include "ui/render.h"

/* Write s as an RGB PNG. 0, or -1 with the reason in err. */
int surface_write_png(const Surface *s, const char *path, char *err, size_t errlen);

/* Render the VGA at now_ns and write the PNG. 0, or -1 with the reason in err. */
int screenshot_png(VgaState *vga, const char *path, int64_t now_ns, char *err, size_t errlen);

/* The UTF-8 encoding of code page 437 character c (its glyph as Unicode names it: 0x01 is a
 * smiley, 0xdb a full block; 0x00 is a space). Returns the byte count (1-3); out is not
 * NUL-terminated. */
size_t cp437_to_utf8(uint8_t c, char out[4]);

/* The text screen as UTF-8, rows separated by '\n' (also after the last). g_free() it. */
char *text_screen_utf8(const TextScreen *ts);

/* Write the text screen to path. In a graphics mode there is no text: the file is written
 * empty. 0, or -1 with the reason in err. */
int screenshot_text(VgaState *vga, const char *path, char *err, size_t errlen);

/* What the command line's -screenshot FILE.png and -screenshot-text FILE do when the run ends:
 * either path may be NULL. 0, or -1 with the reason (naming the file) in err. */
int screenshot_save(VgaState *vga, const char *png_path, const char *text_path, char *err,
                    size_t errlen);

#endif
