#include "hw/chardev.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <glib.h>

#define ESCAPE_CHAR 0x01 /* Ctrl-A, as QEMU */
#define INBUF_SIZE 4096

enum { CHR_NONE, CHR_STDIO, CHR_FILE };

struct CharDev {
    int kind;
    int in_fd;  /* -1: no input, or input over */
    int out_fd; /* -1: output dropped */
    bool own_out;
    bool escapes;    /* Ctrl-A processing: only for a terminal, never for piped bytes */
    bool got_escape; /* the previous input byte was Ctrl-A */
    bool quit;
    /* Input read ahead of the consumer, escapes already taken out: a terminal is read even
     * when the guest does not take its input, so Ctrl-A x works on a guest that hangs. */
    uint8_t inbuf[INBUF_SIZE];
    size_t in_head, in_len;
    unsigned long dropped; /* terminal bytes lost to a full buffer (as a UART overrun) */
};

/* The terminal state to restore is process-wide by nature (there is one stdin), so it lives
 * here rather than in a CharDev: the atexit handler and signal handlers need it too. */
static struct termios saved_tio;
static volatile sig_atomic_t tio_saved;
static bool atexit_done;
static CharDev *stdio_owner;

void chr_tty_restore(void)
{
    if (tio_saved) {
        tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
        tio_saved = 0;
    }
}

static void tty_raw(void)
{
    struct termios t;
    if (tcgetattr(STDIN_FILENO, &t) < 0)
        return;
    saved_tio = t;
    /* As QEMU's stdio backend: raw input, but keep output processing (\n -> \r\n) so guest
     * text that only sends \n still starts lines at column 0. */
    t.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
    t.c_oflag |= OPOST;
    t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | IEXTEN | ISIG);
    t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB);
    t.c_cflag |= CS8;
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    if (!atexit_done) {
        atexit(chr_tty_restore);
        atexit_done = true;
    }
    tio_saved = 1;
    tcsetattr(STDIN_FILENO, TCSANOW, &t);
}

CharDev *chr_open(const char *spec, char *err, size_t errlen)
{
    if (!spec)
        spec = "none";
    CharDev *chr = g_new0(CharDev, 1);
    chr->in_fd = chr->out_fd = -1;
    if (strcmp(spec, "none") == 0) {
        chr->kind = CHR_NONE;
    } else if (strcmp(spec, "stdio") == 0) {
        if (stdio_owner) {
            snprintf(err, errlen, "serial: stdio is already in use by another backend");
            g_free(chr);
            return NULL;
        }
        chr->kind = CHR_STDIO;
        chr->in_fd = STDIN_FILENO;
        chr->out_fd = STDOUT_FILENO;
        if (isatty(STDIN_FILENO)) {
            chr->escapes = true;
            tty_raw();
        }
        stdio_owner = chr;
    } else if (strncmp(spec, "file:", 5) == 0) {
        const char *path = spec + 5;
        if (!*path) {
            snprintf(err, errlen, "serial: file: needs a path (file:PATH)");
            g_free(chr);
            return NULL;
        }
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
            snprintf(err, errlen, "serial: cannot open '%s': %s", path, strerror(errno));
            g_free(chr);
            return NULL;
        }
        chr->kind = CHR_FILE;
        chr->out_fd = fd;
        chr->own_out = true;
    } else {
        snprintf(err, errlen, "serial: unknown backend '%s' (use stdio, file:PATH or none)", spec);
        g_free(chr);
        return NULL;
    }
    return chr;
}

static void write_all(int fd, const uint8_t *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n > 0) {
            buf += n, len -= (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            /* Someone made the fd non-blocking: wait for room rather than drop guest output. */
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            if (poll(&p, 1, -1) < 0 && errno != EINTR)
                return;
        } else {
            return;
        }
    }
}

void chr_write(CharDev *chr, const uint8_t *buf, size_t len)
{
    if (chr && chr->out_fd >= 0)
        write_all(chr->out_fd, buf, len);
}

static const char help_text[] = "\n"
                                "C-a h    print this help\n"
                                "C-a x    exit emulator\n"
                                "C-a C-a  sends C-a\n";

/* QEMU's mux escape: a Ctrl-A is held back and decides what the next byte means. Bytes that
 * were commands are dropped from buf; returns the number kept. */
static size_t filter_escapes(CharDev *chr, uint8_t *buf, size_t n)
{
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = buf[i];
        if (chr->got_escape) {
            chr->got_escape = false;
            if (c == ESCAPE_CHAR) {
                buf[out++] = c;
            } else if (c == 'x' || c == 'X') {
                chr->quit = true;
            } else if (c == 'h' || c == 'H' || c == '?') {
                chr_write(chr, (const uint8_t *)help_text, sizeof(help_text) - 1);
            }
            /* anything else after Ctrl-A is swallowed, as QEMU does */
        } else if (c == ESCAPE_CHAR) {
            chr->got_escape = true;
        } else {
            buf[out++] = c;
        }
    }
    return out;
}

static void in_append(CharDev *chr, const uint8_t *buf, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (chr->in_len == INBUF_SIZE) {
            chr->dropped += n - i;
            return;
        }
        chr->inbuf[(chr->in_head + chr->in_len++) % INBUF_SIZE] = buf[i];
    }
}

/* Read what the input has now, without blocking. A pipe or file is only read while there is
 * room (it can wait, and must not lose data); a terminal is always read, for the escapes. */
static void fill(CharDev *chr)
{
    for (int rounds = 0; rounds < 16 && chr->in_fd >= 0; rounds++) {
        uint8_t tmp[512];
        size_t want = sizeof(tmp);
        if (!chr->escapes) {
            size_t room = INBUF_SIZE - chr->in_len;
            if (room == 0)
                return;
            if (want > room)
                want = room;
        }
        struct pollfd p = {.fd = chr->in_fd, .events = POLLIN};
        if (poll(&p, 1, 0) <= 0)
            return;
        if (p.revents & POLLNVAL) {
            chr->in_fd = -1;
            return;
        }
        ssize_t n = read(chr->in_fd, tmp, want);
        if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            /* EOF (or a broken stdin): stop polling it, or the run loop would spin on it. */
            chr->in_fd = -1;
            return;
        }
        size_t kept = chr->escapes ? filter_escapes(chr, tmp, (size_t)n) : (size_t)n;
        in_append(chr, tmp, kept);
        if ((size_t)n < want)
            return;
    }
}

void chr_poll(CharDev *chr)
{
    if (chr)
        fill(chr);
}

int chr_read(CharDev *chr, uint8_t *buf, size_t len)
{
    if (!chr)
        return -1;
    fill(chr);
    if (chr->in_len == 0)
        return chr->in_fd < 0 ? -1 : 0;
    if (len > INBUF_SIZE)
        len = INBUF_SIZE;
    size_t n = 0;
    while (n < len && chr->in_len) {
        buf[n++] = chr->inbuf[chr->in_head];
        chr->in_head = (chr->in_head + 1) % INBUF_SIZE;
        chr->in_len--;
    }
    return (int)n;
}

bool chr_quit_requested(const CharDev *chr)
{
    return chr && chr->quit;
}

void chr_close(CharDev *chr)
{
    if (!chr)
        return;
    if (chr->kind == CHR_STDIO) {
        chr_tty_restore();
        stdio_owner = NULL;
    }
    if (chr->own_out && chr->out_fd >= 0)
        close(chr->out_fd);
    g_free(chr);
}
