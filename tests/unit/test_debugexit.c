#include <criterion/criterion.h>

#include <pty.h>
#include <string.h>
#include <unistd.h>

#include "hw/debugexit.h"
#include "hw/pc.h"
#include "hw/serial.h"

static int calls, last_status;

static void on_exit_cb(void *opaque, int status)
{
    cr_assert_eq(opaque, &calls);
    calls++;
    last_status = status;
}

Test(debugexit, status_is_v_shifted_or_1)
{
    IoBus *bus = io_bus_new();
    calls = 0;
    DebugExit *d = debugexit_init(bus, 0xf4, 4, on_exit_cb, &calls);
    cr_assert_not_null(d);
    io_write(bus, 0xf4, 0x10, 4);
    cr_assert_eq(calls, 1);
    cr_assert_eq(last_status, 0x21);
    io_write(bus, 0xf4, 0, 1);
    cr_assert_eq(last_status, 1);
    io_write(bus, 0xf6, 3, 1); /* any of its ports */
    cr_assert_eq(last_status, 7);
    io_write(bus, 0xf4, 0x12345, 2); /* the value is what the access carries */
    cr_assert_eq(last_status, (0x2345 << 1) | 1);
    io_write(bus, 0xf4, 0xffffffffu, 4);
    cr_assert_eq(last_status & 0xff, 0xff);
    cr_assert_eq(calls, 5);
    io_write(bus, 0xf8, 1, 1); /* not ours */
    cr_assert_eq(calls, 5);
    /* reads give 0, as QEMU's device */
    cr_assert_eq(io_read(bus, 0xf4, 1), 0);
    cr_assert_eq(io_read(bus, 0xf4, 4), 0);
    cr_assert_eq(calls, 5);
    cr_assert_eq(debugexit_status(0x10), 0x21);
    cr_assert_null(debugexit_init(bus, 0xf6, 1, on_exit_cb, &calls)); /* taken */
    cr_assert_null(debugexit_init(bus, 0x501, 0, on_exit_cb, &calls));
    debugexit_free(d);
    io_bus_free(bus);
}

/* The board: memory map, devices and the debug exit wired to a stop request. */

static Machine *board(uint64_t ram, const char *serial)
{
    MachineConfig cfg = {.ram_size = ram, .serial = serial};
    char err[256] = "";
    Machine *m = pc_new(&cfg, err, sizeof(err));
    cr_assert_not_null(m, "%s", err);
    return m;
}

Test(pc, debug_exit_stops_machine)
{
    Machine *m = board(16 << 20, "none");
    cr_assert_eq(m->stop, STOP_NONE);
    pc_poll(m);
    cr_assert_eq(m->stop, STOP_NONE);
    io_write(m->io, PC_DEBUGEXIT_PORT, 0x10, 4);
    cr_assert_eq(m->stop, STOP_EXIT_DEVICE);
    cr_assert_eq(m->exit_status, 0x21);
    io_write(m->io, PC_DEBUGEXIT_PORT, 0x20, 4); /* the first request wins */
    cr_assert_eq(m->exit_status, 0x21);
    pc_free(m);
}

Test(pc, memory_map)
{
    Machine *m = board(32 << 20, NULL);
    cr_assert_eq(m->ram_size, 32 << 20);
    cr_assert_str_eq(m->cfg.serial, "none");
    const MemRegion *r = as_find(m->as, 0x9ffff);
    cr_assert(r && r->kind == MEM_RAM && r->host == m->ram);
    /* 0xA0000-0xBFFFF is the VGA window: device memory, never RAM */
    r = as_find(m->as, 0xa0000);
    cr_assert(r && r->kind == MEM_MMIO);
    cr_assert_eq(as_find(m->as, 0xbffff), r);
    /* 0xC0000-0xFFFFF is the PAM area, ROM at power on: the option ROM space, then the
     * flash's last 128 KiB */
    r = as_find(m->as, 0xc0000);
    cr_assert(r && r->kind == MEM_ROM && r->size == 0x20000);
    r = as_find(m->as, 0xf0000);
    cr_assert(r && r->kind == MEM_ROM && r->gpa == 0xe0000 && r->size == 0x20000);
    r = as_find(m->as, 0x100000);
    cr_assert(r && r->kind == MEM_RAM && r->host == m->ram + 0x100000);
    cr_assert_eq(r->gpa + r->size, 32 << 20);
    cr_assert_null(as_find(m->as, 32 << 20));
    r = as_find(m->as, 0xfffffff0);
    cr_assert(r && r->kind == MEM_ROM && r->gpa == PC_FLASH_BASE);
    uint8_t b[2];
    as_read(m->as, 0xfffffff0, b, 2);
    cr_assert(b[0] == 0xff && b[1] == 0xff);
    as_read(m->as, 0xffff0, b, 2);
    cr_assert(b[0] == 0xff && b[1] == 0xff);
    /* the loader path fills both ROMs; the guest cannot write them */
    cr_assert_eq(as_load(m->as, 0xffff0, "\xea\x5b", 2), 0);
    cr_assert_eq(as_load(m->as, 0xfffffff0, "\xea\x5b", 2), 0);
    as_write(m->as, 0xfffffff0, "\x90\x90", 2);
    as_read(m->as, 0xfffffff0, b, 2);
    cr_assert(b[0] == 0xea && b[1] == 0x5b);
    /* RAM writes land in m->ram */
    as_write(m->as, 0x123456, "\x42", 1);
    cr_assert_eq(m->ram[0x123456], 0x42);
    /* COM1 answers at 0x3f8 */
    cr_assert_eq(io_read(m->io, PC_COM1_BASE + UART_LSR, 1), UART_LSR_THRE | UART_LSR_TEMT);
    pc_free(m);
}

Test(pc, smallest_and_largest_ram)
{
    pc_free(board(2 << 20, "none"));
    Machine *m = board(3584ull << 20, "none");
    cr_assert_eq(as_find(m->as, (3584ull << 20) - 1)->kind, MEM_RAM);
    pc_free(m);
    m = board((2 << 20) + 1, "none");
    cr_assert_eq(m->ram_size, (2 << 20) + 4096);
    pc_free(m);
}

Test(pc, refusals)
{
    char err[256];
    MachineConfig cfg = {.ram_size = (2 << 20) - 4096, .serial = "none"};
    cr_assert_null(pc_new(&cfg, err, sizeof(err)));
    cr_assert(strstr(err, "at least 2 MiB"), "%s", err);
    cfg.ram_size = 4ull << 30;
    cr_assert_null(pc_new(&cfg, err, sizeof(err)));
    cr_assert(strstr(err, "not supported yet"), "%s", err);
    cfg.ram_size = 16 << 20;
    cfg.serial = "bogus";
    cr_assert_null(pc_new(&cfg, err, sizeof(err)));
    cr_assert_str_eq(err, "serial: unknown backend 'bogus' (use stdio, file:PATH or none)");
}

Test(pc, ctrl_a_x_stops_machine_and_serial_input_arrives)
{
    int master, slave;
    if (openpty(&master, &slave, NULL, NULL, NULL) != 0)
        cr_skip_test("no pseudo-terminal here");
    cr_assert_eq(dup2(slave, STDIN_FILENO), STDIN_FILENO);
    Machine *m = board(16 << 20, "stdio");
    cr_assert_eq(write(master, "hi", 2), 2);
    for (int i = 0; i < 1000 && !(io_read(m->io, PC_COM1_BASE + UART_LSR, 1) & UART_LSR_DR); i++) {
        usleep(1000);
        pc_poll(m);
    }
    cr_assert_eq(io_read(m->io, PC_COM1_BASE + UART_RBR, 1), 'h');
    cr_assert_eq(m->stop, STOP_NONE);
    cr_assert_eq(write(master, "\001x", 2), 2);
    for (int i = 0; i < 1000 && !m->stop; i++) {
        usleep(1000);
        pc_poll(m);
    }
    cr_assert_eq(m->stop, STOP_SIGNAL);
    cr_assert_eq(m->exit_status, 0);
    cr_assert_str_eq(m->stop_msg, "terminated by Ctrl-A x");
    pc_free(m);
    close(master);
}
