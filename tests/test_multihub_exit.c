/*
 * Hub threads that exit while work addressed to them is in flight: items
 * handed to an xqueue getter that can no longer take them go back to the
 * queue in order, and every thread pool job either returns to its caller
 * or reaches its abandoned function.
 * GREEN_TEST_BACKENDS
 */
#include "test_hub_util.h"

#include <green/tpool.h>
#include <green/xqueue.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

static void nap(double seconds)
{
    struct timespec ts = {0, (long)(seconds * 1e9)};

    nanosleep(&ts, NULL);
}

/* Start `count` threads running fn(arg), `wave` at a time. */
static void run_thread_waves(size_t count, size_t wave, void *(*fn)(void *),
                             void *arg)
{
    pthread_t threads[16];

    assert_true(wave <= 16);
    for (size_t done = 0; done < count; done += wave) {
        size_t n = count - done < wave ? count - done : wave;

        for (size_t i = 0; i < n; i++)
            assert_int_equal(pthread_create(&threads[i], NULL, fn, arg), 0);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(pthread_join(threads[i], NULL), 0);
    }
}

/* ---- xqueue: getters parked on hubs that exit ----------------------- */

#define GETTERS_PER_HUB 4

struct exiting_getters {
    green_xqueue_t *queue;
    size_t capacity;    /* the most items the putter may put */
    atomic_size_t puts; /* the items it put: 1..puts */
    atomic_int stop;
    atomic_uchar *seen; /* times each item was taken */
    atomic_uint seed;
};

static void record_item(atomic_uchar *seen, void *item)
{
    atomic_fetch_add(&seen[(uintptr_t)item - 1], 1);
}

static void *get_forever(void *arg)
{
    struct exiting_getters *x = arg;
    void *item;

    while (green_xqueue_get(x->queue, &item, GREEN_FOREVER) == 0)
        record_item(x->seen, item);
    return NULL;
}

/* Getters take items for 0 to 2 ms, then the thread exits with them
 * parked: its hub kills them. */
static void *hub_with_getters(void *arg)
{
    struct exiting_getters *x = arg;
    unsigned spread = atomic_fetch_add(&x->seed, 1) % 3;

    for (int i = 0; i < GETTERS_PER_HUB; i++)
        green_spawn_n(get_forever, x);
    green_sleep(spread * 0.001);
    return NULL;
}

/* Puts while the hubs come and go, yielding after each put so that most
 * items meet a parked getter. */
static void *put_until_stopped(void *arg)
{
    struct exiting_getters *x = arg;

    for (uintptr_t i = 1; i <= x->capacity && !atomic_load(&x->stop); i++) {
        if (green_xqueue_put(x->queue, (void *)i, GREEN_FOREVER) != 0)
            return (void *)1;
        atomic_store(&x->puts, i);
        sched_yield();
    }
    return NULL;
}

static void test_xqueue_items_survive_exiting_getter_hubs(void **state)
{
    struct exiting_getters x = {.capacity = 10000000};
    pthread_t putter;
    void *put_failed = NULL, *item;
    uintptr_t previous = 0;
    size_t hubs = test_scaled(2000), items, lost = 0, doubled = 0;

    (void)state;
    x.seen = calloc(x.capacity, sizeof(*x.seen));
    assert_non_null(x.seen);
    assert_int_equal(green_xqueue_new(&x.queue, GREEN_XQUEUE_UNBOUNDED), 0);
    assert_int_equal(pthread_create(&putter, NULL, put_until_stopped, &x), 0);
    run_thread_waves(hubs, 8, hub_with_getters, &x);
    atomic_store(&x.stop, 1);
    assert_int_equal(pthread_join(putter, &put_failed), 0);
    assert_null(put_failed);
    /* What no getter took is still queued, in put order. */
    while (green_xqueue_try_get(x.queue, &item) == 0) {
        assert_true((uintptr_t)item > previous);
        previous = (uintptr_t)item;
        record_item(x.seen, item);
    }
    items = atomic_load(&x.puts);
    for (size_t i = 0; i < x.capacity; i++) {
        lost += i < items && atomic_load(&x.seen[i]) == 0;
        doubled += atomic_load(&x.seen[i]) > (i < items);
    }
    print_message("%zu hubs, %zu items: %zu lost, %zu doubled\n", hubs, items,
                  lost, doubled);
    assert_int_equal(lost, 0);
    assert_int_equal(doubled, 0);
    assert_int_equal(green_xqueue_destroy(x.queue, NULL), 0);
    free(x.seen);
}

/* Two items handed to two getters of a hub that exits before it could
 * deliver them: both come back, ahead of an item put after them. */
struct stalled_hub {
    green_xqueue_t *queue;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int getters_parked;
    int release;
};

static void *get_once(void *arg)
{
    struct stalled_hub *s = arg;
    void *item;

    green_xqueue_get(s->queue, &item, GREEN_FOREVER);
    return NULL;
}

static void *park_getters_then_stall(void *arg)
{
    struct stalled_hub *s = arg;

    green_spawn_n(get_once, s);
    green_spawn_n(get_once, s);
    while (green_xqueue_getters(s->queue) < 2)
        green_sleep(0.001);
    pthread_mutex_lock(&s->lock);
    s->getters_parked = 1;
    pthread_cond_broadcast(&s->changed);
    /* Blocked outside the hub: the deliveries wait in its call queue. */
    while (!s->release)
        pthread_cond_wait(&s->changed, &s->lock);
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

static void test_xqueue_items_of_exited_getters_return_in_order(void **state)
{
    struct stalled_hub s = {0};
    pthread_t thread;
    void *item = NULL;

    (void)state;
    pthread_mutex_init(&s.lock, NULL);
    pthread_cond_init(&s.changed, NULL);
    assert_int_equal(green_xqueue_new(&s.queue, GREEN_XQUEUE_UNBOUNDED), 0);
    assert_int_equal(pthread_create(&thread, NULL, park_getters_then_stall, &s),
                     0);
    pthread_mutex_lock(&s.lock);
    while (!s.getters_parked)
        pthread_cond_wait(&s.changed, &s.lock);
    pthread_mutex_unlock(&s.lock);
    for (uintptr_t i = 1; i <= 3; i++)
        assert_int_equal(green_xqueue_put(s.queue, (void *)i, 0), 0);
    assert_int_equal(green_xqueue_size(s.queue), 1); /* 1 and 2 handed */
    pthread_mutex_lock(&s.lock);
    s.release = 1;
    pthread_cond_broadcast(&s.changed);
    pthread_mutex_unlock(&s.lock);
    assert_int_equal(pthread_join(thread, NULL), 0);
    for (uintptr_t i = 1; i <= 3; i++) {
        assert_int_equal(green_xqueue_try_get(s.queue, &item), 0);
        assert_int_equal((uintptr_t)item, i);
    }
    assert_int_equal(green_xqueue_destroy(s.queue, NULL), 0);
    pthread_cond_destroy(&s.changed);
    pthread_mutex_destroy(&s.lock);
}

/* ---- tpool: callers on hubs that exit -------------------------------- */

#define CALLERS_PER_HUB 3

struct pool_tally {
    atomic_long submitted, returned, abandoned;
    atomic_uint seed;
};

struct pool_job {
    struct pool_tally *tally;
    double duration;
};

static void *nap_job(void *arg)
{
    nap(((struct pool_job *)arg)->duration);
    return arg;
}

static void job_abandoned(void *arg, void *result)
{
    struct pool_job *job = arg;

    (void)result;
    atomic_fetch_add(&job->tally->abandoned, 1);
    free(job);
}

static void *call_pool_until_killed(void *arg)
{
    struct pool_tally *tally = arg;

    for (;;) {
        struct pool_job *job = malloc(sizeof(*job));
        void *result = NULL;

        if (job == NULL)
            return NULL;
        job->tally = tally;
        job->duration = (atomic_fetch_add(&tally->seed, 1) % 5) * 0.0002;
        atomic_fetch_add(&tally->submitted, 1);
        if (green_tpool_execute_ex(nap_job, job, job_abandoned, GREEN_FOREVER,
                                   &result) != 0)
            return NULL; /* job went to job_abandoned */
        atomic_fetch_add(&tally->returned, 1);
        free(job);
    }
}

static void *hub_with_pool_callers(void *arg)
{
    struct pool_tally *tally = arg;
    unsigned spread = atomic_fetch_add(&tally->seed, 1) % 4;

    for (int i = 0; i < CALLERS_PER_HUB; i++)
        green_spawn_n(call_pool_until_killed, tally);
    green_sleep(0.0005 + spread * 0.0005);
    return NULL;
}

static void test_tpool_jobs_of_exiting_hubs_end_once(void **state)
{
    struct pool_tally tally = {0};
    size_t hubs = test_scaled(2000);
    long submitted, returned, abandoned;

    (void)state;
    run_thread_waves(hubs, 8, hub_with_pool_callers, &tally);
    /* Jobs still running finish in their workers. */
    assert_int_equal(green_tpool_shutdown(), 0);
    submitted = atomic_load(&tally.submitted);
    returned = atomic_load(&tally.returned);
    abandoned = atomic_load(&tally.abandoned);
    print_message("%zu hubs: %ld jobs, %ld returned, %ld abandoned\n", hubs,
                  submitted, returned, abandoned);
    assert_true(abandoned > 0);
    assert_int_equal(returned + abandoned, submitted);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        hub_test(test_xqueue_items_survive_exiting_getter_hubs),
        hub_test(test_xqueue_items_of_exited_getters_return_in_order),
        hub_test(test_tpool_jobs_of_exiting_hubs_end_once),
    };

    test_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
