/*
 * http_hello: an HTTP/1.1 keep-alive server answering "Hello, World!",
 * with one green thread per connection and one hub per OS thread.
 *
 *   http_hello [--address HOST:PORT] [--threads N] [--delay SECONDS]
 *              [--idle-timeout SECONDS] [--head-timeout SECONDS]
 *              [--requests N] [--tls CERT KEY] [--demo]
 *
 *   --address   where to listen (default 127.0.0.1:8080; port 0 picks one)
 *   --threads   hub threads, each with its own SO_REUSEPORT listener
 *   --delay     sleep (greenly) before each response
 *   --idle-timeout  close connections idle (or stalled) this long; none by
 *               default, like bench/epoll_server.c, since a timer per
 *               request costs a few percent of CPU
 *   --head-timeout  close a connection whose request head is not complete
 *               this long after its first byte arrived, however steadily
 *               it trickles (default 10; 0: no limit)
 *   --requests  stop after answering N requests (0: run until killed)
 *   --tls       serve HTTPS with this certificate chain and key (PEM), when
 *               libgreen was built with TLS
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
#include <green/timeout.h>
#include <green/tls.h>

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
    double head_timeout;
    long requests;
    int demo;
    const char *tls_cert, *tls_key;
} config = {"127.0.0.1:8080", 1, 0, 0, 10, 0, 0, NULL, NULL};

/* One per hub thread; touched only by its own hub, but for hub, which
 * stop_all_servers reads from any thread. */
struct hub_server {
    int listen_fd;
    green_server_t *server;
    _Atomic(green_hub_t *) hub;
};

static struct hub_server *hub_servers;
static atomic_long requests_answered;
static atomic_int stopping;
static int server_port;

/* ---- Server ---------------------------------------------------------- */

static void stop_hub_server(void *arg)
{
    struct hub_server *hub = arg;

    if (hub->server != NULL)
        green_server_stop(hub->server);
}

/* Ask every hub thread to stop serving (from any thread, once).  A hub
 * thread may not have started yet: it publishes its hub, then reads
 * stopping, while this sets stopping, then reads the hub, so one of the
 * two always sees the other. */
static void stop_all_servers(void)
{
    if (atomic_exchange(&stopping, 1))
        return;
    for (size_t i = 0; i < config.threads; i++) {
        green_hub_t *hub = atomic_load(&hub_servers[i].hub);

        if (hub != NULL)
            green_hub_call_threadsafe(hub, stop_hub_server, &hub_servers[i]);
    }
}

static void count_answer(void)
{
    if (atomic_fetch_add(&requests_answered, 1) + 1 == config.requests)
        stop_all_servers();
}

/* One connection: its fd, its TLS state with --tls, and the bytes
 * received but not yet used. */
struct connection {
    int fd;
    green_tls_t *tls;
    int answered;
    int drained;    /* the last recv emptied the socket's buffer */
    int recv_waits; /* a recv waits in the kernel, not in the hub */
    size_t have;
    char buffer[HEAD_BUFFER];
};

/* ---- Transport: TCP, or TLS over it with --tls ----------------------- */

#ifdef GREEN_HAVE_TLS
static green_tls_ctx_t *tls_ctx; /* NULL: plain HTTP */

static int load_certificate(void)
{
    int err = green_tls_ctx_new(&tls_ctx, GREEN_TLS_SERVER);

    if (err == 0 && (err = green_tls_ctx_use_certificate(
                         tls_ctx, config.tls_cert, config.tls_key)) != 0)
        fprintf(stderr, "http_hello: %s\n",
                green_tls_ctx_error_string(tls_ctx));
    return err;
}

/* The TLS handshake, with --tls. */
static int connection_start(struct connection *c)
{
    if (tls_ctx == NULL)
        return 0;
    if (green_tls_new(&c->tls, tls_ctx, c->fd) != 0)
        return -1;
    return green_tls_accept(c->tls) == 0 ? 0 : -1;
}

/* Send TLS's close_notify and free the TLS state (once). */
static void connection_end(struct connection *c)
{
    if (c->tls != NULL) {
        green_tls_shutdown(c->tls);
        green_tls_destroy(c->tls);
        c->tls = NULL;
    }
}
#else
/* Built without TLS: --tls is refused, connections stay plain. */
static int load_certificate(void)
{
    fprintf(stderr, "http_hello: --tls: libgreen was built without TLS\n");
    return ENOTSUP;
}

static int connection_start(struct connection *c)
{
    (void)c;
    return 0;
}

static void connection_end(struct connection *c)
{
    (void)c;
}
#endif

static int receive(struct connection *c, void *buf, size_t len,
                   size_t *received)
{
#ifdef GREEN_HAVE_TLS
    if (c->tls != NULL)
        return green_tls_read(c->tls, buf, len, received);
#endif
    return green_recv(c->fd, buf, len, 0, received);
}

static int send_text(struct connection *c, const char *text, size_t length)
{
#ifdef GREEN_HAVE_TLS
    if (c->tls != NULL)
        return green_tls_write_all(c->tls, text, length, NULL);
#endif
    return green_send_all(c->fd, text, length, NULL);
}

/* ---- HTTP ---------------------------------------------------------------- */

/* Read and drop `length` body bytes the client sent. */
static int skip_body(struct connection *c, size_t length)
{
    char scratch[4096];

    while (length > 0) {
        size_t received;
        size_t want = length < sizeof(scratch) ? length : sizeof(scratch);

        if (receive(c, scratch, want, &received) != 0 || received == 0)
            return -1;
        length -= received;
    }
    return 0;
}

/* After a 400: stop sending, and read (and drop) what the client still
 * sends for a moment, so that closing does not reset the connection before
 * the client read the answer. */
static void linger_close(struct connection *c)
{
    char scratch[4096];
    size_t received, total = 0;

    connection_end(c);
    shutdown(c->fd, SHUT_WR);
    green_set_timeout(c->fd, 1.0);
    while (total < 65536 &&
           green_recv(c->fd, scratch, sizeof(scratch), 0, &received) == 0 &&
           received > 0)
        total += received;
}

/* One recv into the buffer's free room; -1 once the connection ends. */
static int receive_more(struct connection *c)
{
    size_t room = sizeof(c->buffer) - c->have;
    size_t received;

    /* After an answer the client rarely has sent more yet: wait for it
     * first rather than pay for a recv failing with EAGAIN.  Only when the
     * last recv emptied the socket, though: a full buffer may leave a
     * pipelined request behind it, which no new readiness edge would
     * announce.  Not with TLS: OpenSSL may hold read-ahead bytes.  Not on
     * io_uring, where the recv itself waits in the kernel: a wait first
     * would cost a poll request and a hub pass more. */
    if (c->tls == NULL && !c->recv_waits && c->have == 0 && c->answered &&
        c->drained &&
        green_wait_fd(c->fd, GREEN_READ, green_get_timeout(c->fd)) != 0)
        return -1;
    if (receive(c, c->buffer + c->have, room, &received) != 0 || received == 0)
        return -1;
    c->drained = received < room;
    c->have += received;
    return 0;
}

/* Receive until the buffer starts with a whole (or a malformed) request
 * head; -1 if the connection ends first.  The head deadline runs from the
 * head's first byte, so a client trickling it cannot hold the connection
 * longer, and a head that arrives in one recv costs no timer. */
static int read_head(struct connection *c, struct http_request *request)
{
    enum http_parse_status status;
    green_timeout_t deadline;
    int timing = 0;
    int err = 0;

    while (err == 0 && (status = http_parse_request(
                            c->buffer, c->have, sizeof(c->buffer) - 1,
                            request)) == HTTP_PARSE_NEED_MORE) {
        if (c->have > 0 && !timing && config.head_timeout > 0)
            timing = green_timeout_start(&deadline, config.head_timeout) == 0;
        err = receive_more(c);
    }
    if (timing)
        green_timeout_cancel(&deadline);
    return err != 0 ? -1 : (int)status;
}

/* Answer one complete request; -1 if the connection must end after. */
static int answer(struct connection *c, const struct http_request *request)
{
    const char *response;
    size_t body_here;
    int keep_alive;

    if (config.delay > 0 && green_sleep(config.delay) != 0)
        return -1;
    keep_alive = request->keep_alive &&
                 !atomic_load_explicit(&stopping, memory_order_relaxed);
    response = !keep_alive                   ? response_close
               : request->minor_version == 0 ? response_keep_alive_10
                                             : response_keep_alive;
    /* A HEAD answer has the headers of a GET and no body. */
    if (send_text(c, response,
                  strlen(response) - (request->head ? strlen(BODY) : 0)) != 0)
        return -1;
    count_answer();
    c->answered = 1;

    /* Drop this request's head and body; keep pipelined bytes. */
    body_here = c->have - request->head_length;
    if (body_here > request->content_length)
        body_here = request->content_length;
    c->have -= request->head_length + body_here;
    memmove(c->buffer, c->buffer + request->head_length + body_here, c->have);
    if (skip_body(c, request->content_length - body_here) != 0 || !keep_alive)
        return -1;
    return 0;
}

static void handle_connection(int fd, void *unused)
{
    struct connection c = {
        .fd = fd,
        .recv_waits = strcmp(green_hub_backend_name(), "io_uring") == 0};
    struct http_request request;
    int status;

    (void)unused;
    if (config.idle_timeout > 0)
        green_set_timeout(fd, config.idle_timeout);
    if (connection_start(&c) != 0) {
        connection_end(&c);
        return;
    }
    /* Plain HTTP on io_uring: one multishot receive serves all the
     * connection's reads (elsewhere ENOTSUP, and reads stay as they are). */
    if (c.tls == NULL)
        (void)green_recv_multishot(fd);
    while ((status = read_head(&c, &request)) == HTTP_PARSE_COMPLETE &&
           answer(&c, &request) == 0)
        ;
    if (status == HTTP_PARSE_BAD &&
        send_text(&c, response_bad, sizeof(response_bad) - 1) == 0)
        linger_close(&c);
    connection_end(&c);
}

static void serve_hub(size_t index, void *unused)
{
    struct hub_server *hub = &hub_servers[index];

    (void)unused;
    atomic_store(&hub->hub, green_hub_current());
    if (!atomic_load(&stopping) &&
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

    if (green_send_all(c->fd, request, strlen(request), NULL) != 0 ||
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
        else if (strcmp(argv[i], "--head-timeout") == 0)
            config.head_timeout = strtod(value, NULL);
        else if (strcmp(argv[i], "--requests") == 0)
            config.requests = strtol(value, NULL, 10);
        else if (strcmp(argv[i], "--tls") == 0 && i + 2 < argc) {
            config.tls_cert = value;
            config.tls_key = argv[++i + 1];
        } else
            return -1;
        i++;
    }
    /* The demo's clients speak plain HTTP. */
    return config.threads >= 1 && config.threads <= 1024 &&
                   !(config.demo && config.tls_cert != NULL)
               ? 0
               : -1;
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
    green_hub_threads_t *threads;
    int status = 0;
    int err;

    if (parse_arguments(argc, argv) != 0) {
        fprintf(stderr, "usage: http_hello [--address HOST:PORT] "
                        "[--threads N] [--delay S] [--idle-timeout S]\n"
                        "                  [--head-timeout S] [--requests N] "
                        "[--tls CERT KEY | --demo]\n");
        return 2;
    }
    if (config.tls_cert != NULL && load_certificate() != 0)
        return 1;
    hub_servers = calloc(config.threads, sizeof(*hub_servers));
    if (hub_servers == NULL || open_listeners() != 0)
        return 1;
    err = green_hub_threads_new(&threads, config.threads, serve_hub, NULL);
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
    green_hub_threads_destroy(threads);
    free(hub_servers);
    return status;
}
