/* GREEN_TEST_BACKENDS */
/*
 * green_select: each case kind fires, default, timeouts, kills, closed
 * queues, random choice among ready cases, and exactly one commit: no item,
 * permit or lock goes to a select that another case already won.
 */
#include "test_hub_util.h"

#include <green/select.h>
#include <green/sync.h>
#include <green/thread.h>
#include <green/timeout.h>

#include <errno.h>
#include <math.h>
#include <sys/socket.h>
#include <unistd.h>

static green_queue_t *queue_or_fail(size_t maxsize)
{
    green_queue_t *q = NULL;

    assert_int_equal(green_queue_new(&q, maxsize, GREEN_QUEUE_FIFO, NULL), 0);
    return q;
}

static void wait_and_release(green_thread_t *t)
{
    assert_int_equal(green_thread_wait(t, NULL), 0);
    green_thread_release(t);
}

/* A select on its own green thread, for cases that need the main greenlet
 * to act while it waits. */
struct selector {
    green_select_case_t cases[4];
    size_t count, fired;
    int err, done;
};

static void *selector_run(void *arg)
{
    struct selector *s = arg;

    s->err = green_select(s->cases, s->count, &s->fired);
    s->done = 1;
    return NULL;
}

static void test_invalid_arguments(void **state)
{
    green_queue_t *q = queue_or_fail(0);
    green_select_case_t c[2] = {{.op = GREEN_SELECT_DEFAULT},
                                {.op = GREEN_SELECT_DEFAULT}};
    size_t fired;

    (void)state;
    assert_int_equal(green_select(NULL, 1, &fired), EINVAL);
    assert_int_equal(green_select(c, 0, &fired), EINVAL);
    assert_int_equal(green_select(c, 1, NULL), EINVAL);
    assert_int_equal(green_select(c, 2, &fired), EINVAL); /* two defaults */
    c[0] = (green_select_case_t){.op = GREEN_SELECT_GET}; /* no queue */
    assert_int_equal(green_select(c, 2, &fired), EINVAL);
    c[0] = (green_select_case_t){.op = 0, .object = q};
    assert_int_equal(green_select(c, 2, &fired), EINVAL);
    c[0] = (green_select_case_t){.op = GREEN_SELECT_TIMEOUT, .seconds = -1};
    assert_int_equal(green_select(c, 2, &fired), EINVAL);
    c[0].seconds = NAN;
    assert_int_equal(green_select(c, 2, &fired), EINVAL);
    assert_int_equal(green_select(c, GREEN_SELECT_MAX + 1, &fired), EINVAL);
    assert_int_equal(green_queue_destroy(q, NULL), 0);
}

/* Nothing ready: the default case fires and nothing stays queued. */
static void test_default(void **state)
{
    green_queue_t *q = queue_or_fail(0);
    green_select_case_t c[2] = {{.op = GREEN_SELECT_GET, .object = q},
                                {.op = GREEN_SELECT_DEFAULT}};
    size_t fired = 9;

    (void)state;
    assert_int_equal(green_select(c, 2, &fired), 0);
    assert_int_equal(fired, 1);
    assert_int_equal(green_queue_getters(q), 0);
    /* A ready case wins over the default. */
    assert_int_equal(green_queue_resize(q, 1), 0);
    assert_int_equal(green_queue_put(q, TEST_INT_VALUE(5), 0), 0);
    assert_int_equal(green_select(c, 2, &fired), 0);
    assert_int_equal(fired, 0);
    assert_int_equal(TEST_VALUE_INT(c[0].value), 5);
    assert_int_equal(green_queue_destroy(q, NULL), 0);
}

/* GET on a ready queue; PUT to a channel's parked getter. */
static void *channel_getter(void *arg)
{
    void *item = NULL;

    if (green_queue_get(arg, &item, GREEN_FOREVER) != 0)
        return NULL;
    return item;
}

static void test_get_and_put_fire(void **state)
{
    green_queue_t *full = queue_or_fail(1), *channel = queue_or_fail(0);
    green_select_case_t c[2] = {
        {.op = GREEN_SELECT_GET, .object = channel},
        {.op = GREEN_SELECT_PUT, .object = full, .value = TEST_INT_VALUE(1)}};
    green_thread_t *t;
    void *result = NULL;
    size_t fired;

    (void)state;
    assert_int_equal(green_queue_put(full, TEST_INT_VALUE(7), 0), 0);
    c[1].object = channel; /* PUT to a channel waits for a getter */
    c[0].object = full;
    assert_int_equal(green_select(c, 2, &fired), 0);
    assert_int_equal(fired, 0);
    assert_int_equal(c[0].result, 0);
    assert_int_equal(TEST_VALUE_INT(c[0].value), 7);

    /* Parked on an empty queue's GET and a channel's PUT: a getter arrives
     * on the channel and takes the item. */
    t = spawn_or_fail(channel_getter, channel);
    assert_int_equal(green_select(c, 2, &fired), 0);
    assert_int_equal(fired, 1);
    assert_int_equal(c[1].result, 0);
    assert_int_equal(green_thread_wait(t, &result), 0);
    green_thread_release(t);
    assert_int_equal(TEST_VALUE_INT(result), 1);
    assert_int_equal(green_queue_getters(full), 0);
    assert_int_equal(green_queue_destroy(full, NULL), 0);
    assert_int_equal(green_queue_destroy(channel, NULL), 0);
}

/* Each of event, semaphore, lock, thread end and timeout wakes a parked
 * select (the other case, a GET on an empty queue, never fires). */
struct waker {
    green_event_t *event;
    green_semaphore_t *sem;
    green_lock_t *lock;
};

static void *event_sender(void *arg)
{
    green_event_send(((struct waker *)arg)->event, TEST_INT_VALUE(3));
    return NULL;
}

static void *sem_releaser(void *arg)
{
    green_semaphore_release(((struct waker *)arg)->sem);
    return NULL;
}

static void *lock_holder(void *arg)
{
    struct waker *w = arg;

    green_lock_acquire(w->lock, GREEN_FOREVER);
    green_sleep(0.001);
    green_lock_release(w->lock);
    return NULL;
}

static void *returner(void *arg)
{
    green_sleep(0.001);
    return arg;
}

static void select_with_empty_queue(green_select_case_t *c, size_t index)
{
    green_queue_t *q = queue_or_fail(GREEN_QUEUE_UNBOUNDED);
    green_select_case_t cases[2] = {{.op = GREEN_SELECT_GET, .object = q}, *c};
    size_t fired = 9;
    assert_int_equal(green_select(cases, 2, &fired), 0);
    assert_int_equal(fired, index);
    *c = cases[1];
    assert_int_equal(green_queue_getters(q), 0);
    assert_int_equal(green_queue_destroy(q, NULL), 0);
}

static void select_with_empty_queue_err(green_select_case_t *c, int err)
{
    green_queue_t *q = queue_or_fail(GREEN_QUEUE_UNBOUNDED);
    green_select_case_t cases[2] = {{.op = GREEN_SELECT_GET, .object = q}, *c};
    size_t fired;

    assert_int_equal(green_select(cases, 2, &fired), err);
    assert_int_equal(green_queue_getters(q), 0);
    assert_int_equal(green_queue_destroy(q, NULL), 0);
}

static void test_each_kind_fires(void **state)
{
    struct waker w;
    green_select_case_t c;
    green_thread_t *t;
    double start;

    (void)state;
    assert_int_equal(green_event_new(&w.event), 0);
    assert_int_equal(green_semaphore_new(&w.sem, 0), 0);
    assert_int_equal(green_lock_new(&w.lock), 0);

    t = spawn_or_fail(event_sender, &w);
    c = (green_select_case_t){.op = GREEN_SELECT_EVENT, .object = w.event};
    select_with_empty_queue(&c, 1);
    assert_int_equal(TEST_VALUE_INT(c.value), 3);
    wait_and_release(t);
    assert_int_equal(green_event_waiting(w.event), 0);

    t = spawn_or_fail(sem_releaser, &w);
    c = (green_select_case_t){.op = GREEN_SELECT_SEMAPHORE, .object = w.sem};
    select_with_empty_queue(&c, 1);
    assert_int_equal(green_semaphore_value(w.sem), 0); /* the permit: ours */
    wait_and_release(t);

    t = spawn_or_fail(lock_holder, &w);
    green_sleep(0);
    assert_true(green_lock_locked(w.lock));
    c = (green_select_case_t){.op = GREEN_SELECT_LOCK, .object = w.lock};
    select_with_empty_queue(&c, 1);
    assert_true(green_lock_owned(w.lock));
    assert_int_equal(green_lock_release(w.lock), 0);
    wait_and_release(t);

    t = spawn_or_fail(returner, TEST_INT_VALUE(11));
    c = (green_select_case_t){.op = GREEN_SELECT_THREAD, .object = t};
    select_with_empty_queue(&c, 1);
    assert_int_equal(c.result, 0);
    assert_int_equal(TEST_VALUE_INT(c.value), 11);
    wait_and_release(t);

    start = green_now();
    c = (green_select_case_t){.op = GREEN_SELECT_TIMEOUT, .seconds = 0.02};
    select_with_empty_queue(&c, 1);
    assert_true(green_now() - start >= 0.015);

    assert_int_equal(green_event_destroy(w.event), 0);
    assert_int_equal(green_semaphore_destroy(w.sem), 0);
    assert_int_equal(green_lock_destroy(w.lock), 0);
}

/* A case already ready fires without parking: event set, semaphore with a
 * permit, free lock, dead thread. */
static void test_ready_kinds(void **state)
{
    green_event_t *event;
    green_semaphore_t *sem;
    green_lock_t *lock;
    green_thread_t *t = spawn_or_fail(returner, TEST_INT_VALUE(4));
    green_select_case_t c[4];
    size_t fired;

    (void)state;
    assert_int_equal(green_event_new(&event), 0);
    assert_int_equal(green_semaphore_new(&sem, 1), 0);
    assert_int_equal(green_lock_new(&lock), 0);
    assert_int_equal(green_event_send_error(event, EIO), 0);
    assert_int_equal(green_thread_wait(t, NULL), 0);
    c[0] = (green_select_case_t){.op = GREEN_SELECT_EVENT, .object = event};
    c[1] = (green_select_case_t){.op = GREEN_SELECT_SEMAPHORE, .object = sem};
    c[2] = (green_select_case_t){.op = GREEN_SELECT_LOCK, .object = lock};
    c[3] = (green_select_case_t){.op = GREEN_SELECT_THREAD, .object = t};
    for (size_t i = 0; i < 4; i++) {
        green_select_case_t pair[2] = {c[i], {.op = GREEN_SELECT_DEFAULT}};

        assert_int_equal(green_select(pair, 2, &fired), 0);
        assert_int_equal(fired, 0);
        c[i] = pair[0];
    }
    assert_int_equal(c[0].result, EIO);
    assert_int_equal(green_semaphore_value(sem), 0);
    assert_true(green_lock_owned(lock));
    assert_int_equal(c[3].result, 0);
    assert_int_equal(TEST_VALUE_INT(c[3].value), 4);
    green_thread_release(t);
    assert_int_equal(green_lock_release(lock), 0);
    assert_int_equal(green_event_destroy(event), 0);
    assert_int_equal(green_semaphore_destroy(sem), 0);
    assert_int_equal(green_lock_destroy(lock), 0);
}

/* Two always-ready queues: each is chosen 40-60% of the time. */
static void test_fairness(void **state)
{
    green_queue_t *q[2] = {queue_or_fail(GREEN_QUEUE_UNBOUNDED),
                           queue_or_fail(GREEN_QUEUE_UNBOUNDED)};
    green_select_case_t c[2] = {{.op = GREEN_SELECT_GET, .object = q[0]},
                                {.op = GREEN_SELECT_GET, .object = q[1]}};
    size_t wins[2] = {0, 0}, fired, rounds = 10000;

    (void)state;
    for (int i = 0; i < 2; i++)
        assert_int_equal(green_queue_put(q[i], NULL, 0), 0);
    for (size_t i = 0; i < rounds; i++) {
        assert_int_equal(green_select(c, 2, &fired), 0);
        wins[fired]++;
        assert_int_equal(green_queue_put(q[fired], NULL, 0), 0);
    }
    for (int i = 0; i < 2; i++) {
        assert_true(wins[i] >= rounds * 4 / 10 && wins[i] <= rounds * 6 / 10);
        assert_int_equal(green_queue_destroy(q[i], NULL), 0);
    }
}

/* ---- Exactly one commit ------------------------------------------- */

#define RACE_ITEMS 2000

struct race {
    green_queue_t *channel[2];
    int seen[2 * RACE_ITEMS];
    size_t received;
};

/* Puts items first..first+RACE_ITEMS-1 into one channel. */
struct race_putter {
    struct race *race;
    int channel, first;
};

static void *race_put(void *arg)
{
    struct race_putter *p = arg;

    for (int i = p->first; i < p->first + RACE_ITEMS; i++)
        if (green_queue_put(p->race->channel[p->channel], TEST_INT_VALUE(i),
                            GREEN_FOREVER) != 0)
            break;
    return NULL;
}

static void race_record(struct race *race, void *item)
{
    race->seen[TEST_VALUE_INT(item)]++;
    race->received++;
}

/* Selects a GET on both channels until both are closed and empty. */
static void *race_select_get(void *arg)
{
    struct race *race = arg;
    green_select_case_t c[2] = {
        {.op = GREEN_SELECT_GET, .object = race->channel[0]},
        {.op = GREEN_SELECT_GET, .object = race->channel[1]}};
    size_t fired, open = 2;

    while (open > 0 && green_select(c, open, &fired) == 0) {
        if (c[fired].result == 0) {
            race_record(race, c[fired].value);
        } else {
            c[fired] = c[open - 1]; /* closed: select on the other one */
            open--;
        }
    }
    return NULL;
}

/* A plain getter on one channel, racing the selects for its items. */
static void *race_plain_get(void *arg)
{
    struct race_putter *p = arg;
    void *item;

    while (green_queue_get(p->race->channel[p->channel], &item,
                           GREEN_FOREVER) == 0)
        race_record(p->race, item);
    return NULL;
}

static void check_each_once(struct race *race)
{
    assert_int_equal(race->received, 2 * RACE_ITEMS);
    for (int i = 0; i < 2 * RACE_ITEMS; i++)
        assert_int_equal(race->seen[i], 1);
}

/* Two channels, a putter each, raced by two selects and a plain getter:
 * every item arrives exactly once. */
static void test_no_item_lost_getting(void **state)
{
    static struct race race;
    struct race_putter p[3] = {
        {&race, 0, 0}, {&race, 1, RACE_ITEMS}, {&race, 0, 0}};
    green_thread_t *t[5];

    (void)state;
    race = (struct race){{queue_or_fail(0), queue_or_fail(0)}, {0}, 0};
    t[0] = spawn_or_fail(race_put, &p[0]);
    t[1] = spawn_or_fail(race_put, &p[1]);
    t[2] = spawn_or_fail(race_select_get, &race);
    t[3] = spawn_or_fail(race_select_get, &race);
    t[4] = spawn_or_fail(race_plain_get, &p[2]);
    wait_and_release(t[0]);
    wait_and_release(t[1]);
    for (int i = 0; i < 2; i++)
        assert_int_equal(green_queue_close(race.channel[i]), 0);
    for (int i = 2; i < 5; i++)
        wait_and_release(t[i]);
    check_each_once(&race);
    for (int i = 0; i < 2; i++)
        assert_int_equal(green_queue_destroy(race.channel[i], NULL), 0);
}

/* Puts each item into whichever channel takes it first. */
static void *race_select_put(void *arg)
{
    struct race_putter *p = arg;
    green_select_case_t c[2] = {
        {.op = GREEN_SELECT_PUT, .object = p->race->channel[0]},
        {.op = GREEN_SELECT_PUT, .object = p->race->channel[1]}};
    size_t fired;

    for (int i = p->first; i < p->first + RACE_ITEMS; i++) {
        c[0].value = c[1].value = TEST_INT_VALUE(i);
        if (green_select(c, 2, &fired) != 0 || c[fired].result != 0)
            break;
    }
    return NULL;
}

/* Two selecting putters offer each item to both channels; a plain getter
 * on each channel: every item arrives exactly once. */
static void test_no_item_lost_putting(void **state)
{
    static struct race race;
    struct race_putter p[4] = {
        {&race, 0, 0}, {&race, 0, RACE_ITEMS}, {&race, 0, 0}, {&race, 1, 0}};
    green_thread_t *t[4];

    (void)state;
    race = (struct race){{queue_or_fail(0), queue_or_fail(0)}, {0}, 0};
    for (int i = 0; i < 4; i++)
        t[i] = spawn_or_fail(i < 2 ? race_select_put : race_plain_get, &p[i]);
    wait_and_release(t[0]);
    wait_and_release(t[1]);
    for (int i = 0; i < 2; i++)
        assert_int_equal(green_queue_close(race.channel[i]), 0);
    wait_and_release(t[2]);
    wait_and_release(t[3]);
    check_each_once(&race);
    for (int i = 0; i < 2; i++)
        assert_int_equal(green_queue_destroy(race.channel[i], NULL), 0);
}

/* A hub callback releases a permit and puts an item in the same pass, so
 * both hand-offs target the one parked select: the second must go on. */
struct double_wake {
    green_semaphore_t *sem;
    green_queue_t *queue;
};

static void wake_both(void *arg)
{
    struct double_wake *d = arg;

    if (green_semaphore_release(d->sem) != 0 ||
        green_queue_try_put(d->queue, TEST_INT_VALUE(8)) != 0)
        abort();
}

static void test_second_handoff_not_lost(void **state)
{
    struct double_wake d;
    green_timer_t *timer;
    size_t fired;
    void *item = NULL;

    (void)state;
    assert_int_equal(green_semaphore_new(&d.sem, 0), 0);
    d.queue = queue_or_fail(GREEN_QUEUE_UNBOUNDED);
    {
        green_select_case_t c[2] = {
            {.op = GREEN_SELECT_SEMAPHORE, .object = d.sem},
            {.op = GREEN_SELECT_GET, .object = d.queue}};

        assert_int_equal(green_timer_start(&timer, 0.001, wake_both, &d), 0);
        assert_int_equal(green_select(c, 2, &fired), 0);
        assert_int_equal(fired, 0); /* the release came first */
    }
    /* The item was stored for the next getter, not swallowed. */
    assert_int_equal(green_queue_size(d.queue), 1);
    assert_int_equal(green_queue_try_get(d.queue, &item), 0);
    assert_int_equal(TEST_VALUE_INT(item), 8);
    assert_int_equal(green_semaphore_value(d.sem), 0);
    assert_int_equal(green_semaphore_destroy(d.sem), 0);
    assert_int_equal(green_queue_destroy(d.queue, NULL), 0);
}

/* ---- fd cases ---------------------------------------------------------- */

static void *write_byte_later(void *arg)
{
    green_sleep(0.005);
    if (write(*(int *)arg, "x", 1) != 1)
        abort();
    return NULL;
}

static void *close_later(void *arg)
{
    green_sleep(0.005);
    green_close_fd(*(int *)arg);
    return NULL;
}

/* A pipe's read end fires once a byte is written, at once if one is
 * there; its write end is writable at once; green_close_fd gives EBADF. */
static void test_fd_cases(void **state)
{
    int fds[2];
    char byte;
    green_thread_t *t;
    green_select_case_t c = {.op = GREEN_SELECT_FD, .events = GREEN_READ};

    (void)state;
    assert_int_equal(pipe(fds), 0);
    c.fd = fds[0];
    t = spawn_or_fail(write_byte_later, &fds[1]);
    select_with_empty_queue(&c, 1);
    assert_int_equal(c.result, 0);
    wait_and_release(t);
    c.result = -1;
    select_with_empty_queue(&c, 1); /* the byte is still there */
    assert_int_equal(c.result, 0);
    assert_int_equal(read(fds[0], &byte, 1), 1);

    c = (green_select_case_t){
        .op = GREEN_SELECT_FD, .fd = fds[1], .events = GREEN_WRITE};
    select_with_empty_queue(&c, 1);
    assert_int_equal(c.result, 0);

    c = (green_select_case_t){
        .op = GREEN_SELECT_FD, .fd = fds[0], .events = GREEN_READ};
    t = spawn_or_fail(close_later, &fds[0]);
    select_with_empty_queue(&c, 1);
    assert_int_equal(c.result, EBADF);
    wait_and_release(t);
    close(fds[1]);

    c.events = 4;
    select_with_empty_queue_err(&c, EINVAL);
}

/* A managed socket's edge that comes with a queue item that wins the
 * select is not lost: the next wait on the socket still returns. */
struct edge_and_item {
    int fd;
    green_queue_t *queue;
};

/* A green thread: the select it wakes runs on the next hub pass, after
 * the hub has polled and dispatched the edge to the select's waiter. */
static void *write_and_put(void *arg)
{
    struct edge_and_item *e = arg;

    if (write(e->fd, "x", 1) != 1 ||
        green_queue_try_put(e->queue, TEST_INT_VALUE(1)) != 0)
        abort();
    return NULL;
}

static void test_fd_edge_kept(void **state)
{
    int sv[2];
    struct edge_and_item e;
    green_thread_t *t;
    size_t fired;

    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(green_fd_manage(sv[0]), 0);
    e = (struct edge_and_item){sv[1], queue_or_fail(GREEN_QUEUE_UNBOUNDED)};
    {
        green_select_case_t c[2] = {
            {.op = GREEN_SELECT_GET, .object = e.queue},
            {.op = GREEN_SELECT_FD, .fd = sv[0], .events = GREEN_READ}};

        t = spawn_or_fail(write_and_put, &e);
        assert_int_equal(green_select(c, 2, &fired), 0);
        assert_int_equal(fired, 0);
        wait_and_release(t);
    }
    assert_int_equal(green_wait_fd(sv[0], GREEN_READ, 2.0), 0);
    assert_int_equal(green_close_fd(sv[0]), 0);
    close(sv[1]);
    assert_int_equal(green_queue_destroy(e.queue, NULL), 0);
}

/* An edge the hub noted on a managed fd whose data was read since then
 * does not make the fd case fire: a select reports only ready fds. */
static void test_fd_stale_edge(void **state)
{
    int sv[2];
    char byte;
    green_queue_t *q = queue_or_fail(GREEN_QUEUE_UNBOUNDED);
    green_select_case_t c[3] = {{.op = GREEN_SELECT_GET, .object = q},
                                {.op = GREEN_SELECT_FD, .events = GREEN_READ},
                                {.op = GREEN_SELECT_TIMEOUT, .seconds = 0.02}};
    size_t fired;

    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(green_fd_manage(sv[0]), 0);
    c[1].fd = sv[0];
    assert_int_equal(write(sv[1], "a", 1), 1);
    assert_int_equal(green_wait_fd(sv[0], GREEN_READ, 2.0), 0);
    assert_int_equal(read(sv[0], &byte, 1), 1);
    assert_int_equal(write(sv[1], "b", 1), 1);
    green_sleep(0.01); /* the hub notes the edge: nobody waits */
    assert_int_equal(read(sv[0], &byte, 1), 1);
    assert_int_equal(green_select(c, 3, &fired), 0);
    assert_int_equal(fired, 2);
    assert_int_equal(green_close_fd(sv[0]), 0);
    close(sv[1]);
    assert_int_equal(green_queue_destroy(q, NULL), 0);
}

/* ---- Ending a select ------------------------------------------------ */

static void test_timeout_scope(void **state)
{
    green_queue_t *q = queue_or_fail(0);
    green_select_case_t c[2] = {{.op = GREEN_SELECT_GET, .object = q},
                                {.op = GREEN_SELECT_PUT, .object = q}};
    green_timeout_t scope;
    size_t fired;

    (void)state;
    assert_int_equal(green_timeout_start(&scope, 0.01), 0);
    assert_int_equal(green_select(c, 2, &fired), ETIMEDOUT);
    assert_true(green_timeout_fired(&scope));
    green_timeout_cancel(&scope);
    assert_int_equal(green_queue_getters(q), 0);
    assert_int_equal(green_queue_putters(q), 0);
    assert_int_equal(green_queue_destroy(q, NULL), 0);
}

static void test_kill_during_select(void **state)
{
    green_queue_t *q = queue_or_fail(0);
    green_semaphore_t *sem;
    struct selector s = {.cases = {{.op = GREEN_SELECT_GET, .object = q},
                                   {.op = GREEN_SELECT_TIMEOUT, .seconds = 10}},
                         .count = 3};
    green_thread_t *t;

    (void)state;
    assert_int_equal(green_semaphore_new(&sem, 0), 0);
    s.cases[2] =
        (green_select_case_t){.op = GREEN_SELECT_SEMAPHORE, .object = sem};
    t = spawn_or_fail(selector_run, &s);
    green_sleep(0);
    assert_int_equal(green_queue_getters(q), 1);
    assert_int_equal(green_thread_kill(t), 0);
    assert_int_equal(green_thread_wait(t, NULL), ECANCELED);
    green_thread_release(t);
    assert_int_equal(green_queue_getters(q), 0);
    assert_int_equal(green_semaphore_waiting(sem), 0);
    /* Nothing is handed to the dead select. */
    assert_int_equal(green_semaphore_release(sem), 0);
    assert_int_equal(green_semaphore_value(sem), 1);
    assert_int_equal(green_queue_try_put(q, NULL), EAGAIN);
    assert_int_equal(green_semaphore_destroy(sem), 0);
    assert_int_equal(green_queue_destroy(q, NULL), 0);
}

/* A closed queue's GET and PUT cases fire with EPIPE, also when closed
 * while the select waits. */
static void test_closed_queue(void **state)
{
    green_queue_t *q = queue_or_fail(0);
    struct selector s = {.cases = {{.op = GREEN_SELECT_GET, .object = q}},
                         .count = 1};
    green_thread_t *t = spawn_or_fail(selector_run, &s);
    green_select_case_t c = {.op = GREEN_SELECT_PUT, .object = q};
    size_t fired;

    (void)state;
    green_sleep(0);
    assert_false(s.done);
    assert_int_equal(green_queue_close(q), 0);
    wait_and_release(t);
    assert_int_equal(s.err, 0);
    assert_int_equal(s.fired, 0);
    assert_int_equal(s.cases[0].result, EPIPE);
    assert_int_equal(green_select(s.cases, 1, &fired), 0);
    assert_int_equal(s.cases[0].result, EPIPE);
    assert_int_equal(green_select(&c, 1, &fired), 0);
    assert_int_equal(c.result, EPIPE);
    assert_int_equal(green_queue_destroy(q, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        hub_test(test_invalid_arguments),
        hub_test(test_default),
        hub_test(test_get_and_put_fire),
        hub_test(test_each_kind_fires),
        hub_test(test_ready_kinds),
        hub_test(test_fairness),
        hub_test(test_no_item_lost_getting),
        hub_test(test_no_item_lost_putting),
        hub_test(test_second_handoff_not_lost),
        hub_test(test_fd_cases),
        hub_test(test_fd_edge_kept),
        hub_test(test_fd_stale_edge),
        hub_test(test_timeout_scope),
        hub_test(test_kill_during_select),
        hub_test(test_closed_queue),
    };

    test_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
