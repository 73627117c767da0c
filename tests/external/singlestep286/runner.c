/* The translator in real mode against hardware: SingleStepTests 80286 (real mode), captured on a
 * Harris 80C286. Each case is one instruction followed by HLT, with the registers and RAM bytes
 * before and after; we run it through dbt (decode -> IR -> interpreter) and compare.
 *
 * Our CPU is a 386-class CPU, so where a 386 is architecturally different from a 286 the 386 is
 * right: those cases are skipped, rewritten (LOCK #UD) or the difference masked, each rule below
 * with its reason (README.md lists them). Flags that Intel documents as undefined for an
 * instruction are masked too (the 286 and later parts differ there). Everything else must match
 * exactly, and nothing may be written outside the bytes the case lists as changed.
 *
 * Usage: singlestep286 [-v] [-q] [-j N] DIR [OPCODE...]   (OPCODE: file stem, e.g. 80.4 or A4)
 * Exit status 0 when no compared case fails.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <zlib.h>

#include "dbt/dbt.h"
#include "hw/machine.h"

/* ---- MOO files ---- */

enum {
    RG_AX,
    RG_BX,
    RG_CX,
    RG_DX,
    RG_CS,
    RG_SS,
    RG_DS,
    RG_ES,
    RG_SP,
    RG_BP,
    RG_SI,
    RG_DI,
    RG_IP,
    RG_FLAGS,
    RG_N
};
static const char *const reg_names[RG_N] = {"ax", "bx", "cx", "dx", "cs", "ss", "ds",
                                            "es", "sp", "bp", "si", "di", "ip", "flags"};

typedef struct Ram {
    const uint8_t *p; /* count entries of u32 address + u8 value */
    uint32_t n;
} Ram;

typedef struct Case {
    uint32_t idx;
    char name[96];
    uint8_t bytes[16];
    unsigned nbytes;
    uint16_t init[RG_N], fina[RG_N]; /* fina: init with the changed registers applied */
    uint16_t fina_set;               /* which registers FINA lists */
    Ram iram, fram;
    int exc;    /* -1 or the vector the 286 took */
    bool ud386; /* rewritten by make_ud_case: the #UD a 386 raises, not what the 286 did */
    uint32_t exc_flags_addr;
    char hash[41];
} Case;

static uint32_t rd32(const uint8_t *p)
{
    return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}
static uint32_t ram_addr(const Ram *r, uint32_t i)
{
    return rd32(r->p + 5 * i);
}
static uint8_t ram_val(const Ram *r, uint32_t i)
{
    return r->p[5 * i + 4];
}

static bool ram_lists(const Ram *ram, uint32_t addr)
{
    for (uint32_t i = 0; i < ram->n; i++)
        if (ram_addr(ram, i) == addr)
            return true;
    return false;
}

/* Next chunk in [*p, end): tag, body, length. False at the end or on a malformed chunk. */
static bool chunk(const uint8_t **p, const uint8_t *end, char tag[5], const uint8_t **body,
                  uint32_t *len)
{
    if (end - *p < 8)
        return false;
    memcpy(tag, *p, 4);
    tag[4] = 0;
    *len = rd32(*p + 4);
    if ((uint64_t)(end - *p - 8) < *len)
        return false;
    *body = *p + 8;
    *p += 8 + *len;
    return true;
}

static bool parse_state(const uint8_t *p, const uint8_t *end, uint16_t *regs, uint16_t *set,
                        Ram *ram)
{
    char tag[5];
    const uint8_t *b;
    uint32_t len;
    *set = 0;
    ram->n = 0;
    ram->p = NULL;
    while (chunk(&p, end, tag, &b, &len)) {
        if (!strcmp(tag, "REGS")) {
            if (len < 2)
                return false;
            uint16_t mask = rd16(b);
            unsigned j = 2;
            for (int i = 0; i < RG_N; i++) {
                if (!(mask >> i & 1))
                    continue;
                if (j + 2 > len)
                    return false;
                regs[i] = rd16(b + j);
                j += 2;
            }
            *set = mask;
        } else if (!strcmp(tag, "RAM ")) {
            if (len < 4 || (uint64_t)rd32(b) * 5 + 4 > len)
                return false;
            ram->n = rd32(b);
            ram->p = b + 4;
        }
    }
    return true;
}

static bool parse_case(const uint8_t *p, const uint8_t *end, Case *c)
{
    char tag[5];
    const uint8_t *b;
    uint32_t len;
    memset(c, 0, sizeof(*c));
    c->exc = -1;
    if (end - p < 4)
        return false;
    c->idx = rd32(p);
    p += 4;
    bool have_init = false, have_fina = false;
    while (chunk(&p, end, tag, &b, &len)) {
        if (!strcmp(tag, "NAME") && len >= 4) {
            uint32_t n = rd32(b);
            if (n > len - 4)
                return false;
            snprintf(c->name, sizeof(c->name), "%.*s", (int)n, (const char *)b + 4);
        } else if (!strcmp(tag, "BYTS") && len >= 4) {
            uint32_t n = rd32(b);
            if (n > len - 4 || n > sizeof(c->bytes))
                return false;
            memcpy(c->bytes, b + 4, n);
            c->nbytes = n;
        } else if (!strcmp(tag, "INIT")) {
            uint16_t set;
            if (!parse_state(b, b + len, c->init, &set, &c->iram) || set != (1u << RG_N) - 1)
                return false;
            have_init = true;
        } else if (!strcmp(tag, "FINA")) {
            uint16_t tmp[RG_N];
            if (!parse_state(b, b + len, tmp, &c->fina_set, &c->fram))
                return false;
            for (int i = 0; i < RG_N; i++)
                if (c->fina_set >> i & 1)
                    c->fina[i] = tmp[i];
            have_fina = true;
        } else if (!strcmp(tag, "EXCP") && len >= 5) {
            c->exc = b[0];
            c->exc_flags_addr = rd32(b + 1);
        } else if (!strcmp(tag, "HASH")) {
            for (uint32_t i = 0; i < len && i < 20; i++)
                snprintf(c->hash + 2 * i, 3, "%02x", b[i]);
        }
    }
    if (!have_init || !have_fina)
        return false;
    for (int i = 0; i < RG_N; i++)
        if (!(c->fina_set >> i & 1))
            c->fina[i] = c->init[i];
    return true;
}

static uint8_t *read_gz(const char *path, size_t *len)
{
    gzFile f = gzopen(path, "rb");
    if (!f)
        return NULL;
    gzbuffer(f, 1 << 17);
    size_t cap = 1 << 22, n = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
        int r = gzread(f, buf + n, (unsigned)(cap - n > (1u << 30) ? (1u << 30) : cap - n));
        if (r < 0) {
            free(buf);
            gzclose(f);
            return NULL;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    gzclose(f);
    *len = n;
    return buf;
}

/* ---- what a 386-class CPU does differently, and the undefined flags ---- */

#define F_CF 0x0001u
#define F_PF 0x0004u
#define F_AF 0x0010u
#define F_ZF 0x0040u
#define F_SF 0x0080u
#define F_OF 0x0800u
#define F_ARITH (F_CF | F_PF | F_AF | F_ZF | F_SF | F_OF)

typedef struct Insn {
    const uint8_t *op; /* first byte after the prefixes */
    bool lock;
    int seg; /* segment override prefix byte, or 0 */
    unsigned nprefix;
} Insn;

static Insn decode_prefixes(const Case *c)
{
    Insn in = {c->bytes, false, 0, 0};
    unsigned i = 0;
    for (; i < c->nbytes; i++) {
        uint8_t b = c->bytes[i];
        if (b == 0xf0)
            in.lock = true;
        else if (b == 0x26 || b == 0x2e || b == 0x36 || b == 0x3e)
            in.seg = b;
        else if (b != 0xf2 && b != 0xf3)
            break;
    }
    in.op = c->bytes + i;
    in.nprefix = i;
    return in;
}

static unsigned modrm_reg(const Insn *in)
{
    return (in->op[1] >> 3) & 7;
}
static bool modrm_mem(const Insn *in)
{
    return (in->op[1] >> 6) != 3;
}

/* LOCK is allowed on a 386 only before these, with a memory destination (else #UD). */
static bool lockable_386(const Insn *in)
{
    switch (in->op[0]) {
    case 0x00:
    case 0x01:
    case 0x08:
    case 0x09:
    case 0x10:
    case 0x11:
    case 0x18:
    case 0x19:
    case 0x20:
    case 0x21:
    case 0x28:
    case 0x29:
    case 0x30:
    case 0x31:
    case 0x86:
    case 0x87:
        return modrm_mem(in);
    case 0x80:
    case 0x81:
    case 0x82:
    case 0x83:
        return modrm_mem(in) && modrm_reg(in) != 7;
    case 0xf6:
    case 0xf7:
        return modrm_mem(in) && (modrm_reg(in) == 2 || modrm_reg(in) == 3);
    case 0xfe:
    case 0xff:
        return modrm_mem(in) && modrm_reg(in) <= 1;
    default:
        return false;
    }
}

/* The value of the ModRM operand before the instruction (register, or the INIT RAM bytes at
 * its real-mode address). False if the bytes are not in the case. */
static bool rm_operand(const Case *c, const Insn *in, unsigned size, uint32_t *val)
{
    static const int r8[8] = {RG_AX, RG_CX, RG_DX, RG_BX, RG_AX, RG_CX, RG_DX, RG_BX};
    static const int r16[8] = {RG_AX, RG_CX, RG_DX, RG_BX, RG_SP, RG_BP, RG_SI, RG_DI};
    uint8_t modrm = in->op[1];
    unsigned mod = modrm >> 6, rm = modrm & 7;
    if (mod == 3) {
        if (size == 1)
            *val = rm < 4 ? c->init[r8[rm]] & 0xff : c->init[r8[rm]] >> 8;
        else
            *val = c->init[r16[rm]];
        return true;
    }
    uint16_t ea = 0;
    bool bp = false;
    switch (rm) {
    case 0:
        ea = c->init[RG_BX] + c->init[RG_SI];
        break;
    case 1:
        ea = c->init[RG_BX] + c->init[RG_DI];
        break;
    case 2:
        ea = c->init[RG_BP] + c->init[RG_SI];
        bp = true;
        break;
    case 3:
        ea = c->init[RG_BP] + c->init[RG_DI];
        bp = true;
        break;
    case 4:
        ea = c->init[RG_SI];
        break;
    case 5:
        ea = c->init[RG_DI];
        break;
    case 6:
        if (mod) {
            ea = c->init[RG_BP];
            bp = true;
        }
        break;
    default:
        ea = c->init[RG_BX];
        break;
    }
    if (mod == 1)
        ea += (uint16_t)(int8_t)in->op[2];
    else if (mod == 2 || (mod == 0 && rm == 6))
        ea += rd16(in->op + 2);
    int seg = in->seg == 0x26   ? RG_ES
              : in->seg == 0x2e ? RG_CS
              : in->seg == 0x36 ? RG_SS
              : in->seg == 0x3e ? RG_DS
              : bp              ? RG_SS
                                : RG_DS;
    *val = 0;
    for (unsigned k = 0; k < size; k++) {
        uint32_t a = ((uint32_t)c->init[seg] << 4) + (uint16_t)(ea + k);
        bool found = false;
        for (uint32_t i = 0; i < c->iram.n && !found; i++) {
            if (ram_addr(&c->iram, i) == a) {
                *val |= (uint32_t)ram_val(&c->iram, i) << (8 * k);
                found = true;
            }
        }
        if (!found)
            return false;
    }
    return true;
}

/* Whether IDIV's quotient is out of range by the 386's rules (SDM IDIV: #DE when the quotient
 * does not fit the destination, -2^(n-1) included as valid). */
static bool idiv_overflows(const Case *c, const Insn *in)
{
    unsigned size = (in->op[0] & 1) ? 2 : 1;
    uint32_t d;
    if (!rm_operand(c, in, size, &d))
        return false;
    int64_t num, div;
    if (size == 1) {
        num = (int16_t)c->init[RG_AX];
        div = (int8_t)d;
    } else {
        num = (int32_t)((uint32_t)c->init[RG_DX] << 16 | c->init[RG_AX]);
        div = (int16_t)d;
    }
    if (div == 0)
        return true;
    int64_t q = num / div, lim = size == 1 ? 128 : 32768;
    return q >= lim || q < -lim;
}

/* LOCK before an instruction a 386 does not allow it on: the 286 ignores the prefix, a 386
 * raises #UD (SDM: LOCK). Such a case is rewritten into the #UD: IVT[6] points at a HLT in a
 * spot the case does not use, and the expected state is the initial one with the real-mode
 * exception frame (FLAGS, CS, IP of the first prefix) pushed. False if no clean layout exists
 * (a stack that would wrap, bytes the case already uses). */
typedef struct UdBufs {
    uint8_t iram[5 * 256], fram[5 * 8];
} UdBufs;

static void put_ent(uint8_t *p, uint32_t addr, uint8_t v)
{
    p[0] = (uint8_t)addr;
    p[1] = (uint8_t)(addr >> 8);
    p[2] = (uint8_t)(addr >> 16);
    p[3] = (uint8_t)(addr >> 24);
    p[4] = v;
}

static bool make_ud_case(const Case *c, Case *u, UdBufs *b)
{
    uint16_t sp = c->init[RG_SP];
    if (sp < 6 || c->iram.n + 5 > 256)
        return false;
    uint32_t ssb = (uint32_t)c->init[RG_SS] << 4;
    uint16_t fl = (c->init[RG_FLAGS] & 0x0fff) | 2;
    uint32_t frame[6];
    uint8_t fv[6] = {(uint8_t)c->init[RG_IP],
                     (uint8_t)(c->init[RG_IP] >> 8),
                     (uint8_t)c->init[RG_CS],
                     (uint8_t)(c->init[RG_CS] >> 8),
                     (uint8_t)fl,
                     (uint8_t)(fl >> 8)};
    for (int i = 0; i < 6; i++)
        frame[i] = ssb + (uint16_t)(sp - 6 + i);
    /* the handler: a HLT at a paragraph the case and the frame leave alone */
    uint32_t h = 0;
    for (uint32_t cand = 0x500; cand < 0x9f000 && !h; cand += 0x1000) {
        bool clash = ram_lists(&c->iram, cand);
        for (int i = 0; i < 6; i++)
            clash |= frame[i] == cand;
        if (!clash)
            h = cand;
    }
    if (!h)
        return false;
    for (uint32_t a = 0x18; a < 0x1c; a++) {
        if (ram_lists(&c->iram, a))
            return false;
        for (int i = 0; i < 6; i++)
            if (frame[i] == a)
                return false;
    }
    *u = *c;
    u->ud386 = true;
    u->exc = 6;
    memcpy(b->iram, c->iram.p, 5 * c->iram.n);
    uint32_t n = c->iram.n;
    uint16_t hcs = (uint16_t)(h >> 4);
    put_ent(b->iram + 5 * n++, 0x18, 0); /* IVT[6] = hcs:0000 */
    put_ent(b->iram + 5 * n++, 0x19, 0);
    put_ent(b->iram + 5 * n++, 0x1a, (uint8_t)hcs);
    put_ent(b->iram + 5 * n++, 0x1b, (uint8_t)(hcs >> 8));
    put_ent(b->iram + 5 * n++, h, 0xf4);
    u->iram.p = b->iram;
    u->iram.n = n;
    for (int i = 0; i < 6; i++)
        put_ent(b->fram + 5 * i, frame[i], fv[i]);
    u->fram.p = b->fram;
    u->fram.n = 6;
    memcpy(u->fina, c->init, sizeof(u->fina));
    u->fina[RG_SP] = sp - 6;
    u->fina[RG_CS] = hcs;
    u->fina[RG_IP] = 1; /* after the HLT */
    u->fina[RG_FLAGS] = fl & ~(uint16_t)(FL_IF | FL_TF);
    return true;
}

/* Why a case is not run on a 386-class CPU, or NULL. */
static const char *skip_reason(const char *file, const Case *c)
{
    Insn in = decode_prefixes(c);
    if (!strcmp(file, "D8"))
        /* ESC: the 286 was captured without a coprocessor, where these only run a bus cycle for
         * the operand; ours is a CPU with an x87 (not in the translator yet) */
        return "x87 escape (D8): captured without a 287; a 386-class CPU with x87 executes it";
    if (c->nbytes - 1 > 10 && c->exc == 13)
        /* the 286 limits an instruction to 10 bytes (int 13 past it); a 386 allows 15 */
        return "instruction longer than 10 bytes: int 13 on the 286, runs on a 386+";
    if ((in.op[0] == 0xf6 || in.op[0] == 0xf7) && modrm_reg(&in) == 7 && c->exc != 0 &&
        idiv_overflows(c, &in))
        /* a 286 microcode quirk: some IDIV quotient overflows give a wrong result instead of
         * int 0; a 386 raises #DE (SDM IDIV) */
        return "IDIV quotient overflow the 286 does not trap: a 386+ raises #DE";
    if (in.op[0] == 0x8f && c->exc == 13)
        /* the 286 pops (SP += 2) before the store of POP m16 faults, so its frame lands two
         * bytes higher; a 386 faults precisely with SP unchanged (SDM: POP) */
        return "POP m16 with a faulting store: the 286 has already popped, a 386+ is precise";
    if ((in.op[0] == 0x8c || in.op[0] == 0x8e) && (modrm_reg(&in) == 4 || modrm_reg(&in) == 5))
        /* segment register 4/5 is #UD on the 286, FS/GS on a 386 */
        return "MOV to/from FS/GS (8C/8E reg 4-5): #UD on the 286, valid on a 386+";
    return NULL;
}

static unsigned shift_count(const Case *c, const Insn *in)
{
    switch (in->op[0]) {
    case 0xd0:
    case 0xd1:
        return 1;
    case 0xd2:
    case 0xd3:
        return c->init[RG_CX] & 0xff;
    default: { /* C0/C1: the immediate follows the ModRM and displacement */
        uint8_t modrm = in->op[1];
        unsigned mod = modrm >> 6, rm = modrm & 7, disp = 0;
        if (mod == 1)
            disp = 1;
        else if (mod == 2 || (mod == 0 && rm == 6))
            disp = 2;
        return in->op[2 + disp];
    }
    }
}

/* EFLAGS bits Intel documents as undefined after this instruction (SDM vol. 2, each
 * instruction's "Flags Affected"): the 286 and later CPUs need not agree there. */
static uint16_t undefined_flags(const Case *c)
{
    Insn in = decode_prefixes(c);
    uint8_t o = in.op[0];
    unsigned reg = modrm_reg(&in);
    switch (o) {
    case 0x08:
    case 0x09:
    case 0x0a:
    case 0x0b:
    case 0x0c:
    case 0x0d: /* OR */
    case 0x20:
    case 0x21:
    case 0x22:
    case 0x23:
    case 0x24:
    case 0x25: /* AND */
    case 0x30:
    case 0x31:
    case 0x32:
    case 0x33:
    case 0x34:
    case 0x35: /* XOR */
    case 0x84:
    case 0x85:
    case 0xa8:
    case 0xa9: /* TEST */
        return F_AF;
    case 0x80:
    case 0x81:
    case 0x82:
    case 0x83:
        return (reg == 1 || reg == 4 || reg == 6) ? F_AF : 0;
    case 0x27:
    case 0x2f: /* DAA DAS */
        return F_OF;
    case 0x37:
    case 0x3f: /* AAA AAS */
        return F_OF | F_SF | F_ZF | F_PF;
    case 0xd4:
    case 0xd5: /* AAM AAD */
        return F_OF | F_AF | F_CF;
    case 0x69:
    case 0x6b: /* IMUL */
        return F_SF | F_ZF | F_AF | F_PF;
    case 0xf6:
    case 0xf7:
        if (reg <= 1)
            return F_AF; /* TEST */
        if (reg == 4 || reg == 5)
            return F_SF | F_ZF | F_AF | F_PF; /* MUL IMUL */
        if (reg >= 6)
            return F_ARITH; /* DIV IDIV */
        return 0;
    case 0xc0:
    case 0xc1:
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3: {
        unsigned n = shift_count(c, &in) & 0x1f, width = (o & 1) ? 16 : 8;
        if (n == 0)
            return 0;                   /* a masked count of 0 changes no flag */
        uint16_t m = n != 1 ? F_OF : 0; /* OF is defined for 1-bit shifts and rotates only */
        if (reg >= 4) {
            m |= F_AF; /* shifts: AF undefined */
            if (reg != 7 && n >= width)
                m |= F_CF; /* SHL/SHR: CF undefined when count >= operand width */
        }
        return m;
    }
    default:
        return 0;
    }
}

/* Whether the instruction may touch memory through SS (stack ops, BP-based addressing, an SS
 * override): a 386 reports a limit violation there as #SS (int 12), the 286 in real mode as
 * int 13 (80286 PRM, real-address mode exceptions). */
static bool touches_ss(const Case *c)
{
    Insn in = decode_prefixes(c);
    uint8_t o = in.op[0];
    if (in.seg == 0x36)
        return true;
    switch (o) {
    case 0x06:
    case 0x07:
    case 0x0e:
    case 0x16:
    case 0x17:
    case 0x1e:
    case 0x1f:
    case 0x60:
    case 0x61:
    case 0x68:
    case 0x6a:
    case 0x8f:
    case 0x9a:
    case 0x9c:
    case 0x9d:
    case 0xc2:
    case 0xc3:
    case 0xc8:
    case 0xc9:
    case 0xca:
    case 0xcb:
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf:
    case 0xe8:
    case 0xff:
        return true;
    default:
        break;
    }
    if (o >= 0x50 && o <= 0x5f)
        return true;
    /* ModRM with a BP base and no override */
    static const uint8_t has_modrm[] = {
        0x00, 0x01, 0x02, 0x03, 0x08, 0x09, 0x0a, 0x0b, 0x10, 0x11, 0x12, 0x13, 0x18,
        0x19, 0x1a, 0x1b, 0x20, 0x21, 0x22, 0x23, 0x28, 0x29, 0x2a, 0x2b, 0x30, 0x31,
        0x32, 0x33, 0x38, 0x39, 0x3a, 0x3b, 0x62, 0x69, 0x6b, 0x80, 0x81, 0x82, 0x83,
        0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8b, 0x8c, 0x8e, 0xc0, 0xc1, 0xc4,
        0xc5, 0xc6, 0xc7, 0xd0, 0xd1, 0xd2, 0xd3, 0xf6, 0xf7, 0xfe};
    if (in.seg || !memchr(has_modrm, o, sizeof(has_modrm)))
        return false;
    unsigned mod = in.op[1] >> 6, rm = in.op[1] & 7;
    return mod != 3 && (rm == 2 || rm == 3 || (rm == 6 && mod != 0));
}

/* ---- the machine ---- */

#define RAM_SIZE (17ull << 20)
#define SHADOW_SIZE 0x110000u /* every address a real-mode CS/DS/ES/SS:offset can reach */
#define SHADOW_PAGES (SHADOW_SIZE >> 12)
#define MAX_TOUCHED 64

typedef struct Runner {
    Machine m;
    DbtCpu *env;
    uint8_t *ram;
    /* What RAM should hold outside the bytes a case lists: a write anywhere else is a stray
     * write. Pages the case touched (TLB entries, slow-path writes, its RAM lists) are compared
     * after each case; the whole range after each file catches the rest. */
    uint8_t *shadow;
    uint32_t touched[MAX_TOUCHED];
    unsigned ntouched;
    bool touched_overflow;
    volatile int kick;
} Runner;

static void touch_page(Runner *r, uint64_t gpa)
{
    uint32_t pn = (uint32_t)(gpa >> 12);
    if (pn >= SHADOW_PAGES)
        return;
    for (unsigned i = 0; i < r->ntouched; i++)
        if (r->touched[i] == pn)
            return;
    if (r->ntouched == MAX_TOUCHED)
        r->touched_overflow = true;
    else
        r->touched[r->ntouched++] = pn;
}

/* Every write the translator cannot do through its TLB (page-crossing, code pages) and every
 * as_load comes here: keep dbt's own hook working and note the pages. */
static void runner_write_hook(void *opaque, uint64_t gpa, uint64_t len)
{
    Runner *r = opaque;
    dbt_invalidate_phys(r->env, gpa, len);
    for (uint64_t a = gpa & ~0xfffull; a < gpa + len; a += 0x1000)
        touch_page(r, a);
}

static bool runner_init(Runner *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof(*r));
    /* One RAM region over the whole first 17 MiB: the tests put code, data and stacks anywhere
     * up to 0x10FFEF, VGA hole and BIOS area included. No devices: every port reads as open
     * bus (all ones), as on the capture rig. */
    r->ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r->ram == MAP_FAILED) {
        snprintf(err, errlen, "cannot allocate guest RAM: %s", strerror(errno));
        return false;
    }
    r->m.as = as_new();
    r->m.io = io_bus_new();
    r->m.clock = clock_new();
    r->m.ram = r->ram;
    r->m.ram_size = RAM_SIZE;
    r->m.cfg.ram_size = RAM_SIZE;
    r->m.a20 = true; /* the 286 captures have no A20 wrap: 0x100000-0x10FFEF is real memory */
    if (as_add_ram(r->m.as, 0, RAM_SIZE, r->ram, "ram")) {
        snprintf(err, errlen, "cannot map guest RAM");
        return false;
    }
    r->env = dbt_new(&r->m);
    if (!r->env) {
        snprintf(err, errlen, "dbt_new failed");
        return false;
    }
    as_set_write_hook(r->m.as, runner_write_hook, r);
    r->shadow = calloc(1, SHADOW_SIZE);
    return true;
}

static void runner_fini(Runner *r)
{
    dbt_free(r->env);
    as_free(r->m.as);
    io_bus_free(r->m.io);
    clock_free(r->m.clock);
    munmap(r->ram, RAM_SIZE);
    free(r->shadow);
}

static const int gpr_of[RG_N] = {
    [RG_AX] = R_EAX, [RG_BX] = R_EBX, [RG_CX] = R_ECX, [RG_DX] = R_EDX,
    [RG_SP] = R_ESP, [RG_BP] = R_EBP, [RG_SI] = R_ESI, [RG_DI] = R_EDI};
static const int seg_of[RG_N] = {[RG_CS] = S_CS, [RG_SS] = S_SS, [RG_DS] = S_DS, [RG_ES] = S_ES};

static bool is_gpr(int i)
{
    return i == RG_AX || i == RG_BX || i == RG_CX || i == RG_DX || (i >= RG_SP && i <= RG_DI);
}
static bool is_seg(int i)
{
    return i >= RG_CS && i <= RG_ES;
}

/* Write the RAM list in runs of consecutive addresses (through as_load, so the translator's
 * write hook drops any code translated from the old bytes). */
static void load_ram(Runner *r, const Ram *ram)
{
    uint8_t buf[64];
    uint32_t i = 0;
    while (i < ram->n) {
        uint32_t a = ram_addr(ram, i), n = 0;
        while (i + n < ram->n && n < sizeof(buf) && ram_addr(ram, i + n) == a + n) {
            buf[n] = ram_val(ram, i + n);
            n++;
        }
        as_load(r->m.as, a, buf, n);
        if (a + n <= SHADOW_SIZE)
            memcpy(r->shadow + a, buf, n);
        i += n;
    }
}

typedef struct Result {
    bool pass;
    char why[256];      /* engine stop reason, if any */
    uint32_t got[RG_N]; /* full 32-bit register values (segments: selector) */
    uint16_t expect[RG_N];
    uint16_t flag_mask; /* compared flag bits */
    bool reg_bad[RG_N];
    unsigned nram_bad;
    uint32_t ram_bad_addr[8];
    uint8_t ram_bad_exp[8], ram_bad_got[8];
    unsigned nstray; /* bytes written outside the case's RAM lists */
    uint32_t stray_addr[4];
    uint8_t stray_old[4], stray_new[4];
    bool ss_alias_used; /* the 386 took #SS where the 286 took int 13 */
    bool str_tolerated; /* the 286's early SI/DI/CX updates of a faulting string op */
    bool undef_differs; /* flags differed in undefined bits only */
} Result;

/* Compare one page with the shadow: every changed byte must be one the case lists as
 * changed. Then bring the shadow up to date. */
static bool check_page(Runner *r, const Case *c, Result *res, uint32_t pn)
{
    uint32_t base = pn << 12;
    uint8_t *cur = r->ram + base, *old = r->shadow + base;
    if (!memcmp(cur, old, 0x1000))
        return true;
    bool ok = true;
    for (uint32_t k = 0; k < 0x1000; k++) {
        if (cur[k] == old[k] || ram_lists(&c->fram, base + k))
            continue;
        if (res->nstray < 4) {
            res->stray_addr[res->nstray] = base + k;
            res->stray_old[res->nstray] = old[k];
            res->stray_new[res->nstray] = cur[k];
        }
        res->nstray++;
        ok = false;
    }
    memcpy(old, cur, 0x1000);
    return ok;
}

/* Run one case and compare. */
static void run_case(Runner *r, const Case *c, Result *res)
{
    DbtCpu *env = r->env;
    memset(res, 0, sizeof(*res));
    memcpy(res->expect, c->fina, sizeof(res->expect));

    /* real mode, as after RESET, then the case's registers */
    cpu_reset(&env->s);
    env->s.idt.base = 0;
    env->s.idt.limit = 0x3ff;
    for (int i = 0; i < RG_N; i++) {
        if (is_gpr(i))
            env->s.regs[gpr_of[i]] = c->init[i];
        else if (is_seg(i))
            cpu_load_seg_real(&env->s, seg_of[i], c->init[i]);
    }
    cpu_load_seg_real(&env->s, S_FS, 0);
    cpu_load_seg_real(&env->s, S_GS, 0);
    env->s.rip = c->init[RG_IP];
    /* README: the top four flag bits (IOPL, NT, bit 15) cannot be set in real mode on the 286 */
    uint32_t fl = (c->init[RG_FLAGS] & 0x0fffu) | FL_FIXED1;
    env->s.rflags = FL_FIXED1;
    dbt_set_eflags(env, fl, 0xffffffffu);
    env->s.halted = false;
    env->irq_inhibit = false;
    env->delivering = false;
    env->smc_hit = false;
    env->pending_exc = -1;
    env->error[0] = 0;
    r->m.stop = 0;

    load_ram(r, &c->iram);
    r->ntouched = 0;
    r->touched_overflow = false;
    dbt_tlb_flush(env); /* so that the TLB names exactly the pages this case reaches */

    /* 286 int 13 vs 386 #SS: point IVT[12] at the int 13 handler through another segment:offset
     * of the same linear address, so taking #SS leads to the same code and frame and the final
     * CS:IP tells which vector was taken. */
    uint16_t alias_cs = 0, alias_ip = 0, cs13 = 0;
    bool alias = false;
    if (c->exc == 13 && !ram_lists(&c->iram, 0x30) && !ram_lists(&c->fram, 0x30)) {
        uint8_t v13[4];
        as_read(r->m.as, 13 * 4, v13, 4);
        uint16_t ip13 = rd16(v13);
        cs13 = rd16(v13 + 2);
        if (ip13 >= 0x10) {
            alias_cs = cs13 + 1;
            alias_ip = ip13 - 0x10;
        } else {
            alias_cs = cs13 - 1;
            alias_ip = ip13 + 0x10;
        }
        uint8_t v12[4] = {(uint8_t)alias_ip, (uint8_t)(alias_ip >> 8), (uint8_t)alias_cs,
                          (uint8_t)(alias_cs >> 8)};
        as_load(r->m.as, 12 * 4, v12, 4);
        memcpy(r->shadow + 12 * 4, v12, 4);
        alias = true;
    }

    int64_t deadline = clock_ns(r->m.clock) + 200000000; /* 200 ms: a loop that never halts */
    int rc = dbt_exec(env, &r->kick, deadline);
    if (rc != DBT_RUN_HLT) {
        if (rc == DBT_RUN_ERROR)
            snprintf(res->why, sizeof(res->why), "engine error: %s", env->error);
        else
            snprintf(res->why, sizeof(res->why), "engine stopped with %s",
                     rc == DBT_RUN_DEADLINE   ? "a timeout (no HLT reached)"
                     : rc == DBT_RUN_SHUTDOWN ? "a shutdown (triple fault)"
                                              : "an unexpected stop");
    }

    for (int i = 0; i < RG_N; i++) {
        if (is_gpr(i))
            res->got[i] = (uint32_t)env->s.regs[gpr_of[i]];
        else if (is_seg(i))
            res->got[i] = env->s.seg[seg_of[i]].sel;
    }
    res->got[RG_IP] = (uint32_t)env->s.rip;
    res->got[RG_FLAGS] = dbt_get_eflags(env);
    if (alias && res->got[RG_CS] == alias_cs && touches_ss(c)) {
        /* #SS taken: the same linear address, seen through the int 13 handler's segment */
        res->ss_alias_used = true;
        res->got[RG_CS] = cs13;
        res->got[RG_IP] = (uint16_t)(env->s.rip + ((int)alias_cs - (int)cs13) * 16);
    }

    Insn in = decode_prefixes(c);
    uint16_t undef = c->ud386 ? 0 : undefined_flags(c);
    if (in.op[0] == 0xd4 && c->exc == 0)
        /* AAM 0: the 286 sets SF ZF PF (from AL) before it raises int 0, a 386 raises #DE
         * with the flags untouched */
        undef |= F_SF | F_ZF | F_PF;
    res->flag_mask = 0xffff & ~undef;
    if (!c->ud386 && (in.op[0] == 0x9d || in.op[0] == 0xcf))
        /* POPF/IRET in real mode: a 386 loads IOPL and NT from the popped image (SDM POPF,
         * IRET), the 286 keeps them 0 */
        res->flag_mask &= ~(FL_IOPL | FL_NT);

    /* A string instruction whose access faults (int 13 at offset FFFF): the 286 has already
     * advanced the index register of that access by one step; a 386 faults precisely with
     * SI/DI unchanged (SDM: exceptions are restartable). Accept the 286 value less one step. */
    int str_size = 0;
    if (c->exc == 13 &&
        ((in.op[0] >= 0xa4 && in.op[0] <= 0xa7) || (in.op[0] >= 0xaa && in.op[0] <= 0xaf) ||
         (in.op[0] >= 0x6c && in.op[0] <= 0x6f)))
        str_size = (in.op[0] & 1) ? 2 : 1;
    int str_step = (c->init[RG_FLAGS] & FL_DF) ? -str_size : str_size;
    bool str_rep =
        str_size && (memchr(c->bytes, 0xf3, in.nprefix) || memchr(c->bytes, 0xf2, in.nprefix));

    bool ok = !res->why[0];
    for (int i = 0; i < RG_N; i++) {
        uint32_t got = res->got[i], exp = res->expect[i];
        if (str_size && (i == RG_SI || i == RG_DI) && got != exp &&
            got == (uint16_t)(exp - str_step)) {
            res->str_tolerated = true;
            continue;
        }
        if (str_rep && i == RG_CX && (got == (uint16_t)(exp + 1) || got == (uint16_t)(exp + 2))) {
            /* ... and REP has counted the faulting iteration in CX, once or (INS, STOS)
             * twice */
            res->str_tolerated = true;
            continue;
        }
        if (i == RG_FLAGS) {
            got &= res->flag_mask;
            exp &= res->flag_mask;
        } else if (is_seg(i)) {
            /* the base must follow the selector */
            if (env->s.seg[seg_of[i]].base != (uint64_t)env->s.seg[seg_of[i]].sel << 4)
                got |= 0x80000000u;
        }
        if (got != exp) {
            res->reg_bad[i] = true;
            ok = false;
        } else if (i == RG_FLAGS && (res->got[i] & 0xffff) != res->expect[i]) {
            res->undef_differs = true;
        }
    }
    /* RAM: FINA lists the bytes that changed; the other INIT bytes must be as they were. The
     * flags image a #DE pushed carries the instruction's undefined flags (the 286 has changed
     * some before it faults). It is at SS:SP+4 of the final frame (EXCP's address is the
     * word-aligned bus address, one below for an odd SP). */
    uint32_t fl_lo = ~0u, fl_hi = ~0u;
    if (c->exc == 0) {
        uint32_t ssb = (uint32_t)res->expect[RG_SS] << 4;
        fl_lo = ssb + ((res->expect[RG_SP] + 4) & 0xffff);
        fl_hi = ssb + ((res->expect[RG_SP] + 5) & 0xffff);
    }
    for (int pass = 0; pass < 2; pass++) {
        const Ram *ram = pass ? &c->iram : &c->fram;
        for (uint32_t i = 0; i < ram->n; i++) {
            uint32_t a = ram_addr(ram, i);
            if (pass && ram_lists(&c->fram, a))
                continue;
            uint8_t exp = ram_val(ram, i), got = 0;
            as_read(r->m.as, a, &got, 1);
            uint8_t m = 0xff;
            if (a == fl_lo)
                m = (uint8_t)res->flag_mask;
            else if (a == fl_hi)
                m = (uint8_t)(res->flag_mask >> 8);
            if ((got & m) != (exp & m)) {
                if (res->nram_bad < 8) {
                    res->ram_bad_addr[res->nram_bad] = a;
                    res->ram_bad_exp[res->nram_bad] = exp;
                    res->ram_bad_got[res->nram_bad] = got;
                }
                res->nram_bad++;
                ok = false;
            }
        }
    }
    /* stray writes: compare the pages the case reached with the shadow, then sync them */
    for (unsigned u = 0; u < 2; u++) {
        for (unsigned i = 0; i < DBT_TLB_ALL; i++) {
            const TlbEntry *e = &env->tlb[u][i];
            if (e->read_tag != ~0ull || e->write_tag != ~0ull)
                touch_page(r, e->phys);
        }
    }
    for (int pass = 0; pass < 2; pass++) {
        const Ram *ram = pass ? &c->fram : &c->iram;
        for (uint32_t i = 0; i < ram->n; i++)
            touch_page(r, ram_addr(ram, i));
    }
    if (r->touched_overflow) {
        for (uint32_t pn = 0; pn < SHADOW_PAGES; pn++)
            ok &= check_page(r, c, res, pn);
    } else {
        for (unsigned t = 0; t < r->ntouched; t++)
            ok &= check_page(r, c, res, r->touched[t]);
    }
    res->pass = ok;
}

/* ---- reporting ---- */

typedef struct FileResult {
    char stem[16];
    unsigned pass, fail, skip;
    unsigned ss_alias, str_tol, undef_diff; /* passes that needed a documented mask */
    unsigned lock_ud;                       /* cases rewritten into a 386's LOCK #UD */
    char *first_fail;                       /* full report of the first failing case */
    GHashTable *skips;                      /* skip reason (static string) -> count */
    double secs;
    char *error;
} FileResult;

static char *describe_failure(const char *stem, const Case *c, const Result *res)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    fprintf(f, "FAIL %s #%u \"%s\" bytes", stem, c->idx, c->name);
    for (unsigned i = 0; i < c->nbytes; i++)
        fprintf(f, " %02x", c->bytes[i]);
    fprintf(f, "  hash %s\n", c->hash);
    if (res->why[0])
        fprintf(f, "  %s\n", res->why);
    if (c->ud386)
        fprintf(f, "  rewritten: a 386 raises #UD for this LOCK (the 286 ran the instruction)\n");
    else if (c->exc >= 0)
        fprintf(f, "  the 286 took int %d (flags pushed at %#x)\n", c->exc, c->exc_flags_addr);
    fprintf(f, "  init    ");
    for (int i = 0; i < RG_N; i++)
        fprintf(f, " %s=%04x", reg_names[i], c->init[i]);
    fprintf(f, "\n  ram init:");
    for (uint32_t i = 0; i < c->iram.n; i++)
        fprintf(f, " %05x=%02x", ram_addr(&c->iram, i), ram_val(&c->iram, i));
    fprintf(f, "\n  expected");
    for (int i = 0; i < RG_N; i++)
        fprintf(f, " %s=%04x", reg_names[i], res->expect[i]);
    fprintf(f, "\n  got     ");
    for (int i = 0; i < RG_N; i++) {
        if (res->got[i] > 0xffff)
            fprintf(f, " %s=%x", reg_names[i], res->got[i]);
        else
            fprintf(f, " %s=%04x", reg_names[i], res->got[i]);
    }
    fprintf(f, "\n  differs:");
    for (int i = 0; i < RG_N; i++)
        if (res->reg_bad[i])
            fprintf(f, " %s", reg_names[i]);
    if (res->reg_bad[RG_FLAGS])
        fprintf(f, " (flags compared under mask %04x: expected %04x got %04x)", res->flag_mask,
                res->expect[RG_FLAGS] & res->flag_mask, res->got[RG_FLAGS] & res->flag_mask);
    fprintf(f, "\n  ram expected:");
    for (uint32_t i = 0; i < c->fram.n; i++)
        fprintf(f, " %05x=%02x", ram_addr(&c->fram, i), ram_val(&c->fram, i));
    if (res->nstray) {
        fprintf(f, "\n  stray writes (%u):", res->nstray);
        for (unsigned i = 0; i < res->nstray && i < 4; i++)
            fprintf(f, " %05x %02x -> %02x", res->stray_addr[i], res->stray_old[i],
                    res->stray_new[i]);
    }
    if (res->nram_bad) {
        fprintf(f, "\n  ram wrong (%u):", res->nram_bad);
        for (unsigned i = 0; i < res->nram_bad && i < 8; i++)
            fprintf(f, " %05x expected %02x got %02x", res->ram_bad_addr[i], res->ram_bad_exp[i],
                    res->ram_bad_got[i]);
    }
    fprintf(f, "\n");
    fclose(f);
    return buf;
}

typedef struct Job {
    const char *dir;
    char **stems;
    size_t nstems;
    FileResult *results;
    GHashTable *revoked;
    size_t next; /* shared work index */
    pthread_mutex_t lock;
    bool verbose;
} Job;

static void run_file(Runner *r, Job *job, FileResult *fr)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s.MOO.gz", job->dir, fr->stem);
    size_t len;
    uint8_t *data = read_gz(path, &len);
    if (!data) {
        fr->error = g_strdup_printf("cannot read %s", path);
        return;
    }
    GHashTable *skips = g_hash_table_new(g_str_hash, g_str_equal);
    GString *verbose = g_string_new(NULL);
    const uint8_t *p = data, *end = data + len, *b;
    char tag[5];
    uint32_t clen;
    while (chunk(&p, end, tag, &b, &clen)) {
        if (strcmp(tag, "TEST"))
            continue;
        Case c;
        if (!parse_case(b, b + clen, &c)) {
            fr->error = g_strdup_printf("%s: malformed TEST chunk", path);
            break;
        }
        const char *why = g_hash_table_contains(job->revoked, c.hash)
                              ? "revoked (revocation_list.txt)"
                              : skip_reason(fr->stem, &c);
        Insn in = decode_prefixes(&c);
        Case ud;
        UdBufs udb;
        /* (a case where the 286 raised #UD itself runs as it is) */
        if (!why && in.lock && !lockable_386(&in) && c.exc != 6) {
            if (make_ud_case(&c, &ud, &udb)) {
                c = ud;
                fr->lock_ud++;
            } else {
                why = "LOCK before a non-lockable instruction whose #UD frame would collide "
                      "with the case's bytes";
            }
        }
        if (why) {
            fr->skip++;
            g_hash_table_replace(
                skips, (gpointer)why,
                GUINT_TO_POINTER(GPOINTER_TO_UINT(g_hash_table_lookup(skips, why)) + 1));
            continue;
        }
        Result res;
        run_case(r, &c, &res);
        if (res.pass) {
            fr->pass++;
            fr->ss_alias += res.ss_alias_used;
            fr->str_tol += res.str_tolerated;
            fr->undef_diff += res.undef_differs;
            continue;
        }
        fr->fail++;
        if (!fr->first_fail || job->verbose) {
            char *d = describe_failure(fr->stem, &c, &res);
            if (!fr->first_fail)
                fr->first_fail = d;
            else {
                g_string_append(verbose, d);
                free(d);
            }
        }
    }
    if (verbose->len && fr->first_fail) {
        char *all = g_strconcat(fr->first_fail, verbose->str, NULL);
        free(fr->first_fail);
        fr->first_fail = strdup(all);
        g_free(all);
    }
    g_string_free(verbose, TRUE);
    fr->skips = skips;
    free(data);
    /* backstop for stray writes to pages no case's TLB still named */
    if (!fr->error && memcmp(r->ram, r->shadow, SHADOW_SIZE)) {
        for (uint32_t a = 0; a < SHADOW_SIZE; a++) {
            if (r->ram[a] != r->shadow[a]) {
                fr->error = g_strdup_printf("stray write at %05x (%02x -> %02x) by some case of "
                                            "this file",
                                            a, r->shadow[a], r->ram[a]);
                break;
            }
        }
        memcpy(r->shadow, r->ram, SHADOW_SIZE);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fr->secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
}

static void *worker(void *opaque)
{
    Job *job = opaque;
    Runner r;
    char err[256];
    if (!runner_init(&r, err, sizeof(err))) {
        fprintf(stderr, "singlestep286: %s\n", err);
        exit(2);
    }
    for (;;) {
        pthread_mutex_lock(&job->lock);
        size_t i = job->next++;
        pthread_mutex_unlock(&job->lock);
        if (i >= job->nstems)
            break;
        run_file(&r, job, &job->results[i]);
    }
    runner_fini(&r);
    return NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static GHashTable *load_revoked(const char *dir)
{
    GHashTable *h = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    char path[4096];
    snprintf(path, sizeof(path), "%s/revocation_list.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return h;
    char line[256];
    while (fgets(line, sizeof(line), f)) {
        g_strstrip(line);
        if (!line[0] || line[0] == '#')
            continue;
        g_hash_table_add(h, g_ascii_strdown(line, -1));
    }
    fclose(f);
    return h;
}

int main(int argc, char **argv)
{
    Job job;
    memset(&job, 0, sizeof(job));
    pthread_mutex_init(&job.lock, NULL);
    int nthreads = 2;
    bool quiet = false;
    int ai = 1;
    for (; ai < argc && argv[ai][0] == '-'; ai++) {
        if (!strcmp(argv[ai], "-v"))
            job.verbose = true;
        else if (!strcmp(argv[ai], "-q"))
            quiet = true;
        else if (!strcmp(argv[ai], "-j") && ai + 1 < argc)
            nthreads = atoi(argv[++ai]);
        else if (!strncmp(argv[ai], "-j", 2) && argv[ai][2])
            nthreads = atoi(argv[ai] + 2);
        else {
            fprintf(stderr, "usage: %s [-v] [-q] [-j N] DIR [OPCODE...]\n", argv[0]);
            return 2;
        }
    }
    if (ai >= argc) {
        fprintf(stderr, "usage: %s [-v] [-q] [-j N] DIR [OPCODE...]\n", argv[0]);
        return 2;
    }
    job.dir = argv[ai++];
    GPtrArray *stems = g_ptr_array_new();
    if (ai < argc) {
        for (; ai < argc; ai++)
            g_ptr_array_add(stems, g_strdup(argv[ai]));
    } else {
        GDir *d = g_dir_open(job.dir, 0, NULL);
        if (!d) {
            fprintf(stderr, "singlestep286: cannot open %s\n", job.dir);
            return 2;
        }
        const char *n;
        while ((n = g_dir_read_name(d)))
            if (g_str_has_suffix(n, ".MOO.gz"))
                g_ptr_array_add(stems, g_strndup(n, strlen(n) - strlen(".MOO.gz")));
        g_dir_close(d);
    }
    qsort(stems->pdata, stems->len, sizeof(char *), cmp_str);
    job.stems = (char **)stems->pdata;
    job.nstems = stems->len;
    job.results = calloc(job.nstems, sizeof(FileResult));
    for (size_t i = 0; i < job.nstems; i++)
        snprintf(job.results[i].stem, sizeof(job.results[i].stem), "%s", job.stems[i]);
    job.revoked = load_revoked(job.dir);
    if (nthreads < 1)
        nthreads = 1;

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_t th[64];
    if (nthreads > 64)
        nthreads = 64;
    for (int i = 0; i < nthreads; i++)
        pthread_create(&th[i], NULL, worker, &job);
    for (int i = 0; i < nthreads; i++)
        pthread_join(th[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);

    unsigned pass = 0, fail = 0, skip = 0, files_bad = 0, errors = 0;
    unsigned ss_alias = 0, str_tol = 0, undef_diff = 0, lock_ud = 0;
    GHashTable *skips = g_hash_table_new(g_str_hash, g_str_equal);
    for (size_t i = 0; i < job.nstems; i++) {
        FileResult *fr = &job.results[i];
        pass += fr->pass;
        fail += fr->fail;
        skip += fr->skip;
        ss_alias += fr->ss_alias;
        str_tol += fr->str_tol;
        undef_diff += fr->undef_diff;
        lock_ud += fr->lock_ud;
        if (fr->fail)
            files_bad++;
        if (fr->error) {
            errors++;
            printf("%-6s ERROR %s\n", fr->stem, fr->error);
        }
        if (!quiet || fr->fail || fr->error) {
            printf("%-6s pass %4u fail %4u skip %4u", fr->stem, fr->pass, fr->fail, fr->skip);
            if (fr->undef_diff)
                printf("  masked-flags-differ %u", fr->undef_diff);
            if (fr->ss_alias)
                printf("  #SS-for-int13 %u", fr->ss_alias);
            if (fr->str_tol)
                printf("  286-early-string-regs %u", fr->str_tol);
            if (fr->lock_ud)
                printf("  lock-#UD %u", fr->lock_ud);
            printf("\n");
        }
        if (fr->skips) {
            GHashTableIter it;
            gpointer k, v;
            g_hash_table_iter_init(&it, fr->skips);
            while (g_hash_table_iter_next(&it, &k, &v)) {
                unsigned n = GPOINTER_TO_UINT(v);
                g_hash_table_replace(
                    skips, k,
                    GUINT_TO_POINTER(GPOINTER_TO_UINT(g_hash_table_lookup(skips, k)) + n));
            }
        }
    }
    printf("skipped, by reason:\n");
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, skips);
    while (g_hash_table_iter_next(&it, &k, &v))
        printf("  %6u  %s\n", GPOINTER_TO_UINT(v), (const char *)k);
    printf("passed under a documented mask: %u with masked flag bits unlike the 286's, %u with "
           "#SS where the 286 took int 13, %u with the 286's early string register updates\n",
           undef_diff, ss_alias, str_tol);
    printf("run as the 386's #UD for LOCK on a non-lockable instruction (the 286 ignores the "
           "prefix): %u\n",
           lock_ud);
    for (size_t i = 0; i < job.nstems; i++) {
        if (job.results[i].first_fail)
            printf("%s", job.results[i].first_fail);
        free(job.results[i].first_fail);
    }
    free(job.results);
    double secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("singlestep286: %zu opcodes, %u cases: %u passed, %u failed, %u skipped; %u opcodes "
           "with failures; %.1f s on %d threads\n",
           job.nstems, pass + fail + skip, pass, fail, skip, files_bad, secs, nthreads);
    return (fail || errors) ? 1 : 0;
}
