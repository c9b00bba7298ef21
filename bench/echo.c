/*
 * Echo throughput over loopback TCP with 64 KiB messages: the client sends
 * a message and reads the echo back, one message in flight.
 *
 *   libgreen          one hub: the client in the main greenlet, the echo
 *                     server in a green thread (green_recv/green_send_all)
 *   blocking-threads  the same protocol with blocking sockets and an OS
 *                     thread for the server (the classic alternative)
 *
 * Rows: echo <impl> 64KiB <MB/s, counting each message once>, and the
 * time ratio libgreen/blocking-threads.
 */
#include "bench_util.h"

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

int main(void)
{
    struct echo_link green_link, blocking_link;
    struct bench_case cases[2] = {
        {"echo", "libgreen", "64KiB", "MB/s", green_round_trips, &green_link, 1,
         0, 0},
        {"echo", "blocking-threads", "64KiB", "MB/s", blocking_round_trips,
         &blocking_link, 1, 0, 0},
    };
    pthread_t blocking_server;
    int server;

    green_link.message = blocking_link.message = malloc(MESSAGE_SIZE);
    green_link.echo = blocking_link.echo = malloc(MESSAGE_SIZE);
    if (green_link.message == NULL || green_link.echo == NULL)
        return 1;
    memset(green_link.message, 'e', MESSAGE_SIZE);

    connect_pair(&green_link.client, &server);
    if (green_spawn_n(green_echo_server, (void *)(intptr_t)server))
        return 1;
    connect_pair(&blocking_link.client, &server);
    make_blocking(blocking_link.client);
    make_blocking(server);
    if (pthread_create(&blocking_server, NULL, blocking_echo_server,
                       (void *)(intptr_t)server))
        return 1;

    bench_run_interleaved(cases, 2);
    for (int i = 0; i < 2; i++)
        bench_print_row(
            cases[i].benchmark, cases[i].implementation, cases[i].metric,
            MESSAGE_SIZE * 1e3 / cases[i].best_ns_per_op, cases[i].unit);
    bench_print_ratio(&cases[0], &cases[1]);

    green_close(green_link.client);
    close(blocking_link.client);
    pthread_join(blocking_server, NULL);
    green_hub_run(); /* the green server sees EOF and ends */
    free(green_link.message);
    free(green_link.echo);
    return 0;
}
