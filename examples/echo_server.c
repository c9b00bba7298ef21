/*
 * echo_server: eventlet's classic echo server, one green thread per
 * connection.
 *
 *   echo_server [PORT]     serve on 127.0.0.1:PORT (default 6000) forever
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

static void *handle(void *arg)
{
    int client = (int)(intptr_t)arg;
    char buffer[4096];
    size_t received;

    while (green_recv(client, buffer, sizeof(buffer), 0, &received) == 0 &&
           received > 0)
        if (green_send_all(client, buffer, received, NULL) != 0)
            break;
    green_close(client);
    return NULL;
}

static void serve_forever(int listener)
{
    int client;

    while (green_accept(&client, listener, NULL, NULL) == 0)
        if (green_spawn_n(handle, (void *)(intptr_t)client) != 0)
            green_close(client);
}

/* ---- Demo: clients in the same process ------------------------------- */

#define DEMO_CLIENTS 50
#define DEMO_LINES 20

static int demo_port;
static int demo_clients_left = DEMO_CLIENTS;
static int demo_failures;
static int demo_listener;

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
    /* The last client closes the listener, which ends serve_forever. */
    if (--demo_clients_left == 0)
        green_close(demo_listener);
    return NULL;
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
    if (demo) {
        demo_listener = listener;
        for (int i = 0; i < DEMO_CLIENTS; i++)
            green_spawn_n(demo_client, (void *)(intptr_t)i);
    }
    serve_forever(listener);
    if (!demo)
        return 1;
    green_hub_run(); /* let the connection handlers finish */
    printf("demo: %d clients x %d lines echoed, %d failures\n", DEMO_CLIENTS,
           DEMO_LINES, demo_failures);
    return demo_failures == 0 ? 0 : 1;
}
