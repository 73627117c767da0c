/* Model-specific registers for RDMSR/WRMSR: the set a Linux i386 kernel touches on a family-6
 * Intel part of this model (CPUID: MSR, PAT, MTRR, SEP, PAE/NX). Any other MSR, or a value
 * with reserved bits set, is #GP(0), as the hardware gives (the caller raises it).
 *
 *   0x10        IA32_TIME_STAMP_COUNTER  read: the TSC; write: sets it (moves the offset)
 *   0x17        IA32_PLATFORM_ID         read 0; writes #GP (read-only)
 *   0x1b        IA32_APIC_BASE           the machine's local APIC if it has one, else stored
 *   0x8b        IA32_BIOS_SIGN_ID        microcode revision in bits 63:32; writes ignored
 *   0xfe        IA32_MTRRCAP             8 variable ranges, fixed ranges, WC; read-only
 *   0x174-0x176 IA32_SYSENTER_CS/ESP/EIP stored, used by SYSENTER/SYSEXIT
 *   0x179       IA32_MCG_CAP             0 (no machine-check banks); read-only
 *   0x17a       IA32_MCG_STATUS          0; only 0 may be written
 *   0x1a0       IA32_MISC_ENABLE         stored (fast strings, as set at reset, and the rest)
 *   0x200-0x20f IA32_MTRR_PHYSBASE/MASK0-7, with reserved-bit and type checks
 *   0x250 0x258 0x259 0x268-0x26f  the fixed-range MTRRs, with type checks
 *   0x277       IA32_PAT                 stored, each entry a valid memory type
 *   0x2ff       IA32_MTRR_DEF_TYPE       stored (type, FE, E)
 *   0xc0000080  IA32_EFER                NXE only: LME (no long mode), SCE and the rest #GP
 */
#include "dbt/dbt.h"

#define MSR_TSC 0x10
#define MSR_PLATFORM_ID 0x17
#define MSR_APIC_BASE 0x1b
#define MSR_BIOS_SIGN_ID 0x8b
#define MSR_MTRRCAP 0xfe
#define MSR_SYSENTER_CS 0x174
#define MSR_SYSENTER_ESP 0x175
#define MSR_SYSENTER_EIP 0x176
#define MSR_MCG_CAP 0x179
#define MSR_MCG_STATUS 0x17a
#define MSR_MISC_ENABLE 0x1a0
#define MSR_MTRR_VAR 0x200 /* ..0x20f */
#define MSR_PAT 0x277
#define MSR_MTRR_DEF_TYPE 0x2ff
#define MSR_EFER 0xc0000080u

#define UCODE_REVISION 0x1u
#define PHYS_MASK ((1ull << 36) - 1) /* MAXPHYADDR 36 */

/* The fixed-range MTRRs, in CpuState.mtrr_fixed order. */
static int fixed_index(uint32_t msr)
{
    if (msr == 0x250)
        return 0;
    if (msr == 0x258 || msr == 0x259)
        return 1 + (int)(msr - 0x258);
    if (msr >= 0x268 && msr <= 0x26f)
        return 3 + (int)(msr - 0x268);
    return -1;
}

/* Memory types an MTRR may hold: UC WC WT WP WB */
static bool mtrr_type_ok(unsigned t)
{
    return t == 0 || t == 1 || t == 4 || t == 5 || t == 6;
}

/* PAT entries may also be UC- (7) */
static bool pat_ok(uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        unsigned t = (v >> (8 * i)) & 0xff;
        if (!mtrr_type_ok(t) && t != 7)
            return false;
    }
    return true;
}

bool dbt_rdmsr(DbtCpu *env, uint32_t msr, uint64_t *val)
{
    CpuState *s = &env->s;
    int fi = fixed_index(msr);
    if (fi >= 0) {
        *val = s->mtrr_fixed[fi];
        return true;
    }
    if (msr >= MSR_MTRR_VAR && msr < MSR_MTRR_VAR + 16) {
        *val = s->mtrr_var[msr - MSR_MTRR_VAR];
        return true;
    }
    switch (msr) {
    case MSR_TSC:
        *val = (uint64_t)clock_ns(env->m->clock) + env->tsc_offset;
        return true;
    case MSR_PLATFORM_ID:
    case MSR_MCG_CAP:
    case MSR_MCG_STATUS:
        *val = 0;
        return true;
    case MSR_APIC_BASE:
        *val = env->m->apic_base_get ? env->m->apic_base_get(env->m->apic_opaque) : s->apic_base;
        return true;
    case MSR_BIOS_SIGN_ID:
        *val = (uint64_t)UCODE_REVISION << 32;
        return true;
    case MSR_MTRRCAP:
        *val = 8 | 1u << 8 | 1u << 10; /* VCNT 8, FIX, WC */
        return true;
    case MSR_SYSENTER_CS:
        *val = s->sysenter_cs;
        return true;
    case MSR_SYSENTER_ESP:
        *val = s->sysenter_esp;
        return true;
    case MSR_SYSENTER_EIP:
        *val = s->sysenter_eip;
        return true;
    case MSR_MISC_ENABLE:
        *val = s->misc_enable;
        return true;
    case MSR_PAT:
        *val = s->pat;
        return true;
    case MSR_MTRR_DEF_TYPE:
        *val = s->mtrr_def_type;
        return true;
    case MSR_EFER:
        *val = s->efer;
        return true;
    default:
        return false;
    }
}

bool dbt_wrmsr(DbtCpu *env, uint32_t msr, uint64_t v)
{
    CpuState *s = &env->s;
    int fi = fixed_index(msr);
    if (fi >= 0) {
        for (int i = 0; i < 8; i++)
            if (!mtrr_type_ok((v >> (8 * i)) & 0xff))
                return false;
        s->mtrr_fixed[fi] = v;
        return true;
    }
    if (msr >= MSR_MTRR_VAR && msr < MSR_MTRR_VAR + 16) {
        bool mask = msr & 1;
        uint64_t rsvd = mask ? (~PHYS_MASK | 0x7ffull) : (~PHYS_MASK | 0xf00ull);
        if ((v & rsvd) || (!mask && !mtrr_type_ok(v & 0xff)))
            return false;
        s->mtrr_var[msr - MSR_MTRR_VAR] = v;
        return true;
    }
    switch (msr) {
    case MSR_TSC:
        env->tsc_offset = v - (uint64_t)clock_ns(env->m->clock);
        return true;
    case MSR_MCG_STATUS:
        return v == 0;
    case MSR_APIC_BASE:
        if (env->m->apic_base_set)
            return env->m->apic_base_set(env->m->apic_opaque, v) == 0;
        /* no APIC: keep the value (BSP, EN, base), refusing reserved bits */
        if (v & ~(PHYS_MASK & ~0x6ffull))
            return false;
        s->apic_base = v;
        return true;
    case MSR_BIOS_SIGN_ID:
        return true; /* writing 0 before CPUID is how the revision is asked for */
    case MSR_SYSENTER_CS:
        s->sysenter_cs = v & 0xffffffffull;
        return true;
    case MSR_SYSENTER_ESP:
        s->sysenter_esp = v & 0xffffffffull;
        return true;
    case MSR_SYSENTER_EIP:
        s->sysenter_eip = v & 0xffffffffull;
        return true;
    case MSR_MISC_ENABLE:
        s->misc_enable = v;
        return true;
    case MSR_PAT:
        if (!pat_ok(v))
            return false;
        s->pat = v;
        return true;
    case MSR_MTRR_DEF_TYPE:
        if ((v & ~0xcffull) || !mtrr_type_ok(v & 0xff))
            return false;
        s->mtrr_def_type = v;
        return true;
    case MSR_EFER:
        if (v & ~(uint64_t)EFER_NXE)
            return false;
        if ((v ^ s->efer) & EFER_NXE)
            dbt_tlb_flush(env);
        s->efer = v;
        return true;
    default:
        return false;
    }
}
