/* accel/vcpu.h: the run loop between an engine and the machine.
 *
 * vcpu_loop() runs the engine, lets timers and input polling happen between runs, sleeps while
 * the guest is halted with interrupts enabled, and ends when the machine records a stop reason
 * (exit device, power-off, engine error, ...). It returns that reason; the message, if any, is
 * in machine->stop_msg.
 */
#ifndef DUALVM_VCPU_H
#define DUALVM_VCPU_H

#include "accel/accel.h"

StopReason vcpu_loop(Vcpu *v);

#endif
