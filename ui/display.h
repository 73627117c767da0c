/* ui/display.h: what a display does on the vCPU's side, with or without a window.
 *
 * Threads. The devices belong to the thread that runs the vCPU (vcpu_loop): nothing in hw/
 * locks. A window lives on another thread (SDL's, the process's main thread, ui/sdl.c). The two
 * meet only here, through a mutex held for a few pointer or integer moves, never across a
 * render, a device call or an SDL call, so neither thread ever waits for the other's work:
 *
 * - Pictures go vCPU -> window. The display's poll hook (chained in front of the board's
 *   Machine.poll, so it runs between engine slices, at least every 10 ms of guest time and every
 *   millisecond while the guest halts) renders the VGA with vga_render() at most 60 times a
 *   second, and only when render_key() says the picture may have changed or the picture lives in
 *   the linear framebuffer (vga_display_in_ram()). It renders into a back surface it owns, then
 *   swaps it with the "ready" one under the mutex; the window swaps "ready" with its own front
 *   surface under the mutex when it wants a picture. Three buffers: no copy, no torn frame, and
 *   the renderer reads the VGA's registers and video memory on the thread that writes them, so
 *   there is no race at all (ui/render.c is not written to be run against a moving device: a
 *   register changing between its mode computation and its drawing could divide by zero). The
 *   cost, a render of each changed frame on the vCPU thread, is ~0.3 ms for a text screen and a
 *   few ms for a large VBE mode, at most 60 times a second.
 * - Input goes window -> vCPU. Keys, mouse motion and the power-off request are queued; the
 *   poll hook takes them off the queue and calls i8042_key_event()/i8042_mouse_event() or
 *   machine_request_stop() there, at a safe point between engine runs. After queueing, the window
 *   thread kicks the vCPU (display_set_kick) so the engine leaves its slice at once.
 * - Speed: the poll hook reads the engine's instruction counter (display_set_insn_counter) on the
 *   vCPU thread once a second and publishes guest MIPS as one atomic value.
 *
 * Headless (-display none, -nographic) a Display is made only for -screenshot-every, and makes
 * no pictures but the screenshot files.
 */
#ifndef DUALVM_UI_DISPLAY_H
#define DUALVM_UI_DISPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hw/i8042.h"
#include "hw/machine.h"
#include "hw/vga.h"
#include "ui/render.h"

/* The picture rate of a window, and how often the poll hook looks for a changed picture. */
#define DISPLAY_FPS 60

typedef struct Display Display;

/* Attach a display to m: its poll hook goes in front of m->poll (which it calls first), and
 * m->ui points to it. frames: make pictures for a window (display_take_frame). kbc may be NULL
 * (no input). */
Display *display_new(Machine *m, VgaState *vga, I8042State *kbc, bool frames);
/* Detach (m->poll back as it was) and free. Only once the vCPU thread has stopped. */
void display_free(Display *d);

/* Before the run. Every every_ns of virtual time, write the -screenshot PNG and/or the
 * -screenshot-text file (either may be NULL), each to PATH.tmp first and renamed, so a reader
 * never sees half a file. A failed write is said once on stderr, then periodic shots stop. */
void display_set_screenshots(Display *d, const char *png, const char *text, int64_t every_ns);
/* Before the run: the engine's guest instruction counter, read on the vCPU thread (NULL: the
 * engine has none and no speed is shown). */
void display_set_insn_counter(Display *d, uint64_t (*count)(void *opaque), void *opaque);
/* Tests: the host clock frame pacing and the MIPS figure go by (NULL: the monotonic clock). */
void display_set_host_clock(Display *d, int64_t (*now_ns)(void *opaque), void *opaque);
/* Before the run: how the window thread makes the vCPU leave its slice (AccelOps.kick). */
void display_set_kick(Display *d, void (*kick)(void *opaque), void *opaque);

/* ---- from the window's thread ---- */

/* Queue a key (as i8042_key_event takes it) going down or up. */
void display_key(Display *d, unsigned key, bool down);
/* Queue mouse motion, wheel clicks and the buttons now held (as i8042_mouse_event takes them);
 * consecutive motions with the same buttons are merged. */
void display_mouse(Display *d, int dx, int dy, int dz, unsigned buttons);
/* Ask for a clean power-off (machine_request_stop(STOP_POWEROFF), status 0) with this reason. */
void display_power_off(Display *d, const char *why);
/* Make the vCPU look at the queue now (after a batch of the calls above). */
void display_kick(Display *d);
/* If a picture newer than the last one taken is ready, swap it with *frame (a surface the
 * caller owns, which the display keeps for later pictures) and return true. */
bool display_take_frame(Display *d, Surface **frame);
/* Guest MIPS over the last second, or a negative value if unknown (no counter, not yet). */
double display_mips(Display *d);

/* ---- on the vCPU thread ---- */

/* The poll hook itself (installed by display_new; public for tests). */
void display_poll(Machine *m);

#endif
