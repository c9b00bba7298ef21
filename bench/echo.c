/*
 * Echo throughput over loopback TCP with 64 KiB messages: the client sends
 * a message and reads the echo back, one message in flight.
 *
 *   libgreen-epoll     one hub on epoll: the client in the main greenlet,
 *                      the echo server in a green thread
 *                      (green_recv/green_send_all)
 *   libgreen-io_uring  the same on an io_uring hub (skipped, with a note on
 *                      stderr, where libgreen has none: see bench_backend.h)
 *   blocking-threads   the same protocol with blocking sockets and an OS
 *                      thread for the server (the classic alternative)
 *
 * Each client runs on a bench_backend thread (one hub per backend).
 * Rows: echo <impl> 64KiB <MB/s, counting each message once>, and the
 * time ratios libgreen-io_uring/libgreen-epoll and
 * libgreen-epoll/blocking-threads.
 */
#include "bench_backend.h"

#include <green/io.h>
#include <green/net.h>
#include <green/thread.h>

#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define MESSAGE_SIZE (64 * 1024)

struct echo_link {
    int client;
    char *message;
    char *echo;
    struct bench_remote remote;
};

/* ---- libgreen ------------------------------------------------------- */

static void *green_echo_server(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char *buffer = malloc(MESSAGE_SIZE);
    size_t received;

    while (buffer != NULL &&
           green_recv(fd, buffer, MESSAGE_SIZE, 0, &received) == 0 &&
           received > 0 && green_send_all(fd, buffer, received, NULL) == 0)
        ;
    free(buffer);
    green_close(fd);
    return NULL;
}

static void green_round_trips(void *context, uint64_t iterations)
{
    struct echo_link *link = context;
    size_t got;

    for (uint64_t i = 0; i < iterations; i++)
        if (green_send_all(link->client, link->message, MESSAGE_SIZE, NULL) ||
            green_recv_all(link->client, link->echo, MESSAGE_SIZE, &got) ||
            got != MESSAGE_SIZE)
            abort();
}

/* ---- blocking sockets and an OS thread ------------------------------ */

static void *blocking_echo_server(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char *buffer = malloc(MESSAGE_SIZE);
    ssize_t received;

    while (buffer != NULL && (received = read(fd, buffer, MESSAGE_SIZE)) > 0)
        for (ssize_t sent = 0, n; sent < received; sent += n)
            if ((n = write(fd, buffer + sent, (size_t)(received - sent))) <= 0)
                abort();
    free(buffer);
    close(fd);
    return NULL;
}

static void blocking_round_trips(void *context, uint64_t iterations)
{
    struct echo_link *link = context;

    for (uint64_t i = 0; i < iterations; i++) {
        for (ssize_t sent = 0, n; sent < MESSAGE_SIZE; sent += n)
            if ((n = write(link->client, link->message + sent,
                           (size_t)(MESSAGE_SIZE - sent))) <= 0)
                abort();
        for (ssize_t got = 0, n; got < MESSAGE_SIZE; got += n)
            if ((n = read(link->client, link->echo + got,
                          (size_t)(MESSAGE_SIZE - got))) <= 0)
                abort();
    }
}

/* A connected loopback pair: *client and *server. */
static void connect_pair(int *client, int *server)
{
    int listener, port;

    if (green_listen(&listener, "127.0.0.1:0", 0, 0) ||
        green_local_port(listener, &port) ||
        green_connect_tcp(client, "127.0.0.1", port, 10.0) ||
        green_accept(server, listener, NULL, NULL))
        abort();
    green_close(listener);
}

static void make_blocking(int fd)
{
    int off = 0;

    if (ioctl(fd, FIONBIO, &off) != 0)
        abort();
}

/* On a hub thread: connect, and serve the other end in a green thread. */
static void green_link_open(void *arg)
{
    struct echo_link *link = arg;
    int server;

    connect_pair(&link->client, &server);
    if (green_spawn_n(green_echo_server, (void *)(intptr_t)server))
        abort();
}

static void green_link_close(void *arg)
{
    struct echo_link *link = arg;

    green_close(link->client);
    green_hub_run(); /* the green server sees EOF and ends */
}

int main(void)
{
    static const char *const backends[] = {"epoll", "io_uring"};
    static const char *const names[] = {"libgreen-epoll", "libgreen-io_uring"};
    struct bench_backend hubs[2], plain;
    struct echo_link links[2], blocking_link;
    struct bench_case cases[3];
    int have[2];
    size_t count = 0;
    char *message = malloc(MESSAGE_SIZE), *echo = malloc(MESSAGE_SIZE);
    pthread_t blocking_server;
    int server;

    if (message == NULL || echo == NULL ||
        bench_backend_start(&plain, NULL) != 0)
        return 1;
    memset(message, 'e', MESSAGE_SIZE);
    for (int i = 0; i < 2; i++) {
        have[i] = bench_backend_start(&hubs[i], backends[i]) == 0;
        if (!have[i])
            continue;
        links[i] = (struct echo_link){
            -1, message, echo, {&hubs[i], green_round_trips, &links[i], 0}};
        bench_backend_call(&hubs[i], green_link_open, &links[i]);
        cases[count++] = (struct bench_case){
            "echo",           names[i], "64KiB", "MB/s", bench_backend_run,
            &links[i].remote, 1,        0,       0};
    }

    blocking_link = (struct echo_link){
        -1, message, echo, {&plain, blocking_round_trips, &blocking_link, 0}};
    connect_pair(&blocking_link.client, &server);
    make_blocking(blocking_link.client);
    make_blocking(server);
    if (pthread_create(&blocking_server, NULL, blocking_echo_server,
                       (void *)(intptr_t)server))
        return 1;
    cases[count++] = (struct bench_case){"echo",
                                         "blocking-threads",
                                         "64KiB",
                                         "MB/s",
                                         bench_backend_run,
                                         &blocking_link.remote,
                                         1,
                                         0,
                                         0};

    bench_run_interleaved(cases, count);
    for (size_t i = 0; i < count; i++)
        bench_print_row(
            cases[i].benchmark, cases[i].implementation, cases[i].metric,
            MESSAGE_SIZE * 1e3 / cases[i].best_ns_per_op, cases[i].unit);
    if (count == 3)
        bench_print_ratio(&cases[1], &cases[0]);
    if (have[0])
        bench_print_ratio(&cases[0], &cases[count - 1]);

    for (int i = 0; i < 2; i++) {
        if (have[i]) {
            bench_backend_call(&hubs[i], green_link_close, &links[i]);
            bench_backend_stop(&hubs[i]);
        }
    }
    close(blocking_link.client);
    pthread_join(blocking_server, NULL);
    bench_backend_stop(&plain);
    free(message);
    free(echo);
    return 0;
}
