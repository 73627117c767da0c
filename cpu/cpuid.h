/* cpu/cpuid.h: the CPUID model of the machine: a family-6 CPU that reports only the features
 * the translator really implements. The KVM engine filters the host's CPUID through the same
 * feature masks so a guest sees the same machine under both engines. */
#ifndef DUALVM_CPUID_H
#define DUALVM_CPUID_H

#include <stdint.h>

/* Leaf 1 EDX/ECX features this machine offers. */
#define CPUID_1_EDX_FPU (1u << 0)
#define CPUID_1_EDX_PSE (1u << 3)
#define CPUID_1_EDX_TSC (1u << 4)
#define CPUID_1_EDX_CX8 (1u << 8)
#define CPUID_1_EDX_CMOV (1u << 15)

#define CPUID_MODEL_1_EDX (CPUID_1_EDX_PSE | CPUID_1_EDX_TSC | CPUID_1_EDX_CX8 | CPUID_1_EDX_CMOV)
#define CPUID_MODEL_1_ECX 0u

/* out = {eax, ebx, ecx, edx} for leaf/subleaf. */
void cpu_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4]);

#endif
