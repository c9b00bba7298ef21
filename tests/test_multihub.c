/* GREEN_TEST_BACKENDS */
/*
 * Several OS threads, each with its own hub: green_hub_threads_new and
 * join, the thread pool used from every hub, the cross-hub green_xqueue
 * (no item lost among 4 hubs), getters woken from another hub, and an
 * SO_REUSEPORT server on every hub.
 */
#include "test_util.h"

#include <green/hub_threads.h>
#include <green/io.h>
#include <green/net.h>
#include <green/thread.h>
#include <green/tpool.h>
#include <green/xqueue.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

/* ---- Hub threads ----------------------------------------------------- */

static atomic_int bodies_run;

static void count_body(size_t index, void *arg)
{
    atomic_int *seen = arg;

    atomic_fetch_add(&seen[index], 1);
    atomic_fetch_add(&bodies_run, 1);
}

/* Where a callback ran: the flag, set last, publishes the thread. */
struct where {
    pthread_t thread;
    atomic_int recorded;
};

static void record_thread(void *arg)
{
    struct where *where = arg;

    where->thread = pthread_self();
    atomic_store(&where->recorded, 1);
}

/* A body that keeps its hub alive until told to stop. */
static atomic_int release_hubs;

static void wait_for_release(size_t index, void *unused)
{
    (void)index;
    (void)unused;
    while (!atomic_load(&release_hubs))
        green_sleep(0.001);
}

static void test_spawn_and_join(void **state)
{
    atomic_int seen[4] = {0};
    green_hub_threads_t *threads;
    struct where where[4] = {0};

    (void)state;
    atomic_store(&bodies_run, 0);
    assert_int_equal(green_hub_threads_new(&threads, 4, count_body, seen), 0);
    assert_int_equal(green_hub_threads_count(threads), 4);
    assert_int_equal(green_hub_threads_destroy(threads), 0);
    assert_int_equal(atomic_load(&bodies_run), 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(atomic_load(&seen[i]), 1);

    /* Callbacks sent to each hub run in that hub's own OS thread. */
    atomic_store(&release_hubs, 0);
    assert_int_equal(green_hub_threads_new(&threads, 4, wait_for_release, NULL),
                     0);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(
            green_hub_call_threadsafe(green_hub_threads_hub(threads, i),
                                      record_thread, &where[i]),
            0);
    }
    assert_null(green_hub_threads_hub(threads, 4));
    /* Give the callbacks time to run, then let the hubs end. */
    for (int spins = 0; spins < 5000; spins++) {
        int done = 1;
        for (int i = 0; i < 4; i++)
            done &= atomic_load(&where[i].recorded);
        if (done)
            break;
        green_sleep(0.001);
    }
    atomic_store(&release_hubs, 1);
    assert_int_equal(green_hub_threads_destroy(threads), 0);
    for (int i = 0; i < 4; i++) {
        assert_true(atomic_load(&where[i].recorded));
        assert_false(pthread_equal(where[i].thread, pthread_self()));
        for (int j = 0; j < i; j++)
            assert_false(pthread_equal(where[i].thread, where[j].thread));
    }

    assert_int_equal(green_hub_threads_new(&threads, 0, count_body, seen),
                     EINVAL);
    assert_int_equal(green_hub_threads_new(&threads, 1, NULL, NULL), EINVAL);
}

/* ---- The thread pool serves every hub ----------------------------------- */

static void *square(void *arg)
{
    uintptr_t n = (uintptr_t)arg;
    return (void *)(n * n);
}

struct pool_user {
    size_t calls;
    atomic_int wrong;
};

static void *call_pool_repeatedly(void *arg)
{
    struct pool_user *user = arg;

    for (uintptr_t i = 0; i < user->calls; i++) {
        void *result = NULL;

        if (green_tpool_execute(square, (void *)i, &result) != 0 ||
            (uintptr_t)result != i * i)
            atomic_fetch_add(&user->wrong, 1);
    }
    return NULL;
}

/* Each hub runs green threads waiting on pool jobs: every result must come
 * back to the hub (and green thread) that asked for it. */
static void pool_user_body(size_t index, void *arg)
{
    (void)index;
    for (int i = 0; i < 3; i++)
        green_spawn_n(call_pool_repeatedly, arg);
}

static void test_tpool_from_every_hub(void **state)
{
    struct pool_user user = {.calls = test_scaled(500)};
    green_hub_threads_t *threads;

    (void)state;
    assert_int_equal(green_hub_threads_new(&threads, 4, pool_user_body, &user),
                     0);
    assert_int_equal(green_hub_threads_destroy(threads), 0);
    assert_int_equal(atomic_load(&user.wrong), 0);
}

/* ---- xqueue: 4 hubs, 100,000 items ----------------------------------- */

#define HUBS 4
#define CONSUMERS_PER_HUB 2

struct handoff {
    green_xqueue_t *queue;
    size_t maxsize;
    size_t items_per_hub;
    atomic_uchar *seen; /* how many times each item was taken */
    atomic_int producers_left;
    atomic_size_t taken;
    atomic_int errors;
};

struct hub_role {
    struct handoff *handoff;
    size_t hub;
};

static void *produce(void *arg)
{
    struct hub_role *role = arg;
    struct handoff *h = role->handoff;
    size_t first = role->hub * h->items_per_hub;

    for (size_t i = 0; i < h->items_per_hub; i++) {
        /* Items are index + 1, so none is NULL. */
        if (green_xqueue_put(h->queue, (void *)(uintptr_t)(first + i + 1),
                             GREEN_FOREVER))
            atomic_fetch_add(&h->errors, 1);
        if (i % 64 == 63)
            green_sleep(0); /* let this hub's consumers run too */
    }
    if (atomic_fetch_sub(&h->producers_left, 1) == 1)
        green_xqueue_close(h->queue);
    return NULL;
}

static void *consume(void *arg)
{
    struct handoff *h = arg;
    size_t total = h->items_per_hub * HUBS;
    void *item;
    int err;

    while ((err = green_xqueue_get(h->queue, &item, 60.0)) == 0) {
        uintptr_t index = (uintptr_t)item - 1;

        /* No timeouts here, so nothing is given back beyond the bound. */
        if (green_xqueue_size(h->queue) > h->maxsize)
            atomic_fetch_add(&h->errors, 1);
        if (index >= total)
            atomic_fetch_add(&h->errors, 1);
        else
            atomic_fetch_add(&h->seen[index], 1);
        atomic_fetch_add(&h->taken, 1);
    }
    if (err != EPIPE)
        atomic_fetch_add(&h->errors, 1);
    return NULL;
}

static void handoff_body(size_t index, void *arg)
{
    struct hub_role *role = &((struct hub_role *)arg)[index];

    for (int i = 0; i < CONSUMERS_PER_HUB; i++)
        if (green_spawn_n(consume, role->handoff) != 0)
            atomic_fetch_add(&role->handoff->errors, 1);
    if (green_spawn_n(produce, role) != 0)
        atomic_fetch_add(&role->handoff->errors, 1);
}

static void run_four_hubs(size_t maxsize)
{
    struct handoff h = {.maxsize = maxsize,
                        .items_per_hub = test_scaled(100000) / HUBS + 1};
    struct hub_role roles[HUBS];
    green_hub_threads_t *threads;
    size_t total = h.items_per_hub * HUBS, missing = 0, doubled = 0;

    h.seen = calloc(total, sizeof(*h.seen));
    assert_non_null(h.seen);
    atomic_init(&h.producers_left, HUBS);
    assert_int_equal(green_xqueue_new(&h.queue, maxsize), 0);
    for (size_t i = 0; i < HUBS; i++)
        roles[i] = (struct hub_role){&h, i};

    assert_int_equal(green_hub_threads_new(&threads, HUBS, handoff_body, roles),
                     0);
    assert_int_equal(green_hub_threads_destroy(threads), 0);

    for (size_t i = 0; i < total; i++) {
        missing += atomic_load(&h.seen[i]) == 0;
        doubled += atomic_load(&h.seen[i]) > 1;
    }
    assert_int_equal(atomic_load(&h.errors), 0);
    assert_int_equal(missing, 0);
    assert_int_equal(doubled, 0);
    assert_int_equal(atomic_load(&h.taken), total);
    assert_int_equal(green_xqueue_size(h.queue), 0);
    assert_int_equal(green_xqueue_destroy(h.queue, NULL), 0);
    free(h.seen);
}

static void test_xqueue_four_hubs(void **state)
{
    (void)state;
    run_four_hubs(GREEN_XQUEUE_UNBOUNDED);
}

/* Producers outrun a bound of 8 and park, and are let in by consumers on
 * other hubs. */
static void test_bounded_xqueue_four_hubs(void **state)
{
    (void)state;
    run_four_hubs(8);
}

/* ---- Getters timing out while items are handed to them ----------------- */

struct racing {
    green_xqueue_t *queue;
    size_t items;
    atomic_uchar *seen;
    atomic_int producer_done;
    atomic_int errors;
};

static void mark_seen(struct racing *r, void *item)
{
    uintptr_t index = (uintptr_t)item - 1;

    if (index >= r->items || atomic_fetch_add(&r->seen[index], 1) != 0)
        atomic_fetch_add(&r->errors, 1);
}

/* Short timeouts, so that many expire just as a put hands them an item:
 * such an item must go back to the queue, not vanish. */
static void *impatient_getter(void *arg)
{
    struct racing *r = arg;
    void *item;
    int err;

    for (;;) {
        err = green_xqueue_get(r->queue, &item, 0.0002);
        if (err == 0)
            mark_seen(r, item);
        else if (err != ETIMEDOUT)
            atomic_fetch_add(&r->errors, 1);
        else if (atomic_load(&r->producer_done))
            return NULL;
    }
}

static void racing_body(size_t index, void *arg)
{
    struct racing *r = arg;

    if (index == 0) {
        for (int i = 0; i < 8; i++)
            green_spawn_n(impatient_getter, r);
        return;
    }
    for (size_t i = 0; i < r->items; i++) {
        green_xqueue_put(r->queue, (void *)(uintptr_t)(i + 1), GREEN_FOREVER);
        if (i % 16 == 15)
            green_sleep(0.0001);
    }
    atomic_store(&r->producer_done, 1);
}

static void test_xqueue_timeouts_race_handoffs(void **state)
{
    struct racing r = {.items = test_scaled(20000)};
    green_hub_threads_t *threads;
    void *item;
    size_t missing = 0;

    (void)state;
    r.seen = calloc(r.items, sizeof(*r.seen));
    assert_non_null(r.seen);
    assert_int_equal(green_xqueue_new(&r.queue, GREEN_XQUEUE_UNBOUNDED), 0);
    assert_int_equal(green_hub_threads_new(&threads, 2, racing_body, &r), 0);
    assert_int_equal(green_hub_threads_destroy(threads), 0);
    /* What the getters left (given back or never taken) is still here. */
    while (green_xqueue_try_get(r.queue, &item) == 0)
        mark_seen(&r, item);
    for (size_t i = 0; i < r.items; i++)
        missing += atomic_load(&r.seen[i]) == 0;
    assert_int_equal(atomic_load(&r.errors), 0);
    assert_int_equal(missing, 0);
    assert_int_equal(green_xqueue_destroy(r.queue, NULL), 0);
    free(r.seen);
}

/* ---- Putters timing out while a get lets them in ---------------------- */

#define IMPATIENT_PUTTERS 4

/* Short timeouts on a full queue of 2, so that many expire just as a get
 * moves the item in.  A put that reports ETIMEDOUT must not have put its
 * item: it is put again, and seen twice if the report lied.  Uses the
 * hand-off's structs, with a role per putter instead of per hub. */
static void *impatient_putter(void *arg)
{
    struct hub_role *role = arg;
    struct handoff *h = role->handoff;
    size_t first = role->hub * h->items_per_hub;

    for (size_t i = 0; i < h->items_per_hub; i++) {
        void *item = (void *)(uintptr_t)(first + i + 1);
        int err;

        while ((err = green_xqueue_put(h->queue, item, 0.00005)) == ETIMEDOUT)
            ;
        if (err != 0) {
            atomic_fetch_add(&h->errors, 1);
            return NULL;
        }
    }
    return NULL;
}

static void racing_puts_body(size_t index, void *arg)
{
    struct hub_role *roles = arg;
    struct handoff *h = roles[0].handoff;
    size_t total = h->items_per_hub * IMPATIENT_PUTTERS;
    void *item;

    if (index == 0) {
        for (size_t i = 0; i < IMPATIENT_PUTTERS; i++)
            green_spawn_n(impatient_putter, &roles[i]);
        return;
    }
    while (atomic_load(&h->taken) < total) {
        int err = green_xqueue_get(h->queue, &item, 10.0);
        uintptr_t index_of_item = (uintptr_t)item - 1;

        if (err != 0 || index_of_item >= total ||
            atomic_fetch_add(&h->seen[index_of_item], 1) != 0) {
            /* Closing stops the putters, so a failure cannot hang. */
            atomic_fetch_add(&h->errors, 1);
            green_xqueue_close(h->queue);
            return;
        }
        atomic_fetch_add(&h->taken, 1);
        /* Pauses as long as the putters' timeouts, so that expiries and
         * admissions meet: a put made to report ETIMEDOUT for an item it
         * had put was caught in 9 runs out of 12. */
        green_sleep(0.00005);
    }
}

static void test_bounded_xqueue_put_timeouts_race_admissions(void **state)
{
    struct handoff h = {.maxsize = 2,
                        .items_per_hub =
                            test_scaled(1000) / IMPATIENT_PUTTERS + 1};
    struct hub_role roles[IMPATIENT_PUTTERS];
    size_t total = h.items_per_hub * IMPATIENT_PUTTERS, missing = 0;
    green_hub_threads_t *threads;
    void *item;

    (void)state;
    h.seen = calloc(total, sizeof(*h.seen));
    assert_non_null(h.seen);
    assert_int_equal(green_xqueue_new(&h.queue, h.maxsize), 0);
    for (size_t i = 0; i < IMPATIENT_PUTTERS; i++)
        roles[i] = (struct hub_role){&h, i};
    assert_int_equal(
        green_hub_threads_new(&threads, 2, racing_puts_body, roles), 0);
    assert_int_equal(green_hub_threads_destroy(threads), 0);
    for (size_t i = 0; i < total; i++)
        missing += atomic_load(&h.seen[i]) == 0;
    assert_int_equal(atomic_load(&h.errors), 0);
    assert_int_equal(missing, 0);
    assert_int_equal(green_xqueue_try_get(h.queue, &item), EAGAIN);
    assert_int_equal(green_xqueue_destroy(h.queue, NULL), 0);
    free(h.seen);
}

/* ---- A getter on this hub, woken by a put on another ----------------- */

static void put_later(size_t index, void *arg)
{
    (void)index;
    green_sleep(0.02);
    green_xqueue_put(arg, (void *)(uintptr_t)1234, 0);
}

static void test_getter_woken_from_other_hub(void **state)
{
    green_xqueue_t *queue;
    green_hub_threads_t *threads;
    void *item = NULL;

    (void)state;
    assert_int_equal(green_xqueue_new(&queue, GREEN_XQUEUE_UNBOUNDED), 0);
    assert_int_equal(green_hub_threads_new(&threads, 1, put_later, queue), 0);
    /* The main greenlet parks: nothing on this hub could wake it, but
     * the wake-up from the other hub keeps the hub from EDEADLK. */
    assert_int_equal(green_xqueue_get(queue, &item, 10.0), 0);
    assert_int_equal((uintptr_t)item, 1234);
    assert_int_equal(green_hub_threads_destroy(threads), 0);
    assert_int_equal(green_xqueue_destroy(queue, NULL), 0);
}

static void test_xqueue_timeouts_and_close(void **state)
{
    green_xqueue_t *queue;
    void *item = NULL;
    double start;

    (void)state;
    assert_int_equal(green_xqueue_new(&queue, GREEN_XQUEUE_UNBOUNDED), 0);
    assert_int_equal(green_xqueue_try_get(queue, &item), EAGAIN);
    assert_int_equal(green_xqueue_get(queue, &item, 0), ETIMEDOUT);
    start = green_now();
    assert_int_equal(green_xqueue_get(queue, &item, 0.02), ETIMEDOUT);
    assert_true(green_now() - start >= 0.015);
    assert_int_equal(green_xqueue_put(queue, &item, 0), 0);
    assert_int_equal(green_xqueue_put(queue, queue, 0), 0);
    assert_int_equal(green_xqueue_size(queue), 2);
    assert_int_equal(green_xqueue_closed(queue), 0);
    assert_int_equal(green_xqueue_close(queue), 0);
    assert_int_equal(green_xqueue_closed(queue), 1);
    /* As for green_queue_close: a second close is refused. */
    assert_int_equal(green_xqueue_close(queue), EALREADY);
    assert_int_equal(green_xqueue_close(NULL), EINVAL);
    assert_int_equal(green_xqueue_put(queue, NULL, 0), EPIPE);
    /* Closing still lets getters drain what is left, in order. */
    assert_int_equal(green_xqueue_get(queue, &item, 0), 0);
    assert_ptr_equal(item, &item);
    assert_int_equal(green_xqueue_get(queue, &item, 0), 0);
    assert_ptr_equal(item, queue);
    assert_int_equal(green_xqueue_get(queue, &item, 1.0), EPIPE);
    assert_int_equal(green_xqueue_destroy(queue, NULL), 0);
    assert_int_equal(green_xqueue_new(NULL, 1), EINVAL);
    assert_int_equal(green_xqueue_put(NULL, NULL, 0), EINVAL);
    assert_int_equal(green_xqueue_try_put(NULL, NULL), EINVAL);
    assert_int_equal(green_xqueue_try_get(NULL, &item), EINVAL);
    assert_int_equal(green_xqueue_destroy(NULL, NULL), EINVAL);
}

/* ---- A bounded xqueue: full puts park, a get lets the oldest in -------- */

struct bounded_putter {
    green_xqueue_t *queue;
    uintptr_t item;
    double timeout;
    int rc;
};

static void *put_one(void *arg)
{
    struct bounded_putter *p = arg;

    p->rc = green_xqueue_put(p->queue, (void *)p->item, p->timeout);
    return NULL;
}

static void test_bounded_xqueue_parks_full_puts(void **state)
{
    struct bounded_putter late = {
        .item = 3, .timeout = GREEN_FOREVER, .rc = -1};
    struct bounded_putter later = {
        .item = 4, .timeout = GREEN_FOREVER, .rc = -1};
    green_xqueue_t *queue;
    void *item;
    double start;

    (void)state;
    assert_int_equal(green_xqueue_new(&queue, 2), 0);
    late.queue = later.queue = queue;
    assert_int_equal(green_xqueue_put(queue, (void *)1, 0), 0);
    assert_int_equal(green_xqueue_put(queue, (void *)2, 0), 0);
    assert_int_equal(green_xqueue_try_put(queue, (void *)9), EAGAIN);
    assert_int_equal(green_xqueue_put(queue, (void *)9, 0), ETIMEDOUT);
    assert_int_equal(green_xqueue_maxsize(queue), 2);
    start = green_now();
    assert_int_equal(green_xqueue_put(queue, (void *)9, 0.02), ETIMEDOUT);
    assert_true(green_now() - start >= 0.015);
    assert_int_equal(green_xqueue_size(queue), 2);

    /* Two putters park in order; each get lets the oldest in, so the
     * queue stays at its bound and FIFO across the parked ones. */
    assert_int_equal(green_spawn_n(put_one, &late), 0);
    assert_int_equal(green_spawn_n(put_one, &later), 0);
    green_sleep(0.01);
    assert_int_equal(late.rc, -1);
    assert_int_equal(green_xqueue_destroy(queue, NULL), EBUSY);
    for (uintptr_t expected = 1; expected <= 4; expected++) {
        assert_int_equal(green_xqueue_get(queue, &item, 0), 0);
        assert_int_equal((uintptr_t)item, expected);
        green_sleep(0); /* the admitted putter returns */
        assert_true(green_xqueue_size(queue) <= 2);
    }
    assert_int_equal(late.rc, 0);
    assert_int_equal(later.rc, 0);
    assert_int_equal(green_xqueue_try_get(queue, &item), EAGAIN);
    assert_int_equal(green_xqueue_destroy(queue, NULL), 0);
}

static void test_bounded_xqueue_close_refuses_parked_puts(void **state)
{
    struct bounded_putter parked = {
        .item = 2, .timeout = GREEN_FOREVER, .rc = -1};
    green_xqueue_t *queue;
    void *item;

    (void)state;
    assert_int_equal(green_xqueue_new(&queue, 1), 0);
    parked.queue = queue;
    assert_int_equal(green_xqueue_put(queue, (void *)1, 0), 0);
    assert_int_equal(green_spawn_n(put_one, &parked), 0);
    green_sleep(0.01);
    green_xqueue_close(queue);
    green_sleep(0.01);
    assert_int_equal(parked.rc, EPIPE);
    /* Its item was not put; what was stored still drains. */
    assert_int_equal(green_xqueue_get(queue, &item, 0), 0);
    assert_int_equal((uintptr_t)item, 1);
    assert_int_equal(green_xqueue_get(queue, &item, 0), EPIPE);
    assert_int_equal(green_xqueue_destroy(queue, NULL), 0);
}

/* A putter on another hub, parked on a full queue, let in by a get here. */
static void put_from_other_hub(size_t index, void *arg)
{
    (void)index;
    if (green_xqueue_put(arg, (void *)(uintptr_t)2, 10.0) != 0)
        green_xqueue_close(arg); /* makes the get below fail */
}

static void test_bounded_xqueue_putter_on_other_hub(void **state)
{
    green_xqueue_t *queue;
    green_hub_threads_t *threads;
    void *item;

    (void)state;
    assert_int_equal(green_xqueue_new(&queue, 1), 0);
    assert_int_equal(green_xqueue_put(queue, (void *)1, 0), 0);
    assert_int_equal(
        green_hub_threads_new(&threads, 1, put_from_other_hub, queue), 0);
    green_sleep(0.02); /* let it park, most likely */
    assert_int_equal(green_xqueue_get(queue, &item, 10.0), 0);
    assert_int_equal((uintptr_t)item, 1);
    assert_int_equal(green_xqueue_get(queue, &item, 10.0), 0);
    assert_int_equal((uintptr_t)item, 2);
    assert_int_equal(green_hub_threads_destroy(threads), 0);
    assert_int_equal(green_xqueue_destroy(queue, NULL), 0);
}

/* ---- SO_REUSEPORT: one listener and server per hub -------------------- */

#define SERVER_HUBS 2

struct hub_server {
    int listen_fd;
    green_server_t *server;
    atomic_int connections;
};

static struct hub_server hub_servers[SERVER_HUBS];

static void count_and_echo(int fd, void *arg)
{
    struct hub_server *self = arg;
    char byte;
    size_t got;

    atomic_fetch_add(&self->connections, 1);
    if (green_recv(fd, &byte, 1, 0, &got) == 0 && got == 1)
        green_send_all(fd, &byte, 1, NULL);
}

static void serve_body(size_t index, void *unused)
{
    struct hub_server *self = &hub_servers[index];

    (void)unused;
    if (green_server_new(&self->server, self->listen_fd, count_and_echo, self,
                         NULL) != 0)
        return;
    green_server_serve(self->server);
    green_server_destroy(self->server);
}

static void stop_server(void *arg)
{
    green_server_stop(((struct hub_server *)arg)->server);
}

static void test_reuseport_server_on_every_hub(void **state)
{
    green_hub_threads_t *threads;
    char address[32];
    int port = 0, total = 0;
    size_t connections = test_scaled(400) < 64 ? 64 : test_scaled(400);

    (void)state;
    for (int i = 0; i < SERVER_HUBS; i++) {
        snprintf(address, sizeof(address), "127.0.0.1:%d", port);
        assert_int_equal(green_listen(&hub_servers[i].listen_fd, address, 0,
                                      GREEN_LISTEN_REUSEPORT),
                         0);
        assert_int_equal(green_local_port(hub_servers[i].listen_fd, &port), 0);
        atomic_store(&hub_servers[i].connections, 0);
    }
    assert_int_equal(
        green_hub_threads_new(&threads, SERVER_HUBS, serve_body, NULL), 0);
    for (size_t i = 0; i < connections; i++) {
        int fd;
        char byte = 'r';
        size_t got = 0;

        assert_int_equal(green_connect_tcp(&fd, "127.0.0.1", port, 10.0), 0);
        assert_int_equal(green_send_all(fd, &byte, 1, NULL), 0);
        assert_int_equal(green_recv_all(fd, &byte, 1, &got), 0);
        assert_int_equal(got, 1);
        assert_int_equal(green_close(fd), 0);
    }
    /* Stop each server from its own hub (it was made before the first
     * connection could be answered). */
    for (size_t i = 0; i < SERVER_HUBS; i++)
        assert_int_equal(
            green_hub_call_threadsafe(green_hub_threads_hub(threads, i),
                                      stop_server, &hub_servers[i]),
            0);
    assert_int_equal(green_hub_threads_destroy(threads), 0);
    for (int i = 0; i < SERVER_HUBS; i++) {
        int count = atomic_load(&hub_servers[i].connections);

        print_message("hub %d accepted %d connections\n", i, count);
        assert_true(count > 0); /* the kernel spread them over every hub */
        total += count;
        assert_int_equal(green_close(hub_servers[i].listen_fd), 0);
    }
    assert_int_equal(total, (int)connections);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spawn_and_join),
        cmocka_unit_test(test_tpool_from_every_hub),
        cmocka_unit_test(test_xqueue_four_hubs),
        cmocka_unit_test(test_xqueue_timeouts_race_handoffs),
        cmocka_unit_test(test_getter_woken_from_other_hub),
        cmocka_unit_test(test_xqueue_timeouts_and_close),
        cmocka_unit_test(test_bounded_xqueue_parks_full_puts),
        cmocka_unit_test(test_bounded_xqueue_close_refuses_parked_puts),
        cmocka_unit_test(test_bounded_xqueue_putter_on_other_hub),
        cmocka_unit_test(test_bounded_xqueue_four_hubs),
        cmocka_unit_test(test_bounded_xqueue_put_timeouts_race_admissions),
        cmocka_unit_test(test_reuseport_server_on_every_hub),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
