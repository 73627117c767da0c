/* hw/mc146818.h: the MC146818 real-time clock and its CMOS RAM (128 bytes) at 0x70/0x71.
 *
 * 0x70 selects the register (bits 0-6) and carries the NMI mask (bit 7 set = NMI disabled,
 * kept for the board to read); 0x71 reads and writes it. The clock keeps UTC from the host
 * clock at start-up and then runs on the virtual clock; registers 0-9 and the century byte
 * (0x32) are computed when read, in BCD or binary and 12- or 24-hour form per register B.
 * Setting B.SET or holding the divider in reset (A.DV = 11x) stops the clock: the registers
 * then hold what the guest writes, and the clock restarts from them (after a divider reset,
 * the first update comes 500 ms later, as the datasheet says).
 *
 * A.UIP is set for the 244 us before each update plus the 1984 us the update takes. Flags in
 * register C (periodic at A.RS's rate, alarm, update-ended) are set whether or not their
 * interrupt is enabled; IRQF and the IRQ line (IRQ 8) follow (PF&PIE | AF&AIE | UF&UIE). A
 * read of C returns and clears them all, lowering the line. A timer runs only while an enabled
 * interrupt could newly raise the line. B.DSE (daylight saving) is ignored.
 */
#ifndef DUALVM_HW_MC146818_H
#define DUALVM_HW_MC146818_H

#include <stdbool.h>
#include <stdint.h>

#include "hw/clock.h"
#include "hw/ioport.h"
#include "hw/irq.h"

#define RTC_BASE 0x70
#define RTC_IRQ 8
#define RTC_CMOS_SIZE 128

#define RTC_INDEX_MASK 0x7f
#define RTC_NMI_DISABLE 0x80

/* Registers */
#define RTC_SECONDS 0x00
#define RTC_SECONDS_ALARM 0x01
#define RTC_MINUTES 0x02
#define RTC_MINUTES_ALARM 0x03
#define RTC_HOURS 0x04
#define RTC_HOURS_ALARM 0x05
#define RTC_DAY_OF_WEEK 0x06
#define RTC_DAY_OF_MONTH 0x07
#define RTC_MONTH 0x08
#define RTC_YEAR 0x09
#define RTC_REG_A 0x0a
#define RTC_REG_B 0x0b
#define RTC_REG_C 0x0c
#define RTC_REG_D 0x0d
#define RTC_CENTURY 0x32 /* IBM PC/AT convention */

#define RTC_A_RS_MASK 0x0f /* periodic rate select */
#define RTC_A_DV_MASK 0x70 /* divider: 010 = 32.768 kHz time base, 11x = reset */
#define RTC_A_DV_32K 0x20
#define RTC_A_DV_RESET 0x60
#define RTC_A_UIP 0x80

#define RTC_B_DSE 0x01
#define RTC_B_24H 0x02
#define RTC_B_DM 0x04 /* binary (else BCD) */
#define RTC_B_SQWE 0x08
#define RTC_B_UIE 0x10
#define RTC_B_AIE 0x20
#define RTC_B_PIE 0x40
#define RTC_B_SET 0x80

#define RTC_C_UF 0x10
#define RTC_C_AF 0x20
#define RTC_C_PF 0x40
#define RTC_C_IRQF 0x80

#define RTC_D_VRT 0x80

#define RTC_HOUR_PM 0x80        /* 12-hour mode */
#define RTC_ALARM_DONTCARE 0xc0 /* an alarm byte with both top bits set matches any value */

typedef struct RtcState RtcState;

/* Claim base, base+1. NULL if taken. Time starts from the host's UTC clock. */
RtcState *rtc_init(IoBus *bus, uint16_t base, Clock *clock, IrqLine irq);
void rtc_free(RtcState *s);

/* Set the clock to unix_seconds (UTC) at this virtual moment; the next update comes a second
 * later. */
void rtc_set_time(RtcState *s, int64_t unix_seconds);

/* Raw CMOS bytes for the board (memory sizes, equipment, ...): no register side effects. */
void rtc_cmos_set(RtcState *s, uint8_t index, uint8_t val);
uint8_t rtc_cmos_get(RtcState *s, uint8_t index);

/* Bit 7 of the last index written: true when the guest disabled NMI. */
bool rtc_nmi_disabled(RtcState *s);

#endif
