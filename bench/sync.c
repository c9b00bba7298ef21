/*
 * Sync benchmarks: libgreen queues and pools against Go channels.
 *
 *  chan  unbuffered  a producer green thread hands items to a consumer
 *                    green thread through a channel (green_queue maxsize 0);
 *                    ns per item.
 *  chan  buffered    the same through a queue of 128 slots.
 *  select two_channels  two producer green threads each feed one channel;
 *                    a consumer takes every item with green_select over a
 *                    GET on each; ns per item.
 *  pool  spawn_8     1,000,000 trivial jobs pushed through a pool of 8 with
 *                    green_pool_spawn_n, then waitall; ns per job.
 *
 * bench/go/chan.go measures the same four with Go channels and goroutines
 * (GOMAXPROCS=1).  This program prints its own rows, then runs the go_chan
 * binary next to it (if built) to print libgreen/go ratio rows; run.sh
 * prints go_chan's own rows.
 */
#include "bench_util.h"

#include <green/pool.h>
#include <green/select.h>
#include <green/sync.h>

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#define POOL_JOBS 1000000
#define POOL_SIZE 8
#define BUFFERED_SIZE 128

static void die(const char *what, int err)
{
    fprintf(stderr, "sync: %s failed (%d: %s)\n", what, err, strerror(err));
    exit(1);
}

struct channel_context {
    green_queue_t *queue;
    uint64_t count;
};

static void *drain(void *arg)
{
    struct channel_context *c = arg;
    void *item;

    for (uint64_t i = 0; i < c->count; i++) {
        if (green_queue_get(c->queue, &item, GREEN_FOREVER) != 0)
            die("green_queue_get", EIO);
    }
    return NULL;
}

static void *fill(void *arg)
{
    struct channel_context *c = arg;

    for (uint64_t i = 0; i < c->count; i++) {
        int err = green_queue_put(c->queue, (void *)(uintptr_t)(i + 1),
                                  GREEN_FOREVER);

        if (err != 0)
            die("green_queue_put", err);
    }
    return NULL;
}

static void run_channel(void *context, uint64_t iterations)
{
    struct channel_context *c = context;
    green_thread_fn bodies[2] = {drain, fill};
    green_thread_t *threads[2];
    int err;

    c->count = iterations;
    for (int i = 0; i < 2; i++) {
        err = green_spawn(&threads[i], bodies[i], c);
        if (err != 0)
            die("green_spawn", err);
    }
    for (int i = 0; i < 2; i++) {
        green_thread_wait(threads[i], NULL);
        green_thread_release(threads[i]);
    }
}

/* Two channels, one producer each, one selecting consumer. */
struct select_context {
    struct channel_context producer[2];
    uint64_t count;
};

static void *select_drain(void *arg)
{
    struct select_context *c = arg;
    green_select_case_t cases[2] = {
        {.op = GREEN_SELECT_GET, .object = c->producer[0].queue},
        {.op = GREEN_SELECT_GET, .object = c->producer[1].queue}};
    size_t fired;

    for (uint64_t i = 0; i < c->count; i++) {
        int err = green_select(cases, 2, &fired);

        if (err != 0 || cases[fired].result != 0)
            die("green_select", err != 0 ? err : cases[fired].result);
    }
    return NULL;
}

static void run_select(void *context, uint64_t iterations)
{
    struct select_context *c = context;
    green_thread_t *threads[3];
    int err;

    c->count = iterations;
    c->producer[0].count = iterations / 2;
    c->producer[1].count = iterations - iterations / 2;
    err = green_spawn(&threads[0], select_drain, c);
    for (int i = 0; i < 2 && err == 0; i++)
        err = green_spawn(&threads[i + 1], fill, &c->producer[i]);
    if (err != 0)
        die("green_spawn", err);
    for (int i = 0; i < 3; i++) {
        green_thread_wait(threads[i], NULL);
        green_thread_release(threads[i]);
    }
}

static void *trivial_job(void *arg)
{
    return arg;
}

static void run_pool(void *context, uint64_t iterations)
{
    green_pool_t *pool = context;
    int err;

    for (uint64_t i = 0; i < iterations; i++) {
        err = green_pool_spawn_n(pool, trivial_job, NULL);
        if (err != 0)
            die("green_pool_spawn_n", err);
    }
    err = green_pool_waitall(pool, GREEN_FOREVER);
    if (err != 0)
        die("green_pool_waitall", err);
}

/* Read go_chan's rows and print a libgreen/go ratio for each case. */
static void print_go_ratios(const struct bench_case *cases, size_t count)
{
    char self[PATH_MAX], command[PATH_MAX + 64], line[256];
    ssize_t length = readlink("/proc/self/exe", self, sizeof(self) - 1);
    char *slash;
    FILE *go;

    if (length <= 0)
        return;
    self[length] = '\0';
    slash = strrchr(self, '/');
    if (slash == NULL)
        return;
    *slash = '\0';
    snprintf(command, sizeof(command), "%s/go_chan", self);
    if (access(command, X_OK) != 0) {
        fprintf(stderr, "sync: no go_chan next to it, no Go ratios\n");
        return;
    }
    snprintf(command, sizeof(command), "GOMAXPROCS=1 '%s/go_chan'", self);
    go = popen(command, "r");
    if (go == NULL)
        return;
    while (fgets(line, sizeof(line), go) != NULL) {
        char benchmark[64], implementation[64], metric[64], unit[64];
        double value;

        if (sscanf(line, "%63s %63s %63s %lf %63s", benchmark, implementation,
                   metric, &value, unit) != 5)
            continue;
        for (size_t i = 0; i < count; i++) {
            if (strcmp(cases[i].benchmark, benchmark) == 0 &&
                strcmp(cases[i].metric, metric) == 0 &&
                strcmp(cases[i].unit, unit) == 0 && value > 0) {
                char name[160];

                snprintf(name, sizeof(name), "%s/%s", cases[i].implementation,
                         implementation);
                bench_print_row(benchmark, name, metric,
                                cases[i].best_ns_per_op / value, "ratio");
            }
        }
    }
    pclose(go);
}

int main(void)
{
    struct channel_context unbuffered = {0}, buffered = {0};
    struct select_context two = {0};
    green_pool_t *pool;
    struct bench_case cases[4];
    int err;

    err = green_queue_new(&unbuffered.queue, 0, GREEN_QUEUE_FIFO, NULL);
    if (err == 0)
        err = green_queue_new(&buffered.queue, BUFFERED_SIZE, GREEN_QUEUE_FIFO,
                              NULL);
    for (int i = 0; i < 2 && err == 0; i++)
        err =
            green_queue_new(&two.producer[i].queue, 0, GREEN_QUEUE_FIFO, NULL);
    if (err == 0)
        err = green_pool_new(&pool, POOL_SIZE);
    if (err != 0)
        die("setup", err);

    cases[0] = (struct bench_case){.benchmark = "chan",
                                   .implementation = "libgreen",
                                   .metric = "unbuffered",
                                   .unit = "ns/item",
                                   .run = run_channel,
                                   .context = &unbuffered,
                                   .ops_per_iteration = 1};
    cases[1] = cases[0];
    cases[1].metric = "buffered";
    cases[1].context = &buffered;
    cases[2] = cases[0];
    cases[2].benchmark = "select";
    cases[2].metric = "two_channels";
    cases[2].run = run_select;
    cases[2].context = &two;
    bench_run_interleaved(cases, 3);

    /* The pool figure is for exactly POOL_JOBS jobs per run. */
    cases[3] = (struct bench_case){.benchmark = "pool",
                                   .implementation = "libgreen",
                                   .metric = "spawn_8",
                                   .unit = "ns/job",
                                   .run = run_pool,
                                   .context = pool,
                                   .ops_per_iteration = 1,
                                   .iterations = POOL_JOBS};
    cases[3].best_ns_per_op = bench_time_run(&cases[3]);
    for (int r = 1; r < bench_repetitions() && r < 3; r++) {
        double ns_per_op = bench_time_run(&cases[3]);

        if (ns_per_op < cases[3].best_ns_per_op)
            cases[3].best_ns_per_op = ns_per_op;
    }

    for (size_t i = 0; i < 4; i++)
        bench_print_case(&cases[i]);
    print_go_ratios(cases, 4);

    green_queue_destroy(unbuffered.queue, NULL);
    green_queue_destroy(buffered.queue, NULL);
    for (int i = 0; i < 2; i++)
        green_queue_destroy(two.producer[i].queue, NULL);
    green_pool_destroy(pool, 0);
    return 0;
}
