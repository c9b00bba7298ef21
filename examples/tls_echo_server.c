/*
 * tls_echo_server: echo_server over TLS, one green thread per connection.
 *
 *   tls_echo_server CERT KEY [PORT]    serve on 127.0.0.1:PORT (default
 *                                      6443; 0 picks a free port) forever
 *   tls_echo_server --demo CA CERT KEY serve on a free port, run client
 *                                      green threads that trust CA against
 *                                      it, check the echoes, and exit
 *
 * CERT is the certificate chain (PEM), KEY its private key.  It prints
 * "tls echo server on 127.0.0.1:PORT" once it accepts connections.
 */
#include <green/io.h>
#include <green/net.h>
#include <green/thread.h>
#include <green/tls.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static green_tls_ctx_t *server_ctx;

/* ---- The server -------------------------------------------------------- */

/* Room for a 64 KiB message: a read takes all of its records that have
 * come, and the echo writes them back in one go. */
#define ECHO_BUFFER_SIZE 65536

/* Runs in a green thread of its own; the server closes client after. */
static void handle(int client, void *unused)
{
    char *buffer = malloc(ECHO_BUFFER_SIZE);
    green_tls_t *tls = NULL;
    size_t received;

    (void)unused;
    if (buffer != NULL && green_tls_new(&tls, server_ctx, client) == 0 &&
        green_tls_accept(tls) == 0) {
        while (green_tls_read(tls, buffer, ECHO_BUFFER_SIZE, &received) == 0 &&
               received > 0)
            if (green_tls_write_all(tls, buffer, received, NULL) != 0)
                break;
        green_tls_shutdown(tls); /* fails harmlessly after an error */
    }
    if (tls != NULL)
        green_tls_destroy(tls);
    free(buffer);
}

/* ---- Demo: clients in the same process --------------------------------- */

#define DEMO_CLIENTS 20
#define DEMO_LINES 10

static green_tls_ctx_t *demo_client_ctx;
static int demo_port;
static int demo_clients_left = DEMO_CLIENTS;
static int demo_failures;
static green_server_t *demo_server;

/* Connect (verifying the server's certificate for "localhost"), echo a few
 * lines, and close cleanly. */
static void *demo_client(void *arg)
{
    int id = (int)(intptr_t)arg, ok = 0;
    char line[64], echo[64];
    size_t received;
    green_tls_t *tls;

    if (green_tls_dial(&tls, demo_client_ctx, "localhost", demo_port, 30.0) ==
        0) {
        ok = 1;
        for (int i = 0; ok && i < DEMO_LINES; i++) {
            int length =
                snprintf(line, sizeof(line), "client %d line %d\n", id, i);

            /* A line goes out as one record, and comes back as one. */
            ok = green_tls_write_all(tls, line, (size_t)length, NULL) == 0 &&
                 green_tls_read(tls, echo, sizeof(echo), &received) == 0 &&
                 received == (size_t)length && !memcmp(line, echo, received);
        }
        ok = ok && green_tls_shutdown(tls) == 0;
        green_tls_destroy(tls);
    }
    demo_failures += !ok;
    if (--demo_clients_left == 0)
        green_server_stop(demo_server);
    return NULL;
}

static int run_demo(int listener, const char *ca)
{
    int err = green_tls_ctx_new(&demo_client_ctx, GREEN_TLS_CLIENT);

    if (err == 0)
        err = green_tls_ctx_load_ca(demo_client_ctx, ca, NULL);
    if (err == 0)
        err = green_server_new(&demo_server, listener, handle, NULL, NULL);
    for (int i = 0; err == 0 && i < DEMO_CLIENTS; i++)
        err = green_spawn_n(demo_client, (void *)(intptr_t)i);
    if (err == 0)
        err = green_server_serve(demo_server);
    green_server_destroy(demo_server);
    green_tls_ctx_destroy(demo_client_ctx);
    printf("demo: %d TLS clients x %d lines echoed, %d failures\n",
           DEMO_CLIENTS, DEMO_LINES, demo_failures);
    return err == 0 && demo_failures == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    int demo = argc == 5 && strcmp(argv[1], "--demo") == 0;
    char **files = argv + 1 + 2 * demo, address[32];
    int listener, err;

    if (!demo && argc != 3 && argc != 4) {
        fprintf(stderr, "usage: tls_echo_server CERT KEY [PORT]\n"
                        "       tls_echo_server --demo CA CERT KEY\n");
        return 2;
    }
    snprintf(address, sizeof(address), "127.0.0.1:%s",
             demo        ? "0"
             : argc == 4 ? argv[3]
                         : "6443");
    err = green_tls_ctx_new(&server_ctx, GREEN_TLS_SERVER);
    if (err == 0 && (err = green_tls_ctx_use_certificate(server_ctx, files[0],
                                                         files[1])) != 0)
        fprintf(stderr, "tls_echo_server: %s\n",
                green_tls_ctx_error_string(server_ctx));
    if (err == 0)
        err = green_listen(&listener, address, 0, GREEN_LISTEN_REUSEADDR);
    if (err == 0)
        err = green_local_port(listener, &demo_port);
    if (err != 0) {
        fprintf(stderr, "tls_echo_server: %s\n", strerror(err));
        return 1;
    }
    printf("tls echo server on 127.0.0.1:%d\n", demo_port);
    fflush(stdout);
    err = demo ? run_demo(listener, argv[2])
               : green_serve(listener, handle, NULL, NULL);
    green_close(listener);
    green_tls_ctx_destroy(server_ctx);
    if (!demo)
        fprintf(stderr, "tls_echo_server: serve: %s\n", strerror(err));
    return err != 0;
}
