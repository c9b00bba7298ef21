/*
 * The watchdog: a green thread that runs 300 ms without yielding, with a
 * 50 ms limit, is reported on stderr with its name and a backtrace; a
 * thread that yields every 2 ms for 1.5 s, with a 1 s limit, is not.  Each case
 * runs in a forked child whose stderr is a pipe, so the report can be read
 * back.
 * GREEN_TEST_BACKENDS
 */
#define _GNU_SOURCE
#include "test_util.h"

#include <green/thread.h>

#include <errno.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void *busy_loop(void *arg)
{
    double until = green_now() + *(double *)arg;

    while (green_now() < until)
        ;
    return NULL;
}

static void *polite_loop(void *arg)
{
    double until = green_now() + *(double *)arg;

    while (green_now() < until) {
        double slice = green_now() + 0.002;

        while (green_now() < slice)
            ;
        green_sleep(0);
    }
    return NULL;
}

enum how { ENABLE_BY_API, ENABLE_BY_ENV, POLITE_THREAD };

/* How long the busy thread spins: under valgrind, which runs one thread
 * at a time, nothing was reported within 0.3 s at a load of 25. */
static double busy_seconds(void)
{
    return test_scale_is("valgrind") || test_scale_is("qemu") ? 3.0 : 0.3;
}

static int child_main(enum how how)
{
    green_thread_attr_t attr = {.name = how == POLITE_THREAD ? "polite-bee"
                                                             : "busy-bee"};
    /* The polite case gets a wider limit, and runs longer than it: the
     * monitor measures wall time, and a loaded machine may deschedule the
     * whole process (monitor and task alike) for hundreds of ms. */
    double seconds = how == POLITE_THREAD ? 1.5 : busy_seconds();
    green_thread_t *t = NULL;
    int err;

    if (how == ENABLE_BY_ENV)
        setenv("GREEN_WATCHDOG_MS", "50", 1);
    else if (green_watchdog_enable(how == POLITE_THREAD ? 1000 : 50) != 0)
        return 20;
    if (green_spawn_attr(&t, &attr,
                         how == POLITE_THREAD ? polite_loop : busy_loop,
                         &seconds) != 0)
        return 21;
    err = green_thread_wait(t, NULL);
    green_thread_release(t);
    if (err != 0)
        return 22;
    if (green_watchdog_enable(0) != 0)
        return 23;
    return green_hub_destroy() == 0 ? 0 : 24;
}

/* Runs child_main in a child and returns what it wrote to stderr. */
static char *run_child(enum how how, int *exit_code)
{
    size_t capacity = 1 << 16, length = 0;
    char *text;
    int fds[2], status = 0;
    ssize_t n;
    pid_t pid;

    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], STDERR_FILENO);
        close(fds[1]);
        _exit(child_main(how));
    }
    /* Allocated after the fork: in the child, valgrind's leak check at
     * exit found this buffer (its pointer gone from the stack) lost. */
    text = malloc(capacity);
    assert_non_null(text);
    close(fds[1]);
    while ((n = read(fds[0], text + length, capacity - 1 - length)) > 0)
        length += (size_t)n;
    text[length] = '\0';
    close(fds[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    *exit_code = WEXITSTATUS(status);
    return text;
}

static void test_busy_thread_reported_with_name_and_backtrace(void **state)
{
    int code = -1;
    char *text = run_child(ENABLE_BY_API, &code);

    (void)state;
    if (code != 0 || strstr(text, "busy-bee") == NULL)
        print_message("child exit %d, stderr:\n%s\n", code, text);
    assert_int_equal(code, 0);
    assert_non_null(strstr(text, "'busy-bee'"));
    assert_non_null(strstr(text, "without yielding"));
    /* backtrace_symbols_fd lines name the binary or carry addresses. */
    assert_non_null(strstr(text, "[0x"));
    free(text);
}

static void test_enabled_by_environment(void **state)
{
    int code = -1;
    char *text = run_child(ENABLE_BY_ENV, &code);

    (void)state;
    assert_int_equal(code, 0);
    assert_non_null(strstr(text, "'busy-bee'"));
    free(text);
}

static void test_yielding_thread_not_reported(void **state)
{
    int code = -1;
    char *text = run_child(POLITE_THREAD, &code);

    (void)state;
    assert_int_equal(code, 0);
    assert_null(strstr(text, "polite-bee"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_busy_thread_reported_with_name_and_backtrace),
        cmocka_unit_test(test_enabled_by_environment),
        cmocka_unit_test(test_yielding_thread_not_reported),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
