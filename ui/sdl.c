#include "ui/sdl.h"

#include <langinfo.h>
#include <locale.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <SDL.h>

#include "ui/keymap.h"
#include "ui/render.h"

#define HOTKEY_MODS (KMOD_LCTRL | KMOD_LALT)
#define TITLE_MS 500

typedef struct Sdl {
    Display *d;
    const char *engine;
    SDL_Window *win;
    SDL_Renderer *ren;
    SDL_Texture *tex;
    int tex_w, tex_h;
    Surface *front;
    bool grabbed, fullscreen, redraw, kick;
    unsigned buttons;                  /* I8042_BTN_* the guest sees held */
    uint8_t held[SDL_NUM_SCANCODES];   /* keys the guest was told are down */
    uint8_t hotkey[SDL_NUM_SCANCODES]; /* hot keys down: their release is ours too */
    char title[160];

    void (*run)(void *arg);
    void *arg;
    int done; /* atomic: the vCPU thread has returned */
    Uint32 wake_event;
} Sdl;

/* SDL hands the title to X through the C library's locale: in the "C" locale (no LANG, as in
 * CI) a UTF-8 title ("dualvm — dbt") would not reach _NET_WM_NAME. Take the user's character
 * set, and UTF-8 where that is plain ASCII. Only LC_CTYPE: numbers keep their C format. */
static void utf8_ctype(void)
{
    setlocale(LC_CTYPE, "");
    const char *cs = nl_langinfo(CODESET);
    if (strcmp(cs, "UTF-8") && strcmp(cs, "utf8"))
        setlocale(LC_CTYPE, "C.UTF-8");
}

int sdl_init(char *err, size_t errlen)
{
    utf8_ctype();
    /* main.c's SIGINT/SIGTERM handlers stay in charge */
    SDL_SetHint(SDL_HINT_NO_SIGNAL_HANDLERS, "1");
    SDL_SetHint(SDL_HINT_VIDEO_X11_NET_WM_BYPASS_COMPOSITOR, "0");
    SDL_SetHint(SDL_HINT_VIDEO_ALLOW_SCREENSAVER, "1");
    SDL_SetHint(SDL_HINT_GRAB_KEYBOARD, "1"); /* while grabbed, Alt-Tab & co. go to the guest */
    SDL_SetHint(SDL_HINT_RENDER_SCALE_QUALITY, "linear"); /* smooth when scaled; 1:1 is exact */
    SDL_SetHint(SDL_HINT_APP_NAME, "dualvm");
    SDL_SetHint("SDL_VIDEO_X11_WMCLASS", "dualvm"); /* whatever the binary is called */
    /* Only the window system the environment names (SDL would otherwise go on from a missing
     * X server to Wayland, whose library complains on stderr, and end at its "offscreen"
     * driver, which draws nowhere); with neither, the Linux console's KMS/DRM. SDL_VIDEODRIVER
     * set by the user wins. */
    const char *x11 = getenv("DISPLAY"), *wl = getenv("WAYLAND_DISPLAY");
    bool have_x11 = x11 && *x11, have_wl = wl && *wl, chosen = !getenv("SDL_VIDEODRIVER");
    if (chosen)
        SDL_SetHint(SDL_HINT_VIDEODRIVER, have_x11 && have_wl ? "x11,wayland"
                                          : have_x11          ? "x11"
                                          : have_wl           ? "wayland"
                                                              : "KMSDRM");
    if (SDL_Init(SDL_INIT_VIDEO)) {
        snprintf(err, errlen, "SDL: %s", SDL_GetError());
        return -1;
    }
    const char *drv = SDL_GetCurrentVideoDriver();
    if (chosen && drv && (!strcmp(drv, "offscreen") || !strcmp(drv, "dummy"))) {
        snprintf(err, errlen, "no screen to open a window on (SDL's %s driver)", drv);
        SDL_Quit();
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- the title */

static void update_title(Sdl *s)
{
    char t[sizeof(s->title)];
    int n = snprintf(t, sizeof(t), "dualvm \u2014 %s", s->engine);
    double mips = display_mips(s->d);
    if (mips >= 0 && n < (int)sizeof(t))
        n += snprintf(t + n, sizeof(t) - (size_t)n,
                      mips < 10 ? " \u2014 %.1f MIPS" : " \u2014 %.0f MIPS", mips);
    if (s->grabbed && n < (int)sizeof(t))
        snprintf(t + n, sizeof(t) - (size_t)n, " \u2014 Ctrl-Alt-G releases the mouse");
    if (strcmp(t, s->title)) {
        memcpy(s->title, t, sizeof(t));
        SDL_SetWindowTitle(s->win, t);
    }
}

/* ---------------------------------------------------------------- input */

static void set_grab(Sdl *s, bool on)
{
    if (s->grabbed == on)
        return;
    s->grabbed = on;
    SDL_SetRelativeMouseMode(on ? SDL_TRUE : SDL_FALSE);
    SDL_SetWindowGrab(s->win, on ? SDL_TRUE : SDL_FALSE);
    if (!on && s->buttons) { /* buttons held at release are let go in the guest */
        s->buttons = 0;
        display_mouse(s->d, 0, 0, 0, 0);
        s->kick = true;
    }
    update_title(s);
}

static void key_to_guest(Sdl *s, SDL_Scancode sc, bool down)
{
    unsigned key = keymap_from_sdl(sc);
    if (!key)
        return;
    if (!down && !s->held[sc])
        return; /* pressed before the window had the keyboard: the guest never saw it */
    s->held[sc] = down;
    display_key(s->d, key, down);
    s->kick = true;
}

/* Whatever the guest holds is released (the window lost the keyboard). */
static void release_all(Sdl *s)
{
    for (int sc = 0; sc < SDL_NUM_SCANCODES; sc++)
        if (s->held[sc])
            key_to_guest(s, (SDL_Scancode)sc, false);
    memset(s->hotkey, 0, sizeof(s->hotkey));
}

static void send_ctrl_alt_del(Sdl *s)
{
    /* Ctrl and Alt are down already (held by the user, so their releases follow); saying so
     * again is what the keyboard's repeat would do */
    key_to_guest(s, SDL_SCANCODE_LCTRL, true);
    key_to_guest(s, SDL_SCANCODE_LALT, true);
    display_key(s->d, keymap_from_sdl(SDL_SCANCODE_DELETE), true);
    display_key(s->d, keymap_from_sdl(SDL_SCANCODE_DELETE), false);
    s->kick = true;
}

static bool hotkey(Sdl *s, const SDL_KeyboardEvent *k)
{
    SDL_Scancode sc = k->keysym.scancode;
    if (k->type == SDL_KEYUP) {
        if (!s->hotkey[sc])
            return false;
        s->hotkey[sc] = 0;
        return true;
    }
    if ((k->keysym.mod & HOTKEY_MODS) != HOTKEY_MODS)
        return false;
    switch (sc) {
    case SDL_SCANCODE_G:
        if (!k->repeat)
            set_grab(s, !s->grabbed);
        break;
    case SDL_SCANCODE_END:
        if (!k->repeat)
            send_ctrl_alt_del(s);
        break;
    case SDL_SCANCODE_F:
        if (!k->repeat) {
            s->fullscreen = !s->fullscreen;
            SDL_SetWindowFullscreen(s->win, s->fullscreen ? SDL_WINDOW_FULLSCREEN_DESKTOP : 0);
            s->redraw = true;
        }
        break;
    default:
        return false;
    }
    s->hotkey[sc] = 1;
    return true;
}

static unsigned button_bit(Uint8 b)
{
    switch (b) {
    case SDL_BUTTON_LEFT:
        return I8042_BTN_LEFT;
    case SDL_BUTTON_RIGHT:
        return I8042_BTN_RIGHT;
    case SDL_BUTTON_MIDDLE:
        return I8042_BTN_MIDDLE;
    case SDL_BUTTON_X1:
        return I8042_BTN_4;
    case SDL_BUTTON_X2:
        return I8042_BTN_5;
    default:
        return 0;
    }
}

static void handle_event(Sdl *s, const SDL_Event *e)
{
    switch (e->type) {
    case SDL_QUIT:
        display_power_off(s->d, "the window was closed: guest powered off");
        break;
    case SDL_WINDOWEVENT:
        switch (e->window.event) {
        case SDL_WINDOWEVENT_CLOSE:
            display_power_off(s->d, "the window was closed: guest powered off");
            break;
        case SDL_WINDOWEVENT_FOCUS_LOST:
            release_all(s);
            set_grab(s, false);
            break;
        case SDL_WINDOWEVENT_EXPOSED:
        case SDL_WINDOWEVENT_SIZE_CHANGED:
        case SDL_WINDOWEVENT_RESTORED:
            s->redraw = true;
            break;
        default:
            break;
        }
        break;
    case SDL_KEYDOWN:
    case SDL_KEYUP:
        if (!hotkey(s, &e->key))
            key_to_guest(s, e->key.keysym.scancode, e->type == SDL_KEYDOWN);
        break;
    case SDL_MOUSEMOTION:
        if (s->grabbed && (e->motion.xrel || e->motion.yrel)) {
            display_mouse(s->d, e->motion.xrel, e->motion.yrel, 0, s->buttons);
            s->kick = true;
        }
        break;
    case SDL_MOUSEBUTTONDOWN:
    case SDL_MOUSEBUTTONUP:
        if (!s->grabbed) {
            if (e->type == SDL_MOUSEBUTTONDOWN && e->button.button == SDL_BUTTON_LEFT)
                set_grab(s, true); /* the click itself is the host's */
            break;
        }
        if (e->type == SDL_MOUSEBUTTONDOWN)
            s->buttons |= button_bit(e->button.button);
        else
            s->buttons &= ~button_bit(e->button.button);
        display_mouse(s->d, 0, 0, 0, s->buttons);
        s->kick = true;
        break;
    case SDL_MOUSEWHEEL:
        if (s->grabbed && e->wheel.y) {
            int dz = e->wheel.direction == SDL_MOUSEWHEEL_FLIPPED ? -e->wheel.y : e->wheel.y;
            display_mouse(s->d, 0, 0, dz, s->buttons); /* dz > 0: away from the user */
            s->kick = true;
        }
        break;
    default:
        break;
    }
}

/* ---------------------------------------------------------------- the picture */

static int upload(Sdl *s)
{
    Surface *f = s->front;
    if (!s->tex || s->tex_w != f->width || s->tex_h != f->height) {
        if (s->tex)
            SDL_DestroyTexture(s->tex);
        s->tex = SDL_CreateTexture(s->ren, SDL_PIXELFORMAT_XRGB8888, SDL_TEXTUREACCESS_STREAMING,
                                   f->width, f->height);
        if (!s->tex)
            return -1;
        s->tex_w = f->width;
        s->tex_h = f->height;
        SDL_RenderSetLogicalSize(s->ren, f->width, f->height); /* letterboxed scaling */
        /* the window follows the guest's mode changes, unless full screen or maximised */
        int ww, wh;
        SDL_GetWindowSize(s->win, &ww, &wh);
        if (!s->fullscreen && !(SDL_GetWindowFlags(s->win) & SDL_WINDOW_MAXIMIZED) &&
            (ww != f->width || wh != f->height))
            SDL_SetWindowSize(s->win, f->width, f->height);
    }
    SDL_UpdateTexture(s->tex, NULL, f->pixels, f->stride * (int)sizeof(uint32_t));
    return 0;
}

static void present(Sdl *s)
{
    SDL_SetRenderDrawColor(s->ren, 0, 0, 0, 255);
    SDL_RenderClear(s->ren);
    if (s->tex)
        SDL_RenderCopy(s->ren, s->tex, NULL, NULL);
    SDL_RenderPresent(s->ren);
}

/* ---------------------------------------------------------------- threads */

static void *vcpu_thread(void *p)
{
    Sdl *s = p;
    s->run(s->arg);
    __atomic_store_n(&s->done, 1, __ATOMIC_SEQ_CST);
    SDL_Event e;
    memset(&e, 0, sizeof(e));
    e.type = s->wake_event;
    SDL_PushEvent(&e); /* thread-safe: wakes the window's wait */
    return NULL;
}

static void sdl_close(Sdl *s)
{
    if (s->grabbed)
        SDL_SetRelativeMouseMode(SDL_FALSE);
    if (s->tex)
        SDL_DestroyTexture(s->tex);
    if (s->ren)
        SDL_DestroyRenderer(s->ren);
    if (s->win)
        SDL_DestroyWindow(s->win);
    surface_free(s->front);
    SDL_Quit();
}

int sdl_run(Display *d, VgaState *vga, const char *engine, void (*run)(void *arg), void *arg,
            char *err, size_t errlen)
{
    Sdl s;
    memset(&s, 0, sizeof(s));
    s.d = d;
    s.engine = engine;
    s.run = run;
    s.arg = arg;
    s.wake_event = SDL_RegisterEvents(1);

    /* the guest's size now, before the vCPU thread exists to change it */
    RenderMode mode = render_mode(vga);
    int w = mode.width > 0 ? mode.width : 640, h = mode.height > 0 ? mode.height : 480;
    s.win = SDL_CreateWindow("dualvm", SDL_WINDOWPOS_UNDEFINED, SDL_WINDOWPOS_UNDEFINED, w, h,
                             SDL_WINDOW_RESIZABLE);
    if (s.win)
        s.ren = SDL_CreateRenderer(s.win, -1, 0);
    if (s.win && !s.ren)
        s.ren = SDL_CreateRenderer(s.win, -1, SDL_RENDERER_SOFTWARE);
    s.front = surface_new(1, 1);
    if (!s.win || !s.ren || s.wake_event == (Uint32)-1) {
        snprintf(err, errlen, "cannot open the window: %s", SDL_GetError());
        sdl_close(&s);
        return -1;
    }
    SDL_StopTextInput(); /* keys, not text: no input method in the way */
    update_title(&s);
    present(&s);

    pthread_t tid;
    int rc = pthread_create(&tid, NULL, vcpu_thread, &s);
    if (rc) {
        snprintf(err, errlen, "cannot start the vCPU thread: %s", strerror(rc));
        sdl_close(&s);
        return -1;
    }

    Uint32 last_title = SDL_GetTicks();
    while (!__atomic_load_n(&s.done, __ATOMIC_SEQ_CST)) {
        SDL_Event e;
        if (SDL_WaitEventTimeout(&e, 1000 / DISPLAY_FPS)) {
            do
                handle_event(&s, &e);
            while (SDL_PollEvent(&e));
        }
        if (s.kick) {
            display_kick(d);
            s.kick = false;
        }
        if (display_take_frame(d, &s.front) && !upload(&s))
            s.redraw = true;
        if (s.redraw) {
            present(&s);
            s.redraw = false;
        }
        if (SDL_GetTicks() - last_title >= TITLE_MS) {
            update_title(&s);
            last_title = SDL_GetTicks();
        }
    }
    pthread_join(tid, NULL);
    sdl_close(&s);
    return 0;
}
