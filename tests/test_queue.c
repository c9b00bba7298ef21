/* GREEN_TEST_BACKENDS */
/*
 * green_queue: orders, bounds, channels, timeouts, hand-off to waiters that
 * time out or die, task_done/join, resize and destroy.  Green threads only
 * record what they see; the assertions run on the main greenlet.
 */
#include "test_hub_util.h"

#include <green/sync.h>
#include <green/thread.h>
#include <green/timeout.h>

#include <errno.h>

#define MAX_GETTERS 8

/* What a getter green thread saw. */
struct getter {
    green_queue_t *queue;
    double timeout;
    struct test_log *log; /* may be NULL */
    int id;
    int err;
    void *item;
    int done;
};

static void *getter_run(void *arg)
{
    struct getter *g = arg;

    g->err = green_queue_get(g->queue, &g->item, g->timeout);
    g->done = 1;
    if (g->log != NULL)
        test_log_add(g->log, "g%d:%s%d", g->id, g->err ? "err" : "",
                     g->err ? g->err : (int)TEST_VALUE_INT(g->item));
    return NULL;
}

static void wait_and_release(green_thread_t *t)
{
    assert_int_equal(green_thread_wait(t, NULL), 0);
    green_thread_release(t);
}

static green_queue_t *queue_or_fail(size_t maxsize, green_queue_order_t order,
                                    green_queue_cmp_fn cmp)
{
    green_queue_t *q = NULL;

    assert_int_equal(green_queue_new(&q, maxsize, order, cmp), 0);
    return q;
}

/* Put 0..count-1 (in the given permutation) and read the order back. */
static void put_all(green_queue_t *q, const int *values, int count)
{
    for (int i = 0; i < count; i++)
        assert_int_equal(
            green_queue_put(q, TEST_INT_VALUE(values[i]), GREEN_FOREVER), 0);
}

static int get_int(green_queue_t *q)
{
    void *item = NULL;

    assert_int_equal(green_queue_try_get(q, &item), 0);
    return (int)TEST_VALUE_INT(item);
}

static int compare_ints(const void *a, const void *b)
{
    intptr_t x = TEST_VALUE_INT(a), y = TEST_VALUE_INT(b);

    return (x > y) - (x < y);
}

/* Priority items: value in the high bits, a tag in the low byte that the
 * comparison ignores, to see that equal items stay FIFO. */
static int compare_high_bits(const void *a, const void *b)
{
    return compare_ints(TEST_INT_VALUE(TEST_VALUE_INT(a) >> 8),
                        TEST_INT_VALUE(TEST_VALUE_INT(b) >> 8));
}

static void test_orders(void **state)
{
    const int values[] = {5, 1, 4, 2, 3};
    const int n = (int)(sizeof(values) / sizeof(values[0]));
    green_queue_t *q;
    int previous;

    (void)state;
    q = queue_or_fail(GREEN_QUEUE_UNBOUNDED, GREEN_QUEUE_FIFO, NULL);
    put_all(q, values, n);
    assert_int_equal(green_queue_size(q), n);
    for (int i = 0; i < n; i++)
        assert_int_equal(get_int(q), values[i]);
    assert_int_equal(green_queue_destroy(q, NULL), 0);

    q = queue_or_fail(GREEN_QUEUE_UNBOUNDED, GREEN_QUEUE_LIFO, NULL);
    put_all(q, values, n);
    for (int i = n - 1; i >= 0; i--)
        assert_int_equal(get_int(q), values[i]);
    assert_int_equal(green_queue_destroy(q, NULL), 0);

    q = queue_or_fail(GREEN_QUEUE_UNBOUNDED, GREEN_QUEUE_PRIORITY,
                      compare_ints);
    put_all(q, values, n);
    previous = get_int(q);
    for (int i = 1; i < n; i++) {
        int next = get_int(q);

        assert_true(previous < next);
        previous = next;
    }
    assert_int_equal(green_queue_destroy(q, NULL), 0);

    /* Equal priorities come out in put order. */
    q = queue_or_fail(GREEN_QUEUE_UNBOUNDED, GREEN_QUEUE_PRIORITY,
                      compare_high_bits);
    for (int tag = 0; tag < 20; tag++)
        assert_int_equal(
            green_queue_try_put(q, TEST_INT_VALUE(((tag % 2) << 8) | tag)), 0);
    for (int expected_class = 0; expected_class < 2; expected_class++) {
        previous = -1;
        for (int i = 0; i < 10; i++) {
            int item = get_int(q);

            assert_int_equal(item >> 8, expected_class);
            assert_true((item & 0xff) > previous);
            previous = item & 0xff;
        }
    }
    assert_int_equal(green_queue_destroy(q, NULL), 0);
}

static void test_invalid_arguments(void **state)
{
    green_queue_t *q = NULL;
    void *item;

    (void)state;
    assert_int_equal(green_queue_new(NULL, 1, GREEN_QUEUE_FIFO, NULL), EINVAL);
    assert_int_equal(green_queue_new(&q, 1, GREEN_QUEUE_PRIORITY, NULL),
                     EINVAL);
    assert_int_equal(green_queue_new(&q, 1, GREEN_QUEUE_FIFO, compare_ints),
                     EINVAL);
    assert_null(q);
    assert_int_equal(green_queue_put(NULL, NULL, 0), EINVAL);
    assert_int_equal(green_queue_get(NULL, &item, 0), EINVAL);
    assert_int_equal(green_queue_try_get(NULL, &item), EINVAL);
    assert_int_equal(green_queue_task_done(NULL), EINVAL);
    assert_int_equal(green_queue_destroy(NULL, NULL), EINVAL);
    q = queue_or_fail(1, GREEN_QUEUE_FIFO, NULL);
    assert_int_equal(green_queue_try_get(q, NULL), EINVAL);
    assert_int_equal(green_queue_task_done(q), EINVAL);
    assert_int_equal(green_queue_destroy(q, NULL), 0);
}

static void test_nonblocking_and_timeout(void **state)
{
    green_queue_t *q = queue_or_fail(1, GREEN_QUEUE_FIFO, NULL);
    void *item = NULL;
    double start;

    (void)state;
    assert_int_equal(green_queue_try_get(q, &item), EAGAIN);
    assert_int_equal(green_queue_try_put(q, TEST_INT_VALUE(1)), 0);
    assert_int_equal(green_queue_try_put(q, TEST_INT_VALUE(2)), EAGAIN);
    start = green_now();
    assert_int_equal(green_queue_put(q, TEST_INT_VALUE(2), 0.05), ETIMEDOUT);
    assert_true(green_now() - start >= 0.03);
    assert_int_equal(green_queue_get(q, &item, 0.05), 0);
    assert_int_equal(TEST_VALUE_INT(item), 1);
    start = green_now();
    assert_int_equal(green_queue_get(q, &item, 0.05), ETIMEDOUT);
    assert_true(green_now() - start >= 0.03);
    assert_int_equal(green_queue_getters(q), 0);
    assert_int_equal(green_queue_putters(q), 0);
    assert_int_equal(green_queue_destroy(q, NULL), 0);
}

struct putter {
    green_queue_t *queue;
    struct test_log *log;
    int first, count;
    int err;
};

static void *putter_run(void *arg)
{
    struct putter *p = arg;

    for (int i = p->first; i < p->first + p->count; i++) {
        if (p->log != NULL)
            test_log_add(p->log, "put%d", i);
        p->err = green_queue_put(p->queue, TEST_INT_VALUE(i), GREEN_FOREVER);
        if (p->err != 0)
            break;
        if (p->log != NULL)
            test_log_add(p->log, "put%d-done", i);
    }
    return NULL;
}

/* Blocking calls without a timeout of their own obey a timeout scope. */
static void test_timeout_scope(void **state)
{
    green_queue_t *q = queue_or_fail(0, GREEN_QUEUE_FIFO, NULL);
    green_timeout_t scope;
    void *item;

    (void)state;
    assert_int_equal(green_timeout_start(&scope, 0.01), 0);
    assert_int_equal(green_queue_get(q, &item, GREEN_FOREVER), ETIMEDOUT);
    assert_true(green_timeout_fired(&scope));
    green_timeout_cancel(&scope);
    assert_int_equal(green_timeout_start(&scope, 0.01), 0);
    assert_int_equal(green_queue_put(q, NULL, GREEN_FOREVER), ETIMEDOUT);
    assert_true(green_timeout_fired(&scope));
    green_timeout_cancel(&scope);
    assert_int_equal(green_queue_getters(q), 0);
    assert_int_equal(green_queue_putters(q), 0);
    assert_int_equal(green_queue_destroy(q, NULL), 0);
}

static void get_from_hub(void *arg)
{
    green_queue_t *q = arg;
    void *item = NULL;

    /* From a hub callback: takes the parked putter's item, without
     * blocking. */
    if (green_queue_try_get(q, &item) != 0 || TEST_VALUE_INT(item) != 5)
        abort();
}

static void test_try_get_from_hub(void **state)
{
    green_queue_t *q = queue_or_fail(0, GREEN_QUEUE_FIFO, NULL);
    green_timer_t *timer;

    (void)state;
    assert_int_equal(green_timer_start(&timer, 0.001, get_from_hub, q), 0);
    assert_int_equal(green_queue_put(q, TEST_INT_VALUE(5), GREEN_FOREVER), 0);
    assert_int_equal(green_queue_destroy(q, NULL), 0);
}

static void test_bounded_put_blocks(void **state)
{
    green_queue_t *q = queue_or_fail(2, GREEN_QUEUE_FIFO, NULL);
    struct putter p = {.queue = q, .first = 0, .count = 4};
    green_thread_t *t = spawn_or_fail(putter_run, &p);

    (void)state;
    green_sleep(0);
    assert_int_equal(green_queue_size(q), 2);
    assert_int_equal(green_queue_putters(q), 1);
    /* A get makes room and moves the blocked item in at once. */
    assert_int_equal(get_int(q), 0);
    assert_int_equal(green_queue_size(q), 2);
    assert_int_equal(green_queue_putters(q), 0);
    for (int i = 1; i < 4; i++) {
        void *item;

        assert_int_equal(green_queue_get(q, &item, GREEN_FOREVER), 0);
        assert_int_equal(TEST_VALUE_INT(item), i);
    }
    wait_and_release(t);
    assert_int_equal(p.err, 0);
    assert_int_equal(green_queue_destroy(q, NULL), 0);
}

/* eventlet's zero-max-size test: a put on a channel returns only once a
 * getter took the item. */
static void test_channel_interleaving(void **state)
{
    struct test_log log;
    green_queue_t *q = queue_or_fail(0, GREEN_QUEUE_FIFO, NULL);
    struct putter p = {.queue = q, .log = &log, .first = 1, .count = 1};
    struct getter g = {.queue = q, .timeout = GREEN_FOREVER, .log = &log};
    green_thread_t *pt, *gt;

    (void)state;
    test_log_reset(&log);
    assert_int_equal(green_queue_try_put(q, TEST_INT_VALUE(9)), EAGAIN);
    pt = spawn_or_fail(putter_run, &p);
    green_sleep(0);
    green_sleep(0);
    assert_int_equal(green_queue_putters(q), 1);
    assert_int_equal(green_queue_size(q), 0);
    test_log_add(&log, "main");
    gt = spawn_or_fail(getter_run, &g);
    wait_and_release(gt);
    wait_and_release(pt);
    assert_log_equal(&log, "put1,main,g0:1,put1-done");
    assert_int_equal(green_queue_destroy(q, NULL), 0);
}

/* Many items through a channel: each put returns only after its item was
 * handed to the getter, nothing is ever stored, and the order holds. */
struct channel_reader {
    green_queue_t *queue;
    int count;
    int received; /* items taken so far */
    int in_order;
    int stored_seen; /* the channel held an item at some point */
};

static void *channel_reader_run(void *arg)
{
    struct channel_reader *r = arg;

    r->in_order = 1;
    for (int i = 0; i < r->count; i++) {
        void *item;

        if (green_queue_get(r->queue, &item, GREEN_FOREVER) != 0)
            break;
        if (TEST_VALUE_INT(item) != i)
            r->in_order = 0;
        r->received++;
        if (green_queue_size(r->queue) != 0)
            r->stored_seen = 1;
        if (i % 3 == 0)
            green_sleep(0);
    }
    return NULL;
}

static void test_channel_many(void **state)
{
    green_queue_t *q = queue_or_fail(0, GREEN_QUEUE_FIFO, NULL);
    struct channel_reader r = {.queue = q, .count = (int)test_scaled(2000)};
    green_thread_t *t = spawn_or_fail(channel_reader_run, &r);
    int behind = 0;

    (void)state;
    for (int i = 0; i < r.count; i++) {
        assert_int_equal(green_queue_put(q, TEST_INT_VALUE(i), GREEN_FOREVER),
                         0);
        /* Item i went to the reader: it has it, or is about to run with
         * it (hand-off to a parked getter). */
        if (r.received < i)
            behind = 1;
        assert_int_equal(green_queue_size(q), 0);
    }
    wait_and_release(t);
    assert_false(behind);
    assert_true(r.in_order);
    assert_false(r.stored_seen);
    assert_int_equal(r.received, r.count);
    assert_int_equal(green_queue_destroy(q, NULL), 0);
}

static void test_getters_fifo(void **state)
{
    green_queue_t *q =
        queue_or_fail(GREEN_QUEUE_UNBOUNDED, GREEN_QUEUE_FIFO, NULL);
    struct getter g[5];
    green_thread_t *t[5];

    (void)state;
    for (int i = 0; i < 5; i++) {
        g[i] = (struct getter){.queue = q, .timeout = GREEN_FOREVER, .id = i};
        t[i] = spawn_or_fail(getter_run, &g[i]);
    }
    green_sleep(0);
    assert_int_equal(green_queue_getters(q), 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(green_queue_put(q, TEST_INT_VALUE(100 + i), 0), 0);
    /* Hand-off: nothing stored, and the main greenlet cannot take back
     * what it gave to the parked getters. */
    assert_int_equal(green_queue_size(q), 0);
    assert_int_equal(green_queue_try_get(q, &g[0].item), EAGAIN);
    for (int i = 0; i < 5; i++) {
        wait_and_release(t[i]);
        assert_int_equal(g[i].err, 0);
        assert_int_equal(TEST_VALUE_INT(g[i].item), 100 + i);
    }
    assert_int_equal(green_queue_destroy(q, NULL), 0);
}

/* Busy-wait without yielding, so that timers expire while the hub cannot
 * run them: they then fire together in one pass. */
static void spin_until(double deadline)
{
    while (green_now() < deadline)
        ;
}

static void put_from_hub(void *arg)
{
    green_queue_t *q = arg;

    /* A hub callback: only the non-blocking form is allowed here. */
    if (green_queue_try_put(q, TEST_INT_VALUE(42)) != 0)
        abort();
}

/* g0 times out and, in the same hub pass, an item is put: it must go to
 * g1, never to the timed-out g0. */
static void test_timed_out_getter_does_not_swallow(void **state)
{
    green_queue_t *q =
        queue_or_fail(GREEN_QUEUE_UNBOUNDED, GREEN_QUEUE_FIFO, NULL);
    struct getter g0 = {.queue = q, .timeout = 0.02, .id = 0};
    struct getter g1 = {.queue = q, .timeout = GREEN_FOREVER, .id = 1};
    green_thread_t *t0 = spawn_or_fail(getter_run, &g0);
    green_thread_t *t1 = spawn_or_fail(getter_run, &g1);
    green_timer_t *timer;

    (void)state;
    green_sleep(0);
    assert_int_equal(green_queue_getters(q), 2);
    assert_int_equal(green_timer_start(&timer, 0.03, put_from_hub, q), 0);
    spin_until(green_now() + 0.08);
    wait_and_release(t0);
    wait_and_release(t1);
    assert_int_equal(g0.err, ETIMEDOUT);
    assert_int_equal(g1.err, 0);
    assert_int_equal(TEST_VALUE_INT(g1.item), 42);
    assert_int_equal(green_queue_size(q), 0);
    assert_int_equal(green_queue_destroy(q, NULL), 0);
}

/* g0 is killed while parked, then after an item was already handed to it:
 * the item ends with g1 either way. */
static void test_killed_getter_does_not_swallow(void **state)
{
    green_queue_t *q =
        queue_or_fail(GREEN_QUEUE_UNBOUNDED, GREEN_QUEUE_FIFO, NULL);

    (void)state;
    for (int handed_first = 0; handed_first < 2; handed_first++) {
        struct getter g0 = {.queue = q, .timeout = GREEN_FOREVER, .id = 0};
        struct getter g1 = {.queue = q, .timeout = GREEN_FOREVER, .id = 1};
        green_thread_t *t0 = spawn_or_fail(getter_run, &g0);
        green_thread_t *t1 = spawn_or_fail(getter_run, &g1);

        green_sleep(0);
        assert_int_equal(green_queue_getters(q), 2);
        if (handed_first)
            assert_int_equal(green_queue_try_put(q, TEST_INT_VALUE(7)), 0);
        assert_int_equal(green_thread_kill(t0), 0);
        if (!handed_first)
            assert_int_equal(green_queue_try_put(q, TEST_INT_VALUE(7)), 0);
        /* A killed thread reports ECANCELED, even one whose get won. */
        assert_int_equal(green_thread_wait(t0, NULL), ECANCELED);
        green_thread_release(t0);
        if (g0.err == 0) {
            /* The hub let the hand-off win over the kill: g0 took the item
             * (and dies at its next blocking call); g1 still waits. */
            assert_true(handed_first);
            assert_int_equal(TEST_VALUE_INT(g0.item), 7);
            assert_int_equal(green_queue_getters(q), 1);
            assert_int_equal(green_queue_try_put(q, TEST_INT_VALUE(8)), 0);
            wait_and_release(t1);
            assert_int_equal(TEST_VALUE_INT(g1.item), 8);
        } else {
            assert_int_equal(g0.err, ECANCELED);
            wait_and_release(t1);
            assert_int_equal(TEST_VALUE_INT(g1.item), 7);
        }
        assert_int_equal(g1.err, 0);
        assert_int_equal(green_queue_size(q), 0);
        assert_int_equal(green_queue_getters(q), 0);
    }
    assert_int_equal(green_queue_destroy(q, NULL), 0);
}

/* A putter that times out keeps its item: a later get does not see it. */
static void test_timed_out_putter_keeps_item(void **state)
{
    green_queue_t *q = queue_or_fail(0, GREEN_QUEUE_FIFO, NULL);
    void *item;

    (void)state;
    assert_int_equal(green_queue_put(q, TEST_INT_VALUE(1), 0.01), ETIMEDOUT);
    assert_int_equal(green_queue_putters(q), 0);
    assert_int_equal(green_queue_try_get(q, &item), EAGAIN);
    assert_int_equal(green_queue_destroy(q, NULL), 0);
}

struct worker {
    green_queue_t *queue;
    int handled;
};

static void *task_worker_run(void *arg)
{
    struct worker *w = arg;
    void *item;

    while (green_queue_get(w->queue, &item, GREEN_FOREVER) == 0) {
        if (item == NULL)
            break;
        green_sleep(0.001);
        w->handled++;
        green_queue_task_done(w->queue);
    }
    green_queue_task_done(w->queue);
    return NULL;
}

static void test_task_done_join(void **state)
{
    green_queue_t *q =
        queue_or_fail(GREEN_QUEUE_UNBOUNDED, GREEN_QUEUE_FIFO, NULL);
    struct worker w = {.queue = q};
    green_thread_t *t;
    const int count = 10;

    (void)state;
    for (int i = 1; i <= count; i++)
        assert_int_equal(green_queue_try_put(q, TEST_INT_VALUE(i)), 0);
    assert_int_equal(green_queue_unfinished(q), count);
    assert_int_equal(green_queue_join(q, 0.001), ETIMEDOUT);
    t = spawn_or_fail(task_worker_run, &w);
    assert_int_equal(green_queue_join(q, GREEN_FOREVER), 0);
    assert_int_equal(w.handled, count);
    assert_int_equal(green_queue_unfinished(q), 0);
    assert_int_equal(green_queue_join(q, 0), 0);
    assert_int_equal(green_queue_try_put(q, NULL), 0); /* stop */
    wait_and_release(t);
    assert_int_equal(green_queue_task_done(q), EINVAL);
    assert_int_equal(green_queue_destroy(q, NULL), 0);
}

static void test_resize_wakes_putters(void **state)
{
    green_queue_t *q = queue_or_fail(1, GREEN_QUEUE_FIFO, NULL);
    struct putter p[3];
    green_thread_t *t[3];

    (void)state;
    for (int i = 0; i < 3; i++) {
        p[i] = (struct putter){.queue = q, .first = i, .count = 1};
        t[i] = spawn_or_fail(putter_run, &p[i]);
    }
    green_sleep(0);
    assert_int_equal(green_queue_size(q), 1);
    assert_int_equal(green_queue_putters(q), 2);
    assert_int_equal(green_queue_resize(q, 2), 0);
    assert_int_equal(green_queue_size(q), 2);
    assert_int_equal(green_queue_putters(q), 1);
    assert_int_equal(green_queue_resize(q, GREEN_QUEUE_UNBOUNDED), 0);
    assert_int_equal(green_queue_putters(q), 0);
    for (int i = 0; i < 3; i++) {
        wait_and_release(t[i]);
        assert_int_equal(p[i].err, 0);
        assert_int_equal(get_int(q), i);
    }
    /* Shrinking keeps what is stored. */
    assert_int_equal(green_queue_try_put(q, TEST_INT_VALUE(1)), 0);
    assert_int_equal(green_queue_try_put(q, TEST_INT_VALUE(2)), 0);
    assert_int_equal(green_queue_resize(q, 1), 0);
    assert_int_equal(green_queue_size(q), 2);
    assert_int_equal(green_queue_try_put(q, TEST_INT_VALUE(3)), EAGAIN);
    assert_int_equal(green_queue_maxsize(q), 1);
    assert_int_equal(green_queue_destroy(q, NULL), 0);
}

static int freed_count;

static void count_free(void *item)
{
    free(item);
    freed_count++;
}

static void test_destroy(void **state)
{
    green_queue_t *q =
        queue_or_fail(GREEN_QUEUE_UNBOUNDED, GREEN_QUEUE_FIFO, NULL);
    struct getter g = {.queue = q, .timeout = GREEN_FOREVER};
    green_thread_t *t = spawn_or_fail(getter_run, &g);

    (void)state;
    green_sleep(0);
    assert_int_equal(green_queue_destroy(q, count_free), EBUSY);
    assert_int_equal(green_queue_try_put(q, NULL), 0);
    wait_and_release(t);
    freed_count = 0;
    for (int i = 0; i < 3; i++)
        assert_int_equal(green_queue_try_put(q, malloc(16)), 0);
    assert_int_equal(green_queue_destroy(q, count_free), 0);
    assert_int_equal(freed_count, 3);
}

/* ---- Close ------------------------------------------------------------ */

/* Close wakes every parked getter with EPIPE. */
static void test_close_wakes_getters(void **state)
{
    green_queue_t *q =
        queue_or_fail(GREEN_QUEUE_UNBOUNDED, GREEN_QUEUE_FIFO, NULL);
    struct getter g[3];
    green_thread_t *t[3];

    (void)state;
    for (int i = 0; i < 3; i++) {
        g[i] = (struct getter){.queue = q, .timeout = GREEN_FOREVER, .id = i};
        t[i] = spawn_or_fail(getter_run, &g[i]);
    }
    green_sleep(0);
    assert_int_equal(green_queue_getters(q), 3);
    assert_int_equal(green_queue_close(q), 0);
    for (int i = 0; i < 3; i++) {
        wait_and_release(t[i]);
        assert_int_equal(g[i].err, EPIPE);
    }
    assert_int_equal(green_queue_getters(q), 0);
    assert_int_equal(green_queue_destroy(q, NULL), 0);
}

/* Close wakes parked putters with EPIPE; their items were not put. */
static void test_close_wakes_putters(void **state)
{
    green_queue_t *q = queue_or_fail(1, GREEN_QUEUE_FIFO, NULL);
    struct putter p[2] = {{.queue = q, .first = 10, .count = 1},
                          {.queue = q, .first = 20, .count = 1}};
    green_thread_t *t[2];

    (void)state;
    assert_int_equal(green_queue_put(q, TEST_INT_VALUE(1), 0), 0);
    for (int i = 0; i < 2; i++)
        t[i] = spawn_or_fail(putter_run, &p[i]);
    green_sleep(0);
    assert_int_equal(green_queue_putters(q), 2);
    assert_int_equal(green_queue_close(q), 0);
    for (int i = 0; i < 2; i++) {
        wait_and_release(t[i]);
        assert_int_equal(p[i].err, EPIPE);
    }
    assert_int_equal(green_queue_size(q), 1);
    assert_int_equal(get_int(q), 1);
    assert_int_equal(green_queue_destroy(q, NULL), 0);
}

/* After close, puts fail and gets drain the stored items, then EPIPE. */
static void test_close_drains_then_epipe(void **state)
{
    green_queue_t *q =
        queue_or_fail(GREEN_QUEUE_UNBOUNDED, GREEN_QUEUE_FIFO, NULL);
    void *item = NULL;

    (void)state;
    put_all(q, (const int[]){1, 2}, 2);
    assert_int_equal(green_queue_close(q), 0);
    assert_int_equal(green_queue_try_put(q, TEST_INT_VALUE(3)), EPIPE);
    assert_int_equal(green_queue_put(q, TEST_INT_VALUE(3), GREEN_FOREVER),
                     EPIPE);
    assert_int_equal(green_queue_get(q, &item, GREEN_FOREVER), 0);
    assert_int_equal(TEST_VALUE_INT(item), 1);
    assert_int_equal(get_int(q), 2);
    assert_int_equal(green_queue_try_get(q, &item), EPIPE);
    assert_int_equal(green_queue_get(q, &item, GREEN_FOREVER), EPIPE);
    assert_int_equal(green_queue_destroy(q, NULL), 0);
}

/* A channel's parked putter gets EPIPE and its item is not delivered. */
static void test_close_channel_putter(void **state)
{
    green_queue_t *q = queue_or_fail(0, GREEN_QUEUE_FIFO, NULL);
    struct putter p = {.queue = q, .first = 7, .count = 1};
    green_thread_t *t = spawn_or_fail(putter_run, &p);
    void *item = NULL;

    (void)state;
    green_sleep(0);
    assert_int_equal(green_queue_putters(q), 1);
    assert_int_equal(green_queue_close(q), 0);
    assert_int_equal(green_queue_try_get(q, &item), EPIPE);
    wait_and_release(t);
    assert_int_equal(p.err, EPIPE);
    assert_int_equal(green_queue_get(q, &item, GREEN_FOREVER), EPIPE);
    assert_int_equal(green_queue_unfinished(q), 0);
    assert_int_equal(green_queue_destroy(q, NULL), 0);
}

/* A second close is refused and changes nothing. */
static void test_close_twice(void **state)
{
    green_queue_t *q = queue_or_fail(0, GREEN_QUEUE_FIFO, NULL);

    (void)state;
    assert_int_equal(green_queue_closed(q), 0);
    assert_int_equal(green_queue_close(q), 0);
    assert_int_equal(green_queue_closed(q), 1);
    assert_int_equal(green_queue_close(q), EALREADY);
    assert_int_equal(green_queue_close(NULL), EINVAL);
    assert_int_equal(green_queue_destroy(q, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_orders),
        cmocka_unit_test(test_invalid_arguments),
        cmocka_unit_test(test_nonblocking_and_timeout),
        cmocka_unit_test(test_timeout_scope),
        cmocka_unit_test(test_try_get_from_hub),
        cmocka_unit_test(test_bounded_put_blocks),
        cmocka_unit_test(test_channel_interleaving),
        cmocka_unit_test(test_channel_many),
        cmocka_unit_test(test_getters_fifo),
        cmocka_unit_test(test_timed_out_getter_does_not_swallow),
        cmocka_unit_test(test_killed_getter_does_not_swallow),
        cmocka_unit_test(test_timed_out_putter_keeps_item),
        cmocka_unit_test(test_task_done_join),
        cmocka_unit_test(test_resize_wakes_putters),
        cmocka_unit_test(test_destroy),
        cmocka_unit_test(test_close_wakes_getters),
        cmocka_unit_test(test_close_wakes_putters),
        cmocka_unit_test(test_close_drains_then_epipe),
        cmocka_unit_test(test_close_channel_putter),
        cmocka_unit_test(test_close_twice),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
