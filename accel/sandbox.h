/* accel/sandbox.h: the seccomp filter the vCPU and its devices run under (-sandbox on, the
 * default).
 *
 * Everything a guest can reach (the engine, every device model, the display's poll hook) runs
 * on the thread that runs vcpu_loop(). Once the machine is built and the files are open,
 * sandbox_install() puts that thread under a seccomp-BPF filter that allows only the system
 * calls the run loop and the exit after it make (README "Sandbox" lists them and why): reads
 * and writes on descriptors already open (no call that makes a new one is allowed, except
 * with files = true, for screenshots), KVM ioctls on the VM's and vCPU's descriptors only,
 * terminal attributes, memory management without PROT_EXEC, clocks, sleeps, futexes, the
 * KVM engine's timer signal, exit. Any other call does not happen: the kernel sends SIGSYS,
 * and the handler prints one line naming the call and ends dualvm with status 4 (an internal
 * error: either dualvm made a call it never should, or something took over the run loop).
 *
 * The filter is per thread (no TSYNC): it covers the calling thread and the threads it creates
 * afterwards. Without a window the loop runs on the main thread, then the whole process. With
 * the SDL window (main.c) the loop runs on a thread of its own, started for it, and only that
 * thread is filtered: the window's thread (which SDL, X11/Wayland and the GL driver need for
 * sockets, shared memory and DRM ioctls no list can foresee) and the thread that wakes it when
 * the loop ends stay outside; they touch no guest state but the frames and input queue of
 * ui/display.h.
 *
 * Linux on x86-64 and arm64; elsewhere sandbox_supported() is false.
 */
#ifndef DUALVM_SANDBOX_H
#define DUALVM_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>

typedef struct SandboxConfig {
    bool files; /* files may be created and renamed during the run (-screenshot*) */
} SandboxConfig;

/* Exit status after a forbidden system call (main.c's EXIT_INTERNAL). */
#define SANDBOX_EXIT_STATUS 4

bool sandbox_supported(void);

/* Filter the calling thread. 0, or -1 with the reason in err (nothing installed). */
int sandbox_install(const SandboxConfig *cfg, char *err, size_t errlen);

/* The name of system call nr on this host, or NULL if it is not one the table knows. */
const char *sandbox_syscall_name(long nr);

#endif
