/* Engine selection: -accel auto|kvm|dbt (and QEMU's "tcg" for the translator). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "accel/accel.h"

/* Why KVM cannot be used here, in a few words. */
static void kvm_absent_reason(char *buf, size_t len)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
        close(fd);
        snprintf(buf, len, "the KVM engine is not built into this dualvm yet");
    } else if (errno == ENOENT) {
        snprintf(buf, len, "no /dev/kvm on this host");
    } else {
        snprintf(buf, len, "/dev/kvm: %s", strerror(errno));
    }
}

const AccelOps *accel_select(const char *name, char *why, size_t len)
{
    char reason[200];
    if (!strcmp(name, "dbt") || !strcmp(name, "tcg")) {
        snprintf(why, len, "using dbt (asked for with -accel %s)", name);
        return &accel_dbt_ops;
    }
    if (!strcmp(name, "kvm")) {
        kvm_absent_reason(reason, sizeof(reason));
        snprintf(why, len, "-accel kvm: %s; use -accel dbt or -accel auto", reason);
        return NULL;
    }
    if (!strcmp(name, "auto")) {
        kvm_absent_reason(reason, sizeof(reason));
        snprintf(why, len, "using dbt (%s)", reason);
        return &accel_dbt_ops;
    }
    snprintf(why, len, "-accel %s: unknown accelerator (use auto, kvm or dbt)", name);
    return NULL;
}
