/* hw/chardev.h: a character backend for a serial port, opened from a QEMU-style spec.
 *
 *   "stdio"      guest output to stdout, input from stdin. When stdin is a terminal it is put
 *                in raw mode (no echo, no line editing, Ctrl-C goes to the guest) until
 *                chr_close() or process exit, and QEMU's escape works: Ctrl-A x asks to quit
 *                (see chr_quit_requested), Ctrl-A h prints help, Ctrl-A Ctrl-A sends one Ctrl-A.
 *                Only one stdio backend may be open at a time.
 *   "file:PATH"  output to PATH (created or truncated), no input.
 *   "none"       output dropped, no input.
 *
 * Everything runs on the caller's thread; nothing blocks except chr_write on a full pipe.
 * Errors come back as text in err (nothing is printed).
 */
#ifndef DUALVM_HW_CHARDEV_H
#define DUALVM_HW_CHARDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct CharDev CharDev;

/* NULL on error, with the reason in err (e.g. "serial: unknown backend 'x' (use stdio,
 * file:PATH or none)" or "serial: cannot open 'PATH': No such file or directory"). */
CharDev *chr_open(const char *spec, char *err, size_t errlen);

/* Write all of buf, retrying on EINTR and partial writes. Output errors (closed pipe, full
 * disk) drop the data: the guest's UART has no way to hear about them. */
void chr_write(CharDev *chr, const uint8_t *buf, size_t len);

/* Non-blocking read of up to len input bytes, escapes already handled. Returns the count
 * (0 when nothing is waiting) or -1 once input is over for good (EOF with everything before it
 * consumed, or a backend without input); after EOF the input fd is never polled again. Typing
 * on a terminal while nothing consumes input loses bytes beyond a 4 KiB buffer, as a UART
 * overrun would; a pipe is just read later. */
int chr_read(CharDev *chr, uint8_t *buf, size_t len);

/* Take in waiting input without consuming it (the run loop calls this every period, so the
 * escapes work even while the guest reads nothing). chr_read does this too. */
void chr_poll(CharDev *chr);

/* True once the user typed Ctrl-A x on a stdio terminal. */
bool chr_quit_requested(const CharDev *chr);

/* Restores the terminal (if this backend changed it) and closes what it opened. NULL is fine. */
void chr_close(CharDev *chr);

/* Put the terminal back as it was before raw mode, if it is raw. Async-signal-safe: meant for
 * fatal-signal handlers, which would otherwise leave the user's shell without echo. */
void chr_tty_restore(void);

#endif
