/* GREEN_TEST_BACKENDS */
/*
 * The network examples under load, run as child processes (built in
 * <build>/examples): echo_server keeps serving when it runs out of file
 * descriptors, and http_hello closes a connection whose request head
 * trickles in slower than its head deadline, and one whose client
 * shuts down right after its requests once it has answered them.  The backend
 * chosen by GREEN_HUB_BACKEND is inherited by the child.
 */
#include "test_util.h"

#include <green/io.h>
#include <green/net.h>
#include <green/thread.h>
#include <green/timeout.h>

#include <errno.h>
#include <signal.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/wait.h>

/* A running example: its pid and the port from its first line. */
struct example {
    pid_t pid;
    int port;
};

/* Start examples/<argv[0]>, limited to max_fds descriptors (0: no new
 * limit), and read the port from the first line it prints, after its last
 * ':'.  The limit is set by a shell's ulimit after exec: under valgrind
 * the child's own setrlimit would be valgrind's to emulate. */
static void example_start(struct example *e, char *argv[], int max_fds)
{
    char path[PATH_MAX + 64], line[256], script[64];
    char *shell_argv[16] = {"sh", "-c", script, path};
    size_t used = 0;
    int pipe_fds[2];
    char *colon;

    if (test_example_path(argv[0], path, sizeof(path)) != 0)
        fail_msg("examples/%s is not built", argv[0]);
    if (max_fds > 0)
        snprintf(script, sizeof(script), "ulimit -n %d && exec \"$0\" \"$@\"",
                 max_fds);
    else
        snprintf(script, sizeof(script), "exec \"$0\" \"$@\"");
    for (size_t i = 1; argv[i] != NULL && i < 12; i++)
        shell_argv[3 + i] = argv[i];
    assert_int_equal(pipe(pipe_fds), 0);
    e->pid = fork();
    assert_true(e->pid >= 0);
    if (e->pid == 0) {
        dup2(pipe_fds[1], STDOUT_FILENO);
        close(pipe_fds[0]);
        close(pipe_fds[1]);
        execv("/bin/sh", shell_argv);
        _exit(127);
    }
    close(pipe_fds[1]);
    while (used < sizeof(line) - 1) {
        ssize_t n = read(pipe_fds[0], line + used, 1);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || line[used] == '\n')
            break;
        used++;
    }
    line[used] = '\0';
    close(pipe_fds[0]);
    colon = strrchr(line, ':');
    e->port = colon != NULL ? atoi(colon + 1) : 0;
    if (e->port <= 0) {
        kill(e->pid, SIGKILL);
        waitpid(e->pid, NULL, 0);
        fail_msg("%s printed \"%s\", no port", argv[0], line);
    }
}

/* The example must still be running; then stop it. */
static void example_stop(struct example *e)
{
    int status = 0;

    assert_int_equal(waitpid(e->pid, &status, WNOHANG), 0);
    kill(e->pid, SIGTERM);
    assert_int_equal(waitpid(e->pid, &status, 0), e->pid);
}

/* ---- echo_server out of file descriptors ------------------------------- */

/* Far more clients than the server's descriptor limit: it meets EMFILE at
 * once and must keep serving as connections end. */
#define ECHO_MAX_FDS 32
#define ECHO_CLIENTS 200

struct echo_client {
    int port;
    int id;
    int echoed;
};

/* Connect, send one line, expect it back; with a deadline wide enough for
 * a loaded machine (the server pauses after each EMFILE). */
static void *echo_client_main(void *arg)
{
    struct echo_client *c = arg;
    char line[32], echo[32];
    size_t received = 0;
    green_timeout_t deadline;
    int length = snprintf(line, sizeof(line), "client %d\n", c->id);
    int fd;

    if (green_timeout_start(&deadline, 120.0) != 0)
        return NULL;
    if (green_connect_tcp(&fd, "127.0.0.1", c->port, GREEN_FOREVER) == 0) {
        c->echoed = green_send_all(fd, line, (size_t)length, NULL) == 0 &&
                    green_recv_all(fd, echo, (size_t)length, &received) == 0 &&
                    received == (size_t)length &&
                    memcmp(line, echo, received) == 0;
        green_close(fd);
    }
    green_timeout_cancel(&deadline);
    return NULL;
}

static void test_echo_server_survives_emfile(void **state)
{
    static struct echo_client clients[ECHO_CLIENTS];
    green_thread_t *threads[ECHO_CLIENTS];
    char *argv[] = {"echo_server", "0", NULL};
    struct example server;
    int echoed = 0;
    double start;

    (void)state;
    example_start(&server, argv, ECHO_MAX_FDS);
    start = green_now();
    for (int i = 0; i < ECHO_CLIENTS; i++) {
        clients[i] = (struct echo_client){server.port, i, 0};
        assert_int_equal(
            green_spawn(&threads[i], echo_client_main, &clients[i]), 0);
    }
    for (int i = 0; i < ECHO_CLIENTS; i++) {
        assert_int_equal(green_thread_wait(threads[i], NULL), 0);
        green_thread_release(threads[i]);
        echoed += clients[i].echoed;
    }
    print_message("%d/%d clients echoed by a server limited to %d fds in "
                  "%.2f s\n",
                  echoed, ECHO_CLIENTS, ECHO_MAX_FDS, green_now() - start);
    assert_int_equal(echoed, ECHO_CLIENTS);
    example_stop(&server);
}

/* ---- http_hello against a slowloris trickle ----------------------------- */

/* Send one byte of an endless request head every TRICKLE_PERIOD seconds,
 * up to `limit` seconds; returns when the server closed the connection
 * (or -1 if it never did). */
#define TRICKLE_PERIOD 0.3

static double trickle_until_closed(int port, double limit)
{
    static const char head[] = "GET / HTTP/1.1\r\nX-Slow: ";
    double start = green_now();
    size_t sent = 0;
    int fd;

    assert_int_equal(green_connect_tcp(&fd, "127.0.0.1", port, 10.0), 0);
    green_set_timeout(fd, TRICKLE_PERIOD);
    while (green_now() - start < limit) {
        char byte = sent < sizeof(head) - 1 ? head[sent] : 'a';
        char answer[256];
        size_t received;
        int err = green_send(fd, &byte, 1, 0, NULL);

        if (err == 0) {
            sent++;
            err = green_recv(fd, answer, sizeof(answer), 0, &received);
        }
        if (err == ETIMEDOUT)
            continue; /* still open: the next byte */
        green_close(fd);
        return err == 0 && received > 0 ? -1 : green_now() - start;
    }
    green_close(fd);
    return -1;
}

/* A whole request on a fresh connection gets its 200. */
static void assert_answers(int port)
{
    static const char request[] = "GET / HTTP/1.1\r\nConnection: close\r\n\r\n";
    char answer[512];
    size_t received;
    int fd;

    assert_int_equal(green_connect_tcp(&fd, "127.0.0.1", port, 10.0), 0);
    green_set_timeout(fd, 10.0);
    assert_int_equal(green_send_all(fd, request, sizeof(request) - 1, NULL), 0);
    assert_int_equal(green_recv(fd, answer, sizeof(answer) - 1, 0, &received),
                     0);
    answer[received] = '\0';
    green_close(fd);
    assert_true(strncmp(answer, "HTTP/1.1 200", 12) == 0);
}

static void test_http_hello_head_deadline(void **state)
{
    /* The idle timeout is longer than the trickle's period: only the
     * deadline for the whole head can end the connection. */
    char *argv[] = {
        "http_hello", "--address",      "127.0.0.1:0", "--idle-timeout",
        "5",          "--head-timeout", "1",           NULL};
    struct example server;
    double closed_after;

    (void)state;
    example_start(&server, argv, 0);
    closed_after = trickle_until_closed(server.port, 15.0);
    print_message("trickled head closed after %.2f s (deadline 1 s)\n",
                  closed_after);
    assert_true(closed_after >= 0.5 && closed_after <= 10.0);
    assert_answers(server.port);
    example_stop(&server);
}

/* ---- http_hello and a client that shuts down after its requests ------- */

/* Two pipelined requests and the client's FIN arrive together: the server
 * answers both and then, at end of file, closes the connection (it has no
 * idle timeout to do it instead).  Returns how many answers came before
 * the close, or -1 if the connection stayed open. */
static int answers_before_close(int port)
{
    static const char requests[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
                                   "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    char answer[2048];
    size_t have = 0, received = 0;
    int fd, answers = 0, err, one = 1;

    assert_int_equal(green_connect_tcp(&fd, "127.0.0.1", port, 10.0), 0);
    green_set_timeout(fd, 20.0);
    /* Let the server wait for the requests first (were it late, the test
     * would pass without testing), and corked, so that the FIN rides on the
     * requests' segment. */
    assert_int_equal(green_sleep(0.2), 0);
    assert_int_equal(setsockopt(fd, IPPROTO_TCP, TCP_CORK, &one, sizeof(one)),
                     0);
    assert_int_equal(green_send_all(fd, requests, sizeof(requests) - 1, NULL),
                     0);
    assert_int_equal(shutdown(fd, SHUT_WR), 0);
    do {
        err = green_recv(fd, answer + have, sizeof(answer) - 1 - have, 0,
                         &received);
        have += err == 0 ? received : 0;
    } while (err == 0 && received > 0 && have < sizeof(answer) - 1);
    green_close(fd);
    answer[have] = '\0';
    for (char *at = answer; (at = strstr(at, "HTTP/1.1 200")) != NULL; at++)
        answers++;
    return err == 0 && received == 0 ? answers : -1;
}

static void test_http_hello_closes_at_end_of_file(void **state)
{
    char *argv[] = {"http_hello", "--address", "127.0.0.1:0", NULL};
    struct example server;
    int answers;

    (void)state;
    example_start(&server, argv, 0);
    answers = answers_before_close(server.port);
    example_stop(&server); /* first: a failed assert would leave it running */
    assert_int_equal(answers, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo_server_survives_emfile),
        cmocka_unit_test(test_http_hello_head_deadline),
        cmocka_unit_test(test_http_hello_closes_at_end_of_file),
    };

    test_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
