/* xshot: the little X11 tooling the window tests need, beside xdotool.
 *
 *   xshot grab WINDOW OUT.png    what the screen shows where the window is (the root window's
 *                                pixels over the window's area, so exactly what a user sees)
 *   xshot size WINDOW            the window's inside size, "WxH"
 *   xshot title WINDOW           the window's title as the EWMH says it (_NET_WM_NAME, UTF-8,
 *                                printed as is: no locale conversion)
 *   xshot close WINDOW           ask the window to close, as a window manager's close button
 *                                does (WM_DELETE_WINDOW)
 *   xshot compare A.png B.png    exit 0 if the two pictures are the same pixel for pixel, 1 if
 *                                not (saying how they differ), 2 on errors
 *
 * WINDOW is an X window id as xdotool prints it (decimal or 0x hex). DISPLAY says which server.
 */
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <X11/Xlib.h>
#include <X11/Xutil.h>

static Display *open_display(void)
{
    Display *dpy = XOpenDisplay(NULL);
    if (!dpy) {
        fprintf(stderr, "xshot: cannot open display '%s'\n",
                getenv("DISPLAY") ? getenv("DISPLAY") : "");
        exit(2);
    }
    return dpy;
}

static Window parse_window(const char *s)
{
    char *end;
    unsigned long w = strtoul(s, &end, 0);
    if (end == s || *end || !w) {
        fprintf(stderr, "xshot: '%s' is not a window id\n", s);
        exit(2);
    }
    return (Window)w;
}

static int write_png(const char *path, const unsigned char *rgb, unsigned w, unsigned h)
{
    png_image img;
    memset(&img, 0, sizeof(img));
    img.version = PNG_IMAGE_VERSION;
    img.width = w;
    img.height = h;
    img.format = PNG_FORMAT_RGB;
    if (!png_image_write_to_file(&img, path, 0, rgb, (png_int_32)(w * 3), NULL)) {
        fprintf(stderr, "xshot: %s: %s\n", path, img.message);
        return 2;
    }
    return 0;
}

/* channel value (0-255) of pixel p under mask */
static unsigned channel(unsigned long p, unsigned long mask)
{
    if (!mask)
        return 0;
    unsigned shift = 0;
    while (!(mask & 1)) {
        mask >>= 1;
        shift++;
    }
    unsigned long v = (p >> shift) & mask;
    return (unsigned)(v * 255 / mask);
}

static int cmd_grab(Window win, const char *out)
{
    Display *dpy = open_display();
    XWindowAttributes wa;
    if (!XGetWindowAttributes(dpy, win, &wa)) {
        fprintf(stderr, "xshot: no window 0x%lx\n", (unsigned long)win);
        return 2;
    }
    Window root = DefaultRootWindow(dpy), child;
    int x, y;
    XTranslateCoordinates(dpy, win, root, 0, 0, &x, &y, &child);
    XWindowAttributes ra;
    XGetWindowAttributes(dpy, root, &ra);
    if (x < 0 || y < 0 || x + wa.width > ra.width || y + wa.height > ra.height) {
        fprintf(stderr, "xshot: window 0x%lx (%dx%d at %d,%d) is not all on the screen\n",
                (unsigned long)win, wa.width, wa.height, x, y);
        return 2;
    }
    XImage *im =
        XGetImage(dpy, root, x, y, (unsigned)wa.width, (unsigned)wa.height, AllPlanes, ZPixmap);
    if (!im) {
        fprintf(stderr, "xshot: XGetImage failed\n");
        return 2;
    }
    unsigned w = (unsigned)wa.width, h = (unsigned)wa.height;
    unsigned char *rgb = malloc((size_t)w * h * 3);
    for (unsigned j = 0; j < h; j++)
        for (unsigned i = 0; i < w; i++) {
            unsigned long p = XGetPixel(im, (int)i, (int)j);
            unsigned char *o = rgb + ((size_t)j * w + i) * 3;
            o[0] = (unsigned char)channel(p, im->red_mask);
            o[1] = (unsigned char)channel(p, im->green_mask);
            o[2] = (unsigned char)channel(p, im->blue_mask);
        }
    XDestroyImage(im);
    XCloseDisplay(dpy);
    int rc = write_png(out, rgb, w, h);
    free(rgb);
    return rc;
}

static int cmd_size(Window win)
{
    Display *dpy = open_display();
    XWindowAttributes wa;
    if (!XGetWindowAttributes(dpy, win, &wa)) {
        fprintf(stderr, "xshot: no window 0x%lx\n", (unsigned long)win);
        return 2;
    }
    printf("%dx%d\n", wa.width, wa.height);
    XCloseDisplay(dpy);
    return 0;
}

static int cmd_title(Window win)
{
    Display *dpy = open_display();
    Atom type;
    int format;
    unsigned long n, after;
    unsigned char *v = NULL;
    if (XGetWindowProperty(dpy, win, XInternAtom(dpy, "_NET_WM_NAME", False), 0, 1024, False,
                           XInternAtom(dpy, "UTF8_STRING", False), &type, &format, &n, &after,
                           &v) != Success ||
        !v) {
        fprintf(stderr, "xshot: window 0x%lx has no _NET_WM_NAME\n", (unsigned long)win);
        return 2;
    }
    printf("%.*s\n", (int)n, (const char *)v);
    XFree(v);
    XCloseDisplay(dpy);
    return 0;
}

static int cmd_close(Window win)
{
    Display *dpy = open_display();
    XEvent ev;
    memset(&ev, 0, sizeof(ev));
    ev.xclient.type = ClientMessage;
    ev.xclient.window = win;
    ev.xclient.message_type = XInternAtom(dpy, "WM_PROTOCOLS", False);
    ev.xclient.format = 32;
    ev.xclient.data.l[0] = (long)XInternAtom(dpy, "WM_DELETE_WINDOW", False);
    ev.xclient.data.l[1] = CurrentTime;
    if (!XSendEvent(dpy, win, False, NoEventMask, &ev)) {
        fprintf(stderr, "xshot: cannot send to window 0x%lx\n", (unsigned long)win);
        return 2;
    }
    XSync(dpy, False);
    XCloseDisplay(dpy);
    return 0;
}

static unsigned char *read_png(const char *path, unsigned *w, unsigned *h)
{
    png_image img;
    memset(&img, 0, sizeof(img));
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, path)) {
        fprintf(stderr, "xshot: %s: %s\n", path, img.message);
        return NULL;
    }
    img.format = PNG_FORMAT_RGB;
    unsigned char *buf = malloc(PNG_IMAGE_SIZE(img));
    if (!png_image_finish_read(&img, NULL, buf, 0, NULL)) {
        fprintf(stderr, "xshot: %s: %s\n", path, img.message);
        free(buf);
        return NULL;
    }
    *w = img.width;
    *h = img.height;
    return buf;
}

static int cmd_compare(const char *a, const char *b)
{
    unsigned aw, ah, bw, bh;
    unsigned char *pa = read_png(a, &aw, &ah), *pb = read_png(b, &bw, &bh);
    if (!pa || !pb)
        return 2;
    if (aw != bw || ah != bh) {
        printf("xshot: %s is %ux%u, %s is %ux%u\n", a, aw, ah, b, bw, bh);
        return 1;
    }
    unsigned long diff = 0;
    unsigned x0 = aw, y0 = ah, x1 = 0, y1 = 0;
    for (unsigned y = 0; y < ah; y++)
        for (unsigned x = 0; x < aw; x++) {
            size_t o = ((size_t)y * aw + x) * 3;
            if (memcmp(pa + o, pb + o, 3)) {
                diff++;
                x0 = x < x0 ? x : x0;
                y0 = y < y0 ? y : y0;
                x1 = x > x1 ? x : x1;
                y1 = y > y1 ? y : y1;
            }
        }
    free(pa);
    free(pb);
    if (diff) {
        printf("xshot: %lu pixels differ, within (%u,%u)-(%u,%u)\n", diff, x0, y0, x1, y1);
        return 1;
    }
    printf("xshot: %ux%u, identical\n", aw, ah);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "grab"))
        return cmd_grab(parse_window(argv[2]), argv[3]);
    if (argc == 3 && !strcmp(argv[1], "size"))
        return cmd_size(parse_window(argv[2]));
    if (argc == 3 && !strcmp(argv[1], "title"))
        return cmd_title(parse_window(argv[2]));
    if (argc == 3 && !strcmp(argv[1], "close"))
        return cmd_close(parse_window(argv[2]));
    if (argc == 4 && !strcmp(argv[1], "compare"))
        return cmd_compare(argv[2], argv[3]);
    fprintf(stderr,
            "usage: xshot grab WINDOW OUT.png | size WINDOW | title WINDOW | close WINDOW | "
            "compare A.png B.png\n");
    return 2;
}
