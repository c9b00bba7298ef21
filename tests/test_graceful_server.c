/*
 * examples/graceful_server, run as a child process: on SIGTERM it stops
 * accepting (a new connect is refused), finishes the request in flight
 * and exits 0; on SIGINT with a request longer than its deadline, it cuts
 * the request and exits 1.
 * GREEN_TEST_BACKENDS
 */
#include "test_hub_util.h"

#include <green/bufio.h>
#include <green/io.h>
#include <green/net.h>
#include <green/process.h>

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>

/* Set by examples/CMakeLists.txt to the example's path. */
#ifndef GREEN_GRACEFUL_SERVER
#define GREEN_GRACEFUL_SERVER "graceful_server (examples not built)"
#endif

struct server {
    green_process_t *process;
    green_bufio_t *output;
    int port;
};

static void expect_output_line(struct server *server, const char *expected)
{
    char line[128];

    assert_int_equal(
        green_set_timeout(green_process_fd(server->process, 1), 30.0), 0);
    assert_int_equal(
        green_bufio_read_line(server->output, line, sizeof(line), NULL), 0);
    assert_string_equal(line, expected);
}

static void start_server(struct server *server, const char *deadline)
{
    char *argv[] = {GREEN_GRACEFUL_SERVER, "--port",         "0",
                    "--deadline",          (char *)deadline, NULL};
    green_process_attr_t attr = {
        .stdio = {GREEN_STDIO_NULL, GREEN_STDIO_PIPE, GREEN_STDIO_INHERIT}};
    char line[128];

    assert_int_equal(green_process_spawn(&server->process, argv, &attr), 0);
    assert_int_equal(green_bufio_new(&server->output,
                                     green_process_fd(server->process, 1), 0),
                     0);
    assert_int_equal(
        green_bufio_read_line(server->output, line, sizeof(line), NULL), 0);
    assert_int_equal(sscanf(line, "listening on port %d", &server->port), 1);
}

/* Connect and send a request; returns once the server works on it. */
static int start_request(const struct server *server, const char *request)
{
    char answer[8];
    size_t got = 0;
    int fd;

    assert_int_equal(green_connect_tcp(&fd, "127.0.0.1", server->port, 30.0),
                     0);
    assert_int_equal(green_set_timeout(fd, 30.0), 0);
    assert_int_equal(green_send_all(fd, request, strlen(request), NULL), 0);
    assert_int_equal(green_recv_all(fd, answer, sizeof(answer), &got), 0);
    assert_memory_equal(answer, "working\n", 8);
    return fd;
}

static int stop_server(struct server *server)
{
    int status = -1;

    assert_int_equal(green_process_wait(server->process, 30.0, &status), 0);
    assert_int_equal(green_bufio_destroy(server->output), 0);
    assert_int_equal(green_process_destroy(server->process), 0);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void test_sigterm_finishes_in_flight_and_exits_0(void **state)
{
    struct server server;
    char answer[32];
    size_t got = 0;
    int fd, late;

    (void)state;
    start_server(&server, "30");
    fd = start_request(&server, "0.5\n");
    assert_int_equal(green_process_kill(server.process, SIGTERM), 0);
    expect_output_line(&server, "draining: SIGTERM, 1 in flight\n");
    assert_int_equal(green_connect_tcp(&late, "127.0.0.1", server.port, 30.0),
                     ECONNREFUSED);
    assert_int_equal(green_recv_all(fd, answer, sizeof(answer), &got), 0);
    assert_int_equal(got, 9); /* then EOF */
    assert_memory_equal(answer, "done 0.5\n", 9);
    assert_int_equal(green_close(fd), 0);
    expect_output_line(&server, "stopped\n");
    assert_int_equal(stop_server(&server), 0);
}

static void test_sigint_past_the_deadline_cuts_and_exits_1(void **state)
{
    struct server server;
    char answer[32];
    size_t got = 99;
    double start;
    int fd;

    (void)state;
    start_server(&server, "0.2");
    fd = start_request(&server, "30\n");
    start = green_now();
    assert_int_equal(green_process_kill(server.process, SIGINT), 0);
    expect_output_line(&server, "draining: SIGINT, 1 in flight\n");
    assert_int_equal(green_recv_all(fd, answer, sizeof(answer), &got), 0);
    assert_int_equal(got, 0); /* cut: EOF, no answer */
    assert_true(green_now() - start >= 0.15);
    assert_true(green_now() - start < 20.0);
    assert_int_equal(green_close(fd), 0);
    assert_int_equal(stop_server(&server), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        hub_test(test_sigterm_finishes_in_flight_and_exits_0),
        hub_test(test_sigint_past_the_deadline_cuts_and_exits_1),
    };

    test_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
