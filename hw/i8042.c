#include "hw/i8042.h"

#include <string.h>

#include <glib.h>

#define REPLY_QUEUE_SIZE 8 /* replies to a command go ahead of buffered data */
#define CTRL_QUEUE_SIZE 4  /* controller replies waiting for the output buffer */
#define RAM_SIZE 32

/* The controller's set 2 -> set 1 translation (the 8042 firmware's table). Bytes from 0x80 up
 * pass unchanged but for 0x83 (F7) and 0x84 (Alt+SysRq). */
static const uint8_t xlate_table[128] = {
    0xff, 0x43, 0x41, 0x3f, 0x3d, 0x3b, 0x3c, 0x58, 0x64, 0x44, 0x42, 0x40, 0x3e, 0x0f, 0x29, 0x59,
    0x65, 0x38, 0x2a, 0x70, 0x1d, 0x10, 0x02, 0x5a, 0x66, 0x71, 0x2c, 0x1f, 0x1e, 0x11, 0x03, 0x5b,
    0x67, 0x2e, 0x2d, 0x20, 0x12, 0x05, 0x04, 0x5c, 0x68, 0x39, 0x2f, 0x21, 0x14, 0x13, 0x06, 0x5d,
    0x69, 0x31, 0x30, 0x23, 0x22, 0x15, 0x07, 0x5e, 0x6a, 0x72, 0x32, 0x24, 0x16, 0x08, 0x09, 0x5f,
    0x6b, 0x33, 0x25, 0x17, 0x18, 0x0b, 0x0a, 0x60, 0x6c, 0x34, 0x35, 0x26, 0x27, 0x19, 0x0c, 0x61,
    0x6d, 0x73, 0x28, 0x74, 0x1a, 0x0d, 0x62, 0x6e, 0x3a, 0x36, 0x1c, 0x1b, 0x75, 0x2b, 0x63, 0x76,
    0x55, 0x56, 0x77, 0x78, 0x79, 0x7a, 0x0e, 0x7b, 0x7c, 0x4f, 0x7d, 0x4b, 0x47, 0x7e, 0x7f, 0x6f,
    0x52, 0x53, 0x50, 0x4c, 0x4d, 0x48, 0x01, 0x45, 0x57, 0x4e, 0x51, 0x4a, 0x37, 0x49, 0x46, 0x54,
};
#define SET2_F7 0x83
#define SET2_ALT_SYSRQ 0x84
#define SET1_F7 0x41
#define SET1_ALT_SYSRQ 0x54
#define SET2_BREAK 0xf0
#define SET1_BREAK 0x80
#define SET1_OVERRUN 0xff
#define SET2_OVERRUN 0x00

static uint8_t xlate(uint8_t b)
{
    if (b < 0x80)
        return xlate_table[b];
    if (b == SET2_F7)
        return SET1_F7;
    if (b == SET2_ALT_SYSRQ)
        return SET1_ALT_SYSRQ;
    return b;
}

typedef struct ByteQueue {
    uint8_t data[32];
    unsigned head, count, cap;
} ByteQueue;

static void q_init(ByteQueue *q, unsigned cap)
{
    q->head = q->count = 0;
    q->cap = cap;
}

static unsigned q_room(const ByteQueue *q)
{
    return q->cap - q->count;
}

static void q_push(ByteQueue *q, uint8_t b)
{
    if (q->count < q->cap) {
        q->data[(q->head + q->count) % sizeof(q->data)] = b;
        q->count++;
    }
}

static uint8_t q_pop(ByteQueue *q)
{
    uint8_t b = q->data[q->head];
    q->head = (q->head + 1) % sizeof(q->data);
    q->count--;
    return b;
}

/* What a PS/2 device has to send: replies first, then data. */
typedef struct Ps2Port {
    ByteQueue reply, data;
    uint8_t last_sent; /* for the resend command */
    int param_cmd;     /* command waiting for its parameter byte, or -1 */
} Ps2Port;

typedef struct Ps2Kbd {
    Ps2Port port;
    bool scanning;
    int set; /* scan code set 1-3 */
    uint8_t leds, typematic;
} Ps2Kbd;

typedef struct Ps2Mouse {
    Ps2Port port;
    uint8_t status; /* AUX_STATUS_REMOTE | _ENABLED | _SCALE21 */
    uint8_t resolution, rate;
    bool wrap;
    uint8_t id;
    uint8_t rates[3]; /* the last three sample rates set: the IntelliMouse knock */
    int dx, dy, dz;   /* motion not yet reported (PS/2 sense: y up, z toward the user) */
    unsigned buttons;
} Ps2Mouse;

struct I8042State {
    IrqLine kbd_irq, aux_irq;
    int kbd_level, aux_level;
    I8042Board board;

    uint8_t ram[RAM_SIZE]; /* ram[0] is the command byte */
    uint8_t outport;
    bool sys_flag;
    bool cmd_last;   /* status CMD: the last write went to 0x64 */
    int pending_cmd; /* controller command waiting for its data byte, or -1 */

    uint8_t obuf; /* the output buffer */
    bool obf, obf_aux;
    ByteQueue ctrl_q; /* controller replies (and 0xD2/0xD3 bytes) */
    /* ... which of them show as mouse data, by queue position mod CTRL_QUEUE_SIZE (which
     * divides the queue's buffer size, so positions line up) */
    uint8_t ctrl_aux[CTRL_QUEUE_SIZE];
    bool xlate_break; /* translating: a 0xF0 came and its code has not */

    Ps2Kbd kbd;
    Ps2Mouse mouse;
};

/* --- the controller's output buffer ------------------------------------------------------ */

static uint8_t cmd_byte(const I8042State *s)
{
    return s->ram[0];
}

static void update_irq(I8042State *s)
{
    int kbd = s->obf && !s->obf_aux && (cmd_byte(s) & I8042_CTR_KBDINT);
    int aux = s->obf && s->obf_aux && (cmd_byte(s) & I8042_CTR_AUXINT);
    if (kbd != s->kbd_level) {
        s->kbd_level = kbd;
        irq_set(&s->kbd_irq, kbd);
    }
    if (aux != s->aux_level) {
        s->aux_level = aux;
        irq_set(&s->aux_irq, aux);
    }
}

static bool port_has_data(const Ps2Port *p)
{
    return p->reply.count || p->data.count;
}

static uint8_t port_take(Ps2Port *p)
{
    uint8_t b = p->reply.count ? q_pop(&p->reply) : q_pop(&p->data);
    p->last_sent = b;
    return b;
}

/* Fill the empty output buffer from the next source that has something and may send. */
static void fill(I8042State *s)
{
    if (s->obf)
        return;
    if (s->ctrl_q.count) {
        bool aux = s->ctrl_aux[s->ctrl_q.head % CTRL_QUEUE_SIZE];
        s->obuf = q_pop(&s->ctrl_q);
        s->obf = true;
        s->obf_aux = aux;
    } else if (!(cmd_byte(s) & I8042_CTR_KBDDIS) && port_has_data(&s->kbd.port)) {
        while (port_has_data(&s->kbd.port)) {
            uint8_t b = port_take(&s->kbd.port);
            if (!(cmd_byte(s) & I8042_CTR_XLATE)) {
                s->obuf = b;
            } else if (b == SET2_BREAK) {
                s->xlate_break = true; /* folded into the next code */
                continue;
            } else {
                s->obuf = (uint8_t)(xlate(b) | (s->xlate_break ? SET1_BREAK : 0));
                s->xlate_break = false;
            }
            s->obf = true;
            s->obf_aux = false;
            break;
        }
    } else if (!(cmd_byte(s) & I8042_CTR_AUXDIS) && port_has_data(&s->mouse.port)) {
        s->obuf = port_take(&s->mouse.port);
        s->obf = true;
        s->obf_aux = true;
    }
    update_irq(s);
}

static void ctrl_reply(I8042State *s, uint8_t b, bool aux)
{
    if (s->ctrl_q.count < CTRL_QUEUE_SIZE) {
        s->ctrl_aux[(s->ctrl_q.head + s->ctrl_q.count) % CTRL_QUEUE_SIZE] = aux;
        q_push(&s->ctrl_q, b);
    }
    fill(s);
}

static uint8_t read_data(I8042State *s)
{
    uint8_t v = s->obuf; /* an empty buffer reads as its last byte */
    if (s->obf) {
        s->obf = false;
        update_irq(s); /* the line drops, and rises again if there is more: a new edge */
        fill(s);
    }
    return v;
}

static uint8_t read_status(I8042State *s)
{
    uint8_t v = I8042_STR_INH;
    if (s->obf)
        v |= I8042_STR_OBF;
    if (s->obf && s->obf_aux)
        v |= I8042_STR_AUXDATA;
    if (s->sys_flag)
        v |= I8042_STR_SYS;
    if (s->cmd_last)
        v |= I8042_STR_CMD;
    return v;
}

/* --- PS/2 keyboard ------------------------------------------------------------------------ */

static void port_reset(Ps2Port *p)
{
    q_init(&p->reply, REPLY_QUEUE_SIZE);
    q_init(&p->data, PS2_QUEUE_SIZE);
    p->param_cmd = -1;
}

static void kbd_defaults(Ps2Kbd *k)
{
    k->set = 2;
    k->typematic = 0x2b; /* 10.9 characters/s after 500 ms */
    k->leds = 0;
}

static void kbd_reply(I8042State *s, uint8_t b)
{
    q_push(&s->kbd.port.reply, b);
}

static void kbd_command(I8042State *s, uint8_t b)
{
    Ps2Kbd *k = &s->kbd;
    int param_cmd = k->port.param_cmd;
    k->port.param_cmd = -1;
    if (param_cmd >= 0 && b < KBD_CMD_SET_LEDS) {
        switch (param_cmd) {
        case KBD_CMD_SET_LEDS:
            k->leds = b & 7;
            kbd_reply(s, KBD_REPLY_ACK);
            break;
        case KBD_CMD_TYPEMATIC:
            k->typematic = b & 0x7f;
            kbd_reply(s, KBD_REPLY_ACK);
            break;
        case KBD_CMD_SCANCODE:
            kbd_reply(s, KBD_REPLY_ACK);
            if (b == 0)
                kbd_reply(s, (uint8_t)k->set); /* the controller translates it, as on a PC */
            else if (b <= 3)
                k->set = b;
            break;
        }
        return;
    }
    /* a command byte where a parameter was expected starts the new command */
    switch (b) {
    case KBD_CMD_SET_LEDS:
    case KBD_CMD_TYPEMATIC:
    case KBD_CMD_SCANCODE:
        k->port.param_cmd = b;
        kbd_reply(s, KBD_REPLY_ACK);
        break;
    case KBD_CMD_ECHO:
        kbd_reply(s, KBD_CMD_ECHO);
        break;
    case KBD_CMD_IDENTIFY:
        kbd_reply(s, KBD_REPLY_ACK);
        kbd_reply(s, KBD_REPLY_ID);
        kbd_reply(s, KBD_REPLY_ID2);
        break;
    case KBD_CMD_ENABLE:
        q_init(&k->port.data, PS2_QUEUE_SIZE);
        k->scanning = true;
        kbd_reply(s, KBD_REPLY_ACK);
        break;
    case KBD_CMD_DISABLE:
    case KBD_CMD_DEFAULTS:
        q_init(&k->port.data, PS2_QUEUE_SIZE);
        kbd_defaults(k);
        k->scanning = b == KBD_CMD_DEFAULTS;
        kbd_reply(s, KBD_REPLY_ACK);
        break;
    case 0xf7: /* scan code set 3 key types: accepted, without effect */
    case 0xf8:
    case 0xf9:
    case 0xfa:
    case 0xfb:
    case 0xfc:
    case 0xfd:
        kbd_reply(s, KBD_REPLY_ACK);
        break;
    case KBD_CMD_RESEND:
        kbd_reply(s, k->port.last_sent);
        break;
    case KBD_CMD_RESET:
        port_reset(&k->port);
        kbd_defaults(k);
        k->scanning = true;
        kbd_reply(s, KBD_REPLY_ACK);
        kbd_reply(s, KBD_REPLY_BAT_OK);
        break;
    default:
        kbd_reply(s, KBD_REPLY_RESEND); /* not a command */
        break;
    }
}

bool i8042_kbd_put(I8042State *s, const uint8_t *bytes, size_t n)
{
    Ps2Kbd *k = &s->kbd;
    if (!k->scanning)
        return false;
    bool ok = n <= q_room(&k->port.data);
    if (ok) {
        for (size_t i = 0; i < n; i++)
            q_push(&k->port.data, bytes[i]);
    } else if (q_room(&k->port.data)) {
        q_push(&k->port.data, k->set == 1 ? SET1_OVERRUN : SET2_OVERRUN);
    }
    fill(s);
    return ok;
}

/* set 1 make code -> set 2, the inverse of the controller's translation */
static uint8_t set1_to_set2(uint8_t c)
{
    if (c == SET1_F7)
        return SET2_F7;
    if (c == SET1_ALT_SYSRQ)
        return SET2_ALT_SYSRQ;
    for (unsigned i = 1; i < 128; i++)
        if (xlate_table[i] == c)
            return (uint8_t)i;
    return 0;
}

void i8042_key_event(I8042State *s, unsigned key, bool down)
{
    uint8_t buf[8];
    size_t n = 0;
    bool set1 = s->kbd.set == 1; /* set 3 is sent as set 2 */
    if (key == I8042_KEY_PAUSE) {
        static const uint8_t pause1[] = {0xe1, 0x1d, 0x45, 0xe1, 0x9d, 0xc5};
        static const uint8_t pause2[] = {0xe1, 0x14, 0x77, 0xe1, 0xf0, 0x14, 0xf0, 0x77};
        if (down) /* no break code: the make sequence holds it */
            i8042_kbd_put(s, set1 ? pause1 : pause2, set1 ? sizeof(pause1) : sizeof(pause2));
        return;
    }
    if (key == I8042_KEY_PRINT) {
        /* with the fake shift around it, as a keyboard sends it unmodified */
        static const uint8_t make1[] = {0xe0, 0x2a, 0xe0, 0x37}, brk1[] = {0xe0, 0xb7, 0xe0, 0xaa};
        static const uint8_t make2[] = {0xe0, 0x12, 0xe0, 0x7c};
        static const uint8_t brk2[] = {0xe0, 0xf0, 0x7c, 0xe0, 0xf0, 0x12};
        const uint8_t *seq = set1 ? (down ? make1 : brk1) : (down ? make2 : brk2);
        size_t len = set1 ? 4 : (down ? sizeof(make2) : sizeof(brk2));
        i8042_kbd_put(s, seq, len);
        return;
    }
    uint8_t code = key & 0x7f;
    if (key & I8042_KEY_E0)
        buf[n++] = 0xe0;
    if (set1) {
        buf[n++] = (uint8_t)(code | (down ? 0 : SET1_BREAK));
    } else {
        if (!down)
            buf[n++] = SET2_BREAK;
        buf[n++] = set1_to_set2(code);
    }
    i8042_kbd_put(s, buf, n);
}

/* --- PS/2 mouse --------------------------------------------------------------------------- */

static void mouse_reply(I8042State *s, uint8_t b)
{
    q_push(&s->mouse.port.reply, b);
}

static void mouse_defaults(Ps2Mouse *m)
{
    m->status = 0;     /* stream mode, reporting off, 1:1 */
    m->resolution = 2; /* 4 counts/mm */
    m->rate = 100;
    m->dx = m->dy = m->dz = 0;
}

/* 2:1 scaling, applied to stream reports */
static int scale21(int v)
{
    static const int small[6] = {0, 1, 1, 3, 6, 9};
    int a = v < 0 ? -v : v;
    int r = a <= 5 ? small[a] : 2 * a;
    return v < 0 ? -r : r;
}

static int clamp(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static unsigned packet_size(const Ps2Mouse *m)
{
    return m->id == AUX_ID_PS2 ? 3 : 4;
}

/* Queue one packet with as much of the pending motion as fits in it. */
static void mouse_packet(Ps2Mouse *m, ByteQueue *q, bool stream)
{
    int dx = clamp(m->dx, -256, 255), dy = clamp(m->dy, -256, 255);
    int dz = m->id == AUX_ID_IMEX ? clamp(m->dz, -8, 7) : clamp(m->dz, -128, 127);
    m->dx -= dx;
    m->dy -= dy;
    m->dz -= dz;
    uint8_t b0 = AUX_PKT_ALWAYS1 | (m->buttons & (AUX_PKT_LEFT | AUX_PKT_RIGHT | AUX_PKT_MIDDLE));
    if (stream && (m->status & AUX_STATUS_SCALE21)) {
        dx = scale21(dx);
        dy = scale21(dy);
        if (dx < -256 || dx > 255)
            b0 |= AUX_PKT_XOVF;
        if (dy < -256 || dy > 255)
            b0 |= AUX_PKT_YOVF;
        dx = clamp(dx, -256, 255);
        dy = clamp(dy, -256, 255);
    }
    if (dx < 0)
        b0 |= AUX_PKT_XSIGN;
    if (dy < 0)
        b0 |= AUX_PKT_YSIGN;
    q_push(q, b0);
    q_push(q, (uint8_t)dx);
    q_push(q, (uint8_t)dy);
    if (m->id == AUX_ID_IMPS2)
        q_push(q, (uint8_t)dz);
    else if (m->id == AUX_ID_IMEX)
        q_push(q, (uint8_t)((dz & 0x0f) | ((m->buttons & (I8042_BTN_4 | I8042_BTN_5)) << 1)));
}

static void mouse_command(I8042State *s, uint8_t b)
{
    Ps2Mouse *m = &s->mouse;
    if (m->wrap) {
        if (b == AUX_CMD_RESET_WRAP) {
            m->wrap = false;
            mouse_reply(s, KBD_REPLY_ACK);
            return;
        }
        if (b != AUX_CMD_RESET) {
            mouse_reply(s, b); /* wrap mode echoes */
            return;
        }
    }
    int param_cmd = m->port.param_cmd;
    m->port.param_cmd = -1;
    if (param_cmd == AUX_CMD_SET_RES) {
        m->resolution = b & 3;
        mouse_reply(s, KBD_REPLY_ACK);
        return;
    }
    if (param_cmd == AUX_CMD_SET_RATE) {
        m->rate = b;
        m->rates[0] = m->rates[1];
        m->rates[1] = m->rates[2];
        m->rates[2] = b;
        if (m->id == AUX_ID_PS2 && m->rates[0] == 200 && m->rates[1] == 100 && m->rates[2] == 80)
            m->id = AUX_ID_IMPS2;
        else if (m->id == AUX_ID_IMPS2 && m->rates[0] == 200 && m->rates[1] == 200 &&
                 m->rates[2] == 80)
            m->id = AUX_ID_IMEX;
        mouse_reply(s, KBD_REPLY_ACK);
        return;
    }
    switch (b) {
    case AUX_CMD_SCALE11:
        m->status &= (uint8_t)~AUX_STATUS_SCALE21;
        mouse_reply(s, KBD_REPLY_ACK);
        break;
    case AUX_CMD_SCALE21:
        m->status |= AUX_STATUS_SCALE21;
        mouse_reply(s, KBD_REPLY_ACK);
        break;
    case AUX_CMD_SET_RES:
    case AUX_CMD_SET_RATE:
        m->port.param_cmd = b;
        mouse_reply(s, KBD_REPLY_ACK);
        break;
    case AUX_CMD_STATUS: {
        uint8_t st = m->status;
        if (m->buttons & I8042_BTN_LEFT)
            st |= AUX_STATUS_LEFT;
        if (m->buttons & I8042_BTN_MIDDLE)
            st |= AUX_STATUS_MIDDLE;
        if (m->buttons & I8042_BTN_RIGHT)
            st |= AUX_STATUS_RIGHT;
        mouse_reply(s, KBD_REPLY_ACK);
        mouse_reply(s, st);
        mouse_reply(s, m->resolution);
        mouse_reply(s, m->rate);
        break;
    }
    case AUX_CMD_STREAM:
        m->status &= (uint8_t)~AUX_STATUS_REMOTE;
        mouse_reply(s, KBD_REPLY_ACK);
        break;
    case AUX_CMD_READ_DATA:
        mouse_reply(s, KBD_REPLY_ACK);
        mouse_packet(m, &m->port.reply, false);
        break;
    case AUX_CMD_RESET_WRAP:
        mouse_reply(s, KBD_REPLY_ACK);
        break;
    case AUX_CMD_WRAP:
        m->wrap = true;
        mouse_reply(s, KBD_REPLY_ACK);
        break;
    case AUX_CMD_REMOTE:
        m->status |= AUX_STATUS_REMOTE;
        mouse_reply(s, KBD_REPLY_ACK);
        break;
    case AUX_CMD_GET_ID:
        mouse_reply(s, KBD_REPLY_ACK);
        mouse_reply(s, m->id);
        break;
    case AUX_CMD_ENABLE:
        m->status |= AUX_STATUS_ENABLED;
        mouse_reply(s, KBD_REPLY_ACK);
        break;
    case AUX_CMD_DISABLE:
        m->status &= (uint8_t)~AUX_STATUS_ENABLED;
        q_init(&m->port.data, PS2_QUEUE_SIZE);
        mouse_reply(s, KBD_REPLY_ACK);
        break;
    case AUX_CMD_DEFAULTS:
        mouse_defaults(m);
        q_init(&m->port.data, PS2_QUEUE_SIZE);
        mouse_reply(s, KBD_REPLY_ACK);
        break;
    case AUX_CMD_RESEND:
        mouse_reply(s, m->port.last_sent);
        break;
    case AUX_CMD_RESET:
        port_reset(&m->port);
        mouse_defaults(m);
        m->wrap = false;
        m->id = AUX_ID_PS2;
        memset(m->rates, 0, sizeof(m->rates));
        mouse_reply(s, KBD_REPLY_ACK);
        mouse_reply(s, KBD_REPLY_BAT_OK);
        mouse_reply(s, AUX_ID_PS2);
        break;
    default:
        mouse_reply(s, KBD_REPLY_RESEND);
        break;
    }
}

void i8042_mouse_event(I8042State *s, int dx, int dy, int dz, unsigned buttons)
{
    Ps2Mouse *m = &s->mouse;
    bool remote = m->status & AUX_STATUS_REMOTE;
    m->buttons = buttons; /* the status command reports them whatever the mode */
    if (!remote && !(m->status & AUX_STATUS_ENABLED))
        return;
    m->dx += dx;
    m->dy -= dy; /* PS/2 counts up as positive */
    m->dz -= dz; /* and the wheel toward the user */
    if (remote)
        return;
    do {
        if (q_room(&m->port.data) < packet_size(m))
            break; /* the rest waits for the next event */
        mouse_packet(m, &m->port.data, true);
    } while (m->dx || m->dy || m->dz);
    fill(s);
}

/* --- controller commands ------------------------------------------------------------------ */

static void pulse_reset(I8042State *s)
{
    if (s->board.reset)
        s->board.reset(s->board.opaque);
}

static void write_outport(I8042State *s, uint8_t v)
{
    uint8_t old = s->outport;
    s->outport = v & (uint8_t) ~(I8042_OUT_KBD_OBF | I8042_OUT_AUX_OBF);
    if (((old ^ v) & I8042_OUT_A20) && s->board.a20)
        s->board.a20(s->board.opaque, v & I8042_OUT_A20);
    if (!(v & I8042_OUT_RESET))
        pulse_reset(s);
}

static uint8_t read_outport(I8042State *s)
{
    uint8_t v = s->outport;
    if (s->obf)
        v |= s->obf_aux ? I8042_OUT_AUX_OBF : I8042_OUT_KBD_OBF;
    return v;
}

static void write_cmd_byte(I8042State *s, uint8_t v)
{
    s->ram[0] = v;
    s->sys_flag = v & I8042_CTR_SYS;
    if (!(v & I8042_CTR_XLATE))
        s->xlate_break = false;
    update_irq(s);
    fill(s); /* an interface may have been enabled */
}

static void controller_command(I8042State *s, uint8_t cmd)
{
    if (cmd >= I8042_CMD_READ_RAM && cmd < I8042_CMD_READ_RAM + RAM_SIZE) {
        ctrl_reply(s, s->ram[cmd - I8042_CMD_READ_RAM], false);
        return;
    }
    if (cmd >= I8042_CMD_WRITE_RAM && cmd < I8042_CMD_WRITE_RAM + RAM_SIZE) {
        s->pending_cmd = cmd;
        return;
    }
    if (cmd >= I8042_CMD_PULSE) {
        if (!(cmd & I8042_OUT_RESET))
            pulse_reset(s); /* 0xfe and the other even ones */
        return;
    }
    switch (cmd) {
    case I8042_CMD_PASSWORD_TEST:
        ctrl_reply(s, I8042_PASSWORD_NONE, false);
        break;
    case I8042_CMD_AUX_DISABLE:
        write_cmd_byte(s, cmd_byte(s) | I8042_CTR_AUXDIS);
        break;
    case I8042_CMD_AUX_ENABLE:
        write_cmd_byte(s, cmd_byte(s) & (uint8_t)~I8042_CTR_AUXDIS);
        break;
    case I8042_CMD_AUX_TEST:
    case I8042_CMD_KBD_TEST:
        ctrl_reply(s, 0x00, false); /* no clock or data line stuck */
        break;
    case I8042_CMD_SELF_TEST:
        s->sys_flag = true;
        ctrl_reply(s, I8042_SELF_TEST_OK, false);
        break;
    case I8042_CMD_KBD_DISABLE:
        write_cmd_byte(s, cmd_byte(s) | I8042_CTR_KBDDIS);
        break;
    case I8042_CMD_KBD_ENABLE:
        write_cmd_byte(s, cmd_byte(s) & (uint8_t)~I8042_CTR_KBDDIS);
        break;
    case I8042_CMD_READ_INPUT:
        ctrl_reply(s, 0x80, false); /* keyboard not inhibited */
        break;
    case I8042_CMD_READ_OUTPUT:
        ctrl_reply(s, read_outport(s), false);
        break;
    case I8042_CMD_WRITE_OUTPUT:
    case I8042_CMD_WRITE_KBD_OBUF:
    case I8042_CMD_WRITE_AUX_OBUF:
    case I8042_CMD_WRITE_AUX:
        s->pending_cmd = cmd;
        break;
    case I8042_CMD_A20_DISABLE:
        write_outport(s, s->outport & (uint8_t)~I8042_OUT_A20);
        break;
    case I8042_CMD_A20_ENABLE:
        write_outport(s, s->outport | I8042_OUT_A20);
        break;
    case I8042_CMD_READ_TEST:
        ctrl_reply(s, 0x00, false);
        break;
    default:
        break; /* unknown commands are ignored */
    }
}

static void write_data(I8042State *s, uint8_t v)
{
    int cmd = s->pending_cmd;
    s->pending_cmd = -1;
    if (cmd >= I8042_CMD_WRITE_RAM && cmd < I8042_CMD_WRITE_RAM + RAM_SIZE) {
        if (cmd == I8042_CMD_WRITE_RAM)
            write_cmd_byte(s, v);
        else
            s->ram[cmd - I8042_CMD_WRITE_RAM] = v;
        return;
    }
    switch (cmd) {
    case I8042_CMD_WRITE_OUTPUT:
        write_outport(s, v);
        break;
    case I8042_CMD_WRITE_KBD_OBUF:
        ctrl_reply(s, v, false);
        break;
    case I8042_CMD_WRITE_AUX_OBUF:
        ctrl_reply(s, v, true);
        break;
    case I8042_CMD_WRITE_AUX:
        /* talking to a device enables its interface, as QEMU and many KBCs do */
        s->ram[0] &= (uint8_t)~I8042_CTR_AUXDIS;
        mouse_command(s, v);
        fill(s);
        break;
    default:
        s->ram[0] &= (uint8_t)~I8042_CTR_KBDDIS;
        kbd_command(s, v);
        fill(s);
        break;
    }
}

static uint32_t data_io_read(void *dev, uint16_t off, unsigned size)
{
    return read_data(dev) | (size > 1 ? 0xffffff00u : 0);
}

static void data_io_write(void *dev, uint16_t off, uint32_t val, unsigned size)
{
    I8042State *s = dev;
    s->cmd_last = false;
    write_data(s, (uint8_t)val);
}

static uint32_t cmd_io_read(void *dev, uint16_t off, unsigned size)
{
    return read_status(dev) | (size > 1 ? 0xffffff00u : 0);
}

static void cmd_io_write(void *dev, uint16_t off, uint32_t val, unsigned size)
{
    I8042State *s = dev;
    s->cmd_last = true;
    s->pending_cmd = -1; /* a new command abandons one waiting for data */
    controller_command(s, (uint8_t)val);
}

static const IoOps data_ops = {data_io_read, data_io_write};
static const IoOps cmd_ops = {cmd_io_read, cmd_io_write};

void i8042_reset(I8042State *s)
{
    memset(s->ram, 0, sizeof(s->ram));
    s->ram[0] = I8042_CTR_KBDINT | I8042_CTR_AUXINT;
    s->outport = I8042_OUT_RESET | I8042_OUT_A20 | I8042_OUT_LINES;
    s->sys_flag = false;
    s->cmd_last = false;
    s->pending_cmd = -1;
    s->obuf = 0;
    s->obf = s->obf_aux = false;
    q_init(&s->ctrl_q, CTRL_QUEUE_SIZE);
    s->xlate_break = false;

    port_reset(&s->kbd.port);
    kbd_defaults(&s->kbd);
    s->kbd.scanning = true;
    port_reset(&s->mouse.port);
    mouse_defaults(&s->mouse);
    s->mouse.wrap = false;
    s->mouse.id = AUX_ID_PS2;
    s->mouse.buttons = 0;
    memset(s->mouse.rates, 0, sizeof(s->mouse.rates));
    update_irq(s);
}

I8042State *i8042_init(IoBus *bus, IrqLine kbd_irq, IrqLine aux_irq, const I8042Board *board)
{
    I8042State *s = g_new0(I8042State, 1);
    s->kbd_irq = kbd_irq;
    s->aux_irq = aux_irq;
    if (board)
        s->board = *board;
    if (io_register(bus, I8042_DATA_PORT, 1, &data_ops, s) < 0 ||
        io_register(bus, I8042_CMD_PORT, 1, &cmd_ops, s) < 0) {
        g_free(s);
        return NULL;
    }
    i8042_reset(s);
    return s;
}

void i8042_free(I8042State *s)
{
    g_free(s);
}

bool i8042_a20(I8042State *s)
{
    return s->outport & I8042_OUT_A20;
}
