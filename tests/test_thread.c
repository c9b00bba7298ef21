/* GREEN_TEST_BACKENDS */
/*
 * Green threads: spawn and wait, spawn_n, spawn_after, kill and cancel,
 * links, handle lifetime, sticky kills on every blocking call, names and
 * green_threads_dump, deadlock reports.
 */
#define _GNU_SOURCE
#include "test_hub_util.h"

#include <green/thread.h>
#include <green/timeout.h>

#include <errno.h>
#include <unistd.h>

/* ---- spawn, wait, spawn_n ---------------------------------------------- */

static void *add_one(void *arg)
{
    return TEST_INT_VALUE(TEST_VALUE_INT(arg) + 1);
}

static void test_spawn_wait_returns_result(void **state)
{
    green_thread_t *t = spawn_or_fail(add_one, TEST_INT_VALUE(41));
    void *result = NULL;

    (void)state;
    assert_false(green_thread_started(t));
    assert_int_equal(green_thread_result(t, &result), EAGAIN);
    assert_int_equal(green_thread_wait(t, &result), 0);
    assert_int_equal(TEST_VALUE_INT(result), 42);
    assert_true(green_thread_dead(t));
    assert_int_equal(green_thread_result(t, &result), 0);
    assert_int_equal(TEST_VALUE_INT(result), 42);
    /* Waiting again on a dead thread gives the same answer at once. */
    assert_int_equal(green_thread_wait(t, &result), 0);
    assert_int_equal(TEST_VALUE_INT(result), 42);
    green_thread_release(t);
}

static void *set_flag(void *arg)
{
    *(int *)arg += 1;
    return NULL;
}

static void test_spawn_runs_on_next_pass_not_inline(void **state)
{
    int ran = 0, ran_n = 0;
    green_thread_t *t = spawn_or_fail(set_flag, &ran);

    (void)state;
    assert_int_equal(green_spawn_n(set_flag, &ran_n), 0);
    assert_int_equal(ran, 0);
    assert_int_equal(ran_n, 0);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(ran, 1);
    assert_int_equal(ran_n, 1);
    assert_int_equal(green_thread_wait(t, NULL), 0);
    green_thread_release(t);
}

static void *exit_with_error(void *arg)
{
    green_thread_exit(EIO, NULL);
    *(int *)arg = 1; /* never reached */
    return NULL;
}

static void test_thread_exit_reports_error(void **state)
{
    int reached = 0;
    green_thread_t *t = spawn_or_fail(exit_with_error, &reached);
    void *result = TEST_INT_VALUE(1);

    (void)state;
    assert_int_equal(green_thread_wait(t, &result), EIO);
    assert_null(result);
    assert_int_equal(reached, 0);
    green_thread_release(t);
    /* The worker that ended still leaves the hub working. */
    t = spawn_or_fail(add_one, TEST_INT_VALUE(1));
    assert_int_equal(green_thread_wait(t, &result), 0);
    assert_int_equal(TEST_VALUE_INT(result), 2);
    green_thread_release(t);
    assert_int_equal(green_thread_exit(0, NULL), EPERM); /* from main */
}

static void *return_self(void *arg)
{
    (void)arg;
    return green_thread_self();
}

static void test_self_and_wait_on_self(void **state)
{
    green_thread_t *t = spawn_or_fail(return_self, NULL);
    void *result = NULL;

    (void)state;
    assert_null(green_thread_self());
    assert_int_equal(green_thread_wait(t, &result), 0);
    assert_ptr_equal(result, t);
    green_thread_release(t);
}

static void *wait_on_self(void *arg)
{
    *(int *)arg = green_thread_wait(green_thread_self(), NULL);
    return NULL;
}

static void test_wait_on_self_is_edeadlk(void **state)
{
    int err = -1;
    green_thread_t *t = spawn_or_fail(wait_on_self, &err);

    (void)state;
    assert_int_equal(green_thread_wait(t, NULL), 0);
    assert_int_equal(err, EDEADLK);
    green_thread_release(t);
}

/* ---- Round robin -----------------------------------------------------------
 */

struct yielder {
    struct test_log *log;
    char name;
    int rounds;
};

static void *yield_rounds(void *arg)
{
    struct yielder *y = arg;

    for (int i = 0; i < y->rounds; i++) {
        test_log_add(y->log, "%c%d", y->name, i);
        green_sleep(0);
    }
    return NULL;
}

static void test_sleep_zero_round_robin(void **state)
{
    struct test_log log;
    struct yielder y[3];
    green_thread_t *t[3];

    (void)state;
    test_log_reset(&log);
    for (int i = 0; i < 3; i++) {
        y[i] =
            (struct yielder){.log = &log, .name = (char)('a' + i), .rounds = 3};
        t[i] = spawn_or_fail(yield_rounds, &y[i]);
    }
    for (int i = 0; i < 3; i++) {
        assert_int_equal(green_thread_wait(t[i], NULL), 0);
        green_thread_release(t[i]);
    }
    assert_log_equal(&log, "a0,b0,c0,a1,b1,c1,a2,b2,c2");
}

/* ---- Kill and cancel --------------------------------------------------- */

static void record_link(green_thread_t *t, void *arg)
{
    (void)t;
    test_log_add(arg, "link");
}

static void test_kill_before_start(void **state)
{
    int ran = 0;
    struct test_log log;
    green_thread_t *t = spawn_or_fail(set_flag, &ran);

    (void)state;
    test_log_reset(&log);
    assert_int_equal(green_thread_link(t, record_link, &log), 0);
    assert_int_equal(green_thread_kill(t), 0);
    assert_true(green_thread_dead(t));
    assert_log_equal(&log, "link");
    assert_int_equal(green_thread_kill(t), 0); /* second kill: no-op */
    assert_int_equal(green_thread_wait(t, NULL), ECANCELED);
    assert_int_equal(green_sleep(0.01), 0);
    assert_int_equal(ran, 0);
    assert_log_equal(&log, "link");
    green_thread_release(t);
}

/* Blocks in one kind of call, then checks the kill is sticky. */
enum block_kind {
    BLOCK_SLEEPING,
    BLOCK_PARKED,
    BLOCK_FD,
    BLOCK_JOINING,
    BLOCK_YIELDING,
    BLOCK_KINDS
};

struct victim {
    enum block_kind kind;
    int fd;
    green_thread_t *other;
    int started;
    int first_err;
    int later_errs[4];
};

static void *victim_run(void *arg)
{
    struct victim *v = arg;
    green_waiter_t w;

    v->started = 1;
    switch (v->kind) {
    case BLOCK_SLEEPING:
        v->first_err = green_sleep(100);
        break;
    case BLOCK_PARKED:
        green_waiter_init(&w);
        v->first_err = green_park(&w, GREEN_FOREVER, NULL);
        break;
    case BLOCK_FD:
        v->first_err = green_wait_fd(v->fd, GREEN_READ, GREEN_FOREVER);
        break;
    case BLOCK_JOINING:
        v->first_err = green_thread_wait(v->other, NULL);
        break;
    case BLOCK_YIELDING:
        do {
            v->first_err = green_sleep(0);
        } while (v->first_err == 0);
        break;
    case BLOCK_KINDS:
        break;
    }
    /* The kill is sticky: every later blocking call fails at once. */
    green_waiter_init(&w);
    v->later_errs[0] = green_sleep(0);
    v->later_errs[1] = green_sleep(0.01);
    v->later_errs[2] = green_park(&w, 0.01, NULL);
    v->later_errs[3] = green_wait_fd(v->fd, GREEN_READ, 0.01);
    return TEST_INT_VALUE(7);
}

static void *sleep_long(void *arg)
{
    (void)arg;
    green_sleep(100);
    return NULL;
}

static void test_kill_reports_ecanceled_from_every_blocking_call(void **state)
{
    int fds[2];

    (void)state;
    assert_int_equal(pipe(fds), 0);
    for (int kind = 0; kind < BLOCK_KINDS; kind++) {
        struct victim v = {
            .kind = (enum block_kind)kind, .fd = fds[0], .first_err = -1};
        green_thread_t *t;
        void *result = NULL;

        v.other = spawn_or_fail(sleep_long, NULL);
        t = spawn_or_fail(victim_run, &v);
        assert_int_equal(green_sleep(0), 0);
        assert_int_equal(green_sleep(0), 0);
        assert_true(v.started);
        assert_int_equal(green_thread_kill(t), 0);
        assert_true(green_thread_dead(t));
        assert_int_equal(v.first_err, ECANCELED);
        for (int i = 0; i < 4; i++)
            assert_int_equal(v.later_errs[i], ECANCELED);
        /* A killed thread reports ECANCELED, whatever it returned. */
        assert_int_equal(green_thread_wait(t, &result), ECANCELED);
        assert_null(result);
        assert_int_equal(green_thread_kill(t), 0); /* dead: no-op */
        green_thread_release(t);
        assert_int_equal(green_thread_kill(v.other), 0);
        green_thread_release(v.other);
    }
    close(fds[0]);
    close(fds[1]);
}

static void test_cancel_only_before_start(void **state)
{
    int ran = 0;
    green_thread_t *t = spawn_or_fail(set_flag, &ran);
    green_thread_t *u;

    (void)state;
    assert_int_equal(green_thread_cancel(t), 0);
    assert_int_equal(green_thread_wait(t, NULL), ECANCELED);
    green_thread_release(t);

    u = spawn_or_fail(sleep_long, NULL);
    assert_int_equal(green_sleep(0), 0);
    assert_true(green_thread_started(u));
    assert_int_equal(green_thread_cancel(u), EALREADY);
    assert_false(green_thread_dead(u));
    assert_int_equal(green_thread_kill(u), 0);
    assert_int_equal(green_thread_cancel(u), EALREADY);
    green_thread_release(u);
    assert_int_equal(ran, 0);
}

/* ---- Kill details
 * ------------------------------------------------------------ */

struct handoff {
    green_waiter_t waiter;
    int park_err;
    void *value;
    int next_err;
};

static void *park_then_sleep(void *arg)
{
    struct handoff *h = arg;

    green_waiter_init(&h->waiter);
    h->park_err = green_park(&h->waiter, GREEN_FOREVER, &h->value);
    h->next_err = green_sleep(0);
    return NULL;
}

/* An unpark that came first keeps its result; the kill fails the next
 * blocking call instead, so nothing handed over is lost. */
static void test_unpark_before_kill_keeps_its_result(void **state)
{
    struct handoff h = {.park_err = -1, .next_err = -1};
    green_thread_t *t = spawn_or_fail(park_then_sleep, &h);

    (void)state;
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_unpark(&h.waiter, 0, TEST_INT_VALUE(5)), 0);
    assert_int_equal(green_thread_kill(t), 0);
    assert_int_equal(h.park_err, 0);
    assert_int_equal(TEST_VALUE_INT(h.value), 5);
    assert_int_equal(h.next_err, ECANCELED);
    assert_int_equal(green_thread_wait(t, NULL), ECANCELED);
    green_thread_release(t);
}

static void *kill_self(void *arg)
{
    *(int *)arg = 1;
    green_thread_kill(green_thread_self());
    *(int *)arg = 2; /* never reached */
    return NULL;
}

static void test_kill_self_ends_at_once(void **state)
{
    int reached = 0;
    green_thread_t *t = spawn_or_fail(kill_self, &reached);

    (void)state;
    assert_int_equal(green_thread_wait(t, NULL), ECANCELED);
    assert_int_equal(reached, 1);
    green_thread_release(t);
}

struct hub_killer {
    green_thread_t *victim;
    int err;
};

static void kill_from_timer(void *arg)
{
    struct hub_killer *k = arg;

    k->err = green_thread_kill(k->victim);
}

static void test_kill_from_hub_callback(void **state)
{
    struct hub_killer k = {.err = -1};
    green_timer_t *timer;

    (void)state;
    k.victim = spawn_or_fail(sleep_long, NULL);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_timer_start(&timer, 0, kill_from_timer, &k), 0);
    assert_int_equal(green_thread_wait(k.victim, NULL), ECANCELED);
    assert_int_equal(k.err, EINPROGRESS);
    green_thread_release(k.victim);
}

static void *kill_other(void *arg)
{
    return TEST_INT_VALUE(green_thread_kill(arg));
}

static void test_green_thread_kills_green_thread(void **state)
{
    green_thread_t *victim = spawn_or_fail(sleep_long, NULL);
    green_thread_t *killer;
    void *result = TEST_INT_VALUE(-1);

    (void)state;
    assert_int_equal(green_sleep(0), 0);
    killer = spawn_or_fail(kill_other, victim);
    assert_int_equal(green_thread_wait(killer, &result), 0);
    /* The killer waited for the end: 0, and the victim is dead. */
    assert_int_equal(TEST_VALUE_INT(result), 0);
    assert_true(green_thread_dead(victim));
    green_thread_release(killer);
    green_thread_release(victim);
}

/* ---- spawn_after --------------------------------------------------------- */

static void *record_time(void *arg)
{
    *(double *)arg = green_now();
    return NULL;
}

static void test_spawn_after(void **state)
{
    double ran_at = 0, start = green_now();
    green_thread_t *t = NULL, *cancelled = NULL;
    double never = 0;

    (void)state;
    /* 1 s: still not started after the 0.01 s sleep below even when a
     * loaded machine stretches that sleep by a large fraction of 1 s. */
    assert_int_equal(green_spawn_after(&t, 1.0, record_time, &ran_at), 0);
    assert_int_equal(green_spawn_after(&cancelled, 0.01, record_time, &never),
                     0);
    assert_int_equal(green_thread_cancel(cancelled), 0);
    assert_int_equal(green_sleep(0.01), 0);
    assert_false(green_thread_started(t));
    assert_int_equal(green_thread_wait(t, NULL), 0);
    assert_true(ran_at - start >= 0.995);
    assert_true(ran_at - start < 20.0);
    assert_int_equal(green_thread_cancel(t), EALREADY);
    assert_int_equal(green_thread_wait(cancelled, NULL), ECANCELED);
    assert_true(never == 0);
    green_thread_release(t);
    green_thread_release(cancelled);
    assert_int_equal(green_spawn_after(&t, -1, record_time, &never), EINVAL);
}

static void test_spawn_after_killed_before_start(void **state)
{
    double never = 0;
    green_thread_t *t = NULL;

    (void)state;
    assert_int_equal(green_spawn_after(&t, 0.02, record_time, &never), 0);
    assert_int_equal(green_thread_kill(t), 0);
    assert_int_equal(green_sleep(0.04), 0);
    assert_true(never == 0);
    assert_int_equal(green_thread_wait(t, NULL), ECANCELED);
    green_thread_release(t);
}

/* ---- Links -----------------------------------------------------------------
 */

struct link_record {
    struct test_log *log;
    const char *tag;
    green_thread_t *expected;
    int mismatched;
};

static void log_link(green_thread_t *t, void *arg)
{
    struct link_record *r = arg;

    if (t != r->expected)
        r->mismatched = 1;
    test_log_add(r->log, "%s", r->tag);
}

static struct link_record inner_record;
static int inner_link_err;

/* Runs in the dying thread: records, never asserts. */
static void link_adding_link(green_thread_t *t, void *arg)
{
    log_link(t, arg);
    inner_link_err = green_thread_link(t, log_link, &inner_record);
}

static void test_links_fifo_after_exit_and_nested(void **state)
{
    struct test_log log;
    green_thread_t *t = spawn_or_fail(add_one, NULL);
    struct link_record a = {.log = &log, .tag = "a", .expected = t};
    struct link_record b = {.log = &log, .tag = "b", .expected = t};
    struct link_record c = {.log = &log, .tag = "c", .expected = t};
    struct link_record nest = {.log = &log, .tag = "nest", .expected = t};
    struct link_record late = {.log = &log, .tag = "late", .expected = t};

    (void)state;
    test_log_reset(&log);
    inner_record =
        (struct link_record){.log = &log, .tag = "inner", .expected = t};
    assert_int_equal(green_thread_link(t, log_link, &a), 0);
    assert_int_equal(green_thread_link(t, link_adding_link, &nest), 0);
    assert_int_equal(green_thread_link(t, log_link, &b), 0);
    assert_int_equal(green_thread_link(t, log_link, &c), 0);
    assert_int_equal(green_thread_unlink(t, log_link, &b), 0);
    assert_int_equal(green_thread_unlink(t, log_link, &b), ENOENT);
    assert_int_equal(green_thread_wait(t, NULL), 0);
    assert_log_equal(&log, "a,nest,inner,c");
    assert_int_equal(inner_link_err, 0);
    /* A link added after the end runs at once. */
    assert_int_equal(green_thread_link(t, log_link, &late), 0);
    assert_log_equal(&log, "a,nest,inner,c,late");
    assert_false(a.mismatched || c.mismatched || nest.mismatched ||
                 late.mismatched || inner_record.mismatched);
    assert_int_equal(green_thread_link(NULL, log_link, &a), EINVAL);
    assert_int_equal(green_thread_link(t, NULL, &a), EINVAL);
    green_thread_release(t);
}

static void test_link_fires_on_kill_of_running_thread(void **state)
{
    struct test_log log;
    green_thread_t *t = spawn_or_fail(sleep_long, NULL);
    struct link_record r = {.log = &log, .tag = "killed", .expected = t};

    (void)state;
    test_log_reset(&log);
    assert_int_equal(green_thread_link(t, log_link, &r), 0);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_thread_kill(t), 0);
    assert_log_equal(&log, "killed");
    green_thread_release(t);
}

/* ---- Handle lifetime (valgrind checks these for leaks) ------------------ */

static void test_release_in_every_order(void **state)
{
    (void)state;
    for (int order = 0; order < 6; order++) {
        green_thread_t *t = spawn_or_fail(sleep_long, NULL);
        struct test_log log;
        struct link_record r = {.log = &log, .tag = "l", .expected = t};

        test_log_reset(&log);
        green_thread_link(t, log_link, &r);
        switch (order) {
        case 0: /* release before it starts, then let it be killed */
            green_thread_retain(t);
            green_thread_release(t);
            assert_int_equal(green_thread_kill(t), 0);
            green_thread_release(t);
            break;
        case 1: /* release while it runs; the hub teardown kills it */
            green_sleep(0);
            green_thread_release(t);
            break;
        case 2: /* wait after a kill, then release */
            green_sleep(0);
            assert_int_equal(green_thread_kill(t), 0);
            assert_int_equal(green_thread_wait(t, NULL), ECANCELED);
            green_thread_release(t);
            break;
        case 3: /* an extra reference outlives the first */
            green_thread_retain(t);
            green_thread_release(t);
            green_sleep(0);
            assert_int_equal(green_thread_kill(t), 0);
            green_thread_release(t);
            break;
        case 4: /* release before start; never waited */
            green_thread_release(t);
            break;
        case 5: /* cancel, release, then the links are gone too */
            assert_int_equal(green_thread_cancel(t), 0);
            green_thread_release(t);
            break;
        }
        assert_int_equal(green_hub_destroy(), 0);
    }
}

static void test_handle_survives_hub_destroy(void **state)
{
    green_thread_t *t = spawn_or_fail(sleep_long, NULL);
    green_thread_t *u = spawn_or_fail(add_one, TEST_INT_VALUE(1));

    (void)state;
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_hub_destroy(), 0);
    assert_true(green_thread_dead(t));
    assert_int_equal(green_thread_result(t, NULL), ECANCELED);
    assert_true(green_thread_dead(u));
    assert_int_equal(green_thread_result(u, NULL), 0);
    green_thread_release(t);
    green_thread_release(u);
}

static void *spawn_n_child(void *arg)
{
    (*(int *)arg)++;
    return NULL;
}

static void test_many_spawns(void **state)
{
    size_t n = test_scaled(20000);
    int count = 0;

    (void)state;
    for (size_t round = 0; round < 4; round++) {
        for (size_t i = 0; i < n / 4; i++)
            assert_int_equal(green_spawn_n(spawn_n_child, &count), 0);
        assert_int_equal(green_hub_run(), 0);
    }
    assert_int_equal(count, (int)(n / 4 * 4));
}

static void *use_deep_stack(void *arg)
{
    volatile char buffer[200 * 1024];

    buffer[0] = 1;
    buffer[sizeof(buffer) - 1] = 2;
    return TEST_INT_VALUE(buffer[0] + buffer[sizeof(buffer) - 1] +
                          TEST_VALUE_INT(arg));
}

static void test_attr_name_and_stack(void **state)
{
    green_thread_attr_t attr = {.name = "big-stack", .stack_size = 512 * 1024};
    green_thread_t *t = NULL;
    void *result = NULL;

    (void)state;
    assert_int_equal(
        green_spawn_attr(&t, &attr, use_deep_stack, TEST_INT_VALUE(4)), 0);
    assert_string_equal(green_thread_name(t), "big-stack");
    assert_int_equal(green_thread_set_name(t, "renamed"), 0);
    assert_string_equal(green_thread_name(t), "renamed");
    assert_int_equal(green_thread_wait(t, &result), 0);
    assert_int_equal(TEST_VALUE_INT(result), 7);
    green_thread_release(t);
    assert_int_equal(green_spawn(NULL, add_one, NULL), EINVAL);
    assert_int_equal(green_spawn(&t, NULL, NULL), EINVAL);
}

/* ---- Dump ------------------------------------------------------------------
 */

static void *wait_readable(void *arg)
{
    return TEST_INT_VALUE(
        green_wait_fd(*(int *)arg, GREEN_READ, GREEN_FOREVER));
}

static void test_threads_dump(void **state)
{
    green_thread_attr_t sleeper_attr = {.name = "sleeper"};
    green_thread_attr_t reader_attr = {.name = "reader"};
    green_thread_t *sleeper = NULL, *reader = NULL, *fresh = NULL;
    char *text = NULL, expected[64];
    size_t size = 0;
    FILE *out;
    int fds[2];

    (void)state;
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(
        green_spawn_attr(&sleeper, &sleeper_attr, sleep_long, NULL), 0);
    assert_int_equal(
        green_spawn_attr(&reader, &reader_attr, wait_readable, &fds[0]), 0);
    assert_int_equal(green_sleep(0), 0);
    fresh = spawn_or_fail(add_one, NULL);

    out = open_memstream(&text, &size);
    assert_non_null(out);
    green_threads_dump(out);
    fclose(out);
    assert_non_null(strstr(text, "sleeper"));
    assert_non_null(strstr(text, "reader"));
    assert_non_null(strstr(text, "sleep (deadline in"));
    snprintf(expected, sizeof(expected), "fd %d read", fds[0]);
    assert_non_null(strstr(text, expected));
    assert_non_null(strstr(text, " new\n"));
    assert_non_null(strstr(text, "main"));
    assert_non_null(strstr(text, "running"));
    assert_non_null(strstr(text, "3 green threads"));
    free(text);

    assert_int_equal(green_thread_kill(sleeper), 0);
    assert_int_equal(green_thread_kill(reader), 0);
    assert_int_equal(green_thread_wait(fresh, NULL), 0);
    green_thread_release(sleeper);
    green_thread_release(reader);
    green_thread_release(fresh);
    close(fds[0]);
    close(fds[1]);
}

/* ---- Deadlock ---------------------------------------------------------------
 */

static void *park_forever(void *arg)
{
    green_waiter_t w;

    green_waiter_init(&w);
    *(int *)arg = green_park(&w, GREEN_FOREVER, NULL);
    return NULL;
}

static void test_wait_on_stuck_thread_is_edeadlk(void **state)
{
    int err = -1;
    green_thread_t *t = spawn_or_fail(park_forever, &err);

    (void)state;
    assert_int_equal(green_thread_wait(t, NULL), EDEADLK);
    assert_false(green_thread_dead(t));
    /* A timeout is something that can wake main: no deadlock. */
    assert_int_equal(green_sleep(0.01), 0);
    assert_int_equal(green_thread_kill(t), 0);
    assert_int_equal(err, ECANCELED);
    green_thread_release(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        hub_test(test_spawn_wait_returns_result),
        hub_test(test_spawn_runs_on_next_pass_not_inline),
        hub_test(test_thread_exit_reports_error),
        hub_test(test_self_and_wait_on_self),
        hub_test(test_wait_on_self_is_edeadlk),
        hub_test(test_sleep_zero_round_robin),
        hub_test(test_kill_before_start),
        hub_test(test_kill_reports_ecanceled_from_every_blocking_call),
        hub_test(test_cancel_only_before_start),
        hub_test(test_unpark_before_kill_keeps_its_result),
        hub_test(test_kill_self_ends_at_once),
        hub_test(test_kill_from_hub_callback),
        hub_test(test_green_thread_kills_green_thread),
        hub_test(test_spawn_after),
        hub_test(test_spawn_after_killed_before_start),
        hub_test(test_links_fifo_after_exit_and_nested),
        hub_test(test_link_fires_on_kill_of_running_thread),
        hub_test(test_release_in_every_order),
        hub_test(test_handle_survives_hub_destroy),
        hub_test(test_many_spawns),
        hub_test(test_attr_name_and_stack),
        hub_test(test_threads_dump),
        hub_test(test_wait_on_stuck_thread_is_edeadlk),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
