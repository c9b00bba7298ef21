/*
 * green_xqueue with maxsize 0: a rendezvous channel between hubs.  A put
 * returns once a getter has the item, try forms need a waiting partner,
 * and timeouts and kills on both sides lose or double no item.
 * GREEN_TEST_BACKENDS
 */
#include "test_hub_util.h"

#include <green/hub_threads.h>
#include <green/xqueue.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>

/* ---- Rendezvous ------------------------------------------------------- */

struct partner {
    green_xqueue_t *queue;
    double delay; /* before it acts */
    void *item;
    int err;
};

static void get_later(size_t index, void *arg)
{
    struct partner *p = arg;

    (void)index;
    green_sleep(p->delay);
    p->err = green_xqueue_get(p->queue, &p->item, 10.0);
}

static void put_later(size_t index, void *arg)
{
    struct partner *p = arg;

    (void)index;
    green_sleep(p->delay);
    p->err = green_xqueue_put(p->queue, p->item, 10.0);
}

static void test_channel_put_waits_for_a_getter_on_another_hub(void **state)
{
    struct partner getter = {.delay = 0.05, .err = -1};
    green_hub_threads_t *threads;
    green_xqueue_t *queue;
    void *item = NULL;
    double start;

    (void)state;
    assert_int_equal(green_xqueue_new(&queue, 0), 0);
    assert_int_equal(green_xqueue_maxsize(queue), 0);
    /* Nobody on the other side: nothing is stored, nothing waits. */
    assert_int_equal(green_xqueue_try_put(queue, TEST_INT_VALUE(1)), EAGAIN);
    assert_int_equal(green_xqueue_try_get(queue, &item), EAGAIN);
    assert_int_equal(green_xqueue_put(queue, TEST_INT_VALUE(1), 0), ETIMEDOUT);
    assert_int_equal(green_xqueue_put(queue, TEST_INT_VALUE(1), 0.02),
                     ETIMEDOUT);
    assert_int_equal(green_xqueue_size(queue), 0);
    assert_int_equal(green_xqueue_putters(queue), 0);

    /* The put returns only once the getter, 50 ms later, has the item.
     * The clock starts before the getter's thread: under load that thread
     * may have slept most of its 50 ms before green_hub_threads_new
     * returns. */
    getter.queue = queue;
    start = green_now();
    assert_int_equal(green_hub_threads_new(&threads, 1, get_later, &getter), 0);
    assert_int_equal(green_xqueue_put(queue, TEST_INT_VALUE(7), 10.0), 0);
    assert_true(green_now() - start >= 0.04);
    assert_int_equal(green_hub_threads_destroy(threads), 0);
    assert_int_equal(getter.err, 0);
    assert_int_equal(TEST_VALUE_INT(getter.item), 7);
    assert_int_equal(green_xqueue_destroy(queue, NULL), 0);
}

static void test_channel_get_waits_for_a_putter_on_another_hub(void **state)
{
    struct partner putter = {.delay = 0.05, .item = TEST_INT_VALUE(8)};
    green_hub_threads_t *threads;
    green_xqueue_t *queue;
    void *item = NULL;

    (void)state;
    assert_int_equal(green_xqueue_new(&queue, 0), 0);
    putter.queue = queue;
    putter.err = -1;
    assert_int_equal(green_hub_threads_new(&threads, 1, put_later, &putter), 0);
    assert_int_equal(green_xqueue_get(queue, &item, 10.0), 0);
    assert_int_equal(TEST_VALUE_INT(item), 8);
    assert_int_equal(green_hub_threads_destroy(threads), 0);
    assert_int_equal(putter.err, 0);
    assert_int_equal(green_xqueue_destroy(queue, NULL), 0);
}

/* try_put needs a parked getter, try_get a parked putter. */
static void *get_forever(void *arg)
{
    void *item = NULL;

    green_xqueue_get(arg, &item, GREEN_FOREVER);
    return item;
}

static void *put_nine(void *arg)
{
    return TEST_INT_VALUE(green_xqueue_put(arg, TEST_INT_VALUE(9), 10.0));
}

static void test_channel_try_forms_meet_parked_partners(void **state)
{
    green_xqueue_t *queue;
    green_thread_t *t;
    void *result = NULL;

    (void)state;
    assert_int_equal(green_xqueue_new(&queue, 0), 0);
    t = spawn_or_fail(get_forever, queue);
    green_sleep(0.01);
    assert_int_equal(green_xqueue_getters(queue), 1);
    assert_int_equal(green_xqueue_try_put(queue, TEST_INT_VALUE(5)), 0);
    assert_int_equal(green_thread_wait(t, &result), 0);
    green_thread_release(t);
    assert_int_equal(TEST_VALUE_INT(result), 5);

    t = spawn_or_fail(put_nine, queue);
    green_sleep(0.01);
    assert_int_equal(green_xqueue_putters(queue), 1);
    assert_int_equal(green_xqueue_destroy(queue, NULL), EBUSY);
    assert_int_equal(green_xqueue_try_get(queue, &result), 0);
    assert_int_equal(TEST_VALUE_INT(result), 9);
    assert_int_equal(green_thread_wait(t, &result), 0);
    green_thread_release(t);
    assert_int_equal(TEST_VALUE_INT(result), 0); /* the put's return */
    assert_int_equal(green_xqueue_putters(queue), 0);

    /* Close refuses a parked put; its item was not taken. */
    t = spawn_or_fail(put_nine, queue);
    green_sleep(0.01);
    green_xqueue_close(queue);
    assert_int_equal(green_thread_wait(t, &result), 0);
    green_thread_release(t);
    assert_int_equal(TEST_VALUE_INT(result), EPIPE);
    assert_int_equal(green_xqueue_try_get(queue, &result), EPIPE);
    assert_int_equal(green_xqueue_destroy(queue, NULL), 0);
}

/* ---- Timeouts and kills on both sides --------------------------------- */

#define WORKERS 4

struct channel_run {
    green_xqueue_t *queue;
    size_t items;
    atomic_size_t next;  /* next item to offer, from 1 */
    atomic_uchar *put;   /* item's put returned 0 */
    atomic_uchar *taken; /* times item was got */
    atomic_int closed;
    atomic_long timeouts[2], kills[2];
};

/* Short timeouts from 0 to 300 us, and now and then none. */
static double short_timeout(unsigned *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return (*seed >> 16) % 8 == 0 ? GREEN_FOREVER
                                  : (double)((*seed >> 16) % 4) * 0.0001;
}

static void *channel_putter(void *arg)
{
    struct channel_run *r = arg;
    unsigned seed = (unsigned)(uintptr_t)&seed;
    size_t item;

    /* An item whose put failed is dropped: it must never arrive. */
    while ((item = atomic_fetch_add(&r->next, 1)) <= r->items) {
        int err =
            green_xqueue_put(r->queue, (void *)item, short_timeout(&seed));

        if (err == 0)
            atomic_store(&r->put[item - 1], 1);
        else if (err == ECANCELED)
            return NULL;
        else if (err == ETIMEDOUT)
            atomic_fetch_add(&r->timeouts[0], 1);
    }
    return NULL;
}

static void *channel_getter(void *arg)
{
    struct channel_run *r = arg;
    unsigned seed = (unsigned)(uintptr_t)&seed;
    void *item;
    int err;

    while ((err = green_xqueue_get(r->queue, &item, short_timeout(&seed))) !=
           EPIPE) {
        if (err == 0)
            atomic_fetch_add(&r->taken[(uintptr_t)item - 1], 1);
        else if (err == ECANCELED)
            return NULL;
        else
            atomic_fetch_add(&r->timeouts[1], 1);
    }
    return NULL;
}

/* Runs WORKERS putters (hub 0) or getters (hub 1), killing one every
 * millisecond and starting another in its place, until the putters ran
 * out of items (then hub 0 closes the channel) or the getters saw it
 * closed. */
static void channel_side(size_t index, void *arg)
{
    struct channel_run *r = arg;
    green_thread_fn fn = index == 0 ? channel_putter : channel_getter;
    green_thread_t *workers[WORKERS];
    unsigned seed = 1;
    int live;

    for (int i = 0; i < WORKERS; i++)
        green_spawn(&workers[i], fn, r);
    do {
        int victim =
            (int)((seed = seed * 1103515245u + 12345u) >> 16) % WORKERS;

        green_sleep(0.001);
        if (!green_thread_dead(workers[victim])) {
            green_thread_kill(workers[victim]);
            atomic_fetch_add(&r->kills[index], 1);
        }
        if (index == 0 ? atomic_load(&r->next) <= r->items
                       : !atomic_load(&r->closed)) {
            green_thread_release(workers[victim]);
            green_spawn(&workers[victim], fn, r);
        }
        live = 0;
        for (int i = 0; i < WORKERS; i++)
            live += !green_thread_dead(workers[i]);
    } while (live > 0);
    for (int i = 0; i < WORKERS; i++)
        green_thread_release(workers[i]);
    if (index == 0) {
        green_xqueue_close(r->queue);
        atomic_store(&r->closed, 1);
    }
}

static void test_channel_timeouts_and_kills_lose_nothing(void **state)
{
    struct channel_run r = {.items = test_scaled(20000), .next = 1};
    green_hub_threads_t *threads;
    size_t put = 0, lost = 0, phantom = 0;
    void *item;

    (void)state;
    r.put = calloc(r.items, sizeof(*r.put));
    r.taken = calloc(r.items, sizeof(*r.taken));
    assert_non_null(r.put);
    assert_non_null(r.taken);
    assert_int_equal(green_xqueue_new(&r.queue, 0), 0);
    assert_int_equal(green_hub_threads_new(&threads, 2, channel_side, &r), 0);
    assert_int_equal(green_hub_threads_destroy(threads), 0);
    /* Items that came back after the getters had left. */
    while (green_xqueue_try_get(r.queue, &item) == 0)
        atomic_fetch_add(&r.taken[(uintptr_t)item - 1], 1);
    for (size_t i = 0; i < r.items; i++) {
        put += r.put[i];
        lost += r.put[i] && r.taken[i] != 1;
        phantom += !r.put[i] && r.taken[i] != 0;
    }
    print_message("%zu of %zu items put; timeouts %ld/%ld, kills %ld/%ld "
                  "(put/get side)\n",
                  put, r.items, atomic_load(&r.timeouts[0]),
                  atomic_load(&r.timeouts[1]), atomic_load(&r.kills[0]),
                  atomic_load(&r.kills[1]));
    assert_int_equal(lost, 0);
    assert_int_equal(phantom, 0);
    assert_true(put > 0);
    assert_int_equal(green_xqueue_destroy(r.queue, NULL), 0);
    free(r.put);
    free(r.taken);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        hub_test(test_channel_put_waits_for_a_getter_on_another_hub),
        hub_test(test_channel_get_waits_for_a_putter_on_another_hub),
        hub_test(test_channel_try_forms_meet_parked_partners),
        hub_test(test_channel_timeouts_and_kills_lose_nothing),
    };

    test_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
