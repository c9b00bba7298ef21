/*
 * A server that shuts down gracefully on SIGTERM or SIGINT: it stops
 * accepting (new connections are refused), lets the requests in flight
 * finish within a deadline, cuts those still running after it, and exits
 * 0 if none had to be cut (1 otherwise).
 *
 * Protocol, one request per connection: the client sends "<seconds>\n";
 * the server answers "working\n" at once, pretends to work that long, then
 * answers "done <seconds>\n" and closes.
 *
 *   graceful_server [--port N] [--deadline SECONDS] [--demo]
 *
 * It prints "listening on port N" once it accepts, and "draining" once it
 * has stopped accepting.  --demo runs a client in the same process: a
 * 0.3 s request, SIGTERM to itself while it is in flight, then a connect
 * that must be refused; the request must still complete.
 */
#include <green/bufio.h>
#include <green/io.h>
#include <green/net.h>
#include <green/pool.h>
#include <green/signal.h>
#include <green/thread.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void handle(int fd, void *unused)
{
    green_bufio_t *reader;
    char line[64], reply[80];
    double seconds;

    (void)unused;
    if (green_bufio_new(&reader, fd, 0) != 0)
        return;
    if (green_bufio_read_line(reader, line, sizeof(line), NULL) == 0 &&
        sscanf(line, "%lf", &seconds) == 1 && seconds >= 0 && seconds <= 60 &&
        green_send_all(fd, "working\n", 8, NULL) == 0 &&
        green_sleep(seconds) == 0) {
        snprintf(reply, sizeof(reply), "done %s", line);
        green_send_all(fd, reply, strlen(reply), NULL);
    }
    green_bufio_destroy(reader);
}

static void *serve_main(void *server)
{
    return (void *)(intptr_t)green_server_serve(server);
}

/* Wait up to `deadline` seconds for the requests in flight, then kill the
 * rest.  0 if all finished in time. */
static int drain(green_pool_t *pool, double deadline)
{
    int err = green_pool_waitall(pool, deadline);

    if (err == ETIMEDOUT)
        fprintf(stderr, "graceful_server: deadline passed, cutting %zu\n",
                green_pool_running(pool));
    green_pool_destroy(pool, 1);
    return err;
}

/* ---- --demo: a client in the same process -------------------------------- */

/* Send a request, read "working", signal ourselves, then expect the answer
 * while new connections are refused. */
static void *demo_main(void *arg)
{
    int port = *(int *)arg, fd, late, refused;
    char answer[64] = "";
    size_t got = 0;

    if (green_connect_tcp(&fd, "127.0.0.1", port, 5.0) != 0)
        return (void *)"connect failed";
    green_send_all(fd, "0.3\n", 4, NULL);
    green_recv_all(fd, answer, 8, &got); /* "working\n" */
    kill(getpid(), SIGTERM);
    green_sleep(0.1); /* the server stops accepting */
    refused = green_connect_tcp(&late, "127.0.0.1", port, 5.0);
    if (refused == 0)
        green_close(late);
    green_recv_all(fd, answer, sizeof(answer) - 1, &got);
    answer[got] = '\0';
    green_close(fd);
    if (refused != ECONNREFUSED)
        return (void *)"a connection after SIGTERM was not refused";
    if (strcmp(answer, "done 0.3\n") != 0)
        return (void *)"the request in flight did not complete";
    return NULL;
}

/* ---- main ---------------------------------------------------------------- */

struct options {
    int port, demo;
    double deadline;
};

static int parse(int argc, char **argv, struct options *options)
{
    *options = (struct options){0, 0, 5.0};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--demo") == 0)
            options->demo = 1;
        else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
            options->port = atoi(argv[++i]);
        else if (strcmp(argv[i], "--deadline") == 0 && i + 1 < argc)
            options->deadline = atof(argv[++i]);
        else
            return EINVAL;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct options options;
    green_thread_t *serving, *demo = NULL;
    green_server_t *server;
    green_pool_t *pool;
    sigset_t stop;
    char address[32];
    void *demo_failure = NULL;
    int listener, port, signo, err;

    if (parse(argc, argv, &options) != 0) {
        fprintf(stderr, "usage: %s [--port N] [--deadline SECONDS] [--demo]\n",
                argv[0]);
        return 2;
    }
    /* First, before any thread exists: every thread inherits the mask. */
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    green_signal_block(&stop);

    snprintf(address, sizeof(address), "127.0.0.1:%d", options.port);
    if (green_listen(&listener, address, 0, GREEN_LISTEN_REUSEADDR) != 0 ||
        green_local_port(listener, &port) != 0 ||
        green_pool_new(&pool, 1000) != 0 ||
        green_server_new(&server, listener, handle, NULL, pool) != 0 ||
        green_spawn(&serving, serve_main, server) != 0 ||
        (options.demo && green_spawn(&demo, demo_main, &port) != 0)) {
        fprintf(stderr, "graceful_server: cannot start\n");
        return 2;
    }
    printf("listening on port %d\n", port);
    fflush(stdout);

    green_signal_wait(&stop, &signo, GREEN_FOREVER);
    green_server_stop(server);
    green_close(listener); /* from now on, connections are refused */
    printf("draining: %s, %zu in flight\n",
           signo == SIGTERM ? "SIGTERM" : "SIGINT",
           green_server_active(server));
    fflush(stdout);

    err = drain(pool, options.deadline);
    green_thread_wait(serving, NULL);
    green_thread_release(serving);
    green_server_destroy(server);
    if (demo != NULL) {
        green_thread_wait(demo, &demo_failure);
        green_thread_release(demo);
        if (demo_failure != NULL)
            fprintf(stderr, "graceful_server --demo: %s\n",
                    (char *)demo_failure);
    }
    printf("stopped\n");
    return err == 0 && demo_failure == NULL ? 0 : 1;
}
