/* GREEN_TEST_BACKENDS */
/*
 * Thread pool: blocking functions in OS threads while the hub runs other
 * green threads; timeouts and kills that leave the job running; inline
 * mode; resizing and shutdown.
 */
#include "test_util.h"

#include <green/thread.h>
#include <green/timeout.h>
#include <green/tpool.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

static void *add_one(void *arg)
{
    return TEST_INT_VALUE(TEST_VALUE_INT(arg) + 1);
}

static void test_execute_from_main(void **state)
{
    void *result = NULL;

    (void)state;
    /* No green thread exists: the main greenlet parks while a worker runs
     * the function, and must not be told EDEADLK. */
    assert_int_equal(green_tpool_execute(add_one, TEST_INT_VALUE(41), &result),
                     0);
    assert_int_equal(TEST_VALUE_INT(result), 42);
    assert_int_equal(green_tpool_execute(NULL, NULL, &result), EINVAL);
}

/* ---- The hub keeps running while a job blocks -----------------------------
 */

static atomic_int running_now, running_max;

static void *sleep_ms(void *arg)
{
    int now = atomic_fetch_add(&running_now, 1) + 1;
    int max = atomic_load(&running_max);

    while (now > max && !atomic_compare_exchange_weak(&running_max, &max, now))
        ;
    usleep((useconds_t)(TEST_VALUE_INT(arg) * 1000));
    atomic_fetch_sub(&running_now, 1);
    return arg;
}

struct caller {
    intptr_t ms;
    int err;
    void *result;
};

static void *caller_main(void *arg)
{
    struct caller *c = arg;

    c->err = green_tpool_execute(sleep_ms, TEST_INT_VALUE(c->ms), &c->result);
    return NULL;
}

static int ticks;

static void *ticker_main(void *arg)
{
    int *stop = arg;

    while (!*stop && green_sleep(0.001) == 0)
        ticks++;
    return NULL;
}

static void test_hub_runs_during_jobs(void **state)
{
    enum { CALLERS = 40 };
    struct caller callers[CALLERS];
    green_thread_t *threads[CALLERS], *ticker;
    int stop = 0;

    (void)state;
    ticks = 0;
    atomic_store(&running_max, 0);
    assert_int_equal(green_spawn(&ticker, ticker_main, &stop), 0);
    for (int i = 0; i < CALLERS; i++) {
        callers[i] = (struct caller){.ms = 20, .err = -1};
        assert_int_equal(green_spawn(&threads[i], caller_main, &callers[i]), 0);
    }
    for (int i = 0; i < CALLERS; i++) {
        assert_int_equal(green_thread_wait(threads[i], NULL), 0);
        green_thread_release(threads[i]);
        assert_int_equal(callers[i].err, 0);
        assert_int_equal(TEST_VALUE_INT(callers[i].result), 20);
    }
    stop = 1;
    assert_int_equal(green_thread_wait(ticker, NULL), 0);
    green_thread_release(ticker);
    /* The ticker ran while the jobs blocked, and jobs ran side by side. */
    assert_true(ticks > 0);
    assert_true(atomic_load(&running_max) > 1);
    assert_true(atomic_load(&running_max) <= GREEN_TPOOL_DEFAULT_SIZE);
}

/* ---- A job that outlives its caller ---------------------------------------
 */

struct slow_job {
    atomic_int released; /* set by the test once its caller gave up */
    atomic_int finished;
    atomic_int abandoned;
};

/* Runs until the test releases it (at most 30 s, so that a caller that
 * wrongly waited for it fails instead of hanging). */
static void *slow(void *arg)
{
    struct slow_job *job = arg;

    for (int i = 0; i < 30000 && !atomic_load(&job->released); i++)
        usleep(1000);
    atomic_store(&job->finished, 1);
    return TEST_INT_VALUE(7);
}

static void note_abandoned(void *arg, void *result)
{
    struct slow_job *job = arg;

    /* Runs once the function has returned, with its late result. */
    if (atomic_load(&job->finished) && TEST_VALUE_INT(result) == 7)
        atomic_store(&job->abandoned, 1);
}

/* Yield until flag is set (bounded: the test fails rather than hangs). */
static int wait_for_flag(atomic_int *flag)
{
    double give_up = green_now() + 30;

    while (!atomic_load(flag) && green_now() < give_up)
        green_sleep(0.001);
    return atomic_load(flag);
}

static void test_timeout_outlived(void **state)
{
    struct slow_job *job = calloc(1, sizeof(*job));
    void *result = TEST_INT_VALUE(-1);
    double start = green_now();

    (void)state;
    assert_non_null(job);
    assert_int_equal(
        green_tpool_execute_ex(slow, job, note_abandoned, 0.02, &result),
        ETIMEDOUT);
    /* Did not wait for the job: it runs until released. */
    assert_false(atomic_load(&job->finished));
    assert_true(green_now() - start < 15.0);
    assert_int_equal(TEST_VALUE_INT(result), -1);
    atomic_store(&job->released, 1);
    assert_true(wait_for_flag(&job->abandoned));
    free(job);
}

static void test_timeout_scope_outlived(void **state)
{
    struct slow_job *job = calloc(1, sizeof(*job));
    green_timeout_t scope;

    (void)state;
    assert_non_null(job);
    assert_int_equal(green_timeout_start(&scope, 0.02), 0);
    assert_int_equal(
        green_tpool_execute_ex(slow, job, note_abandoned, GREEN_FOREVER, NULL),
        ETIMEDOUT);
    assert_true(green_timeout_fired(&scope));
    green_timeout_cancel(&scope);
    assert_false(atomic_load(&job->finished));
    atomic_store(&job->released, 1);
    assert_true(wait_for_flag(&job->abandoned));
    free(job);
}

static void *slow_caller_main(void *arg)
{
    return TEST_INT_VALUE(
        green_tpool_execute_ex(slow, arg, note_abandoned, GREEN_FOREVER, NULL));
}

static void test_kill_while_waiting(void **state)
{
    struct slow_job *job = calloc(1, sizeof(*job));
    green_thread_t *t;
    void *result = NULL;

    (void)state;
    assert_non_null(job);
    assert_int_equal(green_spawn(&t, slow_caller_main, job), 0);
    assert_int_equal(green_sleep(0.01), 0); /* it waits for the job now */
    assert_int_equal(green_thread_kill(t), 0);
    assert_false(atomic_load(&job->finished));
    /* Killed: the thread's own call returned ECANCELED (the thread itself
     * reports being killed). */
    assert_int_equal(green_thread_wait(t, &result), ECANCELED);
    green_thread_release(t);
    atomic_store(&job->released, 1);
    assert_true(wait_for_flag(&job->abandoned));
    free(job);
}

/* ---- Sizes and shutdown ---------------------------------------------------
 */

static void *thread_identity(void *unused)
{
    (void)unused;
    return (void *)pthread_self();
}

static void test_size_zero_runs_inline(void **state)
{
    void *result = NULL;

    (void)state;
    assert_int_equal(green_tpool_set_size(0), 0);
    assert_int_equal(green_tpool_size(), 0);
    assert_int_equal(green_tpool_execute(thread_identity, NULL, &result), 0);
    assert_true(pthread_equal((pthread_t)result, pthread_self()));
    assert_int_equal(green_tpool_set_size(GREEN_TPOOL_DEFAULT_SIZE), 0);
    assert_int_equal(green_tpool_execute(thread_identity, NULL, &result), 0);
    assert_false(pthread_equal((pthread_t)result, pthread_self()));
    assert_int_equal(green_tpool_set_size(100000), EINVAL);
}

static void test_small_pool_queues_jobs(void **state)
{
    enum { CALLERS = 12 };
    struct caller callers[CALLERS];
    green_thread_t *threads[CALLERS];

    (void)state;
    atomic_store(&running_max, 0);
    assert_int_equal(green_tpool_set_size(2), 0);
    for (int i = 0; i < CALLERS; i++) {
        callers[i] = (struct caller){.ms = 5, .err = -1};
        assert_int_equal(green_spawn(&threads[i], caller_main, &callers[i]), 0);
    }
    for (int i = 0; i < CALLERS; i++) {
        assert_int_equal(green_thread_wait(threads[i], NULL), 0);
        green_thread_release(threads[i]);
        assert_int_equal(callers[i].err, 0);
    }
    assert_true(atomic_load(&running_max) <= 2);
    assert_int_equal(green_tpool_set_size(GREEN_TPOOL_DEFAULT_SIZE), 0);
}

static void test_shutdown_and_restart(void **state)
{
    void *result = NULL;

    (void)state;
    assert_int_equal(green_tpool_execute(add_one, TEST_INT_VALUE(1), &result),
                     0);
    assert_int_equal(green_tpool_shutdown(), 0);
    assert_int_equal(green_tpool_shutdown(), 0); /* idempotent */
    assert_int_equal(green_tpool_execute(add_one, TEST_INT_VALUE(2), &result),
                     0);
    assert_int_equal(TEST_VALUE_INT(result), 3);
}

static void *shutdown_from_worker(void *unused)
{
    (void)unused;
    return TEST_INT_VALUE(green_tpool_shutdown());
}

static void test_shutdown_refused_in_worker(void **state)
{
    void *result = NULL;

    (void)state;
    assert_int_equal(green_tpool_execute(shutdown_from_worker, NULL, &result),
                     0);
    assert_int_equal(TEST_VALUE_INT(result), EDEADLK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_execute_from_main),
        cmocka_unit_test(test_hub_runs_during_jobs),
        cmocka_unit_test(test_timeout_outlived),
        cmocka_unit_test(test_timeout_scope_outlived),
        cmocka_unit_test(test_kill_while_waiting),
        cmocka_unit_test(test_size_zero_runs_inline),
        cmocka_unit_test(test_small_pool_queues_jobs),
        cmocka_unit_test(test_shutdown_and_restart),
        cmocka_unit_test(test_shutdown_refused_in_worker),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
