/* Engine selection: -accel auto|kvm|dbt (and QEMU's "tcg" for the translator).
 *
 * auto takes KVM when /dev/kvm opens, has what the engine needs and runs a trial guest;
 * otherwise the translator. Either way the caller prints the one line written into why. */
#include <string.h>

#include "accel/accel.h"

const AccelOps *accel_select(const char *name, char *why, size_t len)
{
    char reason[300];
    if (!strcmp(name, "dbt") || !strcmp(name, "tcg")) {
        snprintf(why, len, "using dbt (asked for with -accel %s)", name);
        return &accel_dbt_ops;
    }
    if (!strcmp(name, "kvm")) {
        if (accel_kvm_ops.probe(reason, sizeof(reason))) {
            snprintf(why, len, "using kvm (%s)", reason);
            return &accel_kvm_ops;
        }
        snprintf(why, len, "-accel kvm: %s; use -accel dbt or -accel auto", reason);
        return NULL;
    }
    if (!strcmp(name, "auto")) {
        if (accel_kvm_ops.probe(reason, sizeof(reason))) {
            snprintf(why, len, "using kvm (%s)", reason);
            return &accel_kvm_ops;
        }
        snprintf(why, len, "using dbt (%s)", reason);
        return &accel_dbt_ops;
    }
    snprintf(why, len, "-accel %s: unknown accelerator (use auto, kvm or dbt)", name);
    return NULL;
}
