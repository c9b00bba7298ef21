/* GREEN_TEST_BACKENDS */
/*
 * green_semaphore: blocking, non-blocking and timed acquire, bounded and
 * capped variants, FIFO hand-off without barging, fairness, and a waiter
 * that times out in the same hub pass as a release.
 */
#include "test_util.h"

#include <green/sync.h>
#include <green/thread.h>

#include <errno.h>

static green_semaphore_t *semaphore_or_fail(unsigned value)
{
    green_semaphore_t *sem = NULL;

    assert_int_equal(green_semaphore_new(&sem, value), 0);
    return sem;
}

static void wait_and_release(green_thread_t *t)
{
    assert_int_equal(green_thread_wait(t, NULL), 0);
    green_thread_release(t);
}

struct acquirer {
    green_semaphore_t *sem;
    struct test_log *log;
    double timeout;
    int id;
    int err;
};

static void *acquirer_run(void *arg)
{
    struct acquirer *a = arg;

    a->err = green_semaphore_acquire(a->sem, a->timeout);
    if (a->log != NULL)
        test_log_add(a->log, "a%d:%d", a->id, a->err);
    return NULL;
}

static green_thread_t *spawn_acquirer(struct acquirer *a,
                                      green_semaphore_t *sem, double timeout,
                                      int id, struct test_log *log)
{
    green_thread_t *t = NULL;

    *a = (struct acquirer){
        .sem = sem, .log = log, .timeout = timeout, .id = id, .err = -1};
    assert_int_equal(green_spawn(&t, acquirer_run, a), 0);
    return t;
}

static void test_nonblocking_and_timeout(void **state)
{
    green_semaphore_t *sem = semaphore_or_fail(1);
    double start;

    (void)state;
    assert_int_equal(green_semaphore_try_acquire(sem), 0);
    assert_int_equal(green_semaphore_value(sem), 0);
    assert_int_equal(green_semaphore_try_acquire(sem), EAGAIN);
    start = green_now();
    assert_int_equal(green_semaphore_acquire(sem, 0.05), ETIMEDOUT);
    assert_true(green_now() - start >= 0.03);
    assert_int_equal(green_semaphore_waiting(sem), 0);
    assert_int_equal(green_semaphore_release(sem), 0);
    assert_int_equal(green_semaphore_acquire(sem, 0.05), 0);
    assert_int_equal(green_semaphore_release(sem), 0);
    assert_int_equal(green_semaphore_release(sem), 0); /* plain: may grow */
    assert_int_equal(green_semaphore_value(sem), 2);
    assert_int_equal(green_semaphore_destroy(sem), 0);
}

static void test_fifo_hand_off(void **state)
{
    green_semaphore_t *sem = semaphore_or_fail(0);
    struct acquirer a[5];
    green_thread_t *t[5];
    struct test_log log;

    (void)state;
    test_log_reset(&log);
    for (int i = 0; i < 5; i++)
        t[i] = spawn_acquirer(&a[i], sem, GREEN_FOREVER, i, &log);
    green_sleep(0);
    assert_int_equal(green_semaphore_waiting(sem), 5);
    assert_int_equal(green_semaphore_destroy(sem), EBUSY);
    for (int i = 4; i >= 0; i--) {
        assert_int_equal(green_semaphore_release(sem), 0);
        /* The permit went to a waiter: no barging by the releaser. */
        assert_int_equal(green_semaphore_try_acquire(sem), EAGAIN);
    }
    for (int i = 0; i < 5; i++)
        wait_and_release(t[i]);
    assert_log_equal(&log, "a0:0,a1:0,a2:0,a3:0,a4:0");
    assert_int_equal(green_semaphore_value(sem), 0);
    assert_int_equal(green_semaphore_destroy(sem), 0);
}

static void test_bounded(void **state)
{
    green_semaphore_t *sem = NULL;

    (void)state;
    assert_int_equal(green_semaphore_new_bounded(&sem, 2), 0);
    assert_int_equal(green_semaphore_release(sem), EOVERFLOW);
    assert_int_equal(green_semaphore_acquire(sem, 0), 0);
    assert_int_equal(green_semaphore_release(sem), 0);
    assert_int_equal(green_semaphore_release(sem), EOVERFLOW);
    assert_int_equal(green_semaphore_value(sem), 2);
    assert_int_equal(green_semaphore_destroy(sem), 0);
}

struct releaser {
    green_semaphore_t *sem;
    int err;
    int done;
};

static void *releaser_run(void *arg)
{
    struct releaser *r = arg;

    r->err = green_semaphore_release(r->sem);
    r->done = 1;
    return NULL;
}

static void test_capped(void **state)
{
    green_semaphore_t *sem = NULL;
    struct releaser r = {.err = -1};
    green_thread_t *t = NULL;

    (void)state;
    assert_int_equal(green_semaphore_new_capped(&sem, 2, 1), EINVAL);
    assert_int_equal(green_semaphore_new_capped(&sem, 1, 2), 0);
    assert_int_equal(green_semaphore_release(sem), 0);
    assert_int_equal(green_semaphore_value(sem), 2);
    r.sem = sem;
    assert_int_equal(green_spawn(&t, releaser_run, &r), 0);
    green_sleep(0);
    green_sleep(0);
    assert_false(r.done); /* at the limit: the release blocks */
    assert_int_equal(green_semaphore_destroy(sem), EBUSY);
    assert_int_equal(green_semaphore_try_acquire(sem), 0);
    /* The acquire completed the blocked release. */
    assert_int_equal(green_semaphore_value(sem), 2);
    wait_and_release(t);
    assert_int_equal(r.err, 0);
    assert_int_equal(green_semaphore_destroy(sem), 0);
}

/* Limit 0 is legal: every release waits for an acquire, a rendezvous. */
static void test_capped_limit_zero(void **state)
{
    green_semaphore_t *sem = NULL;
    struct releaser r = {.err = -1};
    green_thread_t *t = NULL;

    (void)state;
    assert_int_equal(green_semaphore_new_capped(&sem, 0, 0), 0);
    assert_int_equal(green_semaphore_value(sem), 0);
    assert_int_equal(green_semaphore_try_acquire(sem), EAGAIN);
    r.sem = sem;
    assert_int_equal(green_spawn(&t, releaser_run, &r), 0);
    green_sleep(0);
    assert_false(r.done);
    /* The acquire takes the blocked release's permit. */
    assert_int_equal(green_semaphore_acquire(sem, 1.0), 0);
    assert_int_equal(green_semaphore_value(sem), 0);
    wait_and_release(t);
    assert_int_equal(r.err, 0);
    /* An acquirer waiting: the release hands its permit over at once. */
    r = (struct releaser){.sem = sem, .err = -1};
    assert_int_equal(green_spawn(&t, releaser_run, &r), 0);
    assert_int_equal(green_semaphore_acquire(sem, 1.0), 0);
    wait_and_release(t);
    assert_int_equal(r.err, 0);
    assert_int_equal(green_semaphore_destroy(sem), 0);
}

struct contender {
    green_semaphore_t *sem;
    int *remaining;
    long count;
};

static void *contender_run(void *arg)
{
    struct contender *c = arg;

    while (*c->remaining > 0) {
        if (green_semaphore_acquire(c->sem, GREEN_FOREVER) != 0)
            break;
        if (*c->remaining > 0) {
            (*c->remaining)--;
            c->count++;
        }
        green_sleep(0); /* hold it across a yield */
        green_semaphore_release(c->sem);
        green_sleep(0);
    }
    return NULL;
}

static void test_fairness(void **state)
{
    green_semaphore_t *sem = semaphore_or_fail(1);
    int total = (int)test_scaled(10000);
    int remaining = total;
    struct contender c[2] = {{.sem = sem, .remaining = &remaining},
                             {.sem = sem, .remaining = &remaining}};
    green_thread_t *t[2];
    long difference;

    (void)state;
    for (int i = 0; i < 2; i++)
        assert_int_equal(green_spawn(&t[i], contender_run, &c[i]), 0);
    for (int i = 0; i < 2; i++)
        wait_and_release(t[i]);
    assert_int_equal(c[0].count + c[1].count, total);
    difference = c[0].count > c[1].count ? c[0].count - c[1].count
                                         : c[1].count - c[0].count;
    print_message("fairness: %ld vs %ld\n", c[0].count, c[1].count);
    assert_true(difference * 10 <= total / 2);
    assert_int_equal(green_semaphore_destroy(sem), 0);
}

static void release_from_hub(void *arg)
{
    if (green_semaphore_release(arg) != 0)
        abort();
}

/* a0's timeout and a release fire in the same hub pass: the permit must go
 * to a1, not to the timed-out a0. */
static void test_timed_out_waiter_does_not_swallow(void **state)
{
    green_semaphore_t *sem = semaphore_or_fail(0);
    struct acquirer a0, a1;
    green_thread_t *t0 = spawn_acquirer(&a0, sem, 0.02, 0, NULL);
    green_thread_t *t1 = spawn_acquirer(&a1, sem, GREEN_FOREVER, 1, NULL);
    green_timer_t *timer;
    double deadline;

    (void)state;
    green_sleep(0);
    assert_int_equal(green_timer_start(&timer, 0.03, release_from_hub, sem), 0);
    /* Spin without yielding so both timers are due in one pass. */
    deadline = green_now() + 0.08;
    while (green_now() < deadline)
        ;
    wait_and_release(t0);
    wait_and_release(t1);
    assert_int_equal(a0.err, ETIMEDOUT);
    assert_int_equal(a1.err, 0);
    assert_int_equal(green_semaphore_value(sem), 0);
    assert_int_equal(green_semaphore_destroy(sem), 0);
}

static void test_killed_waiter(void **state)
{
    green_semaphore_t *sem = semaphore_or_fail(0);
    struct acquirer a0, a1;
    green_thread_t *t0 = spawn_acquirer(&a0, sem, GREEN_FOREVER, 0, NULL);
    green_thread_t *t1 = spawn_acquirer(&a1, sem, GREEN_FOREVER, 1, NULL);

    (void)state;
    green_sleep(0);
    assert_int_equal(green_semaphore_release(sem), 0); /* handed to a0 */
    assert_int_equal(green_thread_kill(t0), 0);
    if (a0.err == ECANCELED) {
        /* The permit a0 could not keep went on to a1. */
        wait_and_release(t1);
        assert_int_equal(a1.err, 0);
    } else {
        assert_int_equal(a0.err, 0);
        assert_int_equal(green_semaphore_release(sem), 0);
        wait_and_release(t1);
        assert_int_equal(a1.err, 0);
    }
    green_thread_release(t0);
    assert_int_equal(green_semaphore_value(sem), 0);
    assert_int_equal(green_semaphore_waiting(sem), 0);
    assert_int_equal(green_semaphore_destroy(sem), 0);
}

static void test_invalid_arguments(void **state)
{
    (void)state;
    assert_int_equal(green_semaphore_new(NULL, 1), EINVAL);
    assert_int_equal(green_semaphore_acquire(NULL, 0), EINVAL);
    assert_int_equal(green_semaphore_try_acquire(NULL), EINVAL);
    assert_int_equal(green_semaphore_release(NULL), EINVAL);
    assert_int_equal(green_semaphore_destroy(NULL), EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nonblocking_and_timeout),
        cmocka_unit_test(test_fifo_hand_off),
        cmocka_unit_test(test_bounded),
        cmocka_unit_test(test_capped),
        cmocka_unit_test(test_capped_limit_zero),
        cmocka_unit_test(test_fairness),
        cmocka_unit_test(test_timed_out_waiter_does_not_swallow),
        cmocka_unit_test(test_killed_waiter),
        cmocka_unit_test(test_invalid_arguments),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
