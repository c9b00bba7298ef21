/*
 * The TLS examples, run as child processes (built in <build>/examples):
 * tls_echo_server holds 1,000 concurrent TLS connections from client green
 * threads here, and https_get fetches from http_hello --tls, refusing it
 * without the right CA.
 * GREEN_TEST_BACKENDS
 */
#include "tls_util.h"

#include <green/io.h>
#include <green/net.h>
#include <green/process.h>
#include <green/thread.h>
#include <green/timeout.h>
#include <green/tls.h>

#include <errno.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

/* Start examples/<argv[0]> with its output in a pipe; the port from its
 * first line, after the last ':'. */
static green_process_t *example_start(char **argv, int *port)
{
    green_process_attr_t attr = {
        {GREEN_STDIO_NULL, GREEN_STDIO_PIPE, GREEN_STDIO_INHERIT}, NULL, NULL};
    char path[PATH_MAX], line[256];
    green_process_t *process;
    size_t have = 0, n = 1;
    int fd;

    if (test_example_path(argv[0], path, sizeof(path)) != 0)
        fail_msg("examples/%s is not built", argv[0]);
    argv[0] = path;
    assert_int_equal(green_process_spawn(&process, argv, &attr), 0);
    fd = green_process_fd(process, 1);
    green_set_timeout(fd, 60.0);
    while (have < sizeof(line) - 1 && n > 0 && !memchr(line, '\n', have) &&
           green_read(fd, line + have, sizeof(line) - 1 - have, &n) == 0)
        have += n;
    line[have] = '\0';
    *port = strrchr(line, ':') != NULL ? atoi(strrchr(line, ':') + 1) : 0;
    if (*port <= 0) {
        green_process_destroy(process);
        fail_msg("%s printed \"%s\", no port", path, line);
    }
    return process;
}

/* ---- 1,000 connections to tls_echo_server --------------------------- */

struct load {
    green_tls_ctx_t *ctx;
    int port;
    size_t clients, dialed, connected, echoed;
};

/* Connect and echo a line, then hold the connection until every client
 * has dialed, so that they are all open at once. */
static void *load_client(void *arg)
{
    struct load *load = arg;
    char line[32], echo[32];
    size_t n = 0;
    green_tls_t *conn;
    int length = snprintf(line, sizeof(line), "client %zu\n", load->dialed);

    int err = green_tls_dial(&conn, load->ctx, "localhost", load->port,
                             GREEN_FOREVER);

    load->dialed++;
    if (err != 0)
        return NULL;
    load->connected++;
    if (green_tls_write_all(conn, line, (size_t)length, NULL) == 0 &&
        green_tls_read(conn, echo, sizeof(echo), &n) == 0 &&
        n == (size_t)length && memcmp(line, echo, n) == 0)
        load->echoed++;
    while (load->dialed < load->clients && green_sleep(0.01) == 0)
        ;
    green_tls_shutdown(conn);
    green_tls_destroy(conn);
    return NULL;
}

static void test_thousand_connections(void **state)
{
    /* Scaled down only under valgrind, qemu and TSan (test_scaled). */
    struct load load = {NULL, 0, test_scaled(1000), 0, 0, 0};
    char *argv[] = {"tls_echo_server", pki.localhost, pki.key, "0", NULL};
    green_thread_t **threads = calloc(load.clients, sizeof(*threads));
    struct rlimit limit;
    green_timeout_t deadline;
    green_process_t *server;
    int status;

    (void)state;
    assert_non_null(threads);
    /* Each side holds one fd per connection (the server inherits this). */
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &limit), 0);
    if (limit.rlim_cur < load.clients + 64) {
        limit.rlim_cur = limit.rlim_max;
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &limit), 0);
    }
    assert_true(limit.rlim_cur >= load.clients + 64);
    server = example_start(argv, &load.port);
    assert_int_equal(green_tls_ctx_new(&load.ctx, GREEN_TLS_CLIENT), 0);
    assert_int_equal(green_tls_ctx_load_ca(load.ctx, pki.ca, NULL), 0);
    assert_int_equal(green_timeout_start(&deadline, 240.0), 0);
    for (size_t i = 0; i < load.clients; i++)
        assert_int_equal(green_spawn(&threads[i], load_client, &load), 0);
    for (size_t i = 0; i < load.clients; i++) {
        assert_int_equal(green_thread_wait(threads[i], NULL), 0);
        green_thread_release(threads[i]);
    }
    green_timeout_cancel(&deadline);
    assert_int_equal(load.connected, load.clients);
    assert_int_equal(load.echoed, load.clients);
    /* The server is still serving. */
    assert_int_equal(green_process_wait(server, 0, &status), ETIMEDOUT);
    green_process_kill(server, SIGTERM);
    green_process_destroy(server);
    green_tls_ctx_destroy(load.ctx);
    free(threads);
}

/* ---- https_get and http_hello --tls ------------------------------------ */

/* Run examples/https_get with args; its exit status and output. */
static int https_get(char **argv, char *out, size_t size)
{
    green_process_attr_t attr = {
        {GREEN_STDIO_NULL, GREEN_STDIO_PIPE, GREEN_STDIO_STDOUT}, NULL, NULL};
    char path[PATH_MAX];
    green_process_output_t output;
    green_process_t *process;

    assert_int_equal(test_example_path("https_get", path, sizeof(path)), 0);
    argv[0] = path;
    assert_int_equal(green_process_spawn(&process, argv, &attr), 0);
    assert_int_equal(
        green_process_communicate(process, NULL, 0, &output, 120.0), 0);
    snprintf(out, size, "%s", output.out);
    free(output.out);
    green_process_destroy(process);
    return WIFEXITED(output.status) ? WEXITSTATUS(output.status) : -1;
}

static void test_https_get_from_http_hello(void **state)
{
    char *server_argv[] = {"http_hello",  "--address", "127.0.0.1:0", "--tls",
                           pki.localhost, pki.key,     NULL};
    char url[64], output[4096];
    char *trusting[] = {"https_get", "--cafile", pki.ca, url, NULL};
    char *system_only[] = {"https_get", url, NULL};
    green_process_t *server;
    int port, status;

    (void)state;
    server = example_start(server_argv, &port);
    snprintf(url, sizeof(url), "https://localhost:%d/", port);
    /* The system's CAs do not know ours. */
    assert_int_equal(https_get(system_only, output, sizeof(output)), 1);
    assert_non_null(strstr(output, "certificate refused"));
    assert_int_equal(https_get(trusting, output, sizeof(output)), 0);
    assert_non_null(strstr(output, "HTTP/1.1 200 OK"));
    assert_non_null(strstr(output, "Hello, World!"));
    /* Still serving.  (Not --requests: under TSan, http_hello's stop on
     * the last request reads a global that its main thread wrote after
     * starting the hub threads, a race TSan reports.) */
    assert_int_equal(green_process_wait(server, 0, &status), ETIMEDOUT);
    green_process_kill(server, SIGTERM);
    green_process_destroy(server);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_thousand_connections),
        cmocka_unit_test(test_https_get_from_http_hello),
    };

    signal(SIGPIPE, SIG_IGN);
    test_filter_from_env();
    return cmocka_run_group_tests(tests, tls_pki_setup, tls_pki_teardown);
}
