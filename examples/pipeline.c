/*
 * A producer/consumer pipeline across two hubs (OS threads).
 *
 * Hub thread 0 runs PRODUCERS green threads that put the numbers 1..ITEMS
 * into a bounded cross-hub queue; hub thread 1 runs WORKERS green threads
 * that square each number and pass it on to a second queue, which the
 * main thread drains.  Each stage closes its output queue once all its
 * green threads are done, so the next stage's gets drain what is left and
 * then fail with EPIPE: no sentinel items, no kills.
 *
 * Exits non-zero unless every number came through exactly once.
 */
#include <green/group.h>
#include <green/hub_threads.h>
#include <green/xqueue.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define ITEMS 20000
#define PRODUCERS 4
#define WORKERS 8

struct pipeline {
    green_xqueue_t *raw;    /* numbers, bounded: producers wait for workers */
    green_xqueue_t *cooked; /* squares, for the main thread */
};

static struct pipeline line;

/* floor(sqrt(x)) by bisection, for checking the workers' squares. */
static uintptr_t root(uintptr_t x)
{
    uintptr_t low = 0, high = ITEMS + 1;

    while (high - low > 1) {
        uintptr_t mid = (low + high) / 2;

        if (mid * mid <= x)
            low = mid;
        else
            high = mid;
    }
    return low;
}

static void *produce(void *arg)
{
    uintptr_t first = (uintptr_t)arg;

    for (uintptr_t n = first; n <= ITEMS; n += PRODUCERS) {
        if (green_xqueue_put(line.raw, (void *)n, GREEN_FOREVER) != 0)
            return NULL;
    }
    return NULL;
}

static void *work(void *arg)
{
    void *item;

    (void)arg;
    while (green_xqueue_get(line.raw, &item, GREEN_FOREVER) == 0) {
        uintptr_t n = (uintptr_t)item;

        if (green_xqueue_put(line.cooked, (void *)(n * n), GREEN_FOREVER))
            return NULL;
    }
    return NULL; /* EPIPE: raw is closed and empty */
}

/* One stage: `count` green threads of fn in a group, then close output. */
static void run_stage(green_thread_fn fn, size_t count, green_xqueue_t *out)
{
    green_group_t *group;

    if (green_group_new(&group, 0, 0) != 0)
        return;
    for (size_t i = 0; i < count; i++)
        green_group_spawn(group, NULL, fn, (void *)(uintptr_t)(i + 1));
    green_group_wait(group, GREEN_FOREVER);
    green_group_destroy(group);
    green_xqueue_close(out);
}

static void stage_main(size_t index, void *arg)
{
    (void)arg;
    if (index == 0)
        run_stage(produce, PRODUCERS, line.raw);
    else
        run_stage(work, WORKERS, line.cooked);
}

int main(void)
{
    static unsigned char seen[ITEMS + 1];
    green_hub_threads_t *threads;
    size_t received = 0, bad = 0;
    void *item;

    if (green_xqueue_new(&line.raw, 64) != 0 ||
        green_xqueue_new(&line.cooked, GREEN_XQUEUE_UNBOUNDED) != 0 ||
        green_hub_threads_new(&threads, 2, stage_main, NULL) != 0) {
        fprintf(stderr, "pipeline: setup failed\n");
        return 1;
    }
    /* The main thread's own greenlet parks on the queue like any other. */
    while (green_xqueue_get(line.cooked, &item, GREEN_FOREVER) == 0) {
        uintptr_t square = (uintptr_t)item, n = root(square);

        if (n * n != square || n == 0 || n > ITEMS || seen[n]++)
            bad++;
        received++;
    }
    green_hub_threads_destroy(threads);
    green_xqueue_destroy(line.raw, NULL);
    green_xqueue_destroy(line.cooked, NULL);
    printf("pipeline: %zu/%d numbers through 2 hubs (%d producers, %d "
           "workers), %zu wrong or repeated\n",
           received, ITEMS, PRODUCERS, WORKERS, bad);
    return received == ITEMS && bad == 0 ? 0 : 1;
}
