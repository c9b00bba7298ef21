/*
 * A program that defines functions named like libgreen's internals, linked
 * to libgreen.so (and, built with SHADOW_PATCH, to libgreen_patch.so) and
 * with every one of its functions exported (-rdynamic), the case where a
 * default-visibility library would bind its own calls to the program's.
 * The library must keep calling its own code: each definition here aborts.
 */
#define _GNU_SOURCE
#include "test_hub_util.h"

#include <green/sync.h>
#include <green/thread.h>

#include <errno.h>
#include <unistd.h>

static void shadow_called(const char *name)
{
    fprintf(stderr, "libgreen called the program's %s()\n", name);
    abort();
}

#define SHADOW(name)                                                           \
    void name(void);                                                           \
    void name(void)                                                            \
    {                                                                          \
        shadow_called(#name);                                                  \
    }

/* Names libgreen.so exported before it was built with hidden visibility. */
SHADOW(hub_get)
SHADOW(hub_park)
SHADOW(hub_yield)
SHADOW(hub_caller)
SHADOW(hub_current_task)
SHADOW(hub_ready_push)
SHADOW(hub_ready_remove)
SHADOW(hub_report_error)
SHADOW(thread_launch)
SHADOW(thread_abandoned)
SHADOW(thread_display_name)
SHADOW(thread_hub_teardown)
SHADOW(timeout_earliest)
SHADOW(timer_heap_init)
SHADOW(timer_heap_push)
SHADOW(timer_heap_remove)
SHADOW(timer_heap_free)
SHADOW(watchdog_hub_init)
SHADOW(watchdog_hub_destroy)
SHADOW(xwake_new)
SHADOW(xwake_wait)
SHADOW(xwake_signal)
SHADOW(green_stack_acquire)
SHADOW(green_stack_release)
SHADOW(green_tstate_peek)
SHADOW(green_context_on_resume)
/* ... and libgreen_patch.so, before its version script. */
SHADOW(patch_wait_fd)
SHADOW(patch_wait_sleep)
SHADOW(patch_io_blocked)
SHADOW(patch_resolve_libc)
SHADOW(patch_deadline_after)
SHADOW(fdstate_cooperative)
SHADOW(fdstate_driven)
SHADOW(fdstate_forget)
SHADOW(fdstate_timeout)

/* ---- Greenlets ------------------------------------------------------- */

static void *double_each(void *first)
{
    greenlet_t *parent = greenlet_parent(greenlet_current());
    void *value = first;

    while (TEST_VALUE_INT(value) != 0) {
        if (greenlet_switch(parent, TEST_INT_VALUE(2 * TEST_VALUE_INT(value)),
                            &value) != 0)
            return NULL;
    }
    return TEST_INT_VALUE(-1);
}

static void test_greenlets_switch_values(void **state)
{
    greenlet_t *g = test_greenlet_new(double_each, NULL, 0, NULL);
    void *back = NULL;

    (void)state;
    assert_int_equal(greenlet_switch(g, TEST_INT_VALUE(3), &back), 0);
    assert_int_equal(TEST_VALUE_INT(back), 6);
    assert_int_equal(greenlet_switch(g, TEST_INT_VALUE(5), &back), 0);
    assert_int_equal(TEST_VALUE_INT(back), 10);
    assert_int_equal(greenlet_switch(g, TEST_INT_VALUE(0), &back), 0);
    assert_int_equal(TEST_VALUE_INT(back), -1);
    assert_true(greenlet_dead(g));
    test_greenlet_destroy(g);
}

/* ---- Green threads: spawn, sleep, wait -------------------------------- */

static struct test_log order;
static green_event_t *go;
static double go_at;

/* Sleeps until go_at + ms: deadlines from one instant, so that how late
 * each sleeper runs (a TSan fiber's start took over 0.2 s on a loaded
 * machine) cannot reorder them. */
static void *sleep_then_log(void *ms)
{
    double left;

    if (green_event_wait(go, NULL, GREEN_FOREVER) != 0)
        return ms;
    left = go_at + 0.001 * (double)TEST_VALUE_INT(ms) - green_now();
    if (green_sleep(left > 0 ? left : 0) == 0)
        test_log_add(&order, "%d", (int)TEST_VALUE_INT(ms));
    return ms;
}

static void test_spawn_sleep_wait(void **state)
{
    green_thread_t *threads[3];
    void *result = NULL;

    (void)state;
    test_log_reset(&order);
    assert_int_equal(green_event_new(&go), 0);
    /* Spawned longest sleep first; they must wake shortest first. */
    for (int i = 0; i < 3; i++)
        threads[i] =
            spawn_or_fail(sleep_then_log, TEST_INT_VALUE(300 - 100 * i));
    while (green_event_waiting(go) < 3)
        assert_int_equal(green_sleep(0), 0);
    go_at = green_now();
    assert_int_equal(green_event_send(go, NULL), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(green_thread_wait(threads[i], &result), 0);
        assert_int_equal(TEST_VALUE_INT(result), 300 - 100 * i);
        green_thread_release(threads[i]);
    }
    assert_log_equal(&order, "100,200,300");
    assert_int_equal(green_event_destroy(go), 0);
}

#ifdef SHADOW_PATCH
/* ---- Patched libc: a blocking read parks only its green thread -------- */

static void *read_byte(void *fd)
{
    char byte = 0;
    ssize_t n = read((int)TEST_VALUE_INT(fd), &byte, 1);
    test_log_add(&order, "read %zd %c", n, byte);
    return NULL;
}

static void *usleep_then_write(void *fd)
{
    if (usleep(10000) == 0)
        test_log_add(&order, "write %zd",
                     write((int)TEST_VALUE_INT(fd), "x", 1));
    return NULL;
}

static void test_patched_read_and_usleep(void **state)
{
    int fds[2];

    (void)state;
    test_log_reset(&order);
    assert_int_equal(pipe(fds), 0);
    green_thread_t *reader = spawn_or_fail(read_byte, TEST_INT_VALUE(fds[0]));
    green_thread_t *writer =
        spawn_or_fail(usleep_then_write, TEST_INT_VALUE(fds[1]));
    assert_int_equal(green_thread_wait(reader, NULL), 0);
    assert_int_equal(green_thread_wait(writer, NULL), 0);
    green_thread_release(reader);
    green_thread_release(writer);
    assert_log_equal(&order, "write 1,read 1 x");
    assert_int_equal(close(fds[0]), 0);
    assert_int_equal(close(fds[1]), 0);
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greenlets_switch_values),
        hub_test(test_spawn_sleep_wait),
#ifdef SHADOW_PATCH
        hub_test(test_patched_read_and_usleep),
#endif
    };

    test_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
