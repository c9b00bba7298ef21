/*
 * Process benchmark: 100 `sleep 0.2` children run in parallel.
 *
 *  process  sleep_0.2_x100  wall seconds from the first spawn to the last
 *                           reap, best of ROUNDS rounds (interleaved).
 *                           "plain": a posix_spawn loop, then waitpid for
 *                           each (the spawns block the caller one by one);
 *                           "libgreen": one green thread per child,
 *                           green_process_spawn + green_process_wait.
 *                           Ideal: 0.2 s plus the children's start-up.
 *  process  start_x100      s the plain loop's 100 posix_spawn calls took,
 *                           best round: on a machine that starts processes
 *                           one at a time (seen here: 2 CPUs spawning in
 *                           parallel are no faster than one), the last child
 *                           cannot start sooner, so start_x100 + 0.2 s is the
 *                           floor of sleep_0.2_x100 for any parent.
 *  process  libgreen/floor  sleep_0.2_x100 over that floor.
 *  process  hub_stall_max   ms of the longest pause of a green thread that
 *                           ticks every 1 ms while libgreen's 100 spawns run
 *                           (how long a spawn holds the hub), worst round.
 *
 * The children's own start-up (exec, the dynamic loader) takes CPU time
 * that no parent can save: on a loaded 2-CPU machine both rows grow.
 */
#define _GNU_SOURCE
#include "bench_util.h"

#include <green/process.h>
#include <green/thread.h>

#include <spawn.h>
#include <string.h>
#include <sys/wait.h>

#define CHILDREN 100
#define ROUNDS 3

extern char **environ;

static char *sleep_argv[] = {"sleep", "0.2", NULL};
static int ticking;
static double stall;

static void die(const char *what, int err)
{
    fprintf(stderr, "process: %s failed (%d: %s)\n", what, err, strerror(err));
    exit(1);
}

static double seconds_now(void)
{
    return (double)bench_now_ns() * 1e-9;
}

/* Returns the round's wall time; *started gets the spawn loop's. */
static double run_plain(double *started)
{
    pid_t pids[CHILDREN];
    double start = seconds_now();

    for (int i = 0; i < CHILDREN; i++) {
        int err =
            posix_spawnp(&pids[i], "sleep", NULL, NULL, sleep_argv, environ);

        if (err != 0)
            die("posix_spawnp", err);
    }
    *started = seconds_now() - start;
    for (int i = 0; i < CHILDREN; i++)
        waitpid(pids[i], NULL, 0);
    return seconds_now() - start;
}

static void *child_main(void *arg)
{
    green_process_t *process;
    int err = green_process_spawn(&process, sleep_argv, NULL);

    (void)arg;
    if (err != 0)
        die("green_process_spawn", err);
    err = green_process_wait(process, GREEN_FOREVER, NULL);
    if (err != 0)
        die("green_process_wait", err);
    green_process_destroy(process);
    return NULL;
}

/* Sleeps 1 ms at a time while the spawns run; records its longest gap. */
static void *ticker_main(void *arg)
{
    double last = seconds_now();

    (void)arg;
    while (ticking) {
        green_sleep(0.001);
        double now = seconds_now();
        if (now - last > stall)
            stall = now - last;
        last = now;
    }
    return NULL;
}

static double run_green(void)
{
    green_thread_t *threads[CHILDREN], *ticker;
    double start = seconds_now();
    int err;

    ticking = 1;
    err = green_spawn(&ticker, ticker_main, NULL);
    for (int i = 0; i < CHILDREN && err == 0; i++)
        err = green_spawn(&threads[i], child_main, NULL);
    if (err != 0)
        die("green_spawn", err);
    for (int i = 0; i < CHILDREN; i++) {
        green_thread_wait(threads[i], NULL);
        green_thread_release(threads[i]);
    }
    double elapsed = seconds_now() - start;
    ticking = 0;
    green_thread_wait(ticker, NULL);
    green_thread_release(ticker);
    return elapsed;
}

int main(void)
{
    double plain = 0, green = 0, start = 0;

    for (int r = 0; r < ROUNDS; r++) {
        double s, p = run_plain(&s), g = run_green();

        plain = r == 0 || p < plain ? p : plain;
        green = r == 0 || g < green ? g : green;
        start = r == 0 || s < start ? s : start;
    }
    bench_print_row("process", "plain", "sleep_0.2_x100", plain, "s");
    bench_print_row("process", "libgreen", "sleep_0.2_x100", green, "s");
    bench_print_row("process", "libgreen/plain", "sleep_0.2_x100",
                    green / plain, "ratio");
    bench_print_row("process", "plain", "start_x100", start, "s");
    bench_print_row("process", "libgreen/floor", "sleep_0.2_x100",
                    green / (start + 0.2), "ratio");
    bench_print_row("process", "libgreen", "hub_stall_max", stall * 1e3, "ms");
    return green_hub_destroy();
}
