/*
 * tls_epoll_server: the floor for bench/tls.sh — a minimal, hand-written,
 * single-threaded OpenSSL + epoll server, what a careful C programmer would
 * write without green threads.  Nonblocking sockets, level-triggered epoll,
 * the SSL_accept/SSL_read/SSL_write state machine driven by each call's
 * SSL_ERROR_WANT_READ/WANT_WRITE.  TLS 1.3 only, X25519, one session
 * ticket after each full handshake (as libgreen's server contexts and Go
 * send; OpenSSL's default is two), OpenSSL's defaults otherwise,
 * read-ahead on so a record costs one read(2) rather than two, a
 * close_notify answered with one.
 *
 *   tls_epoll_server http PORT CERT KEY   HTTPS keep-alive: every request
 *                                         head gets the fixed
 *                                         "Hello, World!" response of
 *                                         bench/epoll_server.c
 *   tls_epoll_server echo PORT CERT KEY   echo every byte back
 *
 * Serves on 127.0.0.1:PORT until killed.  Without arguments (as
 * bench/run.sh runs every program) it prints nothing and exits.
 */
#define _GNU_SOURCE
#include "http_heads.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUFFER_SIZE (64 * 1024)
#define MAX_FDS 65536

/* Per connection: in http mode, bytes of an unfinished request head; in
 * echo mode, received bytes not yet written back (from `sent` on). */
struct connection {
    SSL *ssl;
    int handshaken;
    uint32_t events; /* what epoll waits for */
    size_t have, sent;
    char buffer[BUFFER_SIZE];
};

static struct connection *connections[MAX_FDS];
static int epoll_fd, echo_mode;

static void drop(int fd)
{
    epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, NULL);
    SSL_free(connections[fd]->ssl);
    close(fd);
    free(connections[fd]);
    connections[fd] = NULL;
}

/* Wait for events, telling epoll only when they change. */
static int wait_for(int fd, struct connection *c, uint32_t events)
{
    struct epoll_event event = {.events = events, .data.fd = fd};

    if (c->events != events) {
        c->events = events;
        epoll_ctl(epoll_fd, EPOLL_CTL_MOD, fd, &event);
    }
    return 0;
}

/* Wait for what OpenSSL asked for; -1 for a real error or EOF. */
static int want(int fd, struct connection *c, int result)
{
    switch (SSL_get_error(c->ssl, result)) {
    case SSL_ERROR_WANT_READ:
        return wait_for(fd, c, EPOLLIN);
    case SSL_ERROR_WANT_WRITE:
        return wait_for(fd, c, EPOLLOUT);
    case SSL_ERROR_ZERO_RETURN: /* the peer's close_notify: answer it */
        SSL_shutdown(c->ssl);
        return -1;
    default:
        ERR_clear_error();
        return -1;
    }
}

/* Answer each complete head in c->buffer; keep the unfinished rest. */
static int answer_heads(struct connection *c)
{
    size_t answers = http_heads_take(c->buffer, &c->have);

    if (c->have == BUFFER_SIZE)
        return -1;
    /* One request in flight per connection (wrk): one small record that
     * the socket always takes, as bench/epoll_server.c assumes. */
    while (answers-- > 0)
        if (SSL_write(c->ssl, http_heads_response,
                      sizeof(http_heads_response) - 1) <= 0)
            return -1;
    return 0;
}

/* Write back what echo mode holds; on WANT_WRITE, resume on EPOLLOUT. */
static int flush_echo(int fd, struct connection *c)
{
    while (c->sent < c->have) {
        int n =
            SSL_write(c->ssl, c->buffer + c->sent, (int)(c->have - c->sent));
        if (n <= 0)
            return want(fd, c, n) < 0 ? -1 : 1;
        c->sent += (size_t)n;
    }
    c->have = c->sent = 0;
    return 0;
}

/* Read the records OpenSSL has or one read(2) brings, answering (http)
 * or echoing them; level-triggered epoll reports the socket's rest. */
static int serve(int fd, struct connection *c)
{
    int flushed;

    if (echo_mode && (flushed = flush_echo(fd, c)) != 0)
        return flushed < 0 ? -1 : 0;
    do {
        int n =
            SSL_read(c->ssl, c->buffer + c->have, (int)(BUFFER_SIZE - c->have));
        if (n <= 0)
            return want(fd, c, n);
        c->have += (size_t)n;
        if (echo_mode) {
            /* Batch records while OpenSSL holds more, then write once. */
            if (c->have < BUFFER_SIZE && SSL_has_pending(c->ssl))
                continue;
            if ((flushed = flush_echo(fd, c)) != 0)
                return flushed < 0 ? -1 : 0;
        } else if (answer_heads(c) < 0) {
            return -1;
        }
    } while (SSL_has_pending(c->ssl));
    return wait_for(fd, c, EPOLLIN);
}

static int on_event(int fd)
{
    struct connection *c = connections[fd];
    int result;

    if (!c->handshaken) {
        if ((result = SSL_accept(c->ssl)) <= 0)
            return want(fd, c, result);
        c->handshaken = 1;
    }
    return serve(fd, c);
}

static void accept_all(int listener, SSL_CTX *ctx)
{
    struct epoll_event event = {.events = EPOLLIN};
    int fd;

    while ((fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
        struct connection *c;
        int one = 1;
        /* A handshake flight spans several writes: no Nagle delays. */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (fd >= MAX_FDS ||
            (c = calloc(1, sizeof(struct connection))) == NULL) {
            close(fd);
            continue;
        }
        c->ssl = SSL_new(ctx);
        SSL_set_fd(c->ssl, fd);
        c->events = EPOLLIN;
        connections[fd] = c;
        event.data.fd = fd;
        epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event);
    }
}

static SSL_CTX *server_context(const char *cert, const char *key)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    if (ctx == NULL || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
        !SSL_CTX_set1_groups_list(ctx, "X25519") ||
        !SSL_CTX_use_certificate_chain_file(ctx, cert) ||
        !SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM)) {
        ERR_print_errors_fp(stderr);
        exit(1);
    }
    SSL_CTX_set_num_tickets(ctx, 1);
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE);
    return ctx;
}

static int listen_on(const char *port)
{
    struct sockaddr_in addr = {.sin_family = AF_INET};
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;

    addr.sin_port = htons((uint16_t)atoi(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(listener, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        listen(listener, 4096) < 0) {
        perror("tls_epoll_server");
        exit(1);
    }
    return listener;
}

int main(int argc, char **argv)
{
    struct epoll_event event = {.events = EPOLLIN}, events[256];
    SSL_CTX *ctx;
    int listener;

    if (argc < 5)
        return argc == 1 ? 0 : 2;
    echo_mode = strcmp(argv[1], "echo") == 0;
    signal(SIGPIPE, SIG_IGN); /* a peer's close is an error, not death */
    ctx = server_context(argv[3], argv[4]);
    listener = listen_on(argv[2]);
    epoll_fd = epoll_create1(0);
    event.data.fd = listener;
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listener, &event);
    printf("listening on 127.0.0.1:%s\n", argv[2]);
    fflush(stdout);

    for (;;) {
        int n = epoll_wait(epoll_fd, events, 256, -1);

        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;

            if (fd == listener)
                accept_all(listener, ctx);
            else if (on_event(fd) < 0)
                drop(fd);
        }
    }
}
