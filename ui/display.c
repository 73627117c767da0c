#include "ui/display.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "ui/screenshot.h"

#define QUEUE_SIZE 512
#define FRAME_NS (1000000000ll / DISPLAY_FPS)
#define SPEED_NS 1000000000ll

typedef enum InputKind { IN_KEY, IN_MOUSE } InputKind;

typedef struct InputEvent {
    InputKind kind;
    unsigned key; /* IN_KEY */
    bool down;
    int dx, dy, dz; /* IN_MOUSE */
    unsigned buttons;
} InputEvent;

struct Display {
    Machine *m;
    VgaState *vga;
    I8042State *kbc;
    void (*chain_poll)(Machine *m);

    pthread_mutex_t lock; /* guards the fields marked (L) */

    /* input, window -> vCPU */
    InputEvent queue[QUEUE_SIZE]; /* (L) ring: head is the next to take */
    unsigned head, count;         /* (L) */
    bool power_off;               /* (L) */
    char power_off_why[128];      /* (L) */
    void (*kick)(void *opaque);
    void *kick_opaque;

    /* pictures, vCPU -> window */
    bool frames;
    Surface *back;      /* the vCPU thread's */
    Surface *ready;     /* (L) */
    uint64_t ready_seq; /* (L) bumped with each new ready picture */
    uint64_t taken_seq; /* (L) the last one the window took */
    uint64_t last_key;
    bool have_key;
    unsigned guest_buttons; /* the buttons the mouse last reported (vCPU thread) */
    int64_t next_frame;     /* host monotonic ns */

    /* -screenshot-every */
    char *shot_png, *shot_text;
    int64_t shot_every, next_shot; /* virtual ns; 0 = off */

    /* speed */
    uint64_t (*insns)(void *opaque);
    void *insns_opaque;
    uint64_t last_insns;
    int64_t last_speed;                /* host ns */
    int64_t mips_milli;                /* atomic: guest MIPS x 1000, -1 unknown */
    int64_t (*host_now)(void *opaque); /* NULL: host_ns() */
    void *host_now_opaque;
};

static int64_t host_ns(void)
{
    return g_get_monotonic_time() * 1000;
}

Display *display_new(Machine *m, VgaState *vga, I8042State *kbc, bool frames)
{
    Display *d = g_new0(Display, 1);
    d->m = m;
    d->vga = vga;
    d->kbc = kbc;
    d->frames = frames;
    d->mips_milli = -1;
    pthread_mutex_init(&d->lock, NULL);
    if (frames) {
        d->back = surface_new(1, 1);
        d->ready = surface_new(1, 1);
    }
    d->chain_poll = m->poll;
    m->poll = display_poll;
    m->ui = d;
    return d;
}

void display_free(Display *d)
{
    if (!d)
        return;
    if (d->m->ui == d) {
        d->m->poll = d->chain_poll;
        d->m->ui = NULL;
    }
    surface_free(d->back);
    surface_free(d->ready);
    g_free(d->shot_png);
    g_free(d->shot_text);
    pthread_mutex_destroy(&d->lock);
    g_free(d);
}

void display_set_screenshots(Display *d, const char *png, const char *text, int64_t every_ns)
{
    g_free(d->shot_png);
    g_free(d->shot_text);
    d->shot_png = g_strdup(png);
    d->shot_text = g_strdup(text);
    d->shot_every = every_ns > 0 && (png || text) ? every_ns : 0;
    d->next_shot = clock_ns(d->m->clock) + d->shot_every;
}

void display_set_host_clock(Display *d, int64_t (*now_ns)(void *opaque), void *opaque)
{
    d->host_now = now_ns;
    d->host_now_opaque = opaque;
}

void display_set_insn_counter(Display *d, uint64_t (*count)(void *opaque), void *opaque)
{
    d->insns = count;
    d->insns_opaque = opaque;
}

void display_set_kick(Display *d, void (*kick)(void *opaque), void *opaque)
{
    d->kick = kick;
    d->kick_opaque = opaque;
}

/* ---------------------------------------------------------------- window thread */

static void push(Display *d, const InputEvent *e)
{
    pthread_mutex_lock(&d->lock);
    if (e->kind == IN_MOUSE && d->count) {
        InputEvent *last = &d->queue[(d->head + d->count - 1) % QUEUE_SIZE];
        if (last->kind == IN_MOUSE && last->buttons == e->buttons) {
            last->dx += e->dx;
            last->dy += e->dy;
            last->dz += e->dz;
            pthread_mutex_unlock(&d->lock);
            return;
        }
    }
    if (d->count < QUEUE_SIZE) /* full: a guest that takes no input loses it, as a PC would */
        d->queue[(d->head + d->count++) % QUEUE_SIZE] = *e;
    pthread_mutex_unlock(&d->lock);
}

void display_key(Display *d, unsigned key, bool down)
{
    InputEvent e = {.kind = IN_KEY, .key = key, .down = down};
    push(d, &e);
}

void display_mouse(Display *d, int dx, int dy, int dz, unsigned buttons)
{
    InputEvent e = {.kind = IN_MOUSE, .dx = dx, .dy = dy, .dz = dz, .buttons = buttons};
    push(d, &e);
}

void display_power_off(Display *d, const char *why)
{
    pthread_mutex_lock(&d->lock);
    if (!d->power_off) {
        d->power_off = true;
        snprintf(d->power_off_why, sizeof(d->power_off_why), "%s", why);
    }
    pthread_mutex_unlock(&d->lock);
    display_kick(d);
}

void display_kick(Display *d)
{
    if (d->kick)
        d->kick(d->kick_opaque);
}

bool display_take_frame(Display *d, Surface **frame)
{
    bool fresh = false;
    pthread_mutex_lock(&d->lock);
    if (d->frames && d->ready_seq != d->taken_seq) {
        Surface *t = d->ready;
        d->ready = *frame;
        *frame = t;
        d->taken_seq = d->ready_seq;
        fresh = true;
    }
    pthread_mutex_unlock(&d->lock);
    return fresh;
}

double display_mips(Display *d)
{
    int64_t v = __atomic_load_n(&d->mips_milli, __ATOMIC_RELAXED);
    return v < 0 ? -1.0 : (double)v / 1000.0;
}

/* ---------------------------------------------------------------- vCPU thread */

static void take_input(Display *d)
{
    InputEvent batch[64];
    for (;;) {
        unsigned n = 0;
        bool off = false;
        char why[sizeof(d->power_off_why)];
        pthread_mutex_lock(&d->lock);
        while (d->count && n < G_N_ELEMENTS(batch)) {
            batch[n++] = d->queue[d->head];
            d->head = (d->head + 1) % QUEUE_SIZE;
            d->count--;
        }
        if (d->power_off) {
            off = true;
            memcpy(why, d->power_off_why, sizeof(why));
        }
        pthread_mutex_unlock(&d->lock);
        for (unsigned i = 0; i < n && d->kbc; i++) {
            const InputEvent *e = &batch[i];
            if (e->kind == IN_KEY) {
                i8042_key_event(d->kbc, e->key, e->down);
            } else if (e->dx || e->dy || e->dz || e->buttons != d->guest_buttons) {
                /* (motions that merged to nothing make no packet) */
                i8042_mouse_event(d->kbc, e->dx, e->dy, e->dz, e->buttons);
                d->guest_buttons = e->buttons;
            }
        }
        if (off) /* the first request wins: a repeat is ignored */
            machine_request_stop(d->m, STOP_POWEROFF, 0, "%s", why);
        if (n < G_N_ELEMENTS(batch))
            return;
    }
}

static void make_frame(Display *d, int64_t now_host)
{
    if (now_host < d->next_frame)
        return;
    d->next_frame += FRAME_NS;
    if (d->next_frame <= now_host) /* fell behind (a long slice): no catching up */
        d->next_frame = now_host + FRAME_NS;
    int64_t now = clock_ns(d->m->clock);
    uint64_t key = render_key(d->vga, now);
    if (d->have_key && key == d->last_key && !vga_display_in_ram(d->vga))
        return;
    if (vga_render(d->vga, d->back, now))
        return; /* no memory for a new size: try again next frame */
    d->last_key = key;
    d->have_key = true;
    pthread_mutex_lock(&d->lock);
    Surface *t = d->ready;
    d->ready = d->back;
    d->back = t;
    d->ready_seq++;
    pthread_mutex_unlock(&d->lock);
}

static void write_shots(Display *d)
{
    char err[512];
    gchar *png = d->shot_png ? g_strconcat(d->shot_png, ".tmp", NULL) : NULL;
    gchar *text = d->shot_text ? g_strconcat(d->shot_text, ".tmp", NULL) : NULL;
    int rc = screenshot_save(d->vga, png, text, err, sizeof(err));
    if (!rc && png && rename(png, d->shot_png)) {
        snprintf(err, sizeof(err), "%s: %s", d->shot_png, strerror(errno));
        rc = -1;
    }
    if (!rc && text && rename(text, d->shot_text)) {
        snprintf(err, sizeof(err), "%s: %s", d->shot_text, strerror(errno));
        rc = -1;
    }
    if (rc) {
        fprintf(stderr, "dualvm: -screenshot-every: %s (no more periodic screenshots)\n", err);
        d->shot_every = 0;
    }
    g_free(png);
    g_free(text);
}

static void measure_speed(Display *d, int64_t now_host)
{
    if (!d->insns)
        return;
    if (!d->last_speed) {
        d->last_speed = now_host;
        d->last_insns = d->insns(d->insns_opaque);
        return;
    }
    int64_t dt = now_host - d->last_speed;
    if (dt < SPEED_NS)
        return;
    uint64_t n = d->insns(d->insns_opaque);
    /* instructions per microsecond = MIPS; x1000 keeps three decimals in an integer */
    int64_t milli = (int64_t)((double)(n - d->last_insns) * 1e6 / (double)dt);
    __atomic_store_n(&d->mips_milli, milli, __ATOMIC_RELAXED);
    d->last_insns = n;
    d->last_speed = now_host;
}

void display_poll(Machine *m)
{
    Display *d = m->ui;
    if (d->chain_poll)
        d->chain_poll(m);
    int64_t now_host = d->host_now ? d->host_now(d->host_now_opaque) : host_ns();
    take_input(d);
    if (d->frames)
        make_frame(d, now_host);
    if (d->shot_every && clock_ns(m->clock) >= d->next_shot) {
        write_shots(d);
        d->next_shot = clock_ns(m->clock) + d->shot_every;
    }
    measure_speed(d, now_host);
}
