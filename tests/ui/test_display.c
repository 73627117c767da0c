/* ui/display: the bridge between a window's thread and the vCPU's, driven by hand on one
 * thread (the window side's calls, then the poll hook as the run loop would call it): input
 * reaches the 8042 only from the poll hook, pictures come out as whole frames at most
 * DISPLAY_FPS times a second and only when the VGA changed, the power-off request becomes a
 * clean STOP_POWEROFF, and -screenshot-every's files are replaced whole. */
#include <criterion/criterion.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <unistd.h>

#include "hw/i8042.h"
#include "hw/pc.h"
#include "ui/display.h"
#include "ui/render.h"

static Machine *m;
static Display *d;
static int kicks;

static void count_kick(void *opaque)
{
    (*(int *)opaque)++;
}

static void setup(void)
{
    MachineConfig cfg = {.ram_size = 16ull << 20, .serial = "none"};
    char err[256];
    m = pc_new(&cfg, err, sizeof(err));
    cr_assert_not_null(m, "%s", err);
    d = display_new(m, pc_vga(m), pc_i8042(m), true);
    kicks = 0;
    display_set_kick(d, count_kick, &kicks);
    /* the 8042 as a BIOS leaves it: translation to set 1 */
    io_write(m->io, I8042_CMD_PORT, I8042_CMD_WRITE_RAM, 1);
    io_write(m->io, I8042_DATA_PORT, I8042_CTR_KBDINT | I8042_CTR_SYS | I8042_CTR_XLATE, 1);
}

static void teardown(void)
{
    display_free(d);
    cr_assert_eq(m->poll, pc_poll, "display_free puts the board's poll hook back");
    cr_assert_null(m->ui);
    pc_free(m);
}

static int kbc_byte(void)
{
    if (!(io_read(m->io, I8042_CMD_PORT, 1) & I8042_STR_OBF))
        return -1;
    return (int)(io_read(m->io, I8042_DATA_PORT, 1) & 0xff);
}

Test(display, installs_poll_hook, .init = setup, .fini = teardown)
{
    cr_assert_eq(m->poll, display_poll);
    cr_assert_eq(m->ui, d);
}

Test(display, keys_reach_the_8042_at_poll, .init = setup, .fini = teardown)
{
    display_key(d, 0x1e, true);
    display_key(d, I8042_KEY_E0 | 0x48, true);
    cr_assert_eq(kbc_byte(), -1, "nothing before the poll hook runs");
    display_kick(d);
    cr_assert_eq(kicks, 1);
    m->poll(m);
    cr_assert_eq(kbc_byte(), 0x1e);
    cr_assert_eq(kbc_byte(), 0xe0);
    cr_assert_eq(kbc_byte(), 0x48);
    cr_assert_eq(kbc_byte(), -1);
}

Test(display, mouse_motion_merges, .init = setup, .fini = teardown)
{
    /* mouse on: port enabled, reporting on (the ACK is read off) */
    io_write(m->io, I8042_CMD_PORT, I8042_CMD_WRITE_AUX, 1);
    io_write(m->io, I8042_DATA_PORT, AUX_CMD_ENABLE, 1);
    cr_assert_eq(kbc_byte(), KBD_REPLY_ACK);
    display_mouse(d, 3, 0, 0, 0);
    display_mouse(d, 4, 2, 0, 0); /* merged with the one before: one packet */
    display_mouse(d, 1, -1, 0, 0);
    display_mouse(d, -1, 1, 0, 0); /* ... and these cancel out: no empty packet */
    display_mouse(d, 0, 0, 0, I8042_BTN_LEFT);
    m->poll(m);
    /* 7 right, 2 down (PS/2: Y up, so -2) then the left button */
    int want[] = {0x08 | AUX_PKT_YSIGN, 7, 0xfe, 0x09, 0, 0};
    for (unsigned i = 0; i < 6; i++)
        cr_assert_eq(kbc_byte(), want[i], "byte %u", i);
    cr_assert_eq(kbc_byte(), -1);
}

Test(display, power_off_is_a_clean_stop, .init = setup, .fini = teardown)
{
    display_power_off(d, "the window was closed: guest powered off");
    cr_assert_eq(kicks, 1, "the vCPU is kicked");
    cr_assert_eq(m->stop, STOP_NONE, "nothing happens before the poll hook");
    m->poll(m);
    cr_assert_eq(m->stop, STOP_POWEROFF);
    cr_assert_eq(m->exit_status, 0);
    cr_assert_str_eq(m->stop_msg, "the window was closed: guest powered off");
}

/* The display's host clock in these tests: time passes only when a test says so, so a busy
 * machine cannot make a frame due early or late. */
static int64_t fake_host_ns;

static int64_t fake_host_clock(void *opaque)
{
    (void)opaque;
    return fake_host_ns;
}

static void fake_sleep(int64_t ns)
{
    fake_host_ns += ns;
}

Test(display, frames_when_changed_at_most_60_a_second, .init = setup, .fini = teardown)
{
    fake_host_ns = 1000000000;
    display_set_host_clock(d, fake_host_clock, NULL);
    Surface *front = surface_new(1, 1);
    cr_assert(!display_take_frame(d, &front), "no picture before the first poll");
    m->poll(m);
    cr_assert(display_take_frame(d, &front), "the first poll makes a picture");
    cr_assert_eq(front->width, 720); /* power-on 80x25 text */
    cr_assert_eq(front->height, 400);
    cr_assert(!display_take_frame(d, &front), "the same picture is not taken twice");

    /* the VGA changes, but the next frame is not due yet */
    vga_ioport_write(pc_vga(m), VGA_SEQ_I, VGA_SEQ_CLOCK_MODE);
    vga_ioport_write(pc_vga(m), VGA_SEQ_D, VGA_SR01_CHAR_CLK_8DOTS); /* 8-dot characters */
    m->poll(m);
    cr_assert(!display_take_frame(d, &front), "no second frame within 1/60 s");
    fake_sleep(2 * 1000000000ll / DISPLAY_FPS);
    m->poll(m);
    cr_assert(display_take_frame(d, &front), "the changed picture, once due");
    cr_assert_eq(front->width, 640, "80 columns of 8 dots: %d", front->width);

    /* nothing changed (blink phases aside, which come at 70 Hz frame counts of 8): a poll
     * due by time but within the same blink phase gives nothing new */
    int extra = 0;
    for (int i = 0; i < 3; i++) {
        fake_sleep(2 * 1000000000ll / DISPLAY_FPS);
        m->poll(m);
        extra += display_take_frame(d, &front);
    }
    cr_assert_leq(extra, 1, "%d pictures of an unchanged screen (only a blink may change it)",
                  extra);
    surface_free(front);
}

Test(display, periodic_screenshots_are_replaced_whole, .init = setup, .fini = teardown)
{
    char *dir = g_dir_make_tmp("dualvm-display-XXXXXX", NULL);
    char *png = g_build_filename(dir, "shot.png", NULL);
    char *txt = g_build_filename(dir, "shot.txt", NULL);
    char *tmp = g_strconcat(png, ".tmp", NULL);
    display_set_screenshots(d, png, txt, 1); /* every nanosecond: each poll */
    usleep(1000);
    m->poll(m);
    cr_assert(g_file_test(png, G_FILE_TEST_IS_REGULAR), "PNG written");
    cr_assert(g_file_test(txt, G_FILE_TEST_IS_REGULAR), "text written");
    cr_assert(!g_file_test(tmp, G_FILE_TEST_EXISTS), "no temporary file left");
    gchar *text = NULL;
    gsize len = 0;
    cr_assert(g_file_get_contents(txt, &text, &len, NULL));
    cr_assert_eq(len, 25 * 81, "25 lines of 80 columns: %zu bytes", (size_t)len);
    g_free(text);
    g_unlink(png);
    g_unlink(txt);
    g_rmdir(dir);
    g_free(tmp);
    g_free(png);
    g_free(txt);
    g_free(dir);
}

static uint64_t fake_insns(void *opaque)
{
    uint64_t *n = opaque;
    return *n += 50000000; /* 50 million more at each look */
}

Test(display, mips_from_the_instruction_counter, .init = setup, .fini = teardown)
{
    fake_host_ns = 1000000000;
    display_set_host_clock(d, fake_host_clock, NULL);
    cr_assert_lt(display_mips(d), 0, "unknown without a counter");
    m->poll(m);
    cr_assert_lt(display_mips(d), 0);
    uint64_t n = 0;
    display_set_insn_counter(d, fake_insns, &n);
    m->poll(m); /* the first look starts the count */
    cr_assert_lt(display_mips(d), 0, "nothing to say before a second has passed");
    fake_sleep(1100000000);
    m->poll(m);
    double mips = display_mips(d);
    cr_assert(mips > 45.4 && mips < 45.5, "50 million in 1.1 s: %.3f MIPS", mips);
}
