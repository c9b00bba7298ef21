/* GREEN_TEST_BACKENDS */
/*
 * Timeout scopes: firing, nesting (earliest wins, and which fired),
 * idempotent cancel, zero timeouts, the main greenlet, and composition with
 * every kind of blocking call.
 */
#include "test_hub_util.h"

#include <green/sync.h>
#include <green/thread.h>
#include <green/timeout.h>

#include <errno.h>
#include <math.h>
#include <unistd.h>

static void test_scope_fires_on_sleep(void **state)
{
    green_timeout_t t;
    double start = green_now(), elapsed;

    (void)state;
    assert_int_equal(green_timeout_start(&t, 0.03), 0);
    assert_int_equal(green_sleep(10), ETIMEDOUT);
    elapsed = green_now() - start;
    assert_true(green_timeout_fired(&t));
    assert_true(green_timeout_fired(&t));
    assert_int_equal(green_timeout_cancel(&t), 0);
    assert_true(green_timeout_fired(&t));
    assert_int_equal(green_timeout_cancel(&t), 0); /* idempotent */
    assert_true(elapsed >= 0.025);
    assert_true(elapsed < 5.0);
    /* Closed: no effect any more. */
    assert_int_equal(green_sleep(0.01), 0);
}

static void test_scope_that_does_not_fire(void **state)
{
    green_timeout_t t;

    (void)state;
    assert_int_equal(green_timeout_start(&t, 5), 0);
    assert_int_equal(green_sleep(0.01), 0);
    assert_int_equal(green_sleep(0), 0);
    assert_false(green_timeout_fired(&t));
    assert_false(green_timeout_fired(&t));
    assert_int_equal(green_timeout_cancel(&t), 0);
    assert_false(green_timeout_fired(&t));
    assert_int_equal(green_timeout_cancel(&t), 0);
}

static void test_nested_earliest_wins(void **state)
{
    green_timeout_t outer, inner;

    (void)state;
    /* The outer deadline is the earlier one. */
    assert_int_equal(green_timeout_start(&outer, 0.02), 0);
    assert_int_equal(green_timeout_start(&inner, 10), 0);
    assert_int_equal(green_sleep(10), ETIMEDOUT);
    assert_false(green_timeout_fired(&inner));
    assert_true(green_timeout_fired(&outer));
    assert_false(green_timeout_fired(&inner));
    assert_int_equal(green_timeout_cancel(&inner), 0);
    assert_true(green_timeout_fired(&outer));
    assert_int_equal(green_timeout_cancel(&outer), 0);

    /* The inner one is. */
    assert_int_equal(green_timeout_start(&outer, 10), 0);
    assert_int_equal(green_timeout_start(&inner, 0.02), 0);
    assert_int_equal(green_sleep(10), ETIMEDOUT);
    assert_true(green_timeout_fired(&inner));
    assert_false(green_timeout_fired(&outer));
    assert_true(green_timeout_fired(&inner));
    assert_int_equal(green_timeout_cancel(&inner), 0);
    /* The outer scope still holds after the inner one closed. */
    assert_int_equal(green_sleep(0.01), 0);
    assert_false(green_timeout_fired(&outer));
    assert_int_equal(green_timeout_cancel(&outer), 0);
}

static void test_zero_timeout_fires_at_next_block(void **state)
{
    green_timeout_t t;
    green_waiter_t w;

    (void)state;
    assert_int_equal(green_timeout_start(&t, 0), 0);
    assert_int_equal(green_sleep(0), ETIMEDOUT);
    assert_true(green_timeout_fired(&t));
    green_timeout_cancel(&t);

    assert_int_equal(green_timeout_start(&t, 0), 0);
    green_waiter_init(&w);
    assert_int_equal(green_park(&w, GREEN_FOREVER, NULL), ETIMEDOUT);
    assert_true(green_timeout_fired(&t));
    assert_int_equal(green_timeout_cancel(&t), 0);
}

static void spin_for(double seconds)
{
    double until = green_now() + seconds;

    while (green_now() < until)
        ;
}

static void test_deadline_passed_during_cpu_work(void **state)
{
    green_timeout_t t;

    (void)state;
    assert_int_equal(green_timeout_start(&t, 0.02), 0);
    spin_for(0.04);
    /* Already late: the next blocking call fails without a long wait. */
    assert_int_equal(green_sleep(10), ETIMEDOUT);
    assert_true(green_timeout_fired(&t));
    assert_int_equal(green_timeout_cancel(&t), 0);
}

static void test_main_scope_beats_deadlock(void **state)
{
    green_timeout_t t;
    green_waiter_t w;

    (void)state;
    green_waiter_init(&w);
    assert_int_equal(green_timeout_start(&t, 0.02), 0);
    /* Nothing else could wake main, but the scope's deadline will. */
    assert_int_equal(green_park(&w, GREEN_FOREVER, NULL), ETIMEDOUT);
    assert_true(green_timeout_fired(&t));
    assert_int_equal(green_timeout_cancel(&t), 0);
    assert_int_equal(green_park(&w, GREEN_FOREVER, NULL), EDEADLK);
}

/* ---- In green threads, with every blocking call ----------------------------
 */

enum blocking { WAIT_SLEEP, WAIT_PARK, WAIT_FD, WAIT_JOIN, WAIT_KINDS };

struct scoped {
    enum blocking kind;
    int fd;
    green_thread_t *other;
    int err;
    int fired;
    int scope_err;
};

static void *scoped_run(void *arg)
{
    struct scoped *s = arg;
    green_timeout_t t;
    green_waiter_t w;

    s->scope_err = green_timeout_start(&t, 0.02);
    switch (s->kind) {
    case WAIT_SLEEP:
        s->err = green_sleep(10);
        break;
    case WAIT_PARK:
        green_waiter_init(&w);
        s->err = green_park(&w, 10, NULL);
        break;
    case WAIT_FD:
        s->err = green_wait_fd(s->fd, GREEN_READ, 10);
        break;
    case WAIT_JOIN:
        s->err = green_thread_wait(s->other, NULL);
        break;
    case WAIT_KINDS:
        break;
    }
    s->fired = green_timeout_fired(&t);
    green_timeout_cancel(&t);
    return NULL;
}

static void *sleep_a_while(void *arg)
{
    (void)arg;
    green_sleep(10);
    return NULL;
}

static void test_scope_composes_with_every_blocking_call(void **state)
{
    int fds[2];

    (void)state;
    assert_int_equal(pipe(fds), 0);
    for (int kind = 0; kind < WAIT_KINDS; kind++) {
        struct scoped s = {
            .kind = (enum blocking)kind, .fd = fds[0], .err = -1};
        green_thread_t *t = NULL;

        assert_int_equal(green_spawn(&s.other, sleep_a_while, NULL), 0);
        assert_int_equal(green_spawn(&t, scoped_run, &s), 0);
        assert_int_equal(green_thread_wait(t, NULL), 0);
        green_thread_release(t);
        assert_int_equal(s.scope_err, 0);
        assert_int_equal(s.err, ETIMEDOUT);
        assert_true(s.fired);
        assert_int_equal(green_thread_kill(s.other), 0);
        green_thread_release(s.other);
    }
    close(fds[0]);
    close(fds[1]);
}

/* A scope of one green thread does not touch another. */
static void *sleep_briefly(void *arg)
{
    *(int *)arg = green_sleep(0.05);
    return NULL;
}

static void test_scope_is_per_green_thread(void **state)
{
    green_timeout_t t;
    green_thread_t *other = NULL;
    int other_err = -1;

    (void)state;
    assert_int_equal(green_spawn(&other, sleep_briefly, &other_err), 0);
    assert_int_equal(green_timeout_start(&t, 0.01), 0);
    assert_int_equal(green_sleep(1), ETIMEDOUT);
    green_timeout_cancel(&t);
    assert_int_equal(green_thread_wait(other, NULL), 0);
    assert_int_equal(other_err, 0);
    green_thread_release(other);
}

/* Sync objects park through the same function, so scopes reach them. */
static void test_scope_reaches_sync_objects(void **state)
{
    green_event_t *event = NULL;
    green_semaphore_t *semaphore = NULL;
    green_timeout_t t;

    (void)state;
    assert_int_equal(green_event_new(&event), 0);
    assert_int_equal(green_semaphore_new(&semaphore, 0), 0);
    assert_int_equal(green_timeout_start(&t, 0.02), 0);
    assert_int_equal(green_event_wait(event, NULL, GREEN_FOREVER), ETIMEDOUT);
    assert_int_equal(green_semaphore_acquire(semaphore, GREEN_FOREVER),
                     ETIMEDOUT);
    assert_true(green_timeout_fired(&t));
    assert_int_equal(green_timeout_cancel(&t), 0);
    assert_int_equal(green_event_destroy(event), 0);
    assert_int_equal(green_semaphore_destroy(semaphore), 0);
}

static void test_invalid_arguments(void **state)
{
    green_timeout_t t;

    (void)state;
    assert_int_equal(green_timeout_start(NULL, 1), EINVAL);
    assert_int_equal(green_timeout_start(&t, -1), EINVAL);
    assert_int_equal(green_timeout_start(&t, NAN), EINVAL);
    assert_int_equal(green_timeout_cancel(NULL), EINVAL);
    assert_false(green_timeout_fired(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        hub_test(test_scope_fires_on_sleep),
        hub_test(test_scope_that_does_not_fire),
        hub_test(test_nested_earliest_wins),
        hub_test(test_zero_timeout_fires_at_next_block),
        hub_test(test_deadline_passed_during_cpu_work),
        hub_test(test_main_scope_beats_deadlock),
        hub_test(test_scope_composes_with_every_blocking_call),
        hub_test(test_scope_is_per_green_thread),
        hub_test(test_scope_reaches_sync_objects),
        hub_test(test_invalid_arguments),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
