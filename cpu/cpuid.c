#include "cpu/cpuid.h"

#include <string.h>

CpuModel cpu_model_make(bool apic)
{
    CpuModel m = {CPUID_MODEL_1_EDX | (apic ? CPUID_1_EDX_APIC : 0), CPUID_MODEL_1_ECX};
    return m;
}

void cpu_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
    cpu_cpuid_model(NULL, leaf, subleaf, out);
}

void cpu_cpuid_model(const CpuModel *model, uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
    static const char vendor[12] = "GenuineIntel";
    static const char brand[48] = "dualvm virtual CPU";
    CpuModel base = cpu_model_make(false);
    if (!model)
        model = &base;
    memset(out, 0, 4 * sizeof(uint32_t));
    switch (leaf) {
    case 0:
        out[0] = 1;
        memcpy(&out[1], vendor, 4);
        memcpy(&out[3], vendor + 4, 4);
        memcpy(&out[2], vendor + 8, 4);
        break;
    case 1:
        /* family 6, model 3, stepping 3: a Pentium II class part, whose feature set is a
         * subset of what we implement */
        out[0] = (6 << 8) | (3 << 4) | 3;
        out[1] = 0;
        out[2] = model->feat_1_ecx;
        out[3] = model->feat_1_edx;
        break;
    case 0x80000000:
        out[0] = 0x80000008;
        break;
    case 0x80000001:
        out[3] = CPUID_MODEL_EXT1_EDX;
        break;
    case 0x80000008:
        out[0] = 32 << 8 | 36; /* linear and physical address bits */
        break;
    case 0x80000002:
    case 0x80000003:
    case 0x80000004:
        memcpy(out, brand + (leaf - 0x80000002) * 16, 16);
        break;
    default:
        /* leaves above the maximum return the highest basic leaf's data on Intel; we report
         * zeros, as for reserved leaves, which no OS mistakes for a feature */
        break;
    }
    (void)subleaf;
}
