/* GREEN_TEST_BACKENDS */
/*
 * green_event: one send wakes every waiter without switching the sender;
 * errors, timeouts, kills, reset, misuse.
 */
#include "test_util.h"

#include <green/sync.h>
#include <green/thread.h>

#include <errno.h>

struct waiter {
    green_event_t *event;
    double timeout;
    int err;
    void *value;
    int done;
};

static void *waiter_run(void *arg)
{
    struct waiter *w = arg;

    w->err = green_event_wait(w->event, &w->value, w->timeout);
    w->done = 1;
    return NULL;
}

static green_event_t *event_or_fail(void)
{
    green_event_t *event = NULL;

    assert_int_equal(green_event_new(&event), 0);
    return event;
}

static green_thread_t *spawn_waiter(struct waiter *w, green_event_t *event,
                                    double timeout)
{
    green_thread_t *t = NULL;

    *w = (struct waiter){.event = event, .timeout = timeout, .err = -1};
    assert_int_equal(green_spawn(&t, waiter_run, w), 0);
    return t;
}

static void wait_and_release(green_thread_t *t)
{
    assert_int_equal(green_thread_wait(t, NULL), 0);
    green_thread_release(t);
}

static void test_send_wakes_all_waiters(void **state)
{
    green_event_t *event = event_or_fail();
    struct waiter w[5];
    green_thread_t *t[5];
    int value = 17;

    (void)state;
    for (int i = 0; i < 5; i++)
        t[i] = spawn_waiter(&w[i], event, GREEN_FOREVER);
    green_sleep(0);
    assert_int_equal(green_event_waiting(event), 5);
    assert_false(green_event_ready(event));
    assert_int_equal(green_event_send(event, &value), 0);
    /* The sender was not switched away: nobody has run yet. */
    for (int i = 0; i < 5; i++)
        assert_false(w[i].done);
    assert_true(green_event_ready(event));
    assert_int_equal(green_event_waiting(event), 0);
    for (int i = 0; i < 5; i++) {
        wait_and_release(t[i]);
        assert_int_equal(w[i].err, 0);
        assert_ptr_equal(w[i].value, &value);
    }
    assert_int_equal(green_event_destroy(event), 0);
}

static void test_wait_after_send_returns_at_once(void **state)
{
    green_event_t *event = event_or_fail();
    void *value = NULL;
    int payload = 3;

    (void)state;
    assert_int_equal(green_event_send(event, &payload), 0);
    assert_int_equal(green_event_send(event, NULL), EALREADY);
    assert_int_equal(green_event_send_error(event, EIO), EALREADY);
    /* Timeout 0 would fire at any blocking call: this one must not block. */
    assert_int_equal(green_event_wait(event, &value, 0), 0);
    assert_ptr_equal(value, &payload);
    assert_int_equal(green_event_reset(event), 0);
    assert_false(green_event_ready(event));
    /* As in eventlet, only a sent event can be reset. */
    assert_int_equal(green_event_reset(event), EALREADY);
    assert_int_equal(green_event_wait(event, &value, 0.01), ETIMEDOUT);
    assert_null(value);
    assert_int_equal(green_event_send(event, NULL), 0);
    assert_int_equal(green_event_destroy(event), 0);
}

static void test_send_error(void **state)
{
    green_event_t *event = event_or_fail();
    struct waiter w;
    green_thread_t *t = spawn_waiter(&w, event, GREEN_FOREVER);
    void *value = &w;

    (void)state;
    green_sleep(0);
    assert_int_equal(green_event_send_error(event, 0), EINVAL);
    assert_int_equal(green_event_send_error(event, EPIPE), 0);
    wait_and_release(t);
    assert_int_equal(w.err, EPIPE);
    assert_null(w.value);
    assert_int_equal(green_event_wait(event, &value, GREEN_FOREVER), EPIPE);
    assert_null(value);
    assert_int_equal(green_event_destroy(event), 0);
}

static void test_timeout_and_kill(void **state)
{
    green_event_t *event = event_or_fail();
    struct waiter timed, killed, stays;
    green_thread_t *tt = spawn_waiter(&timed, event, 0.02);
    green_thread_t *tk = spawn_waiter(&killed, event, GREEN_FOREVER);
    green_thread_t *ts = spawn_waiter(&stays, event, GREEN_FOREVER);
    double start = green_now();

    (void)state;
    green_sleep(0);
    assert_int_equal(green_event_waiting(event), 3);
    assert_int_equal(green_thread_kill(tk), 0);
    assert_int_equal(killed.err, ECANCELED);
    wait_and_release(tt);
    assert_int_equal(timed.err, ETIMEDOUT);
    assert_true(green_now() - start >= 0.01);
    assert_int_equal(green_event_waiting(event), 1);
    /* Destroying an event waited on is refused. */
    assert_int_equal(green_event_destroy(event), EBUSY);
    assert_int_equal(green_event_send(event, NULL), 0);
    wait_and_release(ts);
    assert_int_equal(stays.err, 0);
    green_thread_release(tk);
    assert_int_equal(green_event_destroy(event), 0);
}

static void test_reset_of_unsent_event(void **state)
{
    green_event_t *event = event_or_fail();

    (void)state;
    assert_int_equal(green_event_reset(event), EALREADY);
    assert_false(green_event_ready(event));
    assert_int_equal(green_event_send(event, NULL), 0);
    assert_int_equal(green_event_destroy(event), 0);
}

static void test_invalid_arguments(void **state)
{
    (void)state;
    assert_int_equal(green_event_new(NULL), EINVAL);
    assert_int_equal(green_event_send(NULL, NULL), EINVAL);
    assert_int_equal(green_event_send_error(NULL, EIO), EINVAL);
    assert_int_equal(green_event_wait(NULL, NULL, 0), EINVAL);
    assert_int_equal(green_event_reset(NULL), EINVAL);
    assert_int_equal(green_event_destroy(NULL), EINVAL);
    assert_false(green_event_ready(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_send_wakes_all_waiters),
        cmocka_unit_test(test_wait_after_send_returns_at_once),
        cmocka_unit_test(test_send_error),
        cmocka_unit_test(test_timeout_and_kill),
        cmocka_unit_test(test_reset_of_unsent_event),
        cmocka_unit_test(test_invalid_arguments),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
