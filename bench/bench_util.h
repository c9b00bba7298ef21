/*
 * Shared timing and TSV output for the benchmarks (C and C++).
 *
 * A benchmark describes each measured figure as a bench_case: a function
 * that performs `iterations` repetitions of the operation, and how many
 * operations one iteration counts for.  bench_run_interleaved() sizes every
 * case to take about BENCH_RUN_NS per run, then runs all cases in turn,
 * BENCH_REPETITIONS times, keeping each case's best time.  Interleaving
 * means a noisy moment on the shared machine hits every implementation
 * alike, and the best run is the one least disturbed.
 *
 * Output is one TSV row per figure:
 *   benchmark<TAB>implementation<TAB>metric<TAB>value<TAB>unit
 * Ratio rows compare two cases of the same metric: implementation
 * "a/b", value time(a) / time(b), unit "ratio" (below 1: a is faster).
 *
 * The environment variable BENCH_REPETITIONS overrides the number of
 * repetitions (e.g. 1 for a quick smoke run).  A benchmark whose operation
 * is slow (device I/O) may define BENCH_RUN_NS and BENCH_REPETITIONS
 * before including this file.
 */
#ifndef GREEN_BENCH_UTIL_H
#define GREEN_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Many short runs: on a loaded machine a 0.5 ms run often fits in one
 * time slice, while a 20 ms run is nearly always cut by other tasks. */
#ifndef BENCH_REPETITIONS
#define BENCH_REPETITIONS 81
#endif
#ifndef BENCH_RUN_NS
#define BENCH_RUN_NS 500000.0 /* 0.5 ms per run */
#endif

typedef void (*bench_fn)(void *context, uint64_t iterations);

struct bench_case {
    const char *benchmark;      /* first TSV column, e.g. "switch" */
    const char *implementation; /* e.g. "libgreen" */
    const char *metric;         /* e.g. "pingpong" */
    const char *unit;           /* e.g. "ns/switch" */
    bench_fn run;
    void *context;
    double ops_per_iteration; /* e.g. 2 switches per ping-pong round */
    /* Set by bench_run_interleaved(). */
    uint64_t iterations;
    double best_ns_per_op;
};

static inline uint64_t bench_now_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

/* Wall time of one run of c, in ns per operation. */
static inline double bench_time_run(const struct bench_case *c)
{
    uint64_t start = bench_now_ns();
    c->run(c->context, c->iterations);
    uint64_t elapsed = bench_now_ns() - start;
    return (double)elapsed / ((double)c->iterations * c->ops_per_iteration);
}

/* Shortest of three runs of c, in ns for the whole run. */
static inline double bench_time_calibration_run(const struct bench_case *c)
{
    double best = 0;
    for (int i = 0; i < 3; i++) {
        double ns =
            bench_time_run(c) * (double)c->iterations * c->ops_per_iteration;
        if (i == 0 || ns < best)
            best = ns;
    }
    return best;
}

/* Double the iteration count until a run lasts a tenth of BENCH_RUN_NS,
 * then scale it to last about BENCH_RUN_NS.  This also warms caches.
 * One untimed run first: an implementation's first use may set things up
 * (libgreen maps its first stack slab), and a first run slowed by that, or
 * a later one by preemption, would stop the doubling at a handful of
 * iterations, leaving every timed run dominated by per-run overhead. */
static inline void bench_calibrate(struct bench_case *c)
{
    double elapsed_ns;
    c->iterations = 1;
    c->run(c->context, c->iterations);
    for (;;) {
        elapsed_ns = bench_time_calibration_run(c);
        if (elapsed_ns >= BENCH_RUN_NS / 10)
            break;
        c->iterations *= 2;
    }
    c->iterations =
        (uint64_t)((double)c->iterations * BENCH_RUN_NS / elapsed_ns) + 1;
}

static inline int bench_repetitions(void)
{
    const char *text = getenv("BENCH_REPETITIONS");
    int repetitions = text ? atoi(text) : BENCH_REPETITIONS;
    return repetitions > 0 ? repetitions : BENCH_REPETITIONS;
}

/* Calibrate every case, then run them all in turn, keeping the best. */
static inline void bench_run_interleaved(struct bench_case *cases, size_t count)
{
    int repetitions = bench_repetitions();
    for (size_t i = 0; i < count; i++) {
        bench_calibrate(&cases[i]);
        cases[i].best_ns_per_op = bench_time_run(&cases[i]);
    }
    for (int r = 1; r < repetitions; r++) {
        for (size_t i = 0; i < count; i++) {
            double ns_per_op = bench_time_run(&cases[i]);
            if (ns_per_op < cases[i].best_ns_per_op)
                cases[i].best_ns_per_op = ns_per_op;
        }
    }
}

static inline void bench_print_row(const char *benchmark,
                                   const char *implementation,
                                   const char *metric, double value,
                                   const char *unit)
{
    printf("%s\t%s\t%s\t%.2f\t%s\n", benchmark, implementation, metric, value,
           unit);
    fflush(stdout);
}

static inline void bench_print_case(const struct bench_case *c)
{
    bench_print_row(c->benchmark, c->implementation, c->metric,
                    c->best_ns_per_op, c->unit);
}

/* Row "benchmark  a/b  metric  time(a)/time(b)  ratio". */
static inline void bench_print_ratio(const struct bench_case *a,
                                     const struct bench_case *b)
{
    char implementation[128];
    snprintf(implementation, sizeof implementation, "%s/%s", a->implementation,
             b->implementation);
    bench_print_row(a->benchmark, implementation, a->metric,
                    a->best_ns_per_op / b->best_ns_per_op, "ratio");
}

#endif /* GREEN_BENCH_UTIL_H */
