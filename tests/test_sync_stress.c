/* GREEN_TEST_BACKENDS */
/*
 * Randomized stress of green_queue: producers and consumers with random
 * sleeps and timeouts, while a killer green thread kills consumers and
 * replaces them.  Checks that no item is lost or duplicated and that each
 * producer's items are received in the order it put them: by every
 * consumer, and with a single consumer also overall.  (With several
 * consumers, one woken with item k may run after another that already took
 * item k+1 from the same producer, as with Go channels: the queue hands
 * items out in order, but the consumers resume in the hub's order.)
 *
 * The seed is printed; GREEN_TEST_SEED=<n> replays a run.
 */
#include "test_util.h"

#include <green/sync.h>
#include <green/thread.h>

#include <errno.h>
#include <time.h>

#define PRODUCERS 6
#define MAX_CONSUMERS 5
#define SEQ_BITS 20

struct stress {
    green_queue_t *queue;
    unsigned seed_state;
    int items_per_producer;
    int total_received;
    int duplicates;
    int out_of_order;        /* seen by one consumer */
    int global_out_of_order; /* over all consumers */
    int consumer_count;
    int unexpected_errors;
    int kills;
    int timeouts;
    int *received; /* per item: how many times */
    int last_seq[PRODUCERS];
    green_thread_t *consumers[MAX_CONSUMERS];
    int stop;
};

struct producer {
    struct stress *s;
    int id;
};

/* A small deterministic generator: every green thread runs on one OS
 * thread, so one shared state replays exactly from the seed. */
static unsigned stress_random(struct stress *s, unsigned bound)
{
    s->seed_state = s->seed_state * 1103515245u + 12345u;
    return (s->seed_state >> 16) % bound;
}

/* Returns ECANCELED if the caller was killed meanwhile. */
static int random_pause(struct stress *s)
{
    switch (stress_random(s, 4)) {
    case 0:
        return 0;
    case 1:
        return green_sleep(0);
    default:
        return green_sleep(0.0001 * (double)stress_random(s, 10));
    }
}

static void *producer_run(void *arg)
{
    struct producer *p = arg;
    struct stress *s = p->s;

    for (int seq = 0; seq < s->items_per_producer; seq++) {
        void *item = TEST_INT_VALUE(((intptr_t)p->id << SEQ_BITS) | seq);
        int err;

        /* A timed-out put keeps its item: retry it, so order holds. */
        do {
            double timeout = stress_random(s, 2) ? GREEN_FOREVER
                                                 : 0.0002 * stress_random(s, 5);
            err = green_queue_put(s->queue, item, timeout);
            if (err == ETIMEDOUT)
                s->timeouts++;
        } while (err == ETIMEDOUT);
        if (err != 0) {
            s->unexpected_errors++;
            return NULL;
        }
        random_pause(s);
    }
    return NULL;
}

static void record(struct stress *s, void *item, int *consumer_last_seq)
{
    intptr_t value = TEST_VALUE_INT(item);
    int producer = (int)(value >> SEQ_BITS);
    int seq = (int)(value & ((1 << SEQ_BITS) - 1));

    if (s->received[producer * s->items_per_producer + seq]++ > 0)
        s->duplicates++;
    if (seq <= consumer_last_seq[producer])
        s->out_of_order++;
    consumer_last_seq[producer] = seq;
    if (seq <= s->last_seq[producer])
        s->global_out_of_order++;
    s->last_seq[producer] = seq;
    s->total_received++;
}

static void *consumer_run(void *arg)
{
    struct stress *s = arg;
    int last_seq[PRODUCERS];

    for (int i = 0; i < PRODUCERS; i++)
        last_seq[i] = -1;
    while (!s->stop) {
        double timeout =
            stress_random(s, 2) ? GREEN_FOREVER : 0.0001 * stress_random(s, 8);
        void *item;
        int err = green_queue_get(s->queue, &item, timeout);

        if (err == 0) {
            record(s, item, last_seq); /* before anything that blocks */
        } else if (err == ETIMEDOUT) {
            s->timeouts++;
        } else {
            if (err != ECANCELED)
                s->unexpected_errors++;
            return NULL;
        }
        if (random_pause(s) == ECANCELED)
            return NULL;
    }
    return NULL;
}

static void *killer_run(void *arg)
{
    struct stress *s = arg;

    while (!s->stop) {
        int victim = (int)stress_random(s, (unsigned)s->consumer_count);

        green_sleep(0.0002 * (double)stress_random(s, 10));
        if (s->stop)
            break;
        if (green_thread_kill(s->consumers[victim]) != 0)
            s->unexpected_errors++;
        green_thread_release(s->consumers[victim]);
        s->kills++;
        if (green_spawn(&s->consumers[victim], consumer_run, s) != 0) {
            s->unexpected_errors++;
            s->consumers[victim] = NULL;
            break;
        }
    }
    return NULL;
}

static unsigned stress_seed(void)
{
    const char *text = getenv("GREEN_TEST_SEED");

    if (text != NULL)
        return (unsigned)strtoul(text, NULL, 10);
    return (unsigned)time(NULL) ^ (unsigned)(uintptr_t)&text;
}

static void run_stress(size_t maxsize, int consumers, unsigned seed)
{
    struct stress s = {0};
    struct producer p[PRODUCERS];
    green_thread_t *producers[PRODUCERS], *killer;
    int total;

    s.seed_state = seed;
    s.consumer_count = consumers;
    s.items_per_producer = (int)test_scaled(800);
    total = PRODUCERS * s.items_per_producer;
    s.received = calloc((size_t)total, sizeof(*s.received));
    assert_non_null(s.received);
    for (int i = 0; i < PRODUCERS; i++)
        s.last_seq[i] = -1;
    assert_int_equal(green_queue_new(&s.queue, maxsize, GREEN_QUEUE_FIFO, NULL),
                     0);
    for (int i = 0; i < consumers; i++)
        assert_int_equal(green_spawn(&s.consumers[i], consumer_run, &s), 0);
    for (int i = 0; i < PRODUCERS; i++) {
        p[i] = (struct producer){.s = &s, .id = i};
        assert_int_equal(green_spawn(&producers[i], producer_run, &p[i]), 0);
    }
    assert_int_equal(green_spawn(&killer, killer_run, &s), 0);

    for (int i = 0; i < PRODUCERS; i++) {
        assert_int_equal(green_thread_wait(producers[i], NULL), 0);
        green_thread_release(producers[i]);
    }
    /* Everything was put; let the consumers drain the queue. */
    while (s.total_received < total && s.unexpected_errors == 0) {
        if (green_sleep(0.001) != 0)
            break;
    }
    s.stop = 1;
    assert_int_equal(green_thread_wait(killer, NULL), 0);
    green_thread_release(killer);
    for (int i = 0; i < consumers; i++) {
        if (s.consumers[i] == NULL)
            continue;
        assert_int_equal(green_thread_kill(s.consumers[i]), 0);
        green_thread_release(s.consumers[i]);
    }

    print_message("stress maxsize=%zd consumers=%d seed=%u: %d items, "
                  "%d kills, %d timeouts\n",
                  maxsize == GREEN_QUEUE_UNBOUNDED ? (ssize_t)-1
                                                   : (ssize_t)maxsize,
                  consumers, seed, s.total_received, s.kills, s.timeouts);
    assert_int_equal(s.unexpected_errors, 0);
    assert_int_equal(s.duplicates, 0);
    assert_int_equal(s.out_of_order, 0);
    if (consumers == 1)
        assert_int_equal(s.global_out_of_order, 0);
    assert_int_equal(s.total_received, total);
    for (int i = 0; i < total; i++)
        assert_int_equal(s.received[i], 1);
    assert_int_equal(green_queue_size(s.queue), 0);
    assert_int_equal(green_queue_destroy(s.queue, NULL), 0);
    free(s.received);
}

static void test_stress(void **state)
{
    unsigned seed = stress_seed();
    const size_t sizes[] = {0, 1, 3, GREEN_QUEUE_UNBOUNDED};
    unsigned run = 0;

    (void)state;
    print_message("GREEN_TEST_SEED=%u\n", seed);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        run_stress(sizes[i], MAX_CONSUMERS, seed + run++);
        run_stress(sizes[i], 1, seed + run++);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stress),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
