/*
 * Group benchmark: spawn and wait through a task group against plain spawn
 * and wait.
 *
 *  group  batch_1000  trivial green threads spawned 1,000 at a time and
 *                     waited for; ns per thread (spawn + run + wait).
 *                     "plain": green_spawn with a handle, then
 *                     green_thread_wait and green_thread_release for each;
 *                     "libgreen": green_group_spawn without a handle, then
 *                     one green_group_wait.
 *  group  batch_1000_deadline  the group case spawned inside a timeout
 *                     scope, so every child opens the inherited one.
 *
 * The ratio rows (group/plain) are the goal: at most 1.2.
 */
#include "bench_util.h"

#include <green/group.h>
#include <green/timeout.h>

#include <string.h>

#define BATCH 1000

static volatile intptr_t sink;

static void die(const char *what, int err)
{
    fprintf(stderr, "group: %s failed (%d: %s)\n", what, err, strerror(err));
    exit(1);
}

static void *trivial(void *arg)
{
    sink = (intptr_t)arg;
    return arg;
}

static void run_plain(void *context, uint64_t iterations)
{
    static green_thread_t *threads[BATCH];

    (void)context;
    for (uint64_t done = 0; done < iterations; done++) {
        for (int i = 0; i < BATCH; i++) {
            int err = green_spawn(&threads[i], trivial, (void *)(intptr_t)i);

            if (err != 0)
                die("green_spawn", err);
        }
        for (int i = 0; i < BATCH; i++) {
            green_thread_wait(threads[i], NULL);
            green_thread_release(threads[i]);
        }
    }
}

static void run_group(void *context, uint64_t iterations)
{
    green_group_t *group = context;

    for (uint64_t done = 0; done < iterations; done++) {
        for (int i = 0; i < BATCH; i++) {
            int err =
                green_group_spawn(group, NULL, trivial, (void *)(intptr_t)i);

            if (err != 0)
                die("green_group_spawn", err);
        }
        int err = green_group_wait(group, GREEN_FOREVER);
        if (err != 0)
            die("green_group_wait", err);
    }
}

static void run_group_deadline(void *context, uint64_t iterations)
{
    green_timeout_t scope;

    green_timeout_start(&scope, 3600);
    run_group(context, iterations);
    green_timeout_cancel(&scope);
}

int main(void)
{
    green_group_t *group = NULL;
    int err = green_group_new(&group, 0, 0);

    if (err != 0)
        die("green_group_new", err);
    struct bench_case cases[] = {
        {"group", "plain", "batch_1000", "ns/thread", run_plain, NULL, BATCH, 0,
         0},
        {"group", "libgreen", "batch_1000", "ns/thread", run_group, group,
         BATCH, 0, 0},
        {"group", "libgreen", "batch_1000_deadline", "ns/thread",
         run_group_deadline, group, BATCH, 0, 0},
    };
    bench_run_interleaved(cases, 3);
    for (int i = 0; i < 3; i++)
        bench_print_case(&cases[i]);
    bench_print_ratio(&cases[1], &cases[0]);
    bench_print_ratio(&cases[2], &cases[0]);
    green_group_destroy(group);
    return green_hub_destroy();
}
