/* cpu/cpuid.h: the CPUID model of the machine: a family-6 CPU that reports only the features
 * the translator really implements. The KVM engine filters the host's CPUID through the same
 * feature masks so a guest sees the same machine under both engines. */
#ifndef DUALVM_CPUID_H
#define DUALVM_CPUID_H

#include <stdbool.h>
#include <stdint.h>

/* Leaf 1 EDX/ECX features this machine offers. */
#define CPUID_1_EDX_FPU (1u << 0)
#define CPUID_1_EDX_VME (1u << 1) /* CR4.VME/PVI (dbt/excp.c, dbt/helpers.c) */
#define CPUID_1_EDX_PSE (1u << 3)
#define CPUID_1_EDX_TSC (1u << 4)
#define CPUID_1_EDX_MSR (1u << 5) /* RDMSR/WRMSR (dbt/msr.c) */
#define CPUID_1_EDX_PAE (1u << 6) /* dbt/mmu.c */
#define CPUID_1_EDX_CX8 (1u << 8)
#define CPUID_1_EDX_APIC (1u << 9)  /* only with a local APIC: CpuModel */
#define CPUID_1_EDX_SEP (1u << 11)  /* SYSENTER/SYSEXIT */
#define CPUID_1_EDX_MTRR (1u << 12) /* stored and returned (no caches to apply them to) */
#define CPUID_1_EDX_PGE (1u << 13)  /* global pages: flushed like the rest, which is allowed */
#define CPUID_1_EDX_CMOV (1u << 15)
#define CPUID_1_EDX_PAT (1u << 16)
#define CPUID_1_EDX_PSE36 (1u << 17) /* 4 MiB pages above 4 GiB (MAXPHYADDR 36) */
#define CPUID_1_EDX_FXSR (1u << 24)  /* FXSAVE/FXRSTOR (dbt/fpu.c) */
/* Leaf 1 ECX */
#define CPUID_1_ECX_HYPERVISOR (1u << 31) /* "a hypervisor's guest": see CPUID_MODEL_1_ECX */
/* Leaf 0x80000001 EDX */
#define CPUID_EXT1_EDX_NX (1u << 20) /* EFER.NXE and the XD bit of PAE entries */
#define CPUID_MODEL_EXT1_EDX CPUID_EXT1_EDX_NX

#define CPUID_MODEL_1_EDX                                                                          \
    (CPUID_1_EDX_FPU | CPUID_1_EDX_PSE | CPUID_1_EDX_TSC | CPUID_1_EDX_CX8 | CPUID_1_EDX_CMOV |    \
     CPUID_1_EDX_FXSR | CPUID_1_EDX_MSR | CPUID_1_EDX_PAE | CPUID_1_EDX_SEP | CPUID_1_EDX_MTRR |   \
     CPUID_1_EDX_PGE | CPUID_1_EDX_PAT | CPUID_1_EDX_PSE36)
/* The machine is a virtual one, and says so as QEMU's and every hypervisor's do: bit 31 of
 * leaf 1 ECX is reserved for a hypervisor to set (AMD's manual; never set by a real CPU). A
 * guest then knows not to expect what a virtual CPU lacks, Linux for one that the P6
 * performance counters it would probe (MSR 0x186) are absent ("PMU not available due to
 * virtualization" rather than "Broken PMU hardware"). No hypervisor leaves come with it
 * (0x40000000 and up read as zeros), so no paravirtual interface is claimed. KVM does not
 * list the bit as supported; the KVM engine sets it all the same (accel/kvm.c). */
#define CPUID_MODEL_1_ECX CPUID_1_ECX_HYPERVISOR
/* VME is implemented by the translator (CR4.VME/PVI work) but not offered: KVM on AMD hosts
 * (SVM) does not give it, and the guest must see one CPUID under both engines. */

/* The features the machine decides, because a device stands behind them: CPUID.1:EDX.APIC
 * exactly when the board has a local APIC (Machine.has_apic). CPUID_MODEL_1_EDX/ECX are the
 * rest, the same on every machine. */
typedef struct CpuModel {
    uint32_t feat_1_edx; /* CPUID.1:EDX as the guest sees it */
    uint32_t feat_1_ecx;
} CpuModel;

/* The model of a machine with (apic) or without a local APIC: an engine builds it from
 * Machine.has_apic once and passes it to cpu_cpuid_model(). */
CpuModel cpu_model_make(bool apic);

/* out = {eax, ebx, ecx, edx} for leaf/subleaf of model (NULL: cpu_model_make(false)). */
void cpu_cpuid_model(const CpuModel *model, uint32_t leaf, uint32_t subleaf, uint32_t out[4]);

/* The same for the model without machine features (no APIC): cpu_cpuid_model(NULL, ...). */
void cpu_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4]);

#endif
