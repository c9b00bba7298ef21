/*
 * Group benchmark: spawn and wait through a task group against plain spawn
 * and wait, and how late a group's children stop after its deadline.
 *
 *  group  batch_1000  trivial green threads spawned 1,000 at a time and
 *                     waited for; ns per thread (spawn + run + wait).
 *                     "plain": green_spawn with a handle, then
 *                     green_thread_wait and green_thread_release for each;
 *                     "libgreen": green_group_spawn without a handle, then
 *                     one green_group_wait.
 *  group  batch_1000_deadline  the group case spawned inside a timeout
 *                     scope, so every child starts in the inherited one.
 *  group  deadline_late_max / deadline_late_median  ms from a 20 ms
 *                     deadline to the end of the last of 50 parked
 *                     children (half asleep, half in a recv), worst and
 *                     median of 20 rounds: "libgreen" is a group spawned
 *                     under the deadline; "plain" one green thread in a
 *                     timeout scope of its own (the timer's own lateness).
 *                     Goal: under 10 ms.  Both include the time the OS
 *                     takes to resume the process, long on a loaded
 *                     machine.
 *  group  deadline_spread_max  ms from the first child's end to the last's,
 *                     worst round: the group's own share of the lateness.
 *
 * The throughput cases run ROUNDS times (bench_run_interleaved each), and
 * the rows give the median round, so one noisy round on the shared machine
 * moves nothing.  The ratio rows (group/plain, the median of the rounds'
 * ratios) are the goal: at most 1.2.
 */
#include "bench_util.h"

#include <green/group.h>
#include <green/io.h>
#include <green/timeout.h>

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#define BATCH 1000
#define ROUNDS 5
#define CASES 3
#define LATE_CHILDREN 50
#define LATE_ROUNDS 20
#define LATE_DEADLINE 0.02

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

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double median(double *values, size_t count)
{
    qsort(values, count, sizeof(*values), compare_doubles);
    return values[count / 2];
}

/* ROUNDS interleaved runs of the cases; each row is the median round. */
static void bench_throughput(green_group_t *group)
{
    struct bench_case cases[CASES] = {
        {"group", "plain", "batch_1000", "ns/thread", run_plain, NULL, BATCH, 0,
         0},
        {"group", "libgreen", "batch_1000", "ns/thread", run_group, group,
         BATCH, 0, 0},
        {"group", "libgreen", "batch_1000_deadline", "ns/thread",
         run_group_deadline, group, BATCH, 0, 0},
    };
    double times[CASES][ROUNDS], ratios[CASES][ROUNDS];

    for (int r = 0; r < ROUNDS; r++) {
        bench_run_interleaved(cases, CASES);
        for (int i = 0; i < CASES; i++) {
            times[i][r] = cases[i].best_ns_per_op;
            ratios[i][r] = times[i][r] / times[0][r];
        }
    }
    for (int i = 0; i < CASES; i++) {
        cases[i].best_ns_per_op = median(times[i], ROUNDS);
        bench_print_case(&cases[i]);
    }
    for (int i = 1; i < CASES; i++) {
        char implementation[64];

        snprintf(implementation, sizeof(implementation), "%s/%s",
                 cases[i].implementation, cases[0].implementation);
        bench_print_row("group", implementation, cases[i].metric,
                        median(ratios[i], ROUNDS), "ratio");
    }
}

/* ---- Lateness after a deadline ---------------------------------------- */

static int late_fds[LATE_CHILDREN][2];
static double late_first, late_end; /* the first and the last child's end */

/* Parked until the inherited deadline ends it; records the latest end. */
static void *parked_job(void *arg)
{
    int i = (int)(intptr_t)arg, err;
    char byte;
    size_t got;

    if (i % 2 == 0)
        err = green_sleep(3600);
    else
        err = green_recv(late_fds[i][0], &byte, 1, 0, &got);
    if (err != ETIMEDOUT)
        die("a parked child", err);
    double now = green_now();
    if (late_first == 0 || now < late_first)
        late_first = now;
    if (now > late_end)
        late_end = now;
    return NULL;
}

/* One round: ms from the deadline to the last child's end; *spread gets
 * the ms from the first child's end to the last's. */
static double late_round(green_group_t *group, double *spread)
{
    green_timeout_t scope;
    double deadline;
    int err;

    late_first = late_end = 0;
    green_timeout_start(&scope, LATE_DEADLINE);
    deadline = scope.deadline;
    for (int i = 0; i < LATE_CHILDREN; i++) {
        err = green_group_spawn(group, NULL, parked_job, (void *)(intptr_t)i);
        if (err != 0)
            die("green_group_spawn", err);
    }
    green_timeout_cancel(&scope);
    err = green_group_wait(group, GREEN_FOREVER);
    if (err != 0)
        die("green_group_wait", err);
    *spread = (late_end - late_first) * 1e3;
    return (late_end - deadline) * 1e3;
}

/* The same deadline for one green thread alone: the timer's lateness. */
static double late_round_plain(void)
{
    green_timeout_t scope;
    double deadline;
    int err;

    green_timeout_start(&scope, LATE_DEADLINE);
    deadline = scope.deadline;
    err = green_sleep(3600);
    green_timeout_cancel(&scope);
    if (err != ETIMEDOUT)
        die("green_sleep", err);
    return (green_now() - deadline) * 1e3;
}

static void bench_lateness(green_group_t *group)
{
    double plain[LATE_ROUNDS], grouped[LATE_ROUNDS];
    double worst_plain = 0, worst_group = 0, worst_spread = 0;

    for (int i = 0; i < LATE_CHILDREN; i++)
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, late_fds[i]))
            die("socketpair", errno);
    for (int r = 0; r < LATE_ROUNDS; r++) {
        plain[r] = late_round_plain();
        double spread;

        grouped[r] = late_round(group, &spread);
        worst_spread = spread > worst_spread ? spread : worst_spread;
        worst_plain = plain[r] > worst_plain ? plain[r] : worst_plain;
        worst_group = grouped[r] > worst_group ? grouped[r] : worst_group;
    }
    bench_print_row("group", "plain", "deadline_late_max", worst_plain, "ms");
    bench_print_row("group", "libgreen", "deadline_late_max", worst_group,
                    "ms");
    bench_print_row("group", "libgreen", "deadline_spread_max", worst_spread,
                    "ms");
    bench_print_row("group", "plain", "deadline_late_median",
                    median(plain, LATE_ROUNDS), "ms");
    bench_print_row("group", "libgreen", "deadline_late_median",
                    median(grouped, LATE_ROUNDS), "ms");
    for (int i = 0; i < LATE_CHILDREN; i++) {
        green_close(late_fds[i][0]);
        green_close(late_fds[i][1]);
    }
}

int main(void)
{
    green_group_t *group = NULL;
    int err = green_group_new(&group, 0, 0);

    if (err != 0)
        die("green_group_new", err);
    bench_throughput(group);
    bench_lateness(group);
    green_group_destroy(group);
    return green_hub_destroy();
}
