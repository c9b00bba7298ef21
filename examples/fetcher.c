/*
 * fetcher: fetch N URLs through a task group of at most 20 at once, under
 * one overall deadline.  The URLs are served by a small server in the same
 * process, on loopback; every tenth page hangs, so only the deadline ends
 * its fetch.  No fetch computes the time left: the group's children
 * inherit the deadline of the scope they were spawned in (green/group.h).
 *
 *   fetcher [N]      (default 200 URLs)
 *
 * Exits 0 when every quick page came back, every hanging one timed out,
 * and the whole run ended within LATE_OK seconds of the deadline.
 */
#include <green/group.h>
#include <green/io.h>
#include <green/net.h>
#include <green/timeout.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIMIT 20
/* Seconds for the whole run: the 180 quick pages take a fraction of it,
 * under valgrind or qemu too (about 1 s under valgrind on a loaded 2-CPU
 * machine).  How late after it the run ends is a figure for bench/; here
 * only a wide bound. */
#define DEADLINE 3.0
#define LATE_OK 1.5

/* ---- The server: GET /N answers "page N", or hangs if N % 10 == 9 ---- */

static void serve_page(int fd, void *unused)
{
    char request[256], response[128];
    size_t received;
    int number = -1, length;

    (void)unused;
    if (green_recv(fd, request, sizeof(request) - 1, 0, &received) != 0)
        return;
    request[received] = '\0';
    if (sscanf(request, "GET /%d", &number) != 1)
        return;
    if (number % 10 == 9) {
        /* A hung backend: answers nothing until the client gives up. */
        green_recv(fd, request, sizeof(request), 0, &received);
        return;
    }
    length = snprintf(response, sizeof(response),
                      "HTTP/1.0 200 OK\r\n\r\npage %d", number);
    green_send_all(fd, response, (size_t)length, NULL);
}

static void *server_main(void *server)
{
    green_server_serve(server);
    return NULL;
}

/* ---- The fetcher -------------------------------------------------------- */

static struct sockaddr_in server_address; /* 127.0.0.1 and the port */
static int fetched, timed_out, failed;

/* A TCP connection to the server: by address, as a crawler that resolved
 * its host once would (a name lookup per fetch runs in the thread pool,
 * and the quick pages must all fit in the deadline under valgrind). */
static int connect_to_server(int *out_fd)
{
    int err = green_socket(out_fd, AF_INET, SOCK_STREAM, 0);

    if (err == 0) {
        err = green_connect(*out_fd, (struct sockaddr *)&server_address,
                            sizeof(server_address));
        if (err != 0)
            green_close(*out_fd);
    }
    return err;
}

/* Fetch page N: connect, ask, read to the end.  Blocking calls fail with
 * ETIMEDOUT at the inherited deadline. */
static void *fetch(void *arg)
{
    int number = (int)(intptr_t)arg, fd, err, length;
    char request[64], response[128], want[32];
    size_t received;

    err = connect_to_server(&fd);
    if (err == 0) {
        length = snprintf(request, sizeof(request), "GET /%d HTTP/1.0\r\n\r\n",
                          number);
        err = green_send_all(fd, request, (size_t)length, NULL);
        if (err == 0)
            err = green_recv_all(fd, response, sizeof(response) - 1, &received);
        green_close(fd);
    }
    if (err == ETIMEDOUT) {
        timed_out++;
        return NULL;
    }
    response[err == 0 ? received : 0] = '\0';
    snprintf(want, sizeof(want), "\r\n\r\npage %d", number);
    if (err == 0 && strstr(response, want) != NULL)
        fetched++;
    else
        failed++;
    return NULL;
}

int main(int argc, char **argv)
{
    int count = argc > 1 ? atoi(argv[1]) : 200, listener, port, err, ok;
    green_server_t *server;
    green_thread_t *server_thread;
    green_group_t *group;
    green_timeout_t deadline;
    double start;

    if (count <= 0 || green_listen(&listener, "127.0.0.1:0", 0, 0) != 0 ||
        green_local_port(listener, &port) != 0 ||
        green_server_new(&server, listener, serve_page, NULL, NULL) != 0 ||
        green_spawn(&server_thread, server_main, server) != 0 ||
        green_group_new(&group, LIMIT, 0) != 0) {
        fprintf(stderr, "fetcher: setup failed\n");
        return 1;
    }
    server_address.sin_family = AF_INET;
    server_address.sin_port = htons((uint16_t)port);
    server_address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    start = green_now();
    green_timeout_start(&deadline, DEADLINE);
    for (int i = 0; i < count; i++) {
        /* Parks while 20 fetches run; fails once the deadline passed. */
        err = green_group_spawn(group, NULL, fetch, (void *)(intptr_t)i);
        if (err != 0)
            break;
    }
    green_timeout_cancel(&deadline);
    green_group_wait(group, GREEN_FOREVER);
    printf("fetcher: %d fetched, %d timed out, %d failed, %d not started "
           "in %.3f s\n",
           fetched, timed_out, failed, count - fetched - timed_out - failed,
           green_now() - start);
    ok = failed == 0 && green_now() - start < DEADLINE + LATE_OK &&
         fetched + timed_out == count && timed_out == count / 10;
    green_group_destroy(group);
    green_server_stop(server);
    green_thread_wait(server_thread, NULL); /* and its handlers */
    green_thread_release(server_thread);
    green_server_destroy(server);
    green_close(listener);
    return ok ? 0 : 1;
}
