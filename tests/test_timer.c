/* GREEN_TEST_BACKENDS */
/*
 * Timers: the internal heap (order by deadline then scheduling, O(log n)
 * removal anywhere), 1,000,000 pending timers through the public API, and
 * the hub's rule that a timer scheduled while timers fire waits for the
 * next loop pass.
 */
#include "test_hub_util.h"

#include "../src/hub/timer.h"

#include <green/pool.h>
#include <green/sync.h>
#include <green/thread.h>
#include <green/timeout.h>

#include <errno.h>

static void never_fired(timer_node_t *node)
{
    (void)node;
}

/* A small deterministic generator: the heap is checked on many shapes. */
static unsigned next_random(unsigned *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return (*seed >> 16) & 0x7fff;
}

static void test_heap_orders_by_deadline_then_sequence(void **state)
{
    size_t n = test_scaled(20000);
    timer_node_t *nodes = calloc(n, sizeof(*nodes));
    timer_heap_t heap;
    unsigned seed = 7;
    double last_deadline = -1;
    uint64_t last_seq = 0;
    size_t popped = 0, removed = 0;

    (void)state;
    assert_non_null(nodes);
    timer_heap_init(&heap);
    for (size_t i = 0; i < n; i++) {
        timer_node_init(&nodes[i], never_fired);
        /* Few distinct deadlines: many ties. */
        assert_int_equal(timer_heap_push(&heap, &nodes[i],
                                         (double)(next_random(&seed) % 50)),
                         0);
    }
    /* Remove every third node from wherever it sits. */
    for (size_t i = 0; i < n; i += 3) {
        timer_heap_remove(&heap, &nodes[i]);
        assert_false(timer_node_pending(&nodes[i]));
        timer_heap_remove(&heap, &nodes[i]); /* idempotent */
        removed++;
    }
    while (timer_heap_top(&heap) != NULL) {
        timer_node_t *top = timer_heap_top(&heap);

        assert_true(top->deadline >= last_deadline);
        if (top->deadline == last_deadline)
            assert_true(top->seq > last_seq);
        last_deadline = top->deadline;
        last_seq = top->seq;
        timer_heap_remove(&heap, top);
        popped++;
    }
    assert_int_equal(popped + removed, n);
    timer_heap_free(&heap);
    free(nodes);
}

/* ---- Public timers through the hub --------------------------------------- */

struct early_check {
    size_t fired;
    size_t early; /* fired before its deadline */
};

struct due_timer {
    struct early_check *check;
    double due; /* a lower bound of the timer's deadline */
};

static void check_not_early(void *arg)
{
    struct due_timer *t = arg;

    t->check->fired++;
    if (green_now() < t->due)
        t->check->early++;
}

static void test_million_pending_timers(void **state)
{
    size_t n = test_scaled(1000000);
    struct due_timer *timers = calloc(n, sizeof(*timers));
    green_timer_t **handles = calloc(n, sizeof(*handles));
    struct early_check check = {0};
    unsigned seed = 11;
    size_t cancelled = 0;

    (void)state;
    assert_non_null(timers);
    assert_non_null(handles);
    for (size_t i = 0; i < n; i++) {
        double delay = 0.05 + (double)(next_random(&seed) % 1000) * 1e-4;

        timers[i] =
            (struct due_timer){.check = &check, .due = green_now() + delay};
        assert_int_equal(
            green_timer_start(&handles[i], delay, check_not_early, &timers[i]),
            0);
    }
    /* Cancel a tenth of them, spread over the heap. */
    for (size_t i = 0; i < n; i += 10) {
        assert_int_equal(green_timer_cancel(handles[i]), 0);
        cancelled++;
    }
    assert_int_equal(green_hub_run(), 0);
    assert_int_equal(check.fired, n - cancelled);
    assert_int_equal(check.early, 0);
    free(handles);
    free(timers);
}

static struct test_log order_log;

static void log_name(void *arg)
{
    test_log_add(&order_log, "%s", (const char *)arg);
}

static void test_timers_fire_by_deadline_then_scheduling(void **state)
{
    static const char *later[] = {"d0", "d1", "d2"};
    static const char *now[] = {"z0", "z1", "z2"};
    green_timer_t *t;

    (void)state;
    test_log_reset(&order_log);
    /* Make the hub and its heap first: after the previous test freed a
     * million timers, the first allocations can stall in malloc for a
     * while, which would skew the deadlines below. */
    assert_int_equal(green_timer_start(&t, 1, log_name, "never"), 0);
    assert_int_equal(green_timer_cancel(t), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(green_timer_start(&t, 0.2, log_name, (void *)later[i]),
                         0);
        assert_int_equal(green_timer_start(&t, 0, log_name, (void *)now[i]), 0);
    }
    assert_int_equal(green_hub_run(), 0);
    assert_log_equal(&order_log, "z0,z1,z2,d0,d1,d2");
}

/* ---- A timer scheduled while timers fire runs on the next pass ------------
 */

struct pass_probe {
    long yields;      /* bumped once per hub pass by a yielding thread */
    long seen_first;  /* what the first timer saw */
    long seen_second; /* what the timer it scheduled saw */
    int stop;
};

static void second_timer(void *arg)
{
    struct pass_probe *p = arg;

    p->seen_second = p->yields;
    p->stop = 1;
}

static void first_timer(void *arg)
{
    struct pass_probe *p = arg;
    green_timer_t *t;

    p->seen_first = p->yields;
    green_timer_start(&t, 0, second_timer, p);
}

/* Counts the passes it runs in: its start, then each return from a yield
 * (a timer may fire before it ever ran, on a slow start). */
static void *yield_counting(void *arg)
{
    struct pass_probe *p = arg;

    while (!p->stop && p->yields < 1000000) {
        p->yields++;
        if (green_sleep(0) != 0)
            break;
    }
    return NULL;
}

static void test_timer_scheduled_in_callback_waits_a_pass(void **state)
{
    struct pass_probe probe = {0};
    green_thread_t *t = NULL;
    green_timer_t *timer;

    (void)state;
    assert_int_equal(green_spawn(&t, yield_counting, &probe), 0);
    assert_int_equal(green_timer_start(&timer, 0.005, first_timer, &probe), 0);
    assert_int_equal(green_thread_wait(t, NULL), 0);
    green_thread_release(t);
    assert_true(probe.seen_second > probe.seen_first);
}

/* ---- A fresh hub orders work like a warm one --------------------------
 * A hub that has never run (main's first blocking call, or the first one
 * after green_hub_destroy()) starts where a running hub would go on: with
 * the poll and the timers of the pass the caller switched into. */

static void set_flag(void *arg)
{
    *(int *)arg = 1;
}

/* A zero-delay timer scheduled before green_sleep(0) fires before the
 * sleep returns: the sleeper runs again on the next pass. */
static int zero_timer_fired_by_sleep_zero(void)
{
    green_timer_t *t;
    int fired = 0;

    assert_int_equal(green_timer_start(&t, 0, set_flag, &fired), 0);
    assert_int_equal(green_sleep(0), 0);
    return fired;
}

static void test_zero_timer_fires_before_sleep_zero_returns(void **state)
{
    (void)state;
    assert_true(zero_timer_fired_by_sleep_zero()); /* fresh hub */
    assert_true(zero_timer_fired_by_sleep_zero()); /* warm hub */
    assert_int_equal(green_hub_destroy(), 0);
    assert_true(zero_timer_fired_by_sleep_zero()); /* fresh again */
}

static void *return_arg(void *arg)
{
    return arg;
}

/* A spawn into a full pool of one under a zero timeout, while the member
 * holding the slot is ready to end: the timeout comes first. */
static int zero_timeout_pool_spawn(void)
{
    green_thread_t *member, *late = NULL;
    green_pool_t *pool;
    green_timeout_t timeout;
    int err;

    assert_int_equal(green_pool_new(&pool, 1), 0);
    assert_int_equal(green_pool_spawn(pool, &member, return_arg, NULL), 0);
    assert_int_equal(green_timeout_start(&timeout, 0), 0);
    err = green_pool_spawn(pool, &late, return_arg, NULL);
    green_timeout_cancel(&timeout);
    assert_int_equal(green_thread_wait(member, NULL), 0);
    green_thread_release(member);
    if (late != NULL) {
        assert_int_equal(green_thread_wait(late, NULL), 0);
        green_thread_release(late);
    }
    assert_int_equal(green_pool_destroy(pool, 0), 0);
    return err;
}

static void test_zero_timeout_pool_spawn_same_on_fresh_hub(void **state)
{
    (void)state;
    assert_int_equal(zero_timeout_pool_spawn(), ETIMEDOUT); /* fresh hub */
    assert_int_equal(zero_timeout_pool_spawn(), ETIMEDOUT); /* warm hub */
}

/* A channel getter killed by a zero-delay timer scheduled before
 * green_sleep(0): the timer comes first, so the getter is killed before it
 * ever runs (err stays -1) and never takes a hand-off; on a fresh hub
 * that started with the ready threads it would park on the channel first
 * and be killed there (ECANCELED). */
struct channel_getter {
    green_queue_t *channel;
    int err;
};

static void *channel_get(void *arg)
{
    struct channel_getter *getter = arg;
    void *item;

    getter->err = green_queue_get(getter->channel, &item, GREEN_FOREVER);
    return NULL;
}

static void kill_thread(void *arg)
{
    green_thread_kill(arg); /* from the hub: an unstarted one dies now */
}

static int killed_channel_getter_err(void)
{
    struct channel_getter getter = {NULL, -1};
    green_thread_t *t;
    green_timer_t *timer;

    assert_int_equal(
        green_queue_new(&getter.channel, 0, GREEN_QUEUE_FIFO, NULL), 0);
    assert_int_equal(green_spawn(&t, channel_get, &getter), 0);
    assert_int_equal(green_timer_start(&timer, 0, kill_thread, t), 0);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_thread_wait(t, NULL), ECANCELED);
    green_thread_release(t);
    /* Either way nobody is left to take an item. */
    assert_int_equal(green_queue_getters(getter.channel), 0);
    assert_int_equal(green_queue_try_put(getter.channel, NULL), EAGAIN);
    assert_int_equal(green_queue_destroy(getter.channel, NULL), 0);
    return getter.err;
}

static void test_killed_channel_getter_same_on_fresh_hub(void **state)
{
    (void)state;
    assert_int_equal(killed_channel_getter_err(), -1); /* fresh hub */
    assert_int_equal(killed_channel_getter_err(), -1); /* warm hub */
    assert_int_equal(green_hub_destroy(), 0);
    assert_int_equal(killed_channel_getter_err(), -1); /* fresh again */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heap_orders_by_deadline_then_sequence),
        hub_test(test_million_pending_timers),
        hub_test(test_timers_fire_by_deadline_then_scheduling),
        hub_test(test_timer_scheduled_in_callback_waits_a_pass),
        hub_test(test_zero_timer_fires_before_sleep_zero_returns),
        hub_test(test_zero_timeout_pool_spawn_same_on_fresh_hub),
        hub_test(test_killed_channel_getter_same_on_fresh_hub),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
