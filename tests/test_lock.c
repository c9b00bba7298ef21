/* GREEN_TEST_BACKENDS */
/*
 * green_lock and green_cond: ownership, FIFO hand-off, timeouts, and the
 * condition variable's wait/notify/notify_all.
 */
#include "test_hub_util.h"

#include <green/sync.h>
#include <green/thread.h>

#include <errno.h>

static void wait_and_release(green_thread_t *t)
{
    assert_int_equal(green_thread_wait(t, NULL), 0);
    green_thread_release(t);
}

struct locker {
    green_lock_t *lock;
    struct test_log *log;
    int id;
    int acquire_err;
    int foreign_release_err; /* releasing a lock held by someone else */
};

static void *locker_run(void *arg)
{
    struct locker *l = arg;

    l->foreign_release_err = green_lock_release(l->lock);
    l->acquire_err = green_lock_acquire(l->lock, GREEN_FOREVER);
    if (l->acquire_err == 0) {
        test_log_add(l->log, "l%d", l->id);
        green_sleep(0);
        green_lock_release(l->lock);
    }
    return NULL;
}

static void test_ownership_and_fifo(void **state)
{
    green_lock_t *lock = NULL;
    struct locker l[3];
    green_thread_t *t[3];
    struct test_log log;

    (void)state;
    test_log_reset(&log);
    assert_int_equal(green_lock_new(&lock), 0);
    assert_int_equal(green_lock_release(lock), EPERM);
    assert_int_equal(green_lock_acquire(lock, GREEN_FOREVER), 0);
    assert_true(green_lock_locked(lock));
    assert_true(green_lock_owned(lock));
    assert_int_equal(green_lock_acquire(lock, 0), EDEADLK);
    for (int i = 0; i < 3; i++) {
        l[i] = (struct locker){.lock = lock, .log = &log, .id = i};
        t[i] = spawn_or_fail(locker_run, &l[i]);
    }
    green_sleep(0);
    assert_int_equal(green_lock_destroy(lock), EBUSY);
    assert_int_equal(green_lock_release(lock), 0);
    /* Handed to the first waiter: the releaser cannot take it back. */
    assert_true(green_lock_locked(lock));
    assert_false(green_lock_owned(lock));
    assert_int_equal(green_lock_try_acquire(lock), EAGAIN);
    for (int i = 0; i < 3; i++) {
        wait_and_release(t[i]);
        assert_int_equal(l[i].foreign_release_err, EPERM);
        assert_int_equal(l[i].acquire_err, 0);
    }
    assert_log_equal(&log, "l0,l1,l2");
    assert_false(green_lock_locked(lock));
    assert_int_equal(green_lock_destroy(lock), 0);
}

static void *hold_lock_run(void *arg)
{
    green_lock_t *lock = arg;

    if (green_lock_acquire(lock, GREEN_FOREVER) == 0) {
        green_sleep(0.1);
        green_lock_release(lock);
    }
    return NULL;
}

static void test_timeout(void **state)
{
    green_lock_t *lock = NULL;
    green_thread_t *t;
    double start;

    (void)state;
    assert_int_equal(green_lock_new(&lock), 0);
    t = spawn_or_fail(hold_lock_run, lock);
    green_sleep(0);
    assert_int_equal(green_lock_try_acquire(lock), EAGAIN);
    start = green_now();
    assert_int_equal(green_lock_acquire(lock, 0.02), ETIMEDOUT);
    assert_true(green_now() - start >= 0.01);
    assert_int_equal(green_lock_acquire(lock, GREEN_FOREVER), 0);
    assert_int_equal(green_lock_release(lock), 0);
    wait_and_release(t);
    assert_int_equal(green_lock_destroy(lock), 0);
}

/* A one-slot mailbox guarded by a lock and a condition. */
struct mailbox {
    green_lock_t *lock;
    green_cond_t *cond;
    int items;
    int taken;
    int errors;
};

static void *consumer_run(void *arg)
{
    struct mailbox *m = arg;

    if (green_lock_acquire(m->lock, GREEN_FOREVER) != 0)
        return NULL;
    while (m->items == 0) {
        if (green_cond_wait(m->cond, m->lock, GREEN_FOREVER) != 0 ||
            !green_lock_owned(m->lock)) {
            m->errors++;
            break;
        }
    }
    if (m->items > 0) {
        m->items--;
        m->taken++;
    }
    green_lock_release(m->lock);
    return NULL;
}

static void test_condition(void **state)
{
    struct mailbox m = {0};
    green_thread_t *t[4];

    (void)state;
    assert_int_equal(green_lock_new(&m.lock), 0);
    assert_int_equal(green_cond_new(&m.cond), 0);
    assert_int_equal(green_cond_wait(m.cond, m.lock, 0), EPERM);
    for (int i = 0; i < 4; i++)
        t[i] = spawn_or_fail(consumer_run, &m);
    green_sleep(0);
    assert_int_equal(green_cond_destroy(m.cond), EBUSY);

    /* notify wakes exactly one. */
    assert_int_equal(green_lock_acquire(m.lock, GREEN_FOREVER), 0);
    m.items = 1;
    assert_int_equal(green_cond_notify(m.cond), 0);
    assert_int_equal(green_lock_release(m.lock), 0);
    green_sleep(0);
    green_sleep(0);
    assert_int_equal(m.taken, 1);

    /* notify_all wakes the other three. */
    assert_int_equal(green_lock_acquire(m.lock, GREEN_FOREVER), 0);
    m.items = 3;
    assert_int_equal(green_cond_notify_all(m.cond), 0);
    assert_int_equal(green_lock_release(m.lock), 0);
    for (int i = 0; i < 4; i++)
        wait_and_release(t[i]);
    assert_int_equal(m.taken, 4);
    assert_int_equal(m.errors, 0);

    /* A timed-out wait returns with the lock held. */
    assert_int_equal(green_lock_acquire(m.lock, GREEN_FOREVER), 0);
    assert_int_equal(green_cond_wait(m.cond, m.lock, 0.01), ETIMEDOUT);
    assert_true(green_lock_owned(m.lock));
    assert_int_equal(green_lock_release(m.lock), 0);

    assert_int_equal(green_cond_destroy(m.cond), 0);
    assert_int_equal(green_lock_destroy(m.lock), 0);
}

struct cond_waiter {
    green_lock_t *lock;
    green_cond_t *cond;
    double timeout;
    int err;
    int owned_after; /* held the lock on return */
};

static void *cond_waiter_run(void *arg)
{
    struct cond_waiter *w = arg;

    if (green_lock_acquire(w->lock, GREEN_FOREVER) != 0)
        return NULL;
    w->err = green_cond_wait(w->cond, w->lock, w->timeout);
    w->owned_after = green_lock_owned(w->lock);
    if (w->owned_after)
        green_lock_release(w->lock);
    return NULL;
}

static void notify_from_hub(void *arg)
{
    green_cond_notify(arg);
}

/* w0 times out in the same hub pass as a notify: the notify must reach
 * w1, not vanish with w0. */
static void test_timed_out_waiter_does_not_swallow_notify(void **state)
{
    green_lock_t *lock = NULL;
    green_cond_t *cond = NULL;
    struct cond_waiter w[2];
    green_thread_t *t[2];
    green_timer_t *timer;
    double deadline;

    (void)state;
    assert_int_equal(green_lock_new(&lock), 0);
    assert_int_equal(green_cond_new(&cond), 0);
    for (int i = 0; i < 2; i++) {
        w[i] = (struct cond_waiter){.lock = lock,
                                    .cond = cond,
                                    .timeout = i == 0 ? 0.02 : GREEN_FOREVER,
                                    .err = -1};
        t[i] = spawn_or_fail(cond_waiter_run, &w[i]);
    }
    green_sleep(0);
    assert_int_equal(green_timer_start(&timer, 0.03, notify_from_hub, cond), 0);
    /* Spin without yielding so that both timers fire in one pass. */
    deadline = green_now() + 0.08;
    while (green_now() < deadline)
        ;
    for (int i = 0; i < 2; i++)
        wait_and_release(t[i]);
    assert_int_equal(w[0].err, ETIMEDOUT);
    assert_true(w[0].owned_after);
    assert_int_equal(w[1].err, 0);
    assert_true(w[1].owned_after);
    assert_int_equal(green_cond_destroy(cond), 0);
    assert_int_equal(green_lock_destroy(lock), 0);
}

/* A waiter killed while the lock is held elsewhere cannot wait for the
 * lock again (the kill is sticky): it returns ECANCELED without it, and
 * the lock stays consistent. */
static void test_killed_cond_waiter(void **state)
{
    green_lock_t *lock = NULL;
    green_cond_t *cond = NULL;
    struct cond_waiter w = {.timeout = GREEN_FOREVER, .err = -1};
    green_thread_t *t;

    (void)state;
    assert_int_equal(green_lock_new(&lock), 0);
    assert_int_equal(green_cond_new(&cond), 0);
    w.lock = lock;
    w.cond = cond;
    t = spawn_or_fail(cond_waiter_run, &w);
    green_sleep(0);
    assert_int_equal(green_lock_acquire(lock, GREEN_FOREVER), 0);
    assert_int_equal(green_thread_kill(t), 0);
    green_thread_release(t);
    assert_int_equal(w.err, ECANCELED);
    assert_false(w.owned_after);
    assert_true(green_lock_owned(lock));
    assert_int_equal(green_lock_release(lock), 0);
    assert_false(green_lock_locked(lock));
    assert_int_equal(green_cond_destroy(cond), 0);
    assert_int_equal(green_lock_destroy(lock), 0);
}

static void test_invalid_arguments(void **state)
{
    (void)state;
    assert_int_equal(green_lock_new(NULL), EINVAL);
    assert_int_equal(green_lock_acquire(NULL, 0), EINVAL);
    assert_int_equal(green_lock_release(NULL), EINVAL);
    assert_int_equal(green_lock_destroy(NULL), EINVAL);
    assert_int_equal(green_cond_new(NULL), EINVAL);
    assert_int_equal(green_cond_wait(NULL, NULL, 0), EINVAL);
    assert_int_equal(green_cond_notify(NULL), EINVAL);
    assert_int_equal(green_cond_destroy(NULL), EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ownership_and_fifo),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_condition),
        cmocka_unit_test(test_timed_out_waiter_does_not_swallow_notify),
        cmocka_unit_test(test_killed_cond_waiter),
        cmocka_unit_test(test_invalid_arguments),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
