/*
 * Hub benchmarks, side by side with bench/go/spawn.go (same shapes):
 *
 *   spawn  batch_1000    1,000,000 trivial green threads, spawned 1,000 at a
 *                        time with handles, each waited and released; ns
 *                        per thread (spawn + run + wait).
 *   spawn  batch_1000_n  the same with green_spawn_n, green_hub_run() as
 *                        the wait (the WaitGroup shape).
 *   spawn  all_at_once   1,000,000 green_spawn_n, then one green_hub_run().
 *   yield  ring_1000     1,000 green threads calling green_sleep(0) in
 *                        turn, 1,000 rounds; ns per yield.
 *   timer  start_cancel  1,000,000 green_timer_start, then every one
 *                        cancelled; ns per timer.
 *
 * Each figure is the best of BENCH_REPETITIONS (default 5) runs of exactly
 * that many operations.
 */
#include "bench_util.h"

#include <green/thread.h>

#include <stdlib.h>

#define TOTAL 1000000
#define BATCH 1000
#define RING_SIZE 1000
#define RING_ROUNDS 1000

static volatile intptr_t sink;

static void *trivial(void *arg)
{
    sink = (intptr_t)arg;
    return arg;
}

static void spawn_batches_with_handles(void)
{
    static green_thread_t *threads[BATCH];

    for (int done = 0; done < TOTAL; done += BATCH) {
        for (int i = 0; i < BATCH; i++)
            if (green_spawn(&threads[i], trivial, (void *)(intptr_t)i) != 0)
                abort();
        for (int i = 0; i < BATCH; i++) {
            green_thread_wait(threads[i], NULL);
            green_thread_release(threads[i]);
        }
    }
}

static void spawn_n_batches(void)
{
    for (int done = 0; done < TOTAL; done += BATCH) {
        for (int i = 0; i < BATCH; i++)
            if (green_spawn_n(trivial, (void *)(intptr_t)i) != 0)
                abort();
        green_hub_run();
    }
}

static void spawn_n_all_at_once(void)
{
    for (int i = 0; i < TOTAL; i++)
        if (green_spawn_n(trivial, (void *)(intptr_t)i) != 0)
            abort();
    green_hub_run();
}

static void *yield_rounds(void *arg)
{
    (void)arg;
    for (int r = 0; r < RING_ROUNDS; r++)
        green_sleep(0);
    return NULL;
}

static void yield_ring(void)
{
    for (int i = 0; i < RING_SIZE; i++)
        if (green_spawn_n(yield_rounds, NULL) != 0)
            abort();
    green_hub_run();
}

static void never_called(void *arg)
{
    (void)arg;
}

static void timers_start_cancel(void)
{
    green_timer_t **timers = malloc(TOTAL * sizeof(*timers));

    if (timers == NULL)
        abort();
    for (int i = 0; i < TOTAL; i++)
        if (green_timer_start(&timers[i], 3600.0 + (double)(i % 1000),
                              never_called, NULL) != 0)
            abort();
    for (int i = 0; i < TOTAL; i++)
        green_timer_cancel(timers[i]);
    free(timers);
}

static void report(const char *benchmark, const char *metric, double ops,
                   void (*run)(void), const char *unit)
{
    const char *text = getenv("BENCH_REPETITIONS");
    int repetitions = text != NULL && atoi(text) > 0 ? atoi(text) : 5;
    double best = 0;

    for (int r = 0; r < repetitions; r++) {
        uint64_t start = bench_now_ns();
        double ns;

        run();
        ns = (double)(bench_now_ns() - start) / ops;
        if (r == 0 || ns < best)
            best = ns;
    }
    bench_print_row(benchmark, "libgreen", metric, best, unit);
}

int main(void)
{
    report("spawn", "batch_1000", TOTAL, spawn_batches_with_handles,
           "ns/thread");
    report("spawn", "batch_1000_n", TOTAL, spawn_n_batches, "ns/thread");
    report("spawn", "all_at_once", TOTAL, spawn_n_all_at_once, "ns/thread");
    report("yield", "ring_1000", (double)RING_SIZE * RING_ROUNDS, yield_ring,
           "ns/yield");
    report("timer", "start_cancel", TOTAL, timers_start_cancel, "ns/timer");
    return green_hub_destroy();
}
