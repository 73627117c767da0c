/* dualvm: command line, machine assembly and the run, with QEMU's spelling for the options a
 * QEMU user types every day. Every error is reported here, once, as one line. */
#include <errno.h>
#include <glib.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accel/accel.h"
#include "accel/sandbox.h"
#include "accel/vcpu.h"
#include "dbt/dbt.h"
#include "hw/fw_cfg.h"
#include "hw/pc.h"
#include "hw/vga.h"
#include "loaders/loader.h"
#include "ui/display.h"
#include "ui/screenshot.h"
#include "ui/sdl.h"

/* Exit statuses (also in --help and README) */
enum {
    EXIT_OK = 0,      /* guest powered off, or reset/triple fault with -no-reboot */
    EXIT_USAGE = 1,   /* bad option, missing or bad file: nothing ran */
    EXIT_GUEST = 2,   /* the guest could not go on: unimplemented instruction, halted forever,
                         triple fault with no firmware to reset into */
    EXIT_INTERNAL = SANDBOX_EXIT_STATUS, /* 4: dualvm failed, not the guest nor the user: the
                                            sandbox could not be set up, or it stopped a
                                            system call the run loop must never make */
    /* -dbt-backend diff: the interpreter and the host-code back end disagree */
    EXIT_DIFF = 6,
    /* 3, 5, 7, ...: the guest wrote (status - 1) / 2 to the exit device (isa-debug-exit) */
};

static const char *help_tail =
    "QEMU spellings: options take one dash (-kernel) or two (--kernel).\n"
    "\n"
    "Exit status:\n"
    "  0      guest powered off (or its window closed); reset or triple fault with -no-reboot;\n"
    "         Ctrl-A x\n"
    "  1      bad option or file (nothing ran)\n"
    "  2      the guest could not go on (unimplemented instruction, HLT with interrupts off,\n"
    "         triple fault without -no-reboot)\n"
    "  4      internal error (the sandbox could not be set up, or it stopped a forbidden\n"
    "         system call: the message names it)\n"
    "  6      -dbt-backend diff: the interpreter and the host-code back end disagree (the\n"
    "         report names the block, the first differing instruction and the fields)\n"
    "  2v+1   the guest wrote v to the exit device (port 0xf4, as QEMU's isa-debug-exit)\n"
    "\n"
    "Serial in the terminal: Ctrl-A x quits, Ctrl-A Ctrl-A sends Ctrl-A.\n"
    "\n"
    "Display: -display sdl (a window; the default when DISPLAY or WAYLAND_DISPLAY is set and\n"
    "SDL can open one, else the run goes on as -display none and says so), -display none,\n"
    "-nographic (no window, SeaBIOS on the serial port). In the window, with left Ctrl and\n"
    "left Alt held:\n"
    "  Ctrl-Alt-G    grab the mouse and keyboard for the guest, or release them (a click grabs)\n"
    "  Ctrl-Alt-End  send Ctrl-Alt-Delete to the guest\n"
    "  Ctrl-Alt-F    full screen on or off\n"
    "Closing the window powers the guest off (status 0).\n";

/* Debian's seabios package */
#define DEFAULT_BIOS "/usr/share/seabios/bios-256k.bin"
#define DEFAULT_VGABIOS "/usr/share/seabios/vgabios-stdvga.bin"

typedef struct Opts {
    char *kernel, *append, *initrd, *mem, *serial, *display, *accel, *bios;
    char *dbt_backend, *debugcon, *machine;
    char **devices;
    char *screenshot, *screenshot_text, *screenshot_every;
    gboolean nographic, no_reboot, stats, version;
    /* storage: -drive, -hda..-hdd, -cdrom, -snapshot, -boot; drive_file[i] is the image of
     * IDE position i that MachineConfig.ide[i].file points to */
    char **drives, *hd[MACHINE_IDE_DRIVES], *cdrom, *boot, *drive_file[MACHINE_IDE_DRIVES];
    char *boot_order;
    gboolean snapshot;
    char *sandbox;
} Opts;

static void opts_free(Opts *o)
{
    g_free(o->sandbox);
    g_free(o->kernel);
    g_free(o->append);
    g_free(o->initrd);
    g_free(o->mem);
    g_free(o->serial);
    g_free(o->display);
    g_free(o->accel);
    g_free(o->bios);
    g_free(o->dbt_backend);
    g_free(o->debugcon);
    g_free(o->machine);
    g_strfreev(o->devices);
    g_free(o->screenshot);
    g_free(o->screenshot_text);
    g_free(o->screenshot_every);
    g_strfreev(o->drives);
    g_free(o->cdrom);
    g_free(o->boot);
    g_free(o->boot_order);
    for (int i = 0; i < MACHINE_IDE_DRIVES; i++) {
        g_free(o->hd[i]);
        g_free(o->drive_file[i]);
    }
}

/* What main allocated for the options: freed at exit, whichever return main takes, so every
 * early error path stays leak-free without a cleanup block each. */
static Opts *the_opts;
static char **the_argv_copy, **the_args;
typedef struct FlatLoad FlatLoad;
static FlatLoad *the_flat;
static void free_at_exit(void);

static volatile sig_atomic_t got_signal;
static Machine *the_machine;

static void on_signal(int sig)
{
    got_signal = sig;
    if (the_machine)
        the_machine->stop = STOP_SIGNAL;
}

/* "-m 512", "-m 512M", "-m 2G", "-m size=512M" (QEMU: bare numbers are MiB) */
static bool parse_mem(const char *s, uint64_t *out)
{
    if (!strncmp(s, "size=", 5))
        s += 5;
    char *end;
    errno = 0;
    double v = g_ascii_strtod(s, &end);
    if (errno || end == s || v <= 0)
        return false;
    uint64_t mul = 1ull << 20;
    if (*end) {
        switch (g_ascii_toupper(*end)) {
        case 'K': mul = 1ull << 10; break;
        case 'M': mul = 1ull << 20; break;
        case 'G': mul = 1ull << 30; break;
        case 'T': mul = 1ull << 40; break;
        default: return false;
        }
        end++;
        if (*end == 'B' || *end == 'b' || (*end == 'i' && end[1] == 'B' && end++))
            end++;
        if (*end)
            return false;
    }
    if (v * mul > (double)(1ull << 48))
        return false;
    *out = (uint64_t)(v * mul);
    return true;
}

static bool parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || end == s || *end)
        return false;
    *out = v;
    return true;
}

struct FlatLoad {
    const char *file;
    uint64_t addr;
    bool set_pc;
};

static void free_at_exit(void)
{
    if (the_opts)
        opts_free(the_opts);
    g_strfreev(the_argv_copy);
    g_free(the_args);
    if (the_flat)
        g_free((char *)the_flat->file);
}

/* -machine apic=on|off: the only property so far (QEMU's spelling of machine properties; the
 * machine type is always the PC). */
static bool parse_machine(const char *spec, MachineConfig *cfg, char *err, size_t len)
{
    gchar **kv = g_strsplit(spec, ",", -1);
    bool ok = true;
    for (int i = 0; kv[i] && ok; i++) {
        if (!strcmp(kv[i], "apic=on") || !strcmp(kv[i], "apic=off")) {
            cfg->no_apic = !strcmp(kv[i], "apic=off");
        } else {
            snprintf(err, len, "-machine %s: unsupported property '%s' (only apic=on|off)", spec,
                     kv[i]);
            ok = false;
        }
    }
    g_strfreev(kv);
    return ok;
}

/* -device: the ones dualvm always has are accepted as QEMU spells them; a generic loader
 * loads a raw file; anything else is an honest error. */
static bool handle_device(const char *spec, FlatLoad *flat, char *err, size_t len)
{
    gchar **kv = g_strsplit(spec, ",", -1);
    bool ok = true;
    if (!strcmp(kv[0], "isa-debug-exit")) {
        for (int i = 1; kv[i]; i++) {
            if (!strcmp(kv[i], "iobase=0xf4") || !strcmp(kv[i], "iosize=0x04") ||
                !strcmp(kv[i], "iosize=4") || !strcmp(kv[i], "iobase=244"))
                continue;
            snprintf(err, len,
                     "-device %s: only iobase=0xf4,iosize=0x04 is supported (it is always there)",
                     spec);
            ok = false;
            break;
        }
    } else if (!strcmp(kv[0], "loader")) {
        const char *file = NULL;
        uint64_t addr = 0;
        bool have_addr = false;
        for (int i = 1; kv[i] && ok; i++) {
            if (!strncmp(kv[i], "file=", 5))
                file = kv[i] + 5;
            else if (!strncmp(kv[i], "addr=", 5)) {
                have_addr = parse_u64(kv[i] + 5, &addr);
                if (!have_addr) {
                    snprintf(err, len, "-device loader: bad address '%s'", kv[i] + 5);
                    ok = false;
                }
            } else if (!strcmp(kv[i], "cpu-num=0"))
                flat->set_pc = true;
            else if (!strcmp(kv[i], "force-raw=on"))
                continue;
            else {
                snprintf(err, len, "-device loader: unsupported property '%s' (file=, addr=, "
                                   "cpu-num=0, force-raw=on)", kv[i]);
                ok = false;
            }
        }
        if (ok && (!file || !have_addr)) {
            snprintf(err, len, "-device loader: needs file=PATH and addr=ADDRESS");
            ok = false;
        }
        if (ok) {
            flat->file = g_strdup(file);
            flat->addr = addr;
        }
    } else {
        snprintf(err, len, "-device %s: unknown or not yet implemented device", kv[0]);
        ok = false;
    }
    g_strfreev(kv);
    return ok;
}

/* The VGA BIOS option ROM, as QEMU gives its std VGA. Only the default one: a missing default
 * is not an error (the guest runs without VGA BIOS), a bad file is. */
static bool load_vga_rom(Machine *m, const char *path, char *err, size_t len)
{
    if (!path)
        return true;
    gchar *data = NULL;
    gsize size = 0;
    GError *gerr = NULL;
    if (!g_file_get_contents(path, &data, &size, &gerr)) {
        bool missing = g_error_matches(gerr, G_FILE_ERROR, G_FILE_ERROR_NOENT);
        if (!missing)
            snprintf(err, len, "%s", gerr->message);
        g_error_free(gerr);
        return missing;
    }
    int rc = vga_pci_set_rom(pc_vga(m), data, size);
    if (rc)
        snprintf(err, len, "%s: cannot use as VGA BIOS (%s)", path, strerror(-rc));
    g_free(data);
    return rc == 0;
}

/* ---- storage: QEMU's -drive (if=ide, format=raw), -hda..-hdd, -cdrom, -snapshot, -boot ---- */

static const char *const ide_position[MACHINE_IDE_DRIVES] = {
    "primary master", "primary slave", "secondary master", "secondary slave"};

/* "a=b,c=d" split at single commas; ",," is a comma inside a value, as QEMU escapes it. */
static char **split_props(const char *spec)
{
    GPtrArray *a = g_ptr_array_new();
    GString *cur = g_string_new(NULL);
    for (const char *p = spec;; p++) {
        if (*p == ',' && p[1] == ',') {
            g_string_append_c(cur, ',');
            p++;
        } else if (*p == ',' || !*p) {
            g_ptr_array_add(a, g_string_free(cur, FALSE));
            if (!*p)
                break;
            cur = g_string_new(NULL);
        } else {
            g_string_append_c(cur, *p);
        }
    }
    g_ptr_array_add(a, NULL);
    return (char **)g_ptr_array_free(a, FALSE);
}

static bool parse_onoff(const char *v, bool *out)
{
    if (!strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "true")) {
        *out = true;
        return true;
    }
    if (!strcmp(v, "off") || !strcmp(v, "no") || !strcmp(v, "false")) {
        *out = false;
        return true;
    }
    return false;
}

/* Put a drive at IDE position index (-1: the first free one, as QEMU numbers them). */
static bool place_drive(MachineConfig *cfg, Opts *o, char *who[], int index,
                        DriveConfig dc, const char *file, const char *what, char *err, size_t len)
{
    if (index < 0) {
        for (int i = 0; i < MACHINE_IDE_DRIVES && index < 0; i++)
            if (!cfg->ide[i].present)
                index = i;
        if (index < 0) {
            snprintf(err, len, "%s: no free IDE position (four drives at most)", what);
            return false;
        }
    } else if (cfg->ide[index].present) {
        snprintf(err, len, "%s: IDE index %d (%s) is taken already by %s", what, index,
                 ide_position[index], who[index]);
        return false;
    }
    o->drive_file[index] = g_strdup(file);
    dc.file = o->drive_file[index];
    dc.present = true;
    cfg->ide[index] = dc;
    who[index] = g_strdup(what);
    return true;
}

/* One -drive. explicit_index selects the pass: drives with index=/bus=/unit= are placed
 * first, the others then take the free positions in order. */
static bool parse_drive(const char *spec, bool explicit_pass, MachineConfig *cfg, Opts *o,
                        char *who[], char *err, size_t len)
{
    char **kv = split_props(spec);
    DriveConfig dc = {0};
    const char *file = NULL;
    long index = -1, bus = -1, unit = -1;
    bool ok = true;
    for (int i = 0; kv[i] && ok; i++) {
        char *eq = strchr(kv[i], '=');
        if (!eq) {
            snprintf(err, len, "-drive %s: '%s' is not key=value", spec, kv[i]);
            ok = false;
            break;
        }
        *eq = 0;
        const char *k = kv[i], *v = eq + 1;
        char *end = NULL;
        if (!strcmp(k, "file")) {
            file = v;
        } else if (!strcmp(k, "format")) {
            if (strcmp(v, "raw")) {
                snprintf(err, len, "-drive %s: format=%s: only raw images are supported", spec, v);
                ok = false;
            }
        } else if (!strcmp(k, "if")) {
            if (strcmp(v, "ide")) {
                snprintf(err, len, "-drive %s: if=%s: only if=ide is supported", spec, v);
                ok = false;
            }
        } else if (!strcmp(k, "media")) {
            if (!strcmp(v, "cdrom") || !strcmp(v, "disk")) {
                dc.cdrom = !strcmp(v, "cdrom");
            } else {
                snprintf(err, len, "-drive %s: media=%s: use media=disk or media=cdrom", spec, v);
                ok = false;
            }
        } else if (!strcmp(k, "index") || !strcmp(k, "bus") || !strcmp(k, "unit")) {
            long n = strtol(v, &end, 10);
            long max = !strcmp(k, "index") ? MACHINE_IDE_DRIVES - 1 : 1;
            if (!*v || *end || n < 0 || n > max) {
                snprintf(err, len, "-drive %s: %s=%s: must be 0 to %ld", spec, k, v, max);
                ok = false;
            } else if (!strcmp(k, "index")) {
                index = n;
            } else if (!strcmp(k, "bus")) {
                bus = n;
            } else {
                unit = n;
            }
        } else if (!strcmp(k, "readonly") || !strcmp(k, "snapshot")) {
            bool on;
            if (!parse_onoff(v, &on)) {
                snprintf(err, len, "-drive %s: %s=%s: use on or off", spec, k, v);
                ok = false;
            } else if (!strcmp(k, "readonly")) {
                dc.readonly = on;
            } else {
                dc.snapshot = on;
            }
        } else if (!strcmp(k, "id")) {
            continue;
        } else {
            snprintf(err, len,
                     "-drive %s: unsupported property '%s' (file, format=raw, if=ide, "
                     "media=disk|cdrom, index, bus, unit, readonly, snapshot, id)",
                     spec, k);
            ok = false;
        }
    }
    if (ok && index >= 0 && (bus >= 0 || unit >= 0)) {
        snprintf(err, len, "-drive %s: give index= or bus=/unit=, not both", spec);
        ok = false;
    }
    if (ok && (bus >= 0 || unit >= 0))
        index = (bus < 0 ? 0 : bus) * 2 + (unit < 0 ? 0 : unit);
    if (ok && !file && !dc.cdrom) {
        snprintf(err, len, "-drive %s: a disk needs file=PATH (only a CD-ROM drive may be empty)",
                 spec);
        ok = false;
    }
    if (ok && (index >= 0) == explicit_pass) {
        if (o->snapshot)
            dc.snapshot = true;
        gchar *what = g_strdup_printf("-drive %s", spec);
        ok = place_drive(cfg, o, who, (int)index, dc, file, what, err, len);
        g_free(what);
    }
    g_strfreev(kv);
    return ok;
}

static bool parse_storage(Opts *o, MachineConfig *cfg, char *err, size_t len)
{
    static const char *const hd_opt[MACHINE_IDE_DRIVES] = {"-hda", "-hdb", "-hdc", "-hdd"};
    char *who[MACHINE_IDE_DRIVES] = {0}; /* what put a drive there, for clash messages */
    bool ok = true;
    for (int i = 0; i < MACHINE_IDE_DRIVES && ok; i++) {
        DriveConfig dc = {.snapshot = o->snapshot};
        if (o->hd[i])
            ok = place_drive(cfg, o, who, i, dc, o->hd[i], hd_opt[i], err, len);
    }
    if (ok && o->cdrom) { /* as QEMU: the secondary master */
        DriveConfig dc = {.cdrom = true};
        ok = place_drive(cfg, o, who, 2, dc, o->cdrom, "-cdrom", err, len);
    }
    for (int pass = 0; pass < 2 && ok; pass++)
        for (int i = 0; o->drives && o->drives[i] && ok; i++)
            ok = parse_drive(o->drives[i], pass == 0, cfg, o, who, err, len);
    for (int i = 0; i < MACHINE_IDE_DRIVES; i++)
        g_free(who[i]);
    if (!ok || !o->boot)
        return ok;
    /* -boot c, -boot order=dc,menu=on */
    if (!strchr(o->boot, '=')) {
        cfg->boot_order = o->boot;
        return true;
    }
    char **kv = split_props(o->boot);
    for (int i = 0; kv[i] && ok; i++) {
        if (!strncmp(kv[i], "order=", 6)) {
            g_free(o->boot_order);
            o->boot_order = g_strdup(kv[i] + 6);
            cfg->boot_order = o->boot_order;
        } else if (!strncmp(kv[i], "menu=", 5)) {
            bool on = false;
            if (!parse_onoff(kv[i] + 5, &on)) {
                snprintf(err, len, "-boot %s: menu=%s: use on or off", o->boot, kv[i] + 5);
                ok = false;
            }
            cfg->boot_menu = on;
        } else {
            snprintf(err, len, "-boot %s: unsupported property '%s' (order=, menu=on|off)",
                     o->boot, kv[i]);
            ok = false;
        }
    }
    g_strfreev(kv);
    return ok;
}

/* The display's hooks into the engine (ui/ knows no engine). */
static void kick_vcpu(void *opaque)
{
    Vcpu *v = opaque;
    v->ops->kick(v);
}

static uint64_t dbt_insn_count(void *opaque)
{
    Vcpu *v = opaque;
    return ((DbtCpu *)v->engine)->st.insns;
}

/* With a window, the vCPU runs on a thread of its own (ui/sdl.h). */
typedef struct VcpuRun {
    Vcpu *vcpu;
    StopReason why;
    const SandboxConfig *sandbox; /* NULL: -sandbox off */
    char sandbox_err[256];        /* set if the filter could not be installed */
} VcpuRun;

/* The run loop, under the seccomp filter unless -sandbox off (accel/sandbox.h): installed on
 * the thread that runs the vCPU, once everything is open, right before the loop. */
static void *filtered_loop(void *opaque)
{
    VcpuRun *r = opaque;
    if (r->sandbox && sandbox_install(r->sandbox, r->sandbox_err, sizeof(r->sandbox_err)) < 0)
        return NULL;
    r->why = vcpu_loop(r->vcpu);
    return NULL;
}

/* With a window, on the thread sdl_run() starts: the filtered loop gets a thread of its own,
 * so that this one's wake-up of the window when the loop ends (an X11/Wayland call) stays
 * outside the filter. */
static void run_vcpu(void *opaque)
{
    VcpuRun *r = opaque;
    pthread_t t;
    if (!r->sandbox) {
        filtered_loop(r);
    } else if (pthread_create(&t, NULL, filtered_loop, r)) {
        snprintf(r->sandbox_err, sizeof(r->sandbox_err), "cannot start the vCPU thread");
    } else {
        pthread_join(t, NULL);
    }
}

int main(int argc, char **argv)
{
    static Opts o; /* static: free_at_exit runs after main returns */
    the_opts = &o;
    atexit(free_at_exit);
    GOptionEntry entries[] = {
        {"kernel", 0, 0, G_OPTION_ARG_FILENAME, &o.kernel,
         "Kernel to boot: Linux bzImage or multiboot (ELF)", "FILE"},
        {"append", 0, 0, G_OPTION_ARG_STRING, &o.append, "Kernel command line", "STRING"},
        {"initrd", 0, 0, G_OPTION_ARG_FILENAME, &o.initrd,
         "Initial ramdisk of a Linux -kernel (initramfs cpio, compressed or not)", "FILE"},
        {"bios", 0, 0, G_OPTION_ARG_FILENAME, &o.bios,
         "Firmware image (default with no -kernel: " DEFAULT_BIOS ")", "FILE"},
        {"debugcon", 0, 0, G_OPTION_ARG_STRING, &o.debugcon,
         "Debug console on ports 0x402/0xe9 (SeaBIOS's log): stdio, file:PATH, none", "DEV"},
        {"m", 'm', 0, G_OPTION_ARG_STRING, &o.mem, "Guest RAM: 128M, 1G (default 128 MiB)", "SIZE"},
        {"serial", 0, 0, G_OPTION_ARG_STRING, &o.serial, "COM1 backend: stdio, file:PATH, none",
         "DEV"},
        {"nographic", 0, 0, G_OPTION_ARG_NONE, &o.nographic, "No display; serial on stdio", NULL},
        {"display", 0, 0, G_OPTION_ARG_STRING, &o.display,
         "Display: sdl (a window; default where one can open) or none", "TYPE"},
        {"accel", 0, 0, G_OPTION_ARG_STRING, &o.accel,
         "Engine: auto (default), kvm, dbt (tcg is an alias for dbt)", "NAME"},
        {"dbt-backend", 0, 0, G_OPTION_ARG_STRING, &o.dbt_backend,
         "Translator back end: jit (host code; default on x86-64 hosts), interp, or diff (each "
         "block under both, stopping with a report and status 6 where they disagree)",
         "NAME"},
        {"device", 0, 0, G_OPTION_ARG_STRING_ARRAY, &o.devices,
         "isa-debug-exit,iobase=0xf4,iosize=0x04 (built in) or loader,file=F,addr=A[,cpu-num=0]",
         "SPEC"},
        {"machine", 0, 0, G_OPTION_ARG_STRING, &o.machine,
         "Machine properties: apic=off (no local APIC nor IOAPIC: the 8259 alone)", "PROPS"},
        {"no-reboot", 0, 0, G_OPTION_ARG_NONE, &o.no_reboot, "Exit instead of rebooting", NULL},
        {"stats", 0, 0, G_OPTION_ARG_NONE, &o.stats, "Print engine counters on exit", NULL},
        {"screenshot", 0, 0, G_OPTION_ARG_FILENAME, &o.screenshot,
         "When the run ends, save the screen as a PNG", "FILE.png"},
        {"screenshot-text", 0, 0, G_OPTION_ARG_FILENAME, &o.screenshot_text,
         "When the run ends, save a text-mode screen as UTF-8 (empty in graphics modes)", "FILE"},
        {"screenshot-every", 0, 0, G_OPTION_ARG_STRING, &o.screenshot_every,
         "Also write -screenshot/-screenshot-text every SECONDS of guest time while it runs",
         "SECONDS"},
        {"drive", 0, 0, G_OPTION_ARG_STRING_ARRAY, &o.drives,
         "IDE drive: file=PATH,format=raw,if=ide,media=disk|cdrom[,index=0-3][,readonly=on]"
         "[,snapshot=on]",
         "SPEC"},
        {"hda", 0, 0, G_OPTION_ARG_FILENAME, &o.hd[0], "Raw disk image, primary master", "FILE"},
        {"hdb", 0, 0, G_OPTION_ARG_FILENAME, &o.hd[1], "Raw disk image, primary slave", "FILE"},
        {"hdc", 0, 0, G_OPTION_ARG_FILENAME, &o.hd[2], "Raw disk image, secondary master", "FILE"},
        {"hdd", 0, 0, G_OPTION_ARG_FILENAME, &o.hd[3], "Raw disk image, secondary slave", "FILE"},
        {"cdrom", 0, 0, G_OPTION_ARG_FILENAME, &o.cdrom, "CD-ROM image (secondary master)", "FILE"},
        {"snapshot", 0, 0, G_OPTION_ARG_NONE, &o.snapshot,
         "Keep every disk write in memory: the images stay as they are", NULL},
        {"boot", 0, 0, G_OPTION_ARG_STRING, &o.boot,
         "Boot order: c (disk), d (CD-ROM), order=dc, menu=on", "ORDER"},
        {"sandbox", 0, 0, G_OPTION_ARG_STRING, &o.sandbox,
         "Run the vCPU and devices under a seccomp filter: on (default) or off", "on|off"},
        {"version", 0, 0, G_OPTION_ARG_NONE, &o.version, "Print the version and exit", NULL},
        {NULL},
    };

    /* QEMU spells long options with one dash; GOption wants two. "-m" stays short. */
    char **args = g_new0(char *, argc + 1);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (i > 0 && a[0] == '-' && a[1] && a[1] != '-' && a[2])
            args[i] = g_strconcat("-", a, NULL);
        else
            args[i] = g_strdup(a);
        if (i > 0 && (!strcmp(a, "-append") || !strcmp(a, "--append")) && i + 1 < argc) {
            /* the value may start with a dash: keep it as it is */
            args[i + 1] = g_strdup(argv[i + 1]);
            i++;
        }
    }
    int nargs = argc;
    char **argv_for_free = g_memdup2(args, sizeof(char *) * (argc + 1));
    the_argv_copy = argv_for_free;
    the_args = args;

    GOptionContext *ctx = g_option_context_new("- x86 PC emulator: KVM where it can, binary translation everywhere");
    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_set_description(ctx, help_tail);
    GError *gerr = NULL;
    if (!g_option_context_parse(ctx, &nargs, &args, &gerr)) {
        fprintf(stderr, "dualvm: %s (try --help)\n", gerr->message);
        g_error_free(gerr);
        g_option_context_free(ctx);
        return EXIT_USAGE;
    }
    g_option_context_free(ctx);
    if (nargs > 1) {
        fprintf(stderr, "dualvm: unexpected argument '%s' (try --help)\n", args[1]);
        return EXIT_USAGE;
    }
    if (o.version) {
        printf("dualvm %s\n", DUALVM_VERSION);
        return EXIT_OK;
    }

    MachineConfig cfg = {.ram_size = 128ull << 20, .serial = "stdio"};
    if (o.mem && !parse_mem(o.mem, &cfg.ram_size)) {
        fprintf(stderr, "dualvm: -m %s: not a memory size (examples: 256, 512M, 2G)\n", o.mem);
        return EXIT_USAGE;
    }
    if (o.serial)
        cfg.serial = o.serial;
    cfg.no_reboot = o.no_reboot;
    if (o.nographic && o.display && strcmp(o.display, "none")) {
        fprintf(stderr, "dualvm: -nographic and -display %s contradict each other\n", o.display);
        return EXIT_USAGE;
    }
    /* sdl: a window, or an error if none opens; auto: a window where one can open */
    enum { DISPLAY_OFF, DISPLAY_SDL, DISPLAY_AUTO } display = DISPLAY_AUTO;
    if (o.nographic || (o.display && !strcmp(o.display, "none")))
        display = DISPLAY_OFF;
    else if (o.display && !strcmp(o.display, "sdl"))
        display = DISPLAY_SDL;
    else if (o.display) {
        fprintf(stderr, "dualvm: -display %s: unknown display (use sdl or none)\n", o.display);
        return EXIT_USAGE;
    }
    int64_t shot_every_ns = 0;
    if (o.screenshot_every) {
        char *end;
        double sec = g_ascii_strtod(o.screenshot_every, &end);
        if (end == o.screenshot_every || *end || !(sec >= 0.01 && sec <= 1e6)) {
            fprintf(stderr, "dualvm: -screenshot-every %s: not a number of seconds from 0.01 on\n",
                    o.screenshot_every);
            return EXIT_USAGE;
        }
        if (!o.screenshot && !o.screenshot_text) {
            fprintf(stderr, "dualvm: -screenshot-every needs -screenshot FILE.png or "
                            "-screenshot-text FILE\n");
            return EXIT_USAGE;
        }
        shot_every_ns = (int64_t)(sec * 1e9);
    }
    /* -kernel: a Linux bzImage (setup header magic "HdrS" at 0x202) or a multiboot kernel */
    bool linux_kernel = o.kernel && linux_is_bzimage(o.kernel);
    /* (a kernel that cannot be read is the loader's to report) */
    if (o.initrd && !linux_kernel && (!o.kernel || g_file_test(o.kernel, G_FILE_TEST_IS_REGULAR))) {
        fprintf(stderr, "dualvm: -initrd needs a Linux bzImage as -kernel (multiboot modules are "
                        "not implemented)\n");
        return EXIT_USAGE;
    }
    bool sandbox = sandbox_supported(); /* on by default where there is one */
    if (o.sandbox && strcmp(o.sandbox, "on") && strcmp(o.sandbox, "off")) {
        fprintf(stderr, "dualvm: -sandbox %s: use on or off\n", o.sandbox);
        return EXIT_USAGE;
    }
    if (o.sandbox)
        sandbox = !strcmp(o.sandbox, "on");
    if (o.debugcon)
        cfg.debugcon = o.debugcon;
    char err[512] = "";
    if (o.machine && !parse_machine(o.machine, &cfg, err, sizeof(err))) {
        fprintf(stderr, "dualvm: %s\n", err);
        return EXIT_USAGE;
    }
    if (!parse_storage(&o, &cfg, err, sizeof(err))) {
        fprintf(stderr, "dualvm: %s\n", err);
        return EXIT_USAGE;
    }
    static FlatLoad flat;
    the_flat = &flat;
    for (int i = 0; o.devices && o.devices[i]; i++) {
        if (!handle_device(o.devices[i], &flat, err, sizeof(err))) {
            fprintf(stderr, "dualvm: %s\n", err);
            return EXIT_USAGE;
        }
    }
    /* as QEMU: no kernel given means the machine boots its firmware */
    const char *bios = o.bios;
    if (!o.kernel && !flat.set_pc && !bios)
        bios = DEFAULT_BIOS;
    if (bios && (o.kernel || flat.set_pc)) {
        fprintf(stderr, "dualvm: -bios with -kernel or a loader entry point: booting a kernel "
                        "through the firmware is not implemented yet\n");
        return EXIT_USAGE;
    }
    if (o.kernel && flat.set_pc) {
        fprintf(stderr, "dualvm: -kernel and -device loader,cpu-num=0 both set the entry point\n");
        return EXIT_USAGE;
    }
    if (o.append && !o.kernel) {
        fprintf(stderr, "dualvm: -append needs -kernel\n");
        return EXIT_USAGE;
    }

    if (o.dbt_backend) {
        int be = dbt_backend_parse(o.dbt_backend);
        if (be < 0 || !dbt_backend_available(be)) {
            fprintf(stderr, "dualvm: -dbt-backend %s: %s\n", o.dbt_backend,
                    be < 0 ? "unknown back end (use jit, interp or diff)"
                           : "no host-code back end for this host (use interp)");
            return EXIT_USAGE;
        }
        dbt_set_default_backend(be);
    }

    const AccelOps *ops = accel_select(o.accel ? o.accel : "auto", err, sizeof(err));
    if (!ops) {
        fprintf(stderr, "dualvm: %s\n", err);
        return EXIT_USAGE;
    }
    bool say_engine = !o.accel || !strcmp(o.accel, "auto");
    char engine_line[512];
    snprintf(engine_line, sizeof(engine_line), "%s", err);

    Machine *m = pc_new(&cfg, err, sizeof(err));
    if (!m) {
        fprintf(stderr, "dualvm: %s\n", err);
        return EXIT_USAGE;
    }

    CpuState cpu;
    cpu_reset(&cpu);
    int rc = 0;
    if (bios) {
        rc = load_bios(m->as, bios, err, sizeof(err));
        m->has_firmware = rc == 0;
        if (!rc && o.nographic)
            fw_cfg_add_i16(pc_fw_cfg(m), FW_CFG_NOGRAPHIC, 1); /* SeaBIOS: serial console */
        if (!rc && !load_vga_rom(m, o.bios ? NULL : DEFAULT_VGABIOS, err, sizeof(err)))
            rc = -1;
    }
    if (!rc && linux_kernel) {
        /* what firmware would have told the kernel: the memory map and the ACPI tables */
        E820Entry e820[PC_E820_MAX];
        LinuxBoot lb = {.kernel = o.kernel,
                        .initrd = o.initrd,
                        .cmdline = o.append,
                        .e820 = e820,
                        .e820_count = pc_e820(m, e820, PC_E820_MAX),
                        .long_mode = ops == &accel_kvm_ops};
        rc = pc_write_acpi_tables(m, &lb.acpi_rsdp, err, sizeof(err));
        if (!rc)
            rc = load_linux(m->as, m->ram_size, &cpu, &lb, NULL, err, sizeof(err));
    } else if (!rc && o.kernel) {
        rc = load_multiboot(m->as, m->ram_size, &cpu, o.kernel, o.append, err, sizeof(err));
    }
    if (!rc && flat.file)
        rc = load_flat(m->as, m->ram_size, &cpu, flat.file, flat.addr,
                       flat.set_pc ? flat.addr : (o.kernel ? cpu.rip : LOADER_ENTRY_DEFAULT),
                       err, sizeof(err));
    if (!rc && !bios) /* no firmware to describe the APICs: the board's MP table does */
        rc = pc_write_mp_table(m, err, sizeof(err));
    if (rc) {
        fprintf(stderr, "dualvm: %s\n", err);
        pc_free(m);
        return EXIT_USAGE;
    }

    Vcpu vcpu = {.machine = m, .ops = ops};
    if (ops->init(&vcpu)) {
        fprintf(stderr, "dualvm: %s\n", vcpu.error);
        pc_free(m);
        return EXIT_USAGE;
    }
    ops->set_state(&vcpu, &cpu);

    /* The window, if there is to be one: SDL's video is initialised only here, never for
     * -display none or -nographic. */
    bool use_sdl = false;
    char display_note[600] = "";
    if (display != DISPLAY_OFF) {
        const char *x11 = getenv("DISPLAY"), *wl = getenv("WAYLAND_DISPLAY");
        if (display == DISPLAY_AUTO && !(x11 && *x11) && !(wl && *wl))
            snprintf(display_note, sizeof(display_note),
                     "no window: DISPLAY and WAYLAND_DISPLAY are not set; running as -display none");
        else if (!sdl_init(err, sizeof(err)))
            use_sdl = true;
        else if (display == DISPLAY_SDL) {
            fprintf(stderr, "dualvm: -display sdl: cannot open a window (%s)\n", err);
            ops->destroy(&vcpu);
            pc_free(m);
            return EXIT_USAGE;
        } else
            snprintf(display_note, sizeof(display_note),
                     "no window (%s); running as -display none", err);
    }
    Display *ui = NULL;
    if (use_sdl || shot_every_ns) {
        ui = display_new(m, pc_vga(m), pc_i8042(m), use_sdl);
        display_set_kick(ui, kick_vcpu, &vcpu);
        if (ops == &accel_dbt_ops)
            display_set_insn_counter(ui, dbt_insn_count, &vcpu);
        if (shot_every_ns)
            display_set_screenshots(ui, o.screenshot, o.screenshot_text, shot_every_ns);
    }

    /* said once everything is in place, so that an error above stays the only line */
    if (say_engine)
        fprintf(stderr, "dualvm: %s\n", engine_line);
    if (display_note[0])
        fprintf(stderr, "dualvm: %s\n", display_note);

    the_machine = m;
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* a closed stdout pipe must not kill the run; the serial backend sees EPIPE instead */
    signal(SIGPIPE, SIG_IGN);

    StopReason why = STOP_NONE;
    /* screenshots are files made during or right after the run */
    SandboxConfig sandbox_cfg = {.files = o.screenshot || o.screenshot_text};
    VcpuRun run = {&vcpu, STOP_NONE, sandbox ? &sandbox_cfg : NULL, ""};
    if (use_sdl && sdl_run(ui, pc_vga(m), ops->name, run_vcpu, &run, err, sizeof(err))) {
        if (display == DISPLAY_SDL) {
            fprintf(stderr, "dualvm: -display sdl: %s\n", err);
            display_free(ui);
            ops->destroy(&vcpu);
            pc_free(m);
            return EXIT_USAGE;
        }
        fprintf(stderr, "dualvm: no window (%s); running as -display none\n", err);
        use_sdl = false;
    } else if (use_sdl) {
        why = run.why;
    }
    if (!use_sdl) {
        filtered_loop(&run); /* this thread, the only one, goes under the filter */
        why = run.why;
    }
    display_free(ui); /* the vCPU thread has ended: the machine is this thread's again */
    if (run.sandbox_err[0]) {
        fprintf(stderr, "dualvm: -sandbox on: %s\n", run.sandbox_err);
        ops->destroy(&vcpu);
        pc_free(m);
        return EXIT_INTERNAL;
    }
    int status;
    switch (why) {
    case STOP_EXIT_DEVICE:
        status = m->exit_status;
        break;
    case STOP_ERROR:
    case STOP_HALTED:
        fprintf(stderr, "dualvm: %s\n", m->stop_msg);
        status = EXIT_GUEST;
        break;
    case STOP_DIFF:
        fprintf(stderr, "dualvm: %s\n", m->stop_msg);
        status = EXIT_DIFF;
        break;
    case STOP_SIGNAL:
        if (m->stop_msg[0])
            fprintf(stderr, "dualvm: %s\n", m->stop_msg);
        else
            fprintf(stderr, "dualvm: terminated by signal %d\n", (int)got_signal);
        status = EXIT_OK;
        break;
    default:
        if (m->stop_msg[0])
            fprintf(stderr, "dualvm: %s\n", m->stop_msg);
        status = m->exit_status;
        break;
    }
    if (o.stats && ops->print_stats)
        ops->print_stats(&vcpu, stderr);
    if ((o.screenshot || o.screenshot_text) &&
        screenshot_save(pc_vga(m), o.screenshot, o.screenshot_text, err, sizeof(err))) {
        fprintf(stderr, "dualvm: %s\n", err);
        status = EXIT_GUEST;
    }
    ops->destroy(&vcpu);
    pc_free(m);
    return status;
}
