/* tests/sandbox/sandbox_test.c: the seccomp filter stops what the run loop must never do, and
 * lets through what it does.
 *
 *   sandbox_test CASE GUEST_BIN
 *
 * A child process builds a PC as dualvm does (an IDE disk on a real file, COM1 to stdout),
 * loads tests/sandbox/guest.asm at 1 MiB, adds a test device at port 0x7000, installs the
 * filter exactly as main.c does (sandbox_install, right before vcpu_loop) and runs the guest
 * under the translator. The guest reads and writes the disk, flushes it, writes to COM1 and
 * the VGA, then pokes port 0x7000: the device then makes the system call CASE names, on the
 * run loop's thread, as a device bug exploited by a guest would. Then the guest exits.
 *
 * allowed: the run ends with the guest's status (33), and the sector it wrote is in the file.
 * any other case: the call is stopped: the child exits with status 4 and one line naming the
 *   call, and nothing after the call ran (the device would say "ESCAPED").
 * Exit 77 (ctest: skipped) where there is no sandbox, or for a case that a sanitizer build
 * allows (AddressSanitizer's runtime needs openat, clone, execve... at exit and in reports).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "accel/accel.h"
#include "accel/sandbox.h"
#include "accel/vcpu.h"
#include "hw/pc.h"
#include "loaders/loader.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

#define TEST_PORT 0x7000
#define GUEST_ADDR 0x100000
#define STATUS_GUEST_OK 33
#define SKIP 77

typedef struct Case {
    const char *name;
    long call;      /* the system call the filter must stop (its number, for the message) */
    bool sanitized; /* also stopped in AddressSanitizer builds */
} Case;

static const Case cases[] = {
    {"allowed", -1, true},
    {"socket", SYS_socket, true},
    {"openat", SYS_openat, false},
    {"execve", SYS_execve, false},
    {"fork", SYS_clone, false},
    {"mmap-exec", SYS_mmap, true},
    {"mprotect-exec", SYS_mprotect, true},
    {"tiocsti", SYS_ioctl, true},
    {"kvm-ioctl-other-fd", SYS_ioctl, true},
    {"unshare", SYS_unshare, true},
    {"memfd", SYS_memfd_create, true},
    {"ptrace", SYS_ptrace, false},
};

static const Case *the_case;

/* The test device: the call under test, on the run loop's thread. */
static void device_write(void *dev, uint16_t off, uint32_t val, unsigned size)
{
    (void)dev, (void)off, (void)val, (void)size;
    const char *c = the_case->name;
    long rc = 0;
    if (!strcmp(c, "allowed")) {
        struct timespec ts;
        rc = clock_gettime(CLOCK_MONOTONIC, &ts); /* the run loop's kind of call */
        return;
    } else if (!strcmp(c, "socket")) {
        rc = socket(AF_INET, SOCK_STREAM, 0);
    } else if (!strcmp(c, "openat")) {
        rc = open("/etc/passwd", O_RDONLY);
    } else if (!strcmp(c, "execve")) {
        char *argv[] = {"/bin/true", NULL};
        rc = execve("/bin/true", argv, environ);
    } else if (!strcmp(c, "fork")) {
        rc = fork();
        if (rc == 0)
            _exit(0);
    } else if (!strcmp(c, "mmap-exec")) {
        void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
                       -1, 0);
        rc = p == MAP_FAILED ? -1 : 0;
    } else if (!strcmp(c, "mprotect-exec")) {
        static char page[4096] __attribute__((aligned(4096)));
        rc = mprotect(page, sizeof(page), PROT_READ | PROT_EXEC);
    } else if (!strcmp(c, "tiocsti")) {
        char ch = 'x';
        rc = ioctl(STDIN_FILENO, TIOCSTI, &ch);
    } else if (!strcmp(c, "kvm-ioctl-other-fd")) {
        rc = ioctl(STDERR_FILENO, 0xae80 /* KVM_RUN */, 0);
    } else if (!strcmp(c, "unshare")) {
        rc = unshare(CLONE_NEWUSER);
    } else if (!strcmp(c, "memfd")) {
        rc = memfd_create("escape", 0);
    } else if (!strcmp(c, "ptrace")) {
        rc = syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0);
    }
    /* not reached when the filter works */
    fprintf(stderr, "ESCAPED: %s returned %ld\n", c, rc);
    _exit(99);
}

static uint32_t device_read(void *dev, uint16_t off, unsigned size)
{
    (void)dev, (void)off, (void)size;
    return 0;
}

static const IoOps device_ops = {device_read, device_write};

/* The child: dualvm's run, in miniature. */
static int child(const char *guest, const char *disk)
{
    MachineConfig cfg = {.ram_size = 16u << 20, .serial = "stdio", .no_reboot = true};
    cfg.ide[0] = (DriveConfig){.file = disk, .present = true};
    char err[512];
    Machine *m = pc_new(&cfg, err, sizeof(err));
    if (!m) {
        fprintf(stderr, "sandbox_test: %s\n", err);
        return 2;
    }
    CpuState cpu;
    cpu_reset(&cpu);
    if (load_flat(m->as, m->ram_size, &cpu, guest, GUEST_ADDR, LOADER_ENTRY_DEFAULT, err,
                  sizeof(err)) < 0 ||
        io_register(m->io, TEST_PORT, 4, &device_ops, NULL) < 0) {
        fprintf(stderr, "sandbox_test: %s\n", err);
        return 2;
    }
    Vcpu v = {.machine = m, .ops = &accel_dbt_ops};
    if (v.ops->init(&v)) {
        fprintf(stderr, "sandbox_test: %s\n", v.error);
        return 2;
    }
    v.ops->set_state(&v, &cpu);
    SandboxConfig sc = {.files = false};
    if (sandbox_install(&sc, err, sizeof(err)) < 0) {
        fprintf(stderr, "sandbox_test: %s\n", err);
        return 2;
    }
    StopReason why = vcpu_loop(&v);
    if (why != STOP_EXIT_DEVICE)
        fprintf(stderr, "sandbox_test: the run ended with %d: %s\n", (int)why, m->stop_msg);
    int status = why == STOP_EXIT_DEVICE ? m->exit_status : 3;
    v.ops->destroy(&v);
    pc_free(m);
    return status;
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "sandbox_test: FAIL: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: sandbox_test CASE GUEST_BIN\n");
        return 2;
    }
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (!strcmp(cases[i].name, argv[1]))
            the_case = &cases[i];
    if (!the_case) {
        fprintf(stderr, "sandbox_test: unknown case %s\n", argv[1]);
        return 2;
    }
    if (!sandbox_supported()) {
        printf("sandbox_test: no seccomp sandbox on this host: skipped\n");
        return SKIP;
    }
    if (SANITIZED && !the_case->sanitized) {
        printf("sandbox_test: %s is allowed in sanitizer builds (their runtime uses it): "
               "skipped\n",
               the_case->name);
        return SKIP;
    }

    /* the disk: two sectors, the second to be overwritten by the guest */
    char dir[] = "/tmp/dualvm-sandbox-XXXXXX";
    if (!mkdtemp(dir))
        return fail("mkdtemp: %s", strerror(errno));
    char disk[sizeof(dir) + 16];
    snprintf(disk, sizeof(disk), "%s/disk.img", dir);
    uint8_t img[2048];
    memset(img, 0x11, sizeof(img));
    FILE *f = fopen(disk, "wb");
    if (!f || fwrite(img, 1, sizeof(img), f) != sizeof(img) || fclose(f))
        return fail("%s: cannot write", disk);

    int pipefd[2];
    if (pipe(pipefd) < 0)
        return fail("pipe: %s", strerror(errno));
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(pipefd[0]);
        dup2(pipefd[1], STDERR_FILENO);
        close(pipefd[1]);
        _exit(child(argv[2], disk));
    }
    close(pipefd[1]);
    char out[4096];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof(out) - 1 && (r = read(pipefd[0], out + n, sizeof(out) - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = 0;
    close(pipefd[0]);
    int ws;
    waitpid(pid, &ws, 0);
    fprintf(stderr, "%s", out); /* for the test log */

    uint8_t back[2048];
    f = fopen(disk, "rb");
    size_t got = f ? fread(back, 1, sizeof(back), f) : 0;
    if (f)
        fclose(f);
    unlink(disk);
    rmdir(dir);

    if (!WIFEXITED(ws))
        return fail("%s: the child died of signal %d", the_case->name, WTERMSIG(ws));
    int status = WEXITSTATUS(ws);
    if (strstr(out, "ESCAPED"))
        return fail("%s: the call was not stopped", the_case->name);
    if (the_case->call < 0) {
        if (status != STATUS_GUEST_OK)
            return fail("allowed: the guest's run ended with status %d, not %d", status,
                        STATUS_GUEST_OK);
        static const uint8_t pattern[4] = {0xa5, 0x5a, 0x5a, 0xa5};
        if (got != sizeof(back) || memcmp(back + 512, pattern, 4) || back[1023] != 0xa5 ||
            back[1024] != 0x11)
            return fail("allowed: the sector the guest wrote is not in the image");
        printf("sandbox_test: allowed: the guest ran under the filter (disk read, write, flush, "
               "serial, VGA) and its write reached the image\n");
        return 0;
    }
    if (status != SANDBOX_EXIT_STATUS)
        return fail("%s: the child exited with %d, not %d", the_case->name, status,
                    SANDBOX_EXIT_STATUS);
    const char *name = sandbox_syscall_name(the_case->call);
    char want[128];
    snprintf(want, sizeof(want), "system call %ld (%s)", the_case->call, name ? name : "?");
    if (!strstr(out, "dualvm: sandbox: ") || !strstr(out, want))
        return fail("%s: the message does not name '%s'", the_case->name, want);
    printf("sandbox_test: %s: stopped, status 4, '%s' named\n", the_case->name, want);
    return 0;
}
