/* hw/apic.h: the local APIC of the one CPU (xAPIC, Intel SDM vol. 3 ch. 10), with what a PC
 * wires to it: the 8259's INTR on LINT0, the IOAPIC's messages, the level-triggered EOI going
 * back to the IOAPIC.
 *
 * Registers: 4 KiB of MMIO at IA32_APIC_BASE (0xFEE00000 at reset), each register 32 bits at a
 * 16-byte aligned offset (APIC_* below). Other access sizes: a narrower read gives the
 * register's bytes, a wider one zeros above the register; narrower or misaligned writes are
 * ignored. Reserved offsets read 0, and set ESR "illegal register address".
 *   ID, version 0x00050014 (integrated APIC, max LVT entry 5: no CMCI), TPR, APR, PPR, EOI,
 *   LDR, DFR (flat and cluster models), SVR (vector, software enable, focus checking; no EOI
 *   broadcast suppression), ISR/TMR/IRR (read-only banks), ESR (errors accumulate inside and
 *   show from the last write: write, then read), ICR low/high, LVT timer, thermal,
 *   performance counter, LINT0, LINT1, error, timer initial/current count, divide configuration.
 *
 * Interrupt acceptance as the SDM: a fixed interrupt sets its IRR bit (vectors 0-15 are
 * refused with ESR "received illegal vector") and its TMR bit for level-triggered ones; the
 * CPU is offered the highest IRR vector whose priority class (vector >> 4) is above PPR's;
 * the acknowledge moves it to ISR; EOI clears the highest ISR bit and, for a level-triggered
 * vector (TMR set), tells the board (board->eoi: the IOAPIC clears its Remote IRR). A
 * software-disabled APIC keeps IRR/ISR but offers nothing from them; an acknowledge that finds
 * nothing left above PPR returns the spurious vector (SVR[7:0]) without touching ISR.
 *
 * The 8259 (virtual wire mode): LINT0 in ExtINT mode, unmasked, passes the PIC's INTR to the
 * CPU, whose acknowledge then runs the PIC's (board->pic_ack) and takes its vector, ahead of
 * IRR and whatever TPR says (ExtINT ignores priorities). With the APIC globally disabled
 * (IA32_APIC_BASE.EN clear) or software-disabled (SVR bit 8 clear, its state after reset),
 * LINT0 is the plain INTR pin: the PIC reaches the CPU directly. An IOAPIC ExtINT message
 * does the same for one PIC interrupt. LINT0/LINT1 in fixed mode raise their vector (LINT0
 * level-triggered with the LVT's Remote IRR until EOI); in NMI mode (LINT1's usual setting)
 * they call board->nmi.
 *
 * The timer counts at APIC_BUS_HZ (1 GHz, as QEMU and KVM) divided by the divide
 * configuration; one-shot and periodic modes (no TSC-deadline mode: CPUID does not offer it).
 * The current count is computed from virtual time when read; one virtual-clock timer is armed
 * for the next expiry, and a periodic timer that fell behind catches up without firing for
 * every missed period (they would merge in IRR anyway). Periodic periods under
 * APIC_TIMER_MIN_PERIOD_NS are stretched to it (KVM does likewise) so a tiny count cannot
 * starve the guest.
 *
 * ICR: with one CPU the targets are this APIC or none. Fixed and lowest-priority messages to
 * self (shorthand self or all-including-self, or a destination that matches ID/LDR/DFR or is
 * the broadcast 0xFF) set IRR; NMI calls board->nmi; INIT, SIPI and SMI are dropped (there is
 * no other CPU to start; INIT to self would reset this CPU, not modelled). Delivery is
 * immediate: the delivery status bit reads 0.
 *
 * IA32_APIC_BASE: apic_get_base/apic_set_base for the engines' RDMSR/WRMSR (through the
 * Machine's apic_base_get/apic_base_set). Clearing EN unmaps the registers and puts the APIC
 * back to its reset state (SDM 10.4.3); setting it maps them at the base, which may move.
 * No x2APIC.
 */
#ifndef DUALVM_HW_APIC_H
#define DUALVM_HW_APIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hw/clock.h"
#include "hw/irq.h"
#include "hw/memory.h"

#define APIC_DEFAULT_BASE 0xfee00000ull
#define APIC_MMIO_SIZE 0x1000ull
#define APIC_BUS_HZ 1000000000ll          /* timer input before the divider */
#define APIC_TIMER_MIN_PERIOD_NS 100000ll /* 100 us: 10 kHz at most, periodic mode */
#define APIC_VERSION_VALUE 0x00050014u    /* version 0x14, max LVT entry 5 */

/* IA32_APIC_BASE (MSR 0x1b) */
#define MSR_IA32_APIC_BASE 0x1b
#define APIC_BASE_BSP (1ull << 8)
#define APIC_BASE_EXTD (1ull << 10) /* x2APIC mode: not offered, writing it is refused */
#define APIC_BASE_EN (1ull << 11)
#define APIC_BASE_ADDR_MASK 0x0000000ffffff000ull /* 36-bit physical addresses */

/* Register offsets */
#define APIC_ID 0x020
#define APIC_VERSION 0x030
#define APIC_TPR 0x080
#define APIC_APR 0x090
#define APIC_PPR 0x0a0
#define APIC_EOI 0x0b0
#define APIC_RRD 0x0c0
#define APIC_LDR 0x0d0
#define APIC_DFR 0x0e0
#define APIC_SVR 0x0f0
#define APIC_ISR 0x100 /* eight registers, 0x100-0x170: vectors 32*i .. 32*i+31 */
#define APIC_TMR 0x180
#define APIC_IRR 0x200
#define APIC_ESR 0x280
#define APIC_LVT_CMCI 0x2f0 /* not present (max LVT entry 5) */
#define APIC_ICR_LO 0x300
#define APIC_ICR_HI 0x310
#define APIC_LVT_TIMER 0x320
#define APIC_LVT_THERMAL 0x330
#define APIC_LVT_PERF 0x340
#define APIC_LVT_LINT0 0x350
#define APIC_LVT_LINT1 0x360
#define APIC_LVT_ERROR 0x370
#define APIC_TIMER_ICR 0x380 /* initial count */
#define APIC_TIMER_CCR 0x390 /* current count */
#define APIC_TIMER_DCR 0x3e0 /* divide configuration */

/* ID, LDR, DFR */
#define APIC_ID_SHIFT 24
#define APIC_LDR_SHIFT 24
#define APIC_DFR_MODEL_MASK 0xf0000000u
#define APIC_DFR_FLAT 0xf0000000u
#define APIC_DFR_CLUSTER 0x00000000u
#define APIC_DFR_RESERVED 0x0fffffffu /* read as ones */

/* SVR */
#define APIC_SVR_VECTOR 0x000000ffu
#define APIC_SVR_ENABLE 0x00000100u
#define APIC_SVR_FOCUS_DISABLE 0x00000200u

/* ESR */
#define APIC_ESR_SEND_CS 0x01
#define APIC_ESR_RECV_CS 0x02
#define APIC_ESR_SEND_ACCEPT 0x04
#define APIC_ESR_RECV_ACCEPT 0x08
#define APIC_ESR_SEND_ILLEGAL 0x20
#define APIC_ESR_RECV_ILLEGAL 0x40
#define APIC_ESR_ILLEGAL_REG 0x80

/* LVT entries and ICR low */
#define APIC_VECTOR_MASK 0x000000ffu
#define APIC_DM_MASK 0x00000700u
#define APIC_DM_SHIFT 8
#define APIC_DM_FIXED 0
#define APIC_DM_LOWEST 1
#define APIC_DM_SMI 2
#define APIC_DM_NMI 4
#define APIC_DM_INIT 5
#define APIC_DM_STARTUP 6
#define APIC_DM_EXTINT 7
#define APIC_DEST_LOGICAL 0x00000800u /* ICR: destination mode */
#define APIC_DELIVERY_PENDING 0x00001000u
#define APIC_LVT_POLARITY_LOW 0x00002000u
#define APIC_LVT_REMOTE_IRR 0x00004000u
#define APIC_ICR_LEVEL_ASSERT 0x00004000u
#define APIC_LVT_LEVEL 0x00008000u /* trigger mode: level (also ICR) */
#define APIC_LVT_MASKED 0x00010000u
#define APIC_LVT_TIMER_PERIODIC 0x00020000u
#define APIC_LVT_TIMER_TSC_DEADLINE 0x00040000u /* not offered: reserved */
#define APIC_ICR_SHORTHAND_MASK 0x000c0000u
#define APIC_ICR_SHORTHAND_SHIFT 18
#define APIC_SH_NONE 0
#define APIC_SH_SELF 1
#define APIC_SH_ALL 2 /* all including self */
#define APIC_SH_OTHERS 3
#define APIC_ICR_DEST_SHIFT 24 /* in ICR high */

/* The LVT, in register order */
enum {
    APIC_LVT_N_TIMER,
    APIC_LVT_N_THERMAL,
    APIC_LVT_N_PERF,
    APIC_LVT_N_LINT0,
    APIC_LVT_N_LINT1,
    APIC_LVT_N_ERROR,
    APIC_LVT_COUNT
};

/* Divide configuration: bits 0, 1 and 3 */
#define APIC_DCR_MASK 0x0000000bu

/* An interrupt message on the APIC bus (from the IOAPIC, or an IPI). */
typedef struct ApicMsg {
    uint8_t vector;
    uint8_t delivery_mode; /* APIC_DM_* */
    bool logical;          /* destination mode */
    bool level;            /* trigger mode: level */
    uint8_t dest;          /* APIC ID (physical), or logical destination; 0xff = all */
} ApicMsg;

/* What the board connects; every callback may be NULL (unconnected). */
typedef struct ApicBoard {
    /* The 8259's INTR output and its acknowledge cycle (the vector it gives). The board also
     * drives LINT0 (apic_set_lint) with every change of that output: the APIC's own output
     * is recomputed then. */
    bool (*pic_pending)(void *opaque);
    int (*pic_ack)(void *opaque);
    /* The APIC's output to the CPU changed (either way): wake or kick the vCPU */
    void (*intr_changed)(void *opaque);
    /* An NMI for the CPU (LINT1/LINT0 in NMI mode, an NMI message) */
    void (*nmi)(void *opaque);
    /* EOI of a level-triggered vector: the IOAPIC clears its Remote IRR */
    void (*eoi)(void *opaque, uint8_t vector);
    /* The MMIO window moved or went (relocation, global disable): the engines' view of
     * [gpa, gpa+len) is stale */
    void (*mem_changed)(void *opaque, uint64_t gpa, uint64_t len);
    void *opaque;
} ApicBoard;

typedef struct ApicState ApicState;

/* Map the registers at APIC_DEFAULT_BASE in as. NULL with the reason in err if the range is
 * taken. id is the APIC ID after reset (0 for the BSP). */
ApicState *apic_init(AddressSpace *as, Clock *clock, uint8_t id, const ApicBoard *board, char *err,
                     size_t errlen);
void apic_free(ApicState *s);

/* Power-on / RESET state: IA32_APIC_BASE = 0xFEE00900 (enabled, BSP), SVR 0xFF (software
 * disabled), every LVT masked, DFR all ones, IRR/ISR/TMR empty, timer stopped. */
void apic_reset(ApicState *s);

/* IA32_APIC_BASE. apic_set_base returns 0, -EINVAL for reserved bits (bits 0-7, 9, 10, above
 * bit 35) or -EEXIST if the new base overlaps other regions (the address space cannot put the
 * registers over RAM or a device, as hardware would): either way nothing changes and the
 * WRMSR raises #GP. */
uint64_t apic_get_base(ApicState *s);
int apic_set_base(ApicState *s, uint64_t val);

/* The task priority, for CR8 (CR8 = TPR[7:4]). */
uint8_t apic_get_tpr(ApicState *s);
void apic_set_tpr(ApicState *s, uint8_t tpr);

/* IrqHandler for the local interrupt pins: n 0 = LINT0, 1 = LINT1; level 1 = asserted. */
void apic_set_lint(void *opaque, int n, int level);

/* A message for this APIC; false if it is not a target (wrong destination) or refused. */
bool apic_deliver(ApicState *s, const ApicMsg *msg);

/* The CPU side, as Machine.intr_pending/intr_ack: an interrupt to take (the PIC's through
 * LINT0/ExtINT, or IRR above PPR), and the acknowledge that returns its vector. */
bool apic_intr_pending(ApicState *s);
int apic_intr_ack(ApicState *s);

/* Register access as the MMIO window does it (offset within the 4 KiB), for tests and tools. */
uint32_t apic_read_reg(ApicState *s, uint32_t offset);
void apic_write_reg(ApicState *s, uint32_t offset, uint32_t val);

#endif
