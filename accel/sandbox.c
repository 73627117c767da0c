/* accel/sandbox.c: the run loop's seccomp-BPF filter (accel/sandbox.h), written by hand with
 * <linux/seccomp.h> and <linux/filter.h>: no library, a short program the kernel runs on every
 * system call of the filtered thread.
 *
 * The program: a foreign architecture (x32 or i386 calls on x86-64) is killed; each allowed
 * system call is a compare-and-return; ioctl, mmap/mprotect and tgkill look at their
 * arguments; everything else returns SECCOMP_RET_TRAP, so the call is not made and SIGSYS
 * comes instead, whose handler says which call it was and exits with status 4.
 *
 * The allow-list was measured: every guest test, SeaBIOS booting from an IDE disk and a
 * CD-ROM, the VGA guests with -screenshot-every, the window tests, run under strace -f with
 * the calls after the filter's installation collected per thread (fuzz/README.md tells how),
 * plus the KVM engine's calls read from accel/kvm.c (KVM cannot run on the machines measured).
 */
#define _GNU_SOURCE
#include "accel/sandbox.h"

#include <stdio.h>
#include <string.h>

#if defined(__linux__) && (defined(__x86_64__) || defined(__aarch64__)) &&                         \
    __has_include(<linux/seccomp.h>)

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#if defined(__x86_64__)
#define SANDBOX_ARCH AUDIT_ARCH_X86_64
#else
#define SANDBOX_ARCH AUDIT_ARCH_AARCH64
#endif

/* Built with AddressSanitizer (gcc defines __SANITIZE_ADDRESS__, clang has the feature): its
 * leak check at exit stops the world with a ptrace()ing helper thread, and its reports read
 * /proc/self/maps; those calls are allowed in such builds only (README: "Sandbox"). */
#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_SANITIZER 1
#endif
#endif
#ifndef SANDBOX_SANITIZER
#define SANDBOX_SANITIZER 0
#endif

/* ---- names, for the message ---- */

#define SC(name) {SYS_##name, #name},
/* clang-format off */
static const struct {
    long nr;
    const char *name;
} names[] = {
#ifdef SYS_open
    SC(open) SC(creat) SC(access) SC(stat) SC(lstat) SC(poll) SC(fork) SC(vfork) SC(rename)
    SC(unlink) SC(mkdir) SC(rmdir) SC(symlink) SC(link) SC(readlink) SC(chmod) SC(chown)
    SC(select) SC(pipe) SC(dup2) SC(alarm) SC(pause) SC(time) SC(getdents)
#endif
    SC(read) SC(write) SC(close) SC(fstat) SC(lseek) SC(mmap) SC(mprotect) SC(munmap) SC(brk)
    SC(rt_sigaction) SC(rt_sigprocmask) SC(rt_sigreturn) SC(ioctl) SC(pread64) SC(pwrite64)
    SC(readv) SC(writev) SC(sched_yield) SC(mremap) SC(msync) SC(madvise) SC(dup) SC(dup3)
    SC(nanosleep) SC(getpid) SC(socket) SC(connect) SC(accept) SC(sendto) SC(recvfrom)
    SC(sendmsg) SC(recvmsg) SC(bind) SC(listen) SC(socketpair) SC(clone) SC(clone3) SC(execve)
    SC(execveat) SC(exit) SC(wait4) SC(kill) SC(uname) SC(fcntl) SC(flock) SC(fsync)
    SC(fdatasync) SC(truncate) SC(ftruncate) SC(getcwd) SC(chdir) SC(fchdir) SC(fchmod)
    SC(fchown) SC(umask) SC(ptrace) SC(getuid) SC(setuid) SC(setgid) SC(prctl) SC(mount)
    SC(umount2) SC(reboot) SC(gettid) SC(tkill) SC(futex) SC(tgkill) SC(getdents64)
    SC(timer_create) SC(timer_settime) SC(timer_gettime) SC(timer_delete) SC(clock_gettime)
    SC(clock_nanosleep) SC(exit_group) SC(openat) SC(mkdirat) SC(unlinkat) SC(renameat)
    SC(renameat2) SC(newfstatat) SC(readlinkat) SC(faccessat) SC(ppoll) SC(pipe2) SC(eventfd2)
    SC(epoll_create1) SC(epoll_ctl) SC(epoll_pwait) SC(signalfd4) SC(timerfd_create)
    SC(memfd_create) SC(getrandom) SC(bpf) SC(seccomp) SC(userfaultfd) SC(perf_event_open)
    SC(process_vm_readv) SC(process_vm_writev) SC(statx) SC(io_uring_setup) SC(pidfd_open)
    SC(sigaltstack) SC(set_robust_list) SC(rseq) SC(prlimit64) SC(sched_getaffinity)
    SC(restart_syscall) SC(preadv) SC(pwritev) SC(getppid) SC(setsid) SC(chroot) SC(unshare)
    SC(setns) SC(init_module) SC(finit_module) SC(kexec_load) SC(keyctl) SC(add_key)
    SC(sysinfo) SC(fallocate)
};
/* clang-format on */
#undef SC

const char *sandbox_syscall_name(long nr)
{
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (names[i].nr == nr)
            return names[i].name;
    return NULL;
}

bool sandbox_supported(void)
{
    return true;
}

/* ---- the SIGSYS handler: async-signal-safe, write(2) and _exit(2) only ---- */

static void put_str(char *buf, size_t *n, size_t cap, const char *s)
{
    while (*s && *n + 1 < cap)
        buf[(*n)++] = *s++;
}

static void put_dec(char *buf, size_t *n, size_t cap, long v)
{
    char tmp[24];
    int k = 0;
    unsigned long u = v < 0 ? 0ul - (unsigned long)v : (unsigned long)v;
    do
        tmp[k++] = (char)('0' + u % 10);
    while ((u /= 10) && k < (int)sizeof(tmp));
    if (v < 0)
        put_str(buf, n, cap, "-");
    while (k--)
        if (*n + 1 < cap)
            buf[(*n)++] = tmp[k];
}

static void on_sigsys(int sig, siginfo_t *info, void *ctx)
{
    (void)sig;
    (void)ctx;
    char msg[256];
    size_t n = 0;
    long nr = info->si_syscall;
    const char *name = sandbox_syscall_name(nr);
    put_str(msg, &n, sizeof(msg), "dualvm: sandbox: the run loop made system call ");
    put_dec(msg, &n, sizeof(msg), nr);
    if (name) {
        put_str(msg, &n, sizeof(msg), " (");
        put_str(msg, &n, sizeof(msg), name);
        put_str(msg, &n, sizeof(msg), ")");
    }
    put_str(msg, &n, sizeof(msg),
            ", which the seccomp filter forbids; stopped (-sandbox off runs without it)\n");
    ssize_t w = write(STDERR_FILENO, msg, n);
    (void)w;
    _exit(SANDBOX_EXIT_STATUS);
}

/* ---- the program ---- */

#define MAX_INSNS 1024

typedef struct Prog {
    struct sock_filter f[MAX_INSNS];
    unsigned n;
    bool overflow;
} Prog;

static void emit(Prog *p, uint16_t code, uint8_t jt, uint8_t jf, uint32_t k)
{
    if (p->n >= MAX_INSNS) {
        p->overflow = true;
        return;
    }
    p->f[p->n++] = (struct sock_filter)BPF_JUMP(code, k, jt, jf);
}

static void ret(Prog *p, uint32_t action)
{
    emit(p, BPF_RET | BPF_K, 0, 0, action);
}

/* if (nr == call) return ALLOW */
static void allow(Prog *p, long call)
{
    emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0, 1, (uint32_t)call);
    ret(p, SECCOMP_RET_ALLOW);
}

static void load_nr(Prog *p)
{
    emit(p, BPF_LD | BPF_W | BPF_ABS, 0, 0, offsetof(struct seccomp_data, nr));
}

/* The low 32 bits of argument i (little-endian hosts only: x86-64, arm64). */
static void load_arg(Prog *p, int i)
{
    emit(p, BPF_LD | BPF_W | BPF_ABS, 0, 0, (uint32_t)offsetof(struct seccomp_data, args[i]));
}

/* A block for one system call that looks at its arguments: "if (nr != call) skip it". The
 * body is emitted by the caller and ends in returns; patch_skip() fixes the jump. */
static unsigned begin_block(Prog *p, long call)
{
    emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0, 0, (uint32_t)call);
    return p->n - 1;
}

static void end_block(Prog *p, unsigned at)
{
    unsigned skip = p->n - at - 1;
    if (skip > 255)
        p->overflow = true;
    else
        p->f[at].jf = (uint8_t)skip;
    load_nr(p); /* the body loaded arguments: the next test needs nr again */
}

/* The KVM file descriptors open now: the VM and its vCPUs (anon_inode:kvm-vm, kvm-vcpu:N). */
static int kvm_fds(int *fds, int max)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        if (*end || fd < 0 || fd == dirfd(d))
            continue;
        char link[64], target[128];
        snprintf(link, sizeof(link), "/proc/self/fd/%ld", fd);
        ssize_t l = readlink(link, target, sizeof(target) - 1);
        if (l <= 0)
            continue;
        target[l] = 0;
        if (!strcmp(target, "anon_inode:kvm-vm") || !strncmp(target, "anon_inode:kvm-vcpu", 19))
            fds[n++] = (int)fd;
    }
    closedir(d);
    return n;
}

/* clang-format off */
#define ALLOW_LIST(X)                                                                              \
    /* reads and writes on descriptors already open: serial, images, stdio, debugcon */            \
    X(read) X(write) X(readv) X(writev) X(pread64) X(pwrite64) X(preadv) X(pwritev) X(lseek)       \
    /* the images: FLUSH CACHE, and closing at the end of the run */                               \
    X(fsync) X(fdatasync) X(close)                                                                 \
    /* the serial input poll (timeout 0) */                                                        \
    X(ppoll)                                                                                       \
    /* memory: malloc and glib (mmap and mprotect further down, never with PROT_EXEC) */           \
    X(brk) X(munmap) X(mremap) X(madvise)                                                          \
    /* threads and time: the display's mutex, the clock, HLT's sleep, the KVM engine's timer */    \
    X(futex) X(sched_yield) X(clock_gettime) X(clock_getres) X(gettimeofday) X(nanosleep)          \
    X(clock_nanosleep) X(timer_create) X(timer_settime) X(timer_gettime) X(timer_delete)           \
    /* signals: SIGINT/SIGTERM and the KVM engine's SIGUSR1 handlers return; its signal mask */    \
    X(rt_sigreturn) X(rt_sigprocmask) X(restart_syscall)                                           \
    /* identity (the KVM engine's thread id, abort()'s raise), and the end */                      \
    X(getpid) X(gettid) X(exit) X(exit_group)

#define ALLOW_LIST_LEGACY(X) X(poll) X(time)

#define ALLOW_LIST_FILES(X)                                                                        \
    X(openat) X(newfstatat) X(fstat) X(statx) X(renameat) X(renameat2) X(unlinkat) X(fchmod)       \
    X(fallocate) X(ftruncate)

#define ALLOW_LIST_FILES_LEGACY(X) X(open) X(creat) X(rename) X(unlink) X(stat)

/* AddressSanitizer's runtime at exit (LeakSanitizer's stop-the-world) and in its reports */
#define ALLOW_LIST_SANITIZER(X)                                                                    \
    X(clone) X(ptrace) X(wait4) X(prctl) X(getdents64) X(openat) X(readlinkat) X(sigaltstack)      \
    X(rt_sigaction) X(getppid) X(sched_getaffinity) X(newfstatat) X(fstat) X(getrandom)            \
    X(set_robust_list) X(rseq) X(prlimit64) X(tgkill) X(kill) X(pipe2) X(execve)                   \
    X(dup3) X(uname) X(sysinfo)

#define ALLOW_LIST_SANITIZER_LEGACY(X)                                                             \
    X(readlink) X(open) X(pipe) X(stat) X(fork) X(getdents) X(dup2)

/* clang-format on */

#define X_ALLOW(name) allow(p, SYS_##name);

static void build(Prog *p, const SandboxConfig *cfg, const int *kfds, int nk)
{
    /* the architecture: calls of another ABI are not what the list speaks of */
    emit(p, BPF_LD | BPF_W | BPF_ABS, 0, 0, offsetof(struct seccomp_data, arch));
    emit(p, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, SANDBOX_ARCH);
    ret(p, SECCOMP_RET_KILL_PROCESS);
    load_nr(p);
#if defined(__x86_64__)
    emit(p, BPF_JMP | BPF_JGE | BPF_K, 0, 1, 0x40000000u); /* x32 */
    ret(p, SECCOMP_RET_KILL_PROCESS);
#endif
    ALLOW_LIST(X_ALLOW)
#ifdef SYS_poll
    ALLOW_LIST_LEGACY(X_ALLOW)
#endif
    if (cfg->files) {
        ALLOW_LIST_FILES(X_ALLOW)
#ifdef SYS_open
        ALLOW_LIST_FILES_LEGACY(X_ALLOW)
#endif
    }
    if (SANDBOX_SANITIZER) {
        ALLOW_LIST_SANITIZER(X_ALLOW)
#ifdef SYS_open
        ALLOW_LIST_SANITIZER_LEGACY(X_ALLOW)
#endif
    }

    /* ioctl: terminal attributes on any descriptor (the serial console restores the
     * terminal), KVM's ioctls on the VM and vCPU descriptors; nothing else (no TIOCSTI) */
    unsigned at = begin_block(p, SYS_ioctl);
    load_arg(p, 1);
    static const uint32_t tty[] = {TCGETS, TCSETS, TCSETSW, TCSETSF};
    for (size_t i = 0; i < sizeof(tty) / sizeof(tty[0]); i++) {
        emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0, 1, tty[i]);
        ret(p, SECCOMP_RET_ALLOW);
    }
    emit(p, BPF_ALU | BPF_AND | BPF_K, 0, 0, 0xff00);
    emit(p, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 0xae00); /* _IOC_TYPE == KVMIO */
    ret(p, SECCOMP_RET_TRAP);
    load_arg(p, 0);
    for (int i = 0; i < nk; i++) {
        emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0, 1, (uint32_t)kfds[i]);
        ret(p, SECCOMP_RET_ALLOW);
    }
    ret(p, SECCOMP_RET_TRAP);
    end_block(p, at);

    /* mmap, mprotect: never executable (W^X for everything mapped from now on) */
    static const long mem_calls[] = {SYS_mmap, SYS_mprotect};
    for (size_t i = 0; i < 2; i++) {
        at = begin_block(p, mem_calls[i]);
        load_arg(p, 2);
        emit(p, BPF_JMP | BPF_JSET | BPF_K, 0, 1, PROT_EXEC);
        ret(p, SECCOMP_RET_TRAP);
        ret(p, SECCOMP_RET_ALLOW);
        end_block(p, at);
    }

    /* tgkill: this process's threads only (abort(), pthread_kill for a kick) */
    at = begin_block(p, SYS_tgkill);
    load_arg(p, 0);
    emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0, 1, (uint32_t)getpid());
    ret(p, SECCOMP_RET_ALLOW);
    ret(p, SECCOMP_RET_TRAP);
    end_block(p, at);

    ret(p, SECCOMP_RET_TRAP);
}

int sandbox_install(const SandboxConfig *cfg, char *err, size_t errlen)
{
    static Prog prog;
    memset(&prog, 0, sizeof(prog));
    int kfds[64];
    int nk = kvm_fds(kfds, 64);
    build(&prog, cfg, kfds, nk);
    if (prog.overflow) {
        snprintf(err, errlen, "the seccomp program is too long");
        return -1;
    }

    /* the handler first, with SIGSYS unblocked on this thread */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSYS, &sa, NULL) < 0) {
        snprintf(err, errlen, "sigaction(SIGSYS): %s", strerror(errno));
        return -1;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGSYS);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        snprintf(err, errlen, "prctl(PR_SET_NO_NEW_PRIVS): %s", strerror(errno));
        return -1;
    }
    struct sock_fprog fp = {.len = (unsigned short)prog.n, .filter = prog.f};
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fp) < 0) {
        snprintf(err, errlen,
                 "cannot install the seccomp filter: %s (the kernel needs "
                 "CONFIG_SECCOMP_FILTER; -sandbox off runs without it)",
                 strerror(errno));
        return -1;
    }
    return 0;
}

#else /* not Linux x86-64/arm64 */

bool sandbox_supported(void)
{
    return false;
}

int sandbox_install(const SandboxConfig *cfg, char *err, size_t errlen)
{
    (void)cfg;
    snprintf(err, errlen, "no seccomp sandbox on this host (-sandbox off runs without it)");
    return -1;
}

const char *sandbox_syscall_name(long nr)
{
    (void)nr;
    return NULL;
}

#endif
