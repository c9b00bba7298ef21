/*
 * libgreen_patch preloaded: LD_PRELOAD=libgreen_patch.so into a program
 * that links libgreen.so and knows nothing of patching.
 *
 * This file is built twice.  As the child (GREEN_PATCH_PRELOAD_CHILD) it
 * is such a program: green threads that call plain usleep() and read() on
 * a pipe, reporting the elapsed time.  As the test, it runs the child with
 * and without the preload and with GREEN_PATCH=0, and runs a plain system
 * program preloaded to show pass-through.
 * GREEN_TEST_BACKENDS
 */
#define SLEEPERS 10 /* the child's naps of 0.2 s */

#ifdef GREEN_PATCH_PRELOAD_CHILD

#include <green/thread.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static int pipe_fds[2];
static char received;
static int napping, most_napping;

/* Counts the naps under way at once: all SLEEPERS when usleep() parks only
 * its green thread, 1 when it blocks the OS thread. */
static void *nap(void *arg)
{
    (void)arg;
    if (++napping > most_napping)
        most_napping = napping;
    usleep(200000);
    napping--;
    return NULL;
}

static void *read_pipe(void *arg)
{
    (void)arg;
    if (read(pipe_fds[0], &received, 1) != 1)
        received = 0;
    return NULL;
}

static void *write_pipe(void *arg)
{
    (void)arg;
    usleep(100000);
    if (write(pipe_fds[1], "!", 1) != 1)
        return arg;
    return NULL;
}

static double seconds(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

/* Prints "<elapsed seconds> <byte read> <most naps at once>". */
int main(void)
{
    double start = seconds();

    if (pipe(pipe_fds) != 0)
        return 2;
    /* The reader first: unpatched, it would block the writer forever, so
     * it only runs where read() is patched (the parent says which). */
    if (getenv("CHILD_WITH_PIPE") != NULL) {
        green_spawn_n(read_pipe, NULL);
        green_spawn_n(write_pipe, NULL);
    }
    for (int i = 0; i < SLEEPERS; i++)
        green_spawn_n(nap, NULL);
    green_hub_run();
    printf("%.3f %c %d\n", seconds() - start, received ? received : '-',
           most_napping);
    return 0;
}

#else

#include "patch_helpers.h"

#include <stdio.h>
#include <sys/wait.h>

struct child_run {
    double elapsed;
    char byte;
    int most_napping;
    int status;
};

/* Runs the child with extra environment entries ("NAME=value"). */
static void run_child(struct child_run *run, const char *preload,
                      const char *patch, const char *with_pipe)
{
    char command[4096], line[128] = "";
    FILE *out;

    snprintf(command, sizeof(command),
             "env %s%s %s%s %s ASAN_OPTIONS=verify_asan_link_order=0 %s",
             preload ? "LD_PRELOAD=" : "", preload ? preload : "",
             patch ? "GREEN_PATCH=" : "", patch ? patch : "",
             with_pipe ? "CHILD_WITH_PIPE=1" : "",
             GREEN_PATCH_PRELOAD_CHILD_EXE);
    out = popen(command, "r");
    assert_non_null(out);
    if (fgets(line, sizeof(line), out) == NULL)
        line[0] = '\0';
    run->status = pclose(out);
    run->byte = 0;
    assert_int_equal(sscanf(line, "%lf %c %d", &run->elapsed, &run->byte,
                            &run->most_napping),
                     3);
}

static void test_preload_makes_child_cooperative(void **state)
{
    struct child_run run;

    (void)state;
    run_child(&run, GREEN_PATCH_SO, NULL, "1");
    assert_int_equal(run.status, 0);
    assert_int_equal(run.byte, '!');
    /* Ten 0.2 s sleeps overlap: all at once, about 0.2 s, not 2 s. */
    assert_int_equal(run.most_napping, SLEEPERS);
    assert_true(run.elapsed < 1.9);
}

static void test_without_preload_child_is_serial(void **state)
{
    struct child_run run;

    (void)state;
    run_child(&run, NULL, NULL, NULL);
    assert_int_equal(run.status, 0);
    assert_int_equal(run.most_napping, 1);
    assert_true(run.elapsed >= 1.9);
}

static void test_green_patch_0_disables(void **state)
{
    struct child_run run;

    (void)state;
    run_child(&run, GREEN_PATCH_SO, "0", NULL);
    assert_int_equal(run.status, 0);
    assert_int_equal(run.most_napping, 1);
    assert_true(run.elapsed >= 1.9);
}

/* A program that never uses libgreen sees plain libc. */
static void test_plain_program_unchanged(void **state)
{
    char command[4096], line[64] = "";
    FILE *out;

    (void)state;
    snprintf(command, sizeof(command),
             "echo hello | env LD_PRELOAD=%s "
             "ASAN_OPTIONS=verify_asan_link_order=0 cat",
             GREEN_PATCH_SO);
    out = popen(command, "r");
    assert_non_null(out);
    if (fgets(line, sizeof(line), out) == NULL)
        line[0] = '\0';
    assert_int_equal(pclose(out), 0);
    assert_string_equal(line, "hello\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_preload_makes_child_cooperative),
        cmocka_unit_test(test_without_preload_child_is_serial),
        cmocka_unit_test(test_green_patch_0_disables),
        cmocka_unit_test(test_plain_program_unchanged),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

#endif
