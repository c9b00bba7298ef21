/* GREEN_TEST_BACKENDS */
/*
 * green_pool, green_pile and green_pool_imap: eventlet's greenpool tests in
 * C, plus slot accounting under errors, kills, resizes and destroy.
 */
#include "test_util.h"

#include <green/pool.h>
#include <green/sync.h>
#include <green/timeout.h>

#include <errno.h>

static green_pool_t *pool_or_fail(size_t size)
{
    green_pool_t *pool = NULL;

    assert_int_equal(green_pool_new(&pool, size), 0);
    return pool;
}

/* Sleeps a little (longer for low numbers, so they finish out of order)
 * and returns its argument.  At least 20 ms: a test may count on a hub
 * pass being shorter, and under TSan starting a worker greenlet takes
 * milliseconds. */
static void *echo_after_sleep(void *arg)
{
    intptr_t i = TEST_VALUE_INT(arg);

    green_sleep(0.01 + 0.01 * (double)(10 - i % 10));
    return arg;
}

static void test_spawn_results_in_order(void **state)
{
    green_pool_t *pool = pool_or_fail(4);
    green_thread_t *t[10];

    (void)state;
    for (int i = 0; i < 10; i++) {
        assert_int_equal(
            green_pool_spawn(pool, &t[i], echo_after_sleep, TEST_INT_VALUE(i)),
            0);
        assert_true(green_pool_running(pool) <= 4);
    }
    for (int i = 0; i < 10; i++) {
        void *result = NULL;

        assert_int_equal(green_thread_wait(t[i], &result), 0);
        assert_int_equal(TEST_VALUE_INT(result), i);
        green_thread_release(t[i]);
    }
    assert_int_equal(green_pool_waitall(pool, GREEN_FOREVER), 0);
    assert_int_equal(green_pool_running(pool), 0);
    assert_int_equal(green_pool_available(pool), 4);
    assert_int_equal(green_pool_destroy(pool, 0), 0);
}

/* ---- waiting(): eventlet's test_waiting ------------------------------ */

struct waiting_case {
    green_pool_t *pool;
    green_event_t *done;
};

static void *wait_for_done(void *arg)
{
    struct waiting_case *c = arg;

    green_event_wait(c->done, NULL, GREEN_FOREVER);
    return NULL;
}

static void *spawn_and_wait(void *arg)
{
    struct waiting_case *c = arg;
    green_thread_t *t;

    if (green_pool_spawn(c->pool, &t, wait_for_done, c) == 0) {
        green_thread_wait(t, NULL);
        green_thread_release(t);
    }
    return NULL;
}

static void test_waiting(void **state)
{
    struct waiting_case c = {.pool = pool_or_fail(1)};
    green_thread_t *spawners[3];

    (void)state;
    assert_int_equal(green_event_new(&c.done), 0);
    assert_int_equal(green_pool_running(c.pool), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(green_spawn(&spawners[i], spawn_and_wait, &c), 0);
        green_sleep(0);
        assert_int_equal(green_pool_waiting(c.pool), (size_t)i);
    }
    assert_int_equal(green_pool_running(c.pool), 1);
    assert_int_equal(green_pool_destroy(c.pool, 1), EBUSY); /* spawners */
    assert_int_equal(green_event_send(c.done, NULL), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(green_thread_wait(spawners[i], NULL), 0);
        green_thread_release(spawners[i]);
    }
    assert_int_equal(green_pool_waiting(c.pool), 0);
    assert_int_equal(green_pool_waitall(c.pool, GREEN_FOREVER), 0);
    assert_int_equal(green_pool_running(c.pool), 0);
    assert_int_equal(green_pool_destroy(c.pool, 0), 0);
    assert_int_equal(green_event_destroy(c.done), 0);
}

/* ---- Re-entrant spawn into a full pool ------------------------------ */

struct reentrant {
    green_pool_t *pool;
    int inner_ran;
    int inner_result;
    int spawn_err;
    int waitall_err;
};

static void *inner_job(void *arg)
{
    struct reentrant *r = arg;

    r->inner_ran++;
    return TEST_INT_VALUE(99);
}

static void *outer_job(void *arg)
{
    struct reentrant *r = arg;
    green_thread_t *t = NULL;
    void *result = NULL;

    /* The pool (size 1) is full with this very job. */
    r->spawn_err = green_pool_spawn(r->pool, &t, inner_job, r);
    if (r->spawn_err == 0) {
        green_thread_wait(t, &result);
        r->inner_result = (int)TEST_VALUE_INT(result);
        green_thread_release(t);
    }
    green_pool_spawn_n(r->pool, inner_job, r);
    r->waitall_err = green_pool_waitall(r->pool, GREEN_FOREVER);
    return NULL;
}

static void test_reentrant_spawn(void **state)
{
    struct reentrant r = {.pool = pool_or_fail(1)};
    green_thread_t *t;

    (void)state;
    assert_int_equal(green_pool_spawn(r.pool, &t, outer_job, &r), 0);
    assert_int_equal(green_thread_wait(t, NULL), 0);
    green_thread_release(t);
    assert_int_equal(r.spawn_err, 0);
    assert_int_equal(r.inner_ran, 2);
    assert_int_equal(r.inner_result, 99);
    assert_int_equal(r.waitall_err, EDEADLK);
    assert_int_equal(green_pool_waitall(r.pool, GREEN_FOREVER), 0);
    assert_int_equal(green_pool_destroy(r.pool, 0), 0);
}

/* ---- Resize --------------------------------------------------------- */

static void *block_on_event(void *arg)
{
    green_event_wait(arg, NULL, GREEN_FOREVER);
    return NULL;
}

struct spawner {
    green_pool_t *pool;
    green_event_t *release;
    int err;
    int done;
};

static void *spawner_run(void *arg)
{
    struct spawner *s = arg;

    s->err = green_pool_spawn_n(s->pool, block_on_event, s->release);
    s->done = 1;
    return NULL;
}

static void test_resize(void **state)
{
    green_pool_t *pool = pool_or_fail(2);
    green_event_t *release = NULL;
    struct spawner s[2];
    green_thread_t *t[2];

    (void)state;
    assert_int_equal(green_event_new(&release), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(green_pool_spawn_n(pool, block_on_event, release), 0);
    assert_int_equal(green_pool_available(pool), 0);
    assert_int_equal(green_pool_resize(pool, 3), 0);
    assert_int_equal(green_pool_available(pool), 1);
    assert_int_equal(green_pool_resize(pool, 1), 0);
    assert_int_equal(green_pool_available(pool), 0);
    assert_int_equal(green_pool_running(pool), 2);

    /* Two spawners block on the over-full pool; growing to 4 lets both in
     * at once, without any member ending. */
    for (int i = 0; i < 2; i++) {
        s[i] = (struct spawner){.pool = pool, .release = release, .err = -1};
        assert_int_equal(green_spawn(&t[i], spawner_run, &s[i]), 0);
    }
    green_sleep(0);
    assert_int_equal(green_pool_waiting(pool), 2);
    assert_int_equal(green_pool_resize(pool, 4), 0);
    assert_int_equal(green_pool_waiting(pool), 0);
    assert_int_equal(green_pool_running(pool), 4);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(green_thread_wait(t[i], NULL), 0);
        green_thread_release(t[i]);
        assert_int_equal(s[i].err, 0);
    }
    assert_int_equal(green_event_send(release, NULL), 0);
    assert_int_equal(green_pool_waitall(pool, GREEN_FOREVER), 0);
    assert_int_equal(green_pool_available(pool), 4);
    assert_int_equal(green_pool_destroy(pool, 0), 0);
    assert_int_equal(green_event_destroy(release), 0);
}

/* Size 0: a spawn waits until the pool is resized. */
static void test_size_zero(void **state)
{
    green_pool_t *pool = pool_or_fail(0);
    green_event_t *release = NULL;
    struct spawner s = {.pool = pool, .err = -1};
    green_thread_t *t;

    (void)state;
    assert_int_equal(green_event_new(&release), 0);
    s.release = release;
    assert_int_equal(green_spawn(&t, spawner_run, &s), 0);
    green_sleep(0.01);
    assert_false(s.done);
    assert_int_equal(green_pool_waiting(pool), 1);
    assert_int_equal(green_pool_resize(pool, 1), 0);
    assert_int_equal(green_thread_wait(t, NULL), 0);
    green_thread_release(t);
    assert_int_equal(s.err, 0);
    assert_int_equal(green_event_send(release, NULL), 0);
    assert_int_equal(green_pool_waitall(pool, GREEN_FOREVER), 0);
    assert_int_equal(green_pool_destroy(pool, 0), 0);
    assert_int_equal(green_event_destroy(release), 0);
}

/* A spawn blocked on a full pool obeys a timeout scope. */
static void test_spawn_timeout_scope(void **state)
{
    green_pool_t *pool = pool_or_fail(0);
    green_timeout_t scope;
    green_thread_t *t = NULL;

    (void)state;
    assert_int_equal(green_timeout_start(&scope, 0.01), 0);
    assert_int_equal(green_pool_spawn(pool, &t, echo_after_sleep, NULL),
                     ETIMEDOUT);
    assert_true(green_timeout_fired(&scope));
    green_timeout_cancel(&scope);
    assert_null(t);
    assert_int_equal(green_pool_waiting(pool), 0);
    assert_int_equal(green_pool_running(pool), 0);
    assert_int_equal(green_pool_destroy(pool, 0), 0);
}

/* Spawners blocked on a full pool get the freed slots in arrival order. */
struct ordered_spawner {
    green_pool_t *pool;
    struct test_log *log;
    int id;
};

static void *log_job(void *arg)
{
    struct ordered_spawner *s = arg;

    test_log_add(s->log, "job%d", s->id);
    return NULL;
}

static void *ordered_spawner_run(void *arg)
{
    struct ordered_spawner *s = arg;

    test_log_add(s->log, "wait%d", s->id);
    if (green_pool_spawn_n(s->pool, log_job, s) != 0)
        test_log_add(s->log, "error%d", s->id);
    return NULL;
}

static void test_spawners_fifo(void **state)
{
    struct test_log log;
    green_pool_t *pool = pool_or_fail(1);
    green_event_t *release = NULL;
    struct ordered_spawner s[3];
    green_thread_t *t[3];

    (void)state;
    test_log_reset(&log);
    assert_int_equal(green_event_new(&release), 0);
    assert_int_equal(green_pool_spawn_n(pool, block_on_event, release), 0);
    for (int i = 0; i < 3; i++) {
        s[i] = (struct ordered_spawner){.pool = pool, .log = &log, .id = i};
        assert_int_equal(green_spawn(&t[i], ordered_spawner_run, &s[i]), 0);
    }
    green_sleep(0);
    assert_int_equal(green_pool_waiting(pool), 3);
    assert_int_equal(green_event_send(release, NULL), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(green_thread_wait(t[i], NULL), 0);
        green_thread_release(t[i]);
    }
    assert_int_equal(green_pool_waitall(pool, GREEN_FOREVER), 0);
    assert_log_equal(&log, "wait0,wait1,wait2,job0,job1,job2");
    assert_int_equal(green_pool_destroy(pool, 0), 0);
    assert_int_equal(green_event_destroy(release), 0);
}

/* ---- Errors, kills, destroy ---------------------------------------- */

static void *fail_with_eio(void *arg)
{
    (void)arg;
    green_thread_exit(EIO, NULL);
    return NULL;
}

static void ignore_error(const char *thread_name, int err)
{
    (void)thread_name;
    (void)err;
}

static void test_errors_and_kills_free_slots(void **state)
{
    green_pool_t *pool = pool_or_fail(1);
    green_event_t *never = NULL;
    green_thread_t *t;
    green_error_hook_fn old_hook = green_hub_set_error_hook(ignore_error);

    (void)state;
    assert_int_equal(green_event_new(&never), 0);
    assert_int_equal(green_pool_spawn(pool, &t, fail_with_eio, NULL), 0);
    assert_int_equal(green_thread_wait(t, NULL), EIO);
    green_thread_release(t);
    assert_int_equal(green_pool_available(pool), 1);
    assert_int_equal(green_pool_spawn_n(pool, fail_with_eio, NULL), 0);
    assert_int_equal(green_pool_waitall(pool, GREEN_FOREVER), 0);
    assert_int_equal(green_pool_available(pool), 1);

    /* Killed while running, and killed before it ever started. */
    assert_int_equal(green_pool_spawn(pool, &t, block_on_event, never), 0);
    green_sleep(0);
    assert_int_equal(green_thread_kill(t), 0);
    green_thread_release(t);
    assert_int_equal(green_pool_available(pool), 1);
    assert_int_equal(green_pool_spawn(pool, &t, block_on_event, never), 0);
    assert_int_equal(green_thread_kill(t), 0);
    green_thread_release(t);
    assert_int_equal(green_pool_available(pool), 1);

    /* Destroy refuses live members unless asked to kill them. */
    assert_int_equal(green_pool_spawn_n(pool, block_on_event, never), 0);
    green_sleep(0);
    assert_int_equal(green_pool_destroy(pool, 0), EBUSY);
    assert_int_equal(green_pool_destroy(pool, 1), 0);
    assert_int_equal(green_event_destroy(never), 0);
    green_hub_set_error_hook(old_hook);
}

/* ---- The canonical loop: exactly `size` running, no spinning -------- */

struct busy_pool {
    int active, peak, done;
};

static void *track_concurrency(void *arg)
{
    struct busy_pool *b = arg;

    if (++b->active > b->peak)
        b->peak = b->active;
    green_sleep(0.001);
    b->active--;
    b->done++;
    return NULL;
}

static void test_spawn_n_loop_keeps_size_running(void **state)
{
    green_pool_t *pool = pool_or_fail(8);
    struct busy_pool b = {0};
    int jobs = (int)test_scaled(400);

    (void)state;
    for (int i = 0; i < jobs; i++) {
        assert_int_equal(green_pool_spawn_n(pool, track_concurrency, &b), 0);
        assert_true(green_pool_running(pool) <= 8);
    }
    assert_int_equal(green_pool_waitall(pool, GREEN_FOREVER), 0);
    assert_int_equal(b.done, jobs);
    assert_int_equal(b.peak, jobs >= 8 ? 8 : jobs);
    assert_int_equal(green_pool_destroy(pool, 0), 0);
}

/* ---- Pile --------------------------------------------------------- */

static void test_pile(void **state)
{
    green_pool_t *shared = pool_or_fail(3);

    (void)state;
    for (int own = 0; own < 2; own++) {
        green_pile_t *pile = NULL;
        void *result;
        int job_err;

        assert_int_equal(green_pile_new(&pile, own ? NULL : shared, 3), 0);
        assert_int_equal(green_pile_next(pile, &result, &job_err, 0), ENODATA);
        for (int i = 0; i < 10; i++)
            assert_int_equal(
                green_pile_spawn(pile, echo_after_sleep, TEST_INT_VALUE(i)), 0);
        assert_int_equal(green_pile_pending(pile), 10);
        for (int i = 0; i < 10; i++) {
            assert_int_equal(
                green_pile_next(pile, &result, &job_err, GREEN_FOREVER), 0);
            assert_int_equal(job_err, 0);
            assert_int_equal(TEST_VALUE_INT(result), i);
        }
        assert_int_equal(green_pile_next(pile, &result, &job_err, 0), ENODATA);
        /* A timed-out next leaves the result in place. */
        assert_int_equal(
            green_pile_spawn(pile, echo_after_sleep, TEST_INT_VALUE(0)), 0);
        assert_int_equal(green_pile_next(pile, &result, &job_err, 0.001),
                         ETIMEDOUT);
        assert_int_equal(green_pile_pending(pile), 1);
        /* Destroy kills what was not taken. */
        assert_int_equal(green_pile_destroy(pile), 0);
    }
    assert_int_equal(green_pool_running(shared), 0);
    assert_int_equal(green_pool_destroy(shared, 0), 0);
}

/* ---- imap ------------------------------------------------------------ */

struct counter_input {
    int next, end;
};

static int next_counter(void *context, void **arg)
{
    struct counter_input *in = context;

    if (in->next == in->end)
        return ENODATA;
    *arg = TEST_INT_VALUE(in->next++);
    return 0;
}

struct imap_job_stats {
    int active, peak;
};
static struct imap_job_stats imap_stats;

/* Multiples of 3 fail with EIO; the others return twice their input. */
static void *double_or_fail(void *arg)
{
    intptr_t i = TEST_VALUE_INT(arg);

    if (++imap_stats.active > imap_stats.peak)
        imap_stats.peak = imap_stats.active;
    green_sleep(0.0005 * (double)(7 - i % 7));
    imap_stats.active--;
    if (i % 3 == 0)
        green_thread_exit(EIO, NULL);
    return TEST_INT_VALUE(2 * i);
}

static void test_imap(void **state)
{
    green_pool_t *pool = pool_or_fail(4);
    struct counter_input input = {.next = 0, .end = 40};
    green_pool_imap_t *map = NULL;
    green_error_hook_fn old_hook = green_hub_set_error_hook(ignore_error);
    void *result;
    int job_err;

    (void)state;
    imap_stats = (struct imap_job_stats){0};
    assert_int_equal(
        green_pool_imap(&map, pool, double_or_fail, next_counter, &input), 0);
    for (int i = 0; i < input.end; i++) {
        assert_int_equal(
            green_pool_imap_next(map, &result, &job_err, GREEN_FOREVER), 0);
        if (i % 3 == 0) {
            assert_int_equal(job_err, EIO);
        } else {
            assert_int_equal(job_err, 0);
            assert_int_equal(TEST_VALUE_INT(result), 2 * i);
        }
        /* Bounded: never more than the pool's size pulled ahead. */
        assert_true(input.next - i <= 4);
    }
    assert_int_equal(
        green_pool_imap_next(map, &result, &job_err, GREEN_FOREVER), ENODATA);
    assert_true(imap_stats.peak <= 4);
    assert_true(imap_stats.peak >= 2);
    assert_int_equal(green_pool_imap_destroy(map), 0);
    assert_int_equal(green_pool_destroy(pool, 0), 0);
    green_hub_set_error_hook(old_hook);
}

/* The input function failing ends the map with its error, once, after
 * the results of the inputs it did produce. */
static int next_counter_then_fail(void *context, void **arg)
{
    struct counter_input *in = context;

    if (in->next == in->end)
        return EPROTO;
    *arg = TEST_INT_VALUE(in->next++);
    return 0;
}

static void test_imap_input_error(void **state)
{
    green_pool_t *pool = pool_or_fail(2);
    struct counter_input input = {.next = 1, .end = 4};
    green_pool_imap_t *map = NULL;
    void *result;
    int job_err;

    (void)state;
    assert_int_equal(green_pool_imap(&map, pool, double_or_fail,
                                     next_counter_then_fail, &input),
                     0);
    for (int i = 1; i < 4; i++) {
        assert_int_equal(green_pool_imap_next(map, &result, &job_err, 1.0), 0);
        assert_int_equal(job_err, i % 3 == 0 ? EIO : 0);
    }
    assert_int_equal(green_pool_imap_next(map, &result, &job_err, 1.0), EPROTO);
    assert_int_equal(green_pool_imap_next(map, &result, &job_err, 1.0),
                     ENODATA);
    assert_int_equal(green_pool_imap_destroy(map), 0);
    assert_int_equal(green_pool_destroy(pool, 0), 0);
}

/* A member killed before its result is taken reports ECANCELED at its
 * place; the results around it are unaffected. */
struct self_recorder {
    green_thread_t *self;
    green_event_t *never;
};

static void *record_self_and_block(void *arg)
{
    struct self_recorder *r = arg;

    r->self = green_thread_self();
    green_event_wait(r->never, NULL, GREEN_FOREVER);
    return TEST_INT_VALUE(-1);
}

/* Set by test_pile_killed_member once it has counted its members. */
static green_event_t *pile_release;

static void *echo_when_released(void *arg)
{
    green_event_wait(pile_release, NULL, GREEN_FOREVER);
    return arg;
}

static void test_pile_killed_member(void **state)
{
    green_pool_t *pool = pool_or_fail(4);
    struct self_recorder r = {0};
    green_pile_t *pile = NULL;
    void *result;
    int job_err;

    (void)state;
    assert_int_equal(green_event_new(&r.never), 0);
    assert_int_equal(green_event_new(&pile_release), 0);
    assert_int_equal(green_pile_new(&pile, pool, 0), 0);
    assert_int_equal(
        green_pile_spawn(pile, echo_when_released, TEST_INT_VALUE(1)), 0);
    assert_int_equal(green_pile_spawn(pile, record_self_and_block, &r), 0);
    assert_int_equal(
        green_pile_spawn(pile, echo_when_released, TEST_INT_VALUE(3)), 0);
    green_sleep(0);
    assert_non_null(r.self);
    assert_int_equal(green_thread_kill(r.self), 0);
    /* The other two still wait for the release (they slept 0.1 s before,
     * which a stalled TSan run overran). */
    assert_int_equal(green_pool_running(pool), 2);
    assert_int_equal(green_event_send(pile_release, NULL), 0);
    assert_int_equal(green_pile_next(pile, &result, &job_err, GREEN_FOREVER),
                     0);
    assert_int_equal(job_err, 0);
    assert_int_equal(TEST_VALUE_INT(result), 1);
    assert_int_equal(green_pile_next(pile, &result, &job_err, GREEN_FOREVER),
                     0);
    assert_int_equal(job_err, ECANCELED);
    assert_int_equal(green_pile_next(pile, &result, &job_err, GREEN_FOREVER),
                     0);
    assert_int_equal(job_err, 0);
    assert_int_equal(TEST_VALUE_INT(result), 3);
    assert_int_equal(green_pile_next(pile, &result, &job_err, 0), ENODATA);
    assert_int_equal(green_pile_destroy(pile), 0);
    assert_int_equal(green_pool_destroy(pool, 0), 0);
    assert_int_equal(green_event_destroy(r.never), 0);
    assert_int_equal(green_event_destroy(pile_release), 0);
}

/* Spawns that wait for a slot of a full pool keep their places: each
 * result comes back once, in the order the spawns were requested. */
struct pile_spawner {
    green_pile_t *pile;
    int value;
    int err;
};

static void *spawn_into_pile(void *arg)
{
    struct pile_spawner *s = arg;

    s->err =
        green_pile_spawn(s->pile, echo_after_sleep, TEST_INT_VALUE(s->value));
    return NULL;
}

static void test_pile_spawners_wait_for_slots(void **state)
{
    enum { SPAWNERS = 7 };
    green_pool_t *pool = pool_or_fail(1);
    struct pile_spawner s[SPAWNERS];
    green_thread_t *t[SPAWNERS];
    green_pile_t *pile = NULL;
    void *result;
    int job_err;

    (void)state;
    assert_int_equal(green_pile_new(&pile, pool, 0), 0);
    assert_int_equal(
        green_pile_spawn(pile, echo_after_sleep, TEST_INT_VALUE(100)), 0);
    for (int i = 0; i < SPAWNERS; i++) {
        s[i] = (struct pile_spawner){.pile = pile, .value = i, .err = -1};
        assert_int_equal(green_spawn(&t[i], spawn_into_pile, &s[i]), 0);
    }
    green_sleep(0);
    assert_int_equal(green_pool_waiting(pool), SPAWNERS);
    assert_int_equal(green_pile_pending(pile), SPAWNERS + 1);
    assert_int_equal(green_pile_next(pile, &result, &job_err, GREEN_FOREVER),
                     0);
    assert_int_equal(TEST_VALUE_INT(result), 100);
    for (int i = 0; i < SPAWNERS; i++) {
        assert_int_equal(
            green_pile_next(pile, &result, &job_err, GREEN_FOREVER), 0);
        assert_int_equal(job_err, 0);
        assert_int_equal(TEST_VALUE_INT(result), i);
    }
    assert_int_equal(green_pile_next(pile, &result, &job_err, 0), ENODATA);
    for (int i = 0; i < SPAWNERS; i++) {
        assert_int_equal(green_thread_wait(t[i], NULL), 0);
        assert_int_equal(s[i].err, 0);
        green_thread_release(t[i]);
    }
    assert_int_equal(green_pile_destroy(pile), 0);
    assert_int_equal(green_pool_destroy(pool, 0), 0);
}

/* A spawn counts from the moment it is requested: next() waits for a
 * spawn still waiting for a slot instead of reporting the pile empty. */
static void test_pile_next_waits_for_pending_spawn(void **state)
{
    green_pool_t *pool = pool_or_fail(1);
    struct self_recorder r = {0};
    struct pile_spawner s = {.value = 5, .err = -1};
    green_thread_t *blocker = NULL, *t = NULL;
    green_pile_t *pile = NULL;
    void *result;
    int job_err;

    (void)state;
    assert_int_equal(green_event_new(&r.never), 0);
    assert_int_equal(
        green_pool_spawn(pool, &blocker, record_self_and_block, &r), 0);
    assert_int_equal(green_pile_new(&pile, pool, 0), 0);
    s.pile = pile;
    assert_int_equal(green_spawn(&t, spawn_into_pile, &s), 0);
    green_sleep(0);
    assert_int_equal(green_pool_waiting(pool), 1);
    assert_int_equal(green_pile_pending(pile), 1);
    assert_int_equal(green_pile_next(pile, &result, &job_err, 0.01), ETIMEDOUT);
    /* The pile is busy while a spawn into it waits. */
    assert_int_equal(green_pile_destroy(pile), EBUSY);
    assert_int_equal(green_event_send(r.never, NULL), 0);
    assert_int_equal(green_pile_next(pile, &result, &job_err, GREEN_FOREVER),
                     0);
    assert_int_equal(job_err, 0);
    assert_int_equal(TEST_VALUE_INT(result), 5);
    assert_int_equal(green_thread_wait(t, NULL), 0);
    assert_int_equal(s.err, 0);
    green_thread_release(t);
    green_thread_release(blocker);
    assert_int_equal(green_pile_next(pile, &result, &job_err, 0), ENODATA);
    assert_int_equal(green_pile_destroy(pile), 0);
    assert_int_equal(green_pool_destroy(pool, 0), 0);
    assert_int_equal(green_event_destroy(r.never), 0);
}

static void test_invalid_arguments(void **state)
{
    green_pool_t *pool = pool_or_fail(1);
    green_thread_t *t;

    (void)state;
    assert_int_equal(green_pool_new(NULL, 1), EINVAL);
    assert_int_equal(green_pool_spawn(NULL, &t, echo_after_sleep, NULL),
                     EINVAL);
    assert_int_equal(green_pool_spawn(pool, NULL, echo_after_sleep, NULL),
                     EINVAL);
    assert_int_equal(green_pool_spawn_n(pool, NULL, NULL), EINVAL);
    assert_int_equal(green_pool_waitall(NULL, 0), EINVAL);
    assert_int_equal(green_pool_resize(NULL, 1), EINVAL);
    assert_int_equal(green_pool_destroy(NULL, 0), EINVAL);
    assert_int_equal(green_pile_new(NULL, pool, 1), EINVAL);
    assert_int_equal(green_pile_spawn(NULL, echo_after_sleep, NULL), EINVAL);
    assert_int_equal(
        green_pool_imap(NULL, pool, echo_after_sleep, next_counter, NULL),
        EINVAL);
    assert_int_equal(green_pool_destroy(pool, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spawn_results_in_order),
        cmocka_unit_test(test_waiting),
        cmocka_unit_test(test_reentrant_spawn),
        cmocka_unit_test(test_resize),
        cmocka_unit_test(test_size_zero),
        cmocka_unit_test(test_spawn_timeout_scope),
        cmocka_unit_test(test_spawners_fifo),
        cmocka_unit_test(test_errors_and_kills_free_slots),
        cmocka_unit_test(test_spawn_n_loop_keeps_size_running),
        cmocka_unit_test(test_pile),
        cmocka_unit_test(test_imap),
        cmocka_unit_test(test_imap_input_error),
        cmocka_unit_test(test_pile_killed_member),
        cmocka_unit_test(test_pile_spawners_wait_for_slots),
        cmocka_unit_test(test_pile_next_waits_for_pending_spawn),
        cmocka_unit_test(test_invalid_arguments),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
