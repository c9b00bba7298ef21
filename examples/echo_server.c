/*
 * echo_server: eventlet's classic echo server, one green thread per
 * connection.
 *
 *   echo_server [PORT]     serve on 127.0.0.1:PORT (default 6000; 0 picks a
 *                          free port) forever
 *   echo_server --demo     serve on a free port, run a few client green
 *                          threads against it, check the echoes, and exit
 */
#include <green/io.h>
#include <green/net.h>
#include <green/thread.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- The server: this part is what docs/io.md shows ------------------ */

/* Runs in a green thread of its own; the server closes client after. */
static void handle(int client, void *unused)
{
    char buffer[4096];
    size_t received;

    (void)unused;
    while (green_recv(client, buffer, sizeof(buffer), 0, &received) == 0 &&
           received > 0)
        if (green_send_all(client, buffer, received, NULL) != 0)
            break;
}

/* ---- Demo: clients in the same process ------------------------------- */

#define DEMO_CLIENTS 50
#define DEMO_LINES 20

static int demo_port;
static int demo_clients_left = DEMO_CLIENTS;
static int demo_failures;
static green_server_t *demo_server;

static void *demo_client(void *arg)
{
    int id = (int)(intptr_t)arg;
    char line[64], echo[64];
    size_t received;
    int fd;

    if (green_connect_tcp(&fd, "127.0.0.1", demo_port, 10.0) != 0) {
        demo_failures++;
    } else {
        for (int i = 0; i < DEMO_LINES; i++) {
            int length =
                snprintf(line, sizeof(line), "client %d line %d\n", id, i);
            if (green_send_all(fd, line, (size_t)length, NULL) != 0 ||
                green_recv_all(fd, echo, (size_t)length, &received) != 0 ||
                received != (size_t)length || memcmp(line, echo, received)) {
                demo_failures++;
                break;
            }
        }
        green_close(fd);
    }
    /* The last client ends the demo's server. */
    if (--demo_clients_left == 0)
        green_server_stop(demo_server);
    return NULL;
}

/* Serve until the clients are done and every handler has returned. */
static int run_demo(int listener)
{
    int err = green_server_new(&demo_server, listener, handle, NULL, NULL);

    for (int i = 0; err == 0 && i < DEMO_CLIENTS; i++)
        err = green_spawn_n(demo_client, (void *)(intptr_t)i);
    if (err == 0)
        err = green_server_serve(demo_server);
    green_server_destroy(demo_server);
    green_close(listener);
    printf("demo: %d clients x %d lines echoed, %d failures\n", DEMO_CLIENTS,
           DEMO_LINES, demo_failures);
    return err == 0 && demo_failures == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    int demo = argc > 1 && strcmp(argv[1], "--demo") == 0;
    char address[32];
    int listener, err;

    snprintf(address, sizeof(address), "127.0.0.1:%s",
             demo       ? "0"
             : argc > 1 ? argv[1]
                        : "6000");
    err = green_listen(&listener, address, 0, GREEN_LISTEN_REUSEADDR);
    if (err == 0)
        err = green_local_port(listener, &demo_port);
    if (err != 0) {
        fprintf(stderr, "echo_server: listen on %s: %s\n", address,
                strerror(err));
        return 1;
    }
    printf("echo server on 127.0.0.1:%d\n", demo_port);
    fflush(stdout);
    if (demo)
        return run_demo(listener);
    /* Retries what a busy server meets (EMFILE, ENFILE, ECONNABORTED...)
     * and returns only on a real error. */
    err = green_serve(listener, handle, NULL, NULL);
    fprintf(stderr, "echo_server: serve: %s\n", strerror(err));
    return 1;
}
