#include "cpu/cpu.h"

#include <string.h>

void cpu_load_seg_real(CpuState *s, int seg, uint16_t sel)
{
    SegCache *c = &s->seg[seg];
    c->sel = sel;
    c->base = (uint64_t)sel << 4;
    c->limit = 0xffff;
    /* present, S=1, read/write data (or execute/read code for CS), accessed */
    c->attr = SEG_P | SEG_S | (seg == S_CS ? 0xb : 0x3);
}

void cpu_reset(CpuState *s)
{
    memset(s, 0, sizeof(*s));
    s->rflags = FL_FIXED1;
    s->cr0 = CR0_ET | CR0_NW | CR0_CD;
    for (int i = 0; i < CPU_NR_SEGS; i++)
        cpu_load_seg_real(s, i, 0);
    /* The reset vector: CS selector F000 but base FFFF0000, so the first fetch is at 4G-16. */
    s->seg[S_CS].sel = 0xf000;
    s->seg[S_CS].base = 0xffff0000;
    s->rip = 0xfff0;
    s->regs[R_EDX] = 0x600; /* family 6 signature, as a P6 reports after reset */
    s->gdt.limit = 0xffff;
    s->idt.limit = 0xffff;
    s->ldt.limit = 0xffff;
    s->ldt.attr = SEG_P | 2;
    s->tr.limit = 0xffff;
    s->tr.attr = SEG_P | 0xb;
    s->dr[6] = 0xffff0ff0; /* the reserved bits read as ones, as after RESET */
    s->dr[7] = 0x400;
    /* The x87 as FNINIT leaves it. Hardware RESET gives FCW 0x40 / FTW 0x5555 (SDM vol. 3
     * table 9-1), but KVM and QEMU both start vCPUs in the FNINIT state, and the same guest
     * must behave the same under both engines and under QEMU. */
    s->fcw = 0x37f;
    s->ftw = 0xffff;
    s->mxcsr = 0x1f80;
    s->pat = 0x0007040600070406ull;
    s->apic_base = 0xfee00900; /* enabled, BSP */
}

void cpu_set_flat32(CpuState *s, uint64_t eip)
{
    s->cr0 = (s->cr0 & ~(uint64_t)CR0_PG) | CR0_PE | CR0_ET;
    s->cr0 &= ~(uint64_t)(CR0_NW | CR0_CD);
    for (int i = 0; i < CPU_NR_SEGS; i++) {
        SegCache *c = &s->seg[i];
        c->sel = i == S_CS ? 0x08 : 0x10;
        c->base = 0;
        c->limit = 0xffffffff;
        c->attr = SEG_P | SEG_S | SEG_DB | SEG_G | (i == S_CS ? 0xb : 0x3);
    }
    s->tr.attr = SEG_P | 0xb;
    s->rflags = FL_FIXED1;
    s->rip = eip;
}
