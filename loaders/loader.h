/* loaders/loader.h: putting a guest image into guest memory and setting the first CPU state.
 *
 * Contract of every loader here:
 * - Everything taken from the file (offsets, sizes, addresses, counts) is checked, overflow
 *   included, before a byte of guest memory is written; any file, however malformed, gives an
 *   error and never a crash. Guest memory is left untouched on error, except after an I/O error
 *   in the middle of copying.
 * - Data lands only in MEM_RAM regions of the address space, never in ROM, MMIO or unmapped
 *   space, and below 4 GiB (the images here start in 32-bit mode with paging off).
 * - Success: returns 0 and sets the CPU state the boot protocol promises. The CpuState should
 *   come from cpu_reset(); only what the protocol defines is changed.
 * - Failure: returns a negative errno and writes one line to err naming the file and the reason,
 *   e.g. "kernel.elf: segment 1 at 0xa0000-0xa1000 overlaps the ROM/device hole". Nothing is
 *   printed and nothing exits; the caller decides.
 *     -errno       the file could not be opened or read (-ENOENT, -EISDIR, -EIO, ...)
 *     -ENOEXEC     not a loadable image of that kind: bad magic, header, checksum, truncation
 *     -ENOTSUP     a valid image needing what we do not provide (ELF64, multiboot flags)
 *     -ERANGE      the image does not fit: outside RAM, over the ROM/device hole, above 4 GiB,
 *                  over the boot information the loader must place
 */
#ifndef DUALVM_LOADERS_LOADER_H
#define DUALVM_LOADERS_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cpu/cpu.h"
#include "hw/fw_cfg.h" /* E820Entry */
#include "hw/memory.h"

/* Multiboot v1 kernel (ELF32 i386, or any file whose header carries the a.out-kludge load
 * addresses, flag bit 16). The boot information (memory sizes, e820-style memory map, command
 * line "path cmdline" as QEMU passes it, boot loader name "dualvm") and a flat GDT (null, code
 * 0x08, data 0x10) are placed at MULTIBOOT_INFO_ADDR. CPU: flat 32-bit protected mode, paging
 * off, EIP = entry, EAX = 0x2BADB002, EBX = info address, other GPRs 0, EFLAGS = 0x2.
 * ram_size is only used to word messages; cmdline may be NULL. */
int load_multiboot(AddressSpace *as, uint64_t ram_size, CpuState *cpu, const char *path,
                   const char *cmdline, char *err, size_t errlen);

/* Raw binary loaded whole at addr. CPU: flat 32-bit protected mode, paging off,
 * EIP = entry (LOADER_ENTRY_DEFAULT: addr); GPRs are left as the caller set them. A flat GDT
 * like the multiboot one is placed at LOADER_FLAT_GDT_ADDR unless the image covers that spot,
 * in which case the image is taken to bring its own and GDTR is left alone. */
#define LOADER_ENTRY_DEFAULT UINT64_MAX
int load_flat(AddressSpace *as, uint64_t ram_size, CpuState *cpu, const char *path, uint64_t addr,
              uint64_t entry, char *err, size_t errlen);

/* PC firmware (SeaBIOS's bios.bin, bios-256k.bin): the whole image goes at 4 GiB - size, which
 * must be ROM (the board's flash; the reset vector 0xfffffff0 is in its last 16 bytes). The
 * size must be a multiple of 64 KiB (-ENOEXEC) and at most FIRMWARE_MAX_SIZE (-ERANGE). The
 * PC board shows the flash's last 128 KiB at 0xE0000-0xFFFFF too (the PAM area's ROM), so
 * nothing else is loaded. Unlike the other loaders this writes ROM, not RAM, and leaves the CPU
 * state alone: cpu_reset() is the state firmware starts from. */
#define FIRMWARE_ALIGN (64u * 1024)
#define FIRMWARE_MAX_SIZE (256u * 1024)
int load_bios(AddressSpace *as, const char *path, char *err, size_t errlen);

/* Linux kernel (bzImage), booted without firmware through the x86 boot protocol
 * (Documentation/arch/x86/boot.rst), protocol 2.02 or newer. The setup header is checked
 * (magic "HdrS", boot flag, protocol version, bzImage, sizes against the file, the build's
 * CRC-32 where the image is unsigned), the protected-mode kernel is loaded at 1 MiB, the
 * initrd (checked: cpio archives walked entry by entry, compressed data or a file-system
 * image) page aligned as high as initrd_addr_max allows below the top of the RAM that runs on
 * from 1 MiB, and boot_params at LINUX_BOOT_PARAMS_ADDR gets the setup header, type_of_loader
 * 0xff, the command line (at LINUX_CMDLINE_ADDR), the initrd, the e820 map and (protocol
 * 2.14+) the ACPI RSDP address. CPU, 32-bit entry: flat protected mode, paging off, CS 0x10,
 * DS/ES/SS/FS/GS 0x18 (a GDT at LOADER_FLAT_GDT_ADDR), EIP 1 MiB, ESI = boot_params, other GPRs
 * 0, interrupts off. With long_mode, an x86-64 kernel (xloadflags bit 0) is entered at its
 * 64-bit entry (1 MiB + 0x200) in long mode: CS 0x10 with L set, EFER.LME|LMA, CR4.PAE, CR0.PG,
 * CR3 an identity map of the first 4 GiB in 2 MiB pages at 0x1000-0x6fff. Without long_mode an
 * x86-64 kernel is refused (-ENOTSUP). Memory the kernel unpacks itself into (pref_address +
 * init_size) must be RAM. */
#define LINUX_BOOT_PARAMS_ADDR 0x10000u
#define LINUX_CMDLINE_ADDR 0x20000u
#define LINUX_CMDLINE_MAX 0x10000u /* with its NUL */

typedef struct LinuxBoot {
    const char *kernel;    /* bzImage */
    const char *initrd;    /* NULL: none */
    const char *cmdline;   /* NULL: empty */
    const E820Entry *e820; /* the machine's memory map as a BIOS reports it (at most 128) */
    size_t e820_count;
    uint64_t acpi_rsdp; /* 0: none */
    bool long_mode;     /* the engine can start the CPU in long mode */
} LinuxBoot;

typedef struct LinuxBootInfo {
    uint16_t version; /* boot protocol, 0x020f = 2.15 */
    bool entry64;     /* entered at the 64-bit entry point */
    uint64_t kernel_addr, kernel_size, initrd_addr, initrd_size;
} LinuxBootInfo;

/* True when path is a readable file with the setup header magic "HdrS" at 0x202. */
bool linux_is_bzimage(const char *path);

/* info may be NULL. */
int load_linux(AddressSpace *as, uint64_t ram_size, CpuState *cpu, const LinuxBoot *lb,
               LinuxBootInfo *info, char *err, size_t errlen);

#define MULTIBOOT_BOOTLOADER_MAGIC 0x2BADB002u
#define MULTIBOOT_INFO_ADDR 0x9000u
/* Just above the BIOS data area: free in the conventional PC layout and below where real-mode
 * boot code (0x7c00) and kernels (1 MiB) go. */
#define LOADER_FLAT_GDT_ADDR 0x500u

/* Helpers shared by the loaders (the Linux and firmware ones too) ------------------------------ */

/* err = "path: <fmt>". Returns rc so callers can `return loader_err(...)`. */
int loader_err(int rc, char *err, size_t errlen, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Open a regular file for reading; on success *size is its length. Returns the fd or a
 * negative errno with err set ("path: No such file or directory"). */
int loader_open(const char *path, uint64_t *size, char *err, size_t errlen);

/* Read exactly len bytes at file offset off (retrying short reads and EINTR). Returns 0,
 * a negative errno, or -EIO if the file ends first. */
int loader_pread(int fd, void *buf, size_t len, uint64_t off);

/* Check that [gpa, gpa+len) is all RAM and below 4 GiB. what names the piece in the message
 * ("segment 1", "image"). Returns 0 or -ERANGE with err set. */
int loader_check_ram(AddressSpace *as, uint64_t ram_size, uint64_t gpa, uint64_t len,
                     const char *path, const char *what, char *err, size_t errlen);

/* Copy len bytes at file offset off into guest memory at gpa (checked RAM), then zero
 * zero_len more bytes after them. Returns 0 or a negative errno with err set. */
int loader_copy(AddressSpace *as, int fd, uint64_t off, uint64_t gpa, uint64_t len,
                uint64_t zero_len, const char *path, char *err, size_t errlen);

/* Write the 3-entry flat GDT at gpa (24 bytes, checked RAM) and point cpu->gdt at it. */
int loader_put_gdt(AddressSpace *as, CpuState *cpu, uint64_t gpa);

#endif
