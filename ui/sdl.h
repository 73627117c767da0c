/* ui/sdl.h: the SDL2 window (-display sdl).
 *
 * The window runs on the thread that calls sdl_run() (the process's main thread: SDL wants its
 * video calls there) and the vCPU on a thread sdl_run() starts; ui/display.h says how they
 * meet. The window shows the VGA's picture at the guest's own size when the guest changes mode,
 * scaled with its aspect kept (black bars) when the user resizes it or goes full screen, and at
 * most DISPLAY_FPS times a second. Title: "dualvm — ENGINE — N MIPS" (the speed only where the
 * engine counts instructions).
 *
 * Keys go to the guest by position (ui/keymap.h), with the host's key repeat as the keyboard's
 * typematic repeat. Hot keys, all with left Ctrl + left Alt held, as QEMU's SDL window has them:
 *   Ctrl-Alt-G    grab the mouse (and keyboard) for the guest, or release it
 *   Ctrl-Alt-End  send Ctrl-Alt-Delete to the guest (the host keeps Ctrl-Alt-Delete itself)
 *   Ctrl-Alt-F    full screen on or off
 * A click in the window grabs the mouse too. Closing the window powers the guest off cleanly
 * (STOP_POWEROFF at the vCPU's next safe point; exit status 0).
 *
 * Headless runs never call into this file, so SDL's video subsystem is never initialised there.
 */
#ifndef DUALVM_UI_SDL_H
#define DUALVM_UI_SDL_H

#include <stddef.h>

#include "hw/vga.h"
#include "ui/display.h"

/* Initialise SDL's video subsystem (nothing else of SDL), for the window system the
 * environment names: X11 where DISPLAY is set, Wayland where WAYLAND_DISPLAY is, else the
 * console's KMS/DRM (SDL_VIDEODRIVER, if set, decides instead). 0, or -1 with the reason in
 * err. */
int sdl_init(char *err, size_t errlen);

/* Open the window at vga's current picture size, start run(arg) on a new thread (the vCPU
 * thread: it must run the machine until it stops, then return), and run the window on this
 * thread until run has returned; then close the window, shut SDL down and join the thread.
 * engine names the engine in the title. 0, or -1 with the reason in err if the window or the
 * thread could not be made (run was then never called; SDL is shut down). */
int sdl_run(Display *d, VgaState *vga, const char *engine, void (*run)(void *arg), void *arg,
            char *err, size_t errlen);

#endif
