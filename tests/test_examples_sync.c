/* GREEN_TEST_BACKENDS */
/*
 * Runs the sync layer's example programs (examples/router_agent and
 * examples/rpc_consumer, built next to the tests in <build>/examples) and
 * checks their exit status and their report.  The examples check their own
 * invariants (peak concurrency, every reply once, ...) and exit non-zero
 * when one fails; this test also looks for the figures in their output.
 * The backend chosen by GREEN_HUB_BACKEND is inherited by the child.
 */
#include "test_util.h"

#include <errno.h>
#include <limits.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Run an example, collect its stdout, and return its exit status (-1 if it
 * did not exit normally). */
static int run_example(const char *path, char *output, size_t size)
{
    posix_spawn_file_actions_t actions;
    char *argv[] = {(char *)path, NULL};
    int pipe_fds[2], status;
    size_t used = 0;
    pid_t pid;

    assert_int_equal(pipe(pipe_fds), 0);
    assert_int_equal(posix_spawn_file_actions_init(&actions), 0);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
    assert_int_equal(posix_spawn(&pid, path, &actions, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    close(pipe_fds[1]);
    while (used < size - 1) {
        ssize_t n = read(pipe_fds[0], output + used, size - 1 - used);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        used += (size_t)n;
    }
    output[used] = '\0';
    close(pipe_fds[0]);
    while (waitpid(pid, &status, 0) < 0)
        assert_int_equal(errno, EINTR);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void check_example(const char *name, const char *const *expected)
{
    char path[PATH_MAX + 64], output[4096];

    if (test_example_path(name, path, sizeof(path)) != 0) {
        print_message("%s not built (GREEN_BUILD_EXAMPLES=OFF?)\n", name);
        skip();
    }
    assert_int_equal(run_example(path, output, sizeof(output)), 0);
    print_message("%s", output);
    for (size_t i = 0; expected[i] != NULL; i++) {
        if (strstr(output, expected[i]) == NULL)
            fail_msg("%s: no \"%s\" in its output", name, expected[i]);
    }
}

static void test_router_agent(void **state)
{
    const char *const expected[] = {"processed 96/96 updates",
                                    "peak concurrency 8 (pool of 8)", NULL};

    (void)state;
    check_example("router_agent", expected);
}

static void test_rpc_consumer(void **state)
{
    const char *const expected[] = {"300/300 replies",
                                    "executor peak 64 (limit 64)",
                                    "in completion order: yes", NULL};

    (void)state;
    check_example("rpc_consumer", expected);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_router_agent),
        cmocka_unit_test(test_rpc_consumer),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
