/* cpu/cpu.h: CpuState, the one description of an x86 vCPU.
 *
 * Both engines use it: the DBT runs on it directly, the KVM engine converts it to and from
 * kvm_regs/kvm_sregs/kvm_fpu/MSRs. Loaders set the first state through it. Segment registers
 * carry their descriptor caches (base, limit, attributes) as the hardware does, so a state
 * taken in protected mode can be reloaded without re-reading the GDT.
 */
#ifndef DUALVM_CPU_H
#define DUALVM_CPU_H

#include <stdbool.h>
#include <stdint.h>

enum { R_EAX, R_ECX, R_EDX, R_EBX, R_ESP, R_EBP, R_ESI, R_EDI, CPU_NR_GPRS = 16 };
enum { S_ES, S_CS, S_SS, S_DS, S_FS, S_GS, CPU_NR_SEGS };

/* EFLAGS bits */
#define FL_CF (1u << 0)
#define FL_PF (1u << 2)
#define FL_AF (1u << 4)
#define FL_ZF (1u << 6)
#define FL_SF (1u << 7)
#define FL_TF (1u << 8)
#define FL_IF (1u << 9)
#define FL_DF (1u << 10)
#define FL_OF (1u << 11)
#define FL_IOPL (3u << 12)
#define FL_NT (1u << 14)
#define FL_RF (1u << 16)
#define FL_VM (1u << 17)
#define FL_AC (1u << 18)
#define FL_VIF (1u << 19)
#define FL_VIP (1u << 20)
#define FL_ID (1u << 21)
#define FL_ARITH (FL_CF | FL_PF | FL_AF | FL_ZF | FL_SF | FL_OF)
#define FL_FIXED1 (1u << 1)

/* CR0 / CR4 / EFER bits */
#define CR0_PE (1u << 0)
#define CR0_MP (1u << 1)
#define CR0_EM (1u << 2)
#define CR0_TS (1u << 3)
#define CR0_ET (1u << 4)
#define CR0_NE (1u << 5)
#define CR0_WP (1u << 16)
#define CR0_AM (1u << 18)
#define CR0_NW (1u << 29)
#define CR0_CD (1u << 30)
#define CR0_PG (1u << 31)
#define CR4_VME (1u << 0)
#define CR4_PVI (1u << 1)
#define CR4_TSD (1u << 2)
#define CR4_DE (1u << 3)
#define CR4_PSE (1u << 4)
#define CR4_PAE (1u << 5)
#define CR4_PGE (1u << 7)
#define CR4_OSFXSR (1u << 9)
#define CR4_OSXMMEXCPT (1u << 10)
#define EFER_SCE (1u << 0)
#define EFER_LME (1u << 8)
#define EFER_LMA (1u << 10)
#define EFER_NXE (1u << 11)

/* Segment descriptor attribute bits, in the layout of descriptor bytes 5..6 (bits 40..55 of
 * the descriptor shifted down by 40): type:4 S:1 DPL:2 P:1 limit_hi:4 AVL:1 L:1 DB:1 G:1. */
#define SEG_TYPE_MASK 0x000f
#define SEG_S (1u << 4)
#define SEG_DPL_SHIFT 5
#define SEG_P (1u << 7)
#define SEG_AVL (1u << 12)
#define SEG_L (1u << 13)
#define SEG_DB (1u << 14)
#define SEG_G (1u << 15)

typedef struct SegCache {
    uint16_t sel;
    uint64_t base;
    uint32_t limit; /* byte granular, already scaled by G */
    uint16_t attr;  /* SEG_* bits */
} SegCache;

typedef struct DescTable {
    uint64_t base;
    uint16_t limit;
} DescTable;

/* x87 register: 64-bit significand and sign+15-bit exponent, the 80-bit format split. */
typedef struct FpReg {
    uint64_t mant;
    uint16_t sexp;
} FpReg;

typedef struct CpuState {
    uint64_t regs[CPU_NR_GPRS];
    uint64_t rip;
    uint64_t rflags;
    SegCache seg[CPU_NR_SEGS];
    SegCache ldt, tr;
    DescTable gdt, idt;
    uint64_t cr0, cr2, cr3, cr4, cr8;
    uint64_t dr[8];
    uint64_t efer;
    /* MSRs both engines carry */
    uint64_t sysenter_cs, sysenter_esp, sysenter_eip;
    uint64_t star, lstar, cstar, fmask, kernel_gs_base;
    uint64_t tsc, apic_base, pat, misc_enable;
    /* memory type ranges (MTRRs), stored and returned; the machine has no caches to apply
     * them to. Fixed: 64K_00000, 16K_80000, 16K_A0000, 4K_C0000..4K_F8000; variable: base and
     * mask pairs, as MSRs 0x200..0x20f. */
    uint64_t mtrr_def_type, mtrr_fixed[11], mtrr_var[16];
    /* x87 and SSE */
    FpReg fpr[8];
    uint16_t fcw, fsw, ftw; /* ftw: full 16-bit tag word */
    uint16_t fop;
    uint64_t fip, fdp;
    uint8_t xmm[16][16];
    uint32_t mxcsr;
    /* run state */
    bool halted;
} CpuState;

/* Put the CPU in its power-on state (F000:FFF0, real mode), as after RESET. */
void cpu_reset(CpuState *s);
/* Flat 32-bit protected mode, paging off: the state multiboot and the Linux 32-bit entry give. */
void cpu_set_flat32(CpuState *s, uint64_t eip);
/* Load a segment register the real-mode way: base = sel * 16, 64 KiB limit. */
void cpu_load_seg_real(CpuState *s, int seg, uint16_t sel);

#endif
