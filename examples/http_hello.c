/*
 * http_hello: an HTTP/1.1 keep-alive server answering "Hello, World!",
 * with one green thread per connection and one hub per OS thread.
 *
 *   http_hello [--address HOST:PORT] [--threads N] [--delay SECONDS]
 *              [--idle-timeout SECONDS] [--requests N] [--demo]
 *
 *   --address   where to listen (default 127.0.0.1:8080; port 0 picks one)
 *   --threads   hub threads, each with its own SO_REUSEPORT listener
 *   --delay     sleep (greenly) before each response
 *   --idle-timeout  close connections idle (or stalled) this long; none by
 *               default, like bench/epoll_server.c, since a timer per
 *               request costs a few percent of CPU
 *   --requests  stop after answering N requests (0: run until killed)
 *   --demo      listen on a free port, make requests from in-process client
 *               green threads, check every answer, and exit
 *
 * It prints "listening on HOST:PORT" once it accepts connections.  A
 * malformed request gets a 400 and the connection is closed.
 */
#define _GNU_SOURCE /* memmem */
#include <green/hub_threads.h>
#include <green/io.h>
#include <green/net.h>
#include <green/thread.h>

#include "http_parse.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define HEAD_BUFFER 8192
#define BODY "Hello, World!"

static const char response_keep_alive[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n"
    "\r\n" BODY;
/* HTTP/1.0 clients keep the connection only when told so. */
static const char response_keep_alive_10[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n"
    "Connection: keep-alive\r\n\r\n" BODY;
static const char response_close[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n"
    "Connection: close\r\n\r\n" BODY;
static const char response_bad[] =
    "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
    "Content-Length: 12\r\nConnection: close\r\n\r\nBad Request\n";

static struct {
    char address[128];
    size_t threads;
    double delay;
    double idle_timeout;
    long requests;
    int demo;
} config = {"127.0.0.1:8080", 1, 0, 0, 0, 0};

/* One per hub thread; touched only by its own hub. */
struct hub_server {
    int listen_fd;
    green_server_t *server;
    int stop_requested;
};

static struct hub_server *hub_servers;
static green_hub_threads_t *hub_threads;
static atomic_long requests_answered;
static atomic_int stopping;
static int server_port;

/* ---- Server ---------------------------------------------------------- */

static void stop_hub_server(void *arg)
{
    struct hub_server *hub = arg;

    hub->stop_requested = 1;
    if (hub->server != NULL)
        green_server_stop(hub->server);
}

/* Ask every hub thread to stop serving (from any thread, once). */
static void stop_all_servers(void)
{
    if (atomic_exchange(&stopping, 1))
        return;
    for (size_t i = 0; i < config.threads; i++)
        green_hub_call_threadsafe(green_hub_threads_hub(hub_threads, i),
                                  stop_hub_server, &hub_servers[i]);
}

static void count_answer(void)
{
    if (atomic_fetch_add(&requests_answered, 1) + 1 == config.requests)
        stop_all_servers();
}

static int send_text(int fd, const char *text, size_t length)
{
    return green_send_all(fd, text, length, NULL);
}

/* Read and drop `length` body bytes the client sent. */
static int skip_body(int fd, size_t length)
{
    char scratch[4096];

    while (length > 0) {
        size_t received;
        size_t want = length < sizeof(scratch) ? length : sizeof(scratch);

        if (green_recv(fd, scratch, want, 0, &received) != 0 || received == 0)
            return -1;
        length -= received;
    }
    return 0;
}

/* After a 400: stop sending, and read what the client still sends for a
 * moment, so that closing does not reset the connection before the client
 * read the answer. */
static void linger_close(int fd)
{
    char scratch[4096];
    size_t received, total = 0;

    shutdown(fd, SHUT_WR);
    green_set_timeout(fd, 1.0);
    while (total < 65536 &&
           green_recv(fd, scratch, sizeof(scratch), 0, &received) == 0 &&
           received > 0)
        total += received;
}

static void handle_connection(int fd, void *unused)
{
    char buffer[HEAD_BUFFER];
    size_t have = 0;
    int answered = 0;
    int drained = 0; /* the last recv emptied the socket's buffer */

    (void)unused;
    if (config.idle_timeout > 0)
        green_set_timeout(fd, config.idle_timeout);
    for (;;) {
        struct http_request request;
        enum http_parse_status status =
            http_parse_request(buffer, have, sizeof(buffer) - 1, &request);
        size_t received, body_here;
        const char *response;

        if (status == HTTP_PARSE_NEED_MORE) {
            /* After an answer the client rarely has sent more yet: wait
             * for it first rather than pay for a recv failing with EAGAIN.
             * Only when the last recv emptied the socket, though: a full
             * buffer may leave a pipelined request behind it, which no new
             * readiness edge would announce. */
            if (have == 0 && answered && drained &&
                green_wait_fd(fd, GREEN_READ, green_get_timeout(fd)) != 0)
                return;
            size_t room = sizeof(buffer) - have;
            if (green_recv(fd, buffer + have, room, 0, &received) != 0 ||
                received == 0)
                return;
            drained = received < room;
            have += received;
            continue;
        }
        if (status == HTTP_PARSE_BAD) {
            if (send_text(fd, response_bad, sizeof(response_bad) - 1) == 0)
                linger_close(fd);
            return;
        }
        if (config.delay > 0 && green_sleep(config.delay) != 0)
            return;
        if (atomic_load_explicit(&stopping, memory_order_relaxed))
            request.keep_alive = 0;
        response = !request.keep_alive          ? response_close
                   : request.minor_version == 0 ? response_keep_alive_10
                                                : response_keep_alive;
        /* A HEAD answer has the headers of a GET and no body. */
        if (send_text(fd, response,
                      strlen(response) - (request.head ? strlen(BODY) : 0)) !=
            0)
            return;
        count_answer();
        answered = 1;

        /* Drop this request's head and body; keep pipelined bytes. */
        body_here = have - request.head_length;
        if (body_here > request.content_length)
            body_here = request.content_length;
        have -= request.head_length + body_here;
        memmove(buffer, buffer + request.head_length + body_here, have);
        if (skip_body(fd, request.content_length - body_here) != 0 ||
            !request.keep_alive)
            return;
    }
}

static void serve_hub(size_t index, void *unused)
{
    struct hub_server *hub = &hub_servers[index];

    (void)unused;
    if (!hub->stop_requested &&
        green_server_new(&hub->server, hub->listen_fd, handle_connection, NULL,
                         NULL) == 0) {
        green_server_serve(hub->server);
        green_server_destroy(hub->server);
        hub->server = NULL;
    }
    green_close(hub->listen_fd);
}

/* ---- Demo client ----------------------------------------------------- */

#define DEMO_CLIENTS 20
#define DEMO_REQUESTS_PER_CLIENT 10

static atomic_int demo_failures;

/* Read one response; returns its status code (-1 on a broken response)
 * and checks a 200's body. */
static int read_response(int fd, char *buffer, size_t size, size_t *have)
{
    for (;;) {
        char *end = memmem(buffer, *have, "\r\n\r\n", 4);
        size_t received;

        if (end != NULL) {
            size_t head = (size_t)(end - buffer) + 4;
            const char *length_field = strstr(buffer, "Content-Length: ");
            size_t length, total;
            int status;

            if (sscanf(buffer, "HTTP/1.1 %d", &status) != 1 ||
                length_field == NULL || length_field > end)
                return -1;
            length = strtoul(length_field + 16, NULL, 10);
            total = head + length;
            if (total > size)
                return -1;
            if (*have < total) {
                if (green_recv_all(fd, buffer + *have, total - *have,
                                   &received) != 0 ||
                    *have + received < total)
                    return -1;
                *have = total;
            }
            if (status == 200 &&
                (length != 13 || memcmp(buffer + head, BODY, 13) != 0))
                return -1;
            *have -= total;
            memmove(buffer, buffer + total, *have);
            buffer[*have] = '\0';
            return status;
        }
        if (*have == size - 1 ||
            green_recv(fd, buffer + *have, size - 1 - *have, 0, &received) !=
                0 ||
            received == 0)
            return -1;
        *have += received;
        buffer[*have] = '\0';
    }
}

/* A client connection and the bytes it received but did not use yet. */
struct demo_connection {
    int fd;
    char buffer[1024];
    size_t have;
};

/* Send request, expect `expected` status, and, if closing, the EOF. */
static int exchange(struct demo_connection *c, const char *request,
                    int expected, int expect_close)
{
    size_t received;

    if (send_text(c->fd, request, strlen(request)) != 0 ||
        read_response(c->fd, c->buffer, sizeof(c->buffer), &c->have) !=
            expected)
        return -1;
    if (expect_close &&
        (c->have != 0 ||
         green_recv(c->fd, c->buffer, sizeof(c->buffer), 0, &received) != 0 ||
         received != 0))
        return -1;
    return 0;
}

static void *demo_client(void *arg)
{
    const char *mode = arg;
    struct demo_connection c = {.have = 0};
    int failed = 0;

    if (green_connect_tcp(&c.fd, "127.0.0.1", server_port, 10.0) != 0) {
        atomic_fetch_add(&demo_failures, 1);
        return NULL;
    }
    if (strcmp(mode, "keep-alive") == 0) {
        for (int i = 0; i < DEMO_REQUESTS_PER_CLIENT && !failed; i++)
            failed =
                exchange(&c, "GET / HTTP/1.1\r\nHost: demo\r\n\r\n", 200, 0);
        /* Two pipelined requests, the first with a body. */
        failed = failed ||
                 exchange(&c,
                          "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
                          "GET / HTTP/1.1\r\n\r\n",
                          200, 0) ||
                 exchange(&c, "", 200, 0);
    } else if (strcmp(mode, "close") == 0) {
        failed =
            exchange(&c, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n", 200, 1);
    } else if (strcmp(mode, "http/1.0") == 0) {
        failed = exchange(&c, "GET / HTTP/1.0\r\n\r\n", 200, 1);
    } else if (strcmp(mode, "oversized") == 0) {
        /* A head longer than the server's buffer. */
        char request[HEAD_BUFFER + 64];
        int length =
            snprintf(request, sizeof(request), "GET / HTTP/1.1\r\nX: ");

        memset(request + length, 'a', HEAD_BUFFER);
        strcpy(request + length + HEAD_BUFFER, "\r\n\r\n");
        failed = exchange(&c, request, 400, 1);
    } else {
        failed = exchange(&c, "GARBAGE\r\n\r\n", 400, 1);
    }
    if (failed) {
        fprintf(stderr, "demo: %s client failed\n", mode);
        atomic_fetch_add(&demo_failures, 1);
    }
    green_close(c.fd);
    return NULL;
}

static int run_demo(void)
{
    static const char *const modes[] = {"close", "http/1.0", "malformed",
                                        "oversized"};
    enum { MODES = sizeof(modes) / sizeof(modes[0]) };
    green_thread_t *clients[DEMO_CLIENTS + MODES];
    size_t count = 0;

    for (size_t i = 0; i < DEMO_CLIENTS; i++)
        if (green_spawn(&clients[count], demo_client, "keep-alive") == 0)
            count++;
    for (size_t i = 0; i < MODES; i++)
        if (green_spawn(&clients[count], demo_client, (void *)modes[i]) == 0)
            count++;
    for (size_t i = 0; i < count; i++) {
        green_thread_wait(clients[i], NULL);
        green_thread_release(clients[i]);
    }
    if (count != DEMO_CLIENTS + MODES)
        atomic_fetch_add(&demo_failures, 1);
    printf("demo: %zu clients, %ld requests answered, %d failures\n", count,
           atomic_load(&requests_answered), atomic_load(&demo_failures));
    return atomic_load(&demo_failures) == 0 ? 0 : 1;
}

/* ---- Main ------------------------------------------------------------ */

static int parse_arguments(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(argv[i], "--demo") == 0) {
            config.demo = 1;
            snprintf(config.address, sizeof(config.address), "127.0.0.1:0");
            continue;
        }
        if (value == NULL)
            return -1;
        if (strcmp(argv[i], "--address") == 0)
            snprintf(config.address, sizeof(config.address), "%s", value);
        else if (strcmp(argv[i], "--threads") == 0)
            config.threads = strtoul(value, NULL, 10);
        else if (strcmp(argv[i], "--delay") == 0)
            config.delay = strtod(value, NULL);
        else if (strcmp(argv[i], "--idle-timeout") == 0)
            config.idle_timeout = strtod(value, NULL);
        else if (strcmp(argv[i], "--requests") == 0)
            config.requests = strtol(value, NULL, 10);
        else
            return -1;
        i++;
    }
    return config.threads >= 1 && config.threads <= 1024 ? 0 : -1;
}

/* One SO_REUSEPORT listener per hub thread, all on the first one's port. */
static int open_listeners(void)
{
    char address[160];
    int err;

    for (size_t i = 0; i < config.threads; i++) {
        if (i == 0) {
            snprintf(address, sizeof(address), "%s", config.address);
        } else {
            char *colon = strrchr(address, ':');
            snprintf(colon + 1, sizeof(address) - (size_t)(colon + 1 - address),
                     "%d", server_port);
        }
        err = green_listen(&hub_servers[i].listen_fd, address, 1024,
                           GREEN_LISTEN_REUSEADDR | GREEN_LISTEN_REUSEPORT);
        if (err == 0 && i == 0)
            err = green_local_port(hub_servers[0].listen_fd, &server_port);
        if (err != 0) {
            fprintf(stderr, "http_hello: listen on %s: %s\n", address,
                    strerror(err));
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    int status = 0;
    int err;

    if (parse_arguments(argc, argv) != 0) {
        fprintf(stderr, "usage: http_hello [--address HOST:PORT] "
                        "[--threads N] [--delay S] [--idle-timeout S]\n"
                        "                  [--requests N] [--demo]\n");
        return 2;
    }
    hub_servers = calloc(config.threads, sizeof(*hub_servers));
    if (hub_servers == NULL || open_listeners() != 0)
        return 1;
    err = green_hub_threads_new(&hub_threads, config.threads, serve_hub, NULL);
    if (err != 0) {
        fprintf(stderr, "http_hello: hub threads: %s\n", strerror(err));
        return 1;
    }
    printf("listening on %.*s:%d with %zu hub thread(s)\n",
           (int)(strrchr(config.address, ':') - config.address), config.address,
           server_port, config.threads);
    fflush(stdout);
    if (config.demo) {
        status = run_demo();
        stop_all_servers();
    }
    green_hub_threads_destroy(hub_threads);
    free(hub_servers);
    return status;
}
