/*
 * tls_load: the TLS load generator of bench/tls.sh, single-threaded
 * OpenSSL + epoll, so that one client core can drive one server core.
 * TLS 1.3 with X25519 only, no session reuse, no certificate verification
 * (the server does the same work either way; the client saves its CPU).
 *
 *   tls_load handshake PORT SECONDS N   N connections at a time, each a full
 *                                       handshake, one byte echoed (so the
 *                                       server has finished its side),
 *                                       close_notify, close; counts
 *                                       connections
 *   tls_load echo PORT SECONDS N        N connections, each sending a
 *                                       64 KiB message and reading its echo
 *                                       back, one message in flight;
 *                                       counts messages
 *
 * Talks to 127.0.0.1:PORT for SECONDS and prints "COUNT ELAPSED_SECONDS".
 * Exits 1 if any connection failed.  Without arguments (as bench/run.sh
 * runs every program) it prints nothing and exits: bench/tls.sh runs it.
 */
#define _GNU_SOURCE
#include "bench_util.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MESSAGE_SIZE (64 * 1024)
#define MAX_CONNECTIONS 1024

enum step { HANDSHAKE, SEND, RECEIVE };

struct connection {
    int fd;
    SSL *ssl;
    enum step step;
    size_t done; /* bytes of this step's message sent or received */
};

static struct {
    SSL_CTX *ctx;
    struct sockaddr_in server;
    int epoll_fd, echo_mode;
    size_t message_size;
    char *message, *echo;
    uint64_t count, failures;
} load;

static void start(struct connection *c, uint32_t slot)
{
    struct epoll_event event = {.events = EPOLLOUT, .data.u32 = slot};
    int one = 1;

    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    /* A handshake flight spans several writes: no Nagle delays.  A
     * nonblocking connect: OpenSSL's first write waits for it. */
    if (c->fd < 0 ||
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
        (connect(c->fd, (struct sockaddr *)&load.server, sizeof(load.server)) <
             0 &&
         errno != EINPROGRESS)) {
        perror("tls_load: connect");
        exit(1);
    }
    c->ssl = SSL_new(load.ctx);
    SSL_set_fd(c->ssl, c->fd);
    SSL_set_connect_state(c->ssl);
    c->step = HANDSHAKE;
    c->done = 0;
    epoll_ctl(load.epoll_fd, EPOLL_CTL_ADD, c->fd, &event);
}

static void finish(struct connection *c)
{
    if (!load.echo_mode)
        SSL_shutdown(c->ssl); /* sends close_notify, does not wait */
    SSL_free(c->ssl);
    close(c->fd); /* also removes it from the epoll set */
}

/* Wait for what OpenSSL asked for; 0 on success, -1 for a failure. */
static int want(struct connection *c, uint32_t slot, int result)
{
    struct epoll_event event = {.data.u32 = slot};

    int error = SSL_get_error(c->ssl, result);

    switch (error) {
    case SSL_ERROR_WANT_READ:
        event.events = EPOLLIN;
        break;
    case SSL_ERROR_WANT_WRITE:
        event.events = EPOLLOUT;
        break;
    default:
        if (load.failures == 0) /* the first one tells; then count them */
            fprintf(stderr, "tls_load: %s failed: SSL error %d, %s\n",
                    c->step == HANDSHAKE ? "handshake" : "echo", error,
                    error == SSL_ERROR_SYSCALL ? strerror(errno) : "");
        ERR_print_errors_fp(stderr);
        return -1;
    }
    epoll_ctl(load.epoll_fd, EPOLL_CTL_MOD, c->fd, &event);
    return 0;
}

/* Advance c as far as it goes without waiting. */
static int advance(struct connection *c, uint32_t slot)
{
    for (;;) {
        int n;
        switch (c->step) {
        case HANDSHAKE:
            if ((n = SSL_do_handshake(c->ssl)) <= 0)
                return want(c, slot, n);
            c->step = SEND;
            break;
        case SEND:
            n = SSL_write(c->ssl, load.message + c->done,
                          (int)(load.message_size - c->done));
            if (n <= 0)
                return want(c, slot, n);
            if ((c->done += (size_t)n) == load.message_size) {
                c->step = RECEIVE;
                c->done = 0;
            }
            break;
        case RECEIVE:
            n = SSL_read(c->ssl, load.echo, MESSAGE_SIZE);
            if (n <= 0)
                return want(c, slot, n);
            if ((c->done += (size_t)n) < load.message_size)
                break;
            load.count++;
            c->step = SEND;
            c->done = 0;
            if (!load.echo_mode) {
                finish(c);
                start(c, slot);
            }
            break;
        }
    }
}

static void setup(const char *mode, const char *port)
{
    load.echo_mode = strcmp(mode, "echo") == 0;
    load.message_size = load.echo_mode ? MESSAGE_SIZE : 1;
    load.message = calloc(1, MESSAGE_SIZE);
    load.echo = malloc(MESSAGE_SIZE);
    load.server.sin_family = AF_INET;
    load.server.sin_port = htons((uint16_t)atoi(port));
    load.server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    load.ctx = SSL_CTX_new(TLS_client_method());
    if (load.ctx == NULL || load.message == NULL || load.echo == NULL ||
        !SSL_CTX_set_min_proto_version(load.ctx, TLS1_3_VERSION) ||
        !SSL_CTX_set1_groups_list(load.ctx, "X25519")) {
        ERR_print_errors_fp(stderr);
        exit(1);
    }
    SSL_CTX_set_session_cache_mode(load.ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_read_ahead(load.ctx, 1);
    SSL_CTX_set_mode(load.ctx, SSL_MODE_ENABLE_PARTIAL_WRITE);
    load.epoll_fd = epoll_create1(0);
}

int main(int argc, char **argv)
{
    static struct connection connections[MAX_CONNECTIONS];
    struct epoll_event events[MAX_CONNECTIONS];
    uint64_t begin, end;
    int count;

    if (argc < 5)
        return argc == 1 ? 0 : 2;
    count = atoi(argv[4]);
    if (count < 1 || count > MAX_CONNECTIONS)
        return 2;
    setup(argv[1], argv[2]);
    signal(SIGPIPE, SIG_IGN); /* a peer's close is an error, not death */
    begin = bench_now_ns();
    end = begin + (uint64_t)(atof(argv[3]) * 1e9);
    for (int i = 0; i < count; i++)
        start(&connections[i], (uint32_t)i);
    while (bench_now_ns() < end) {
        int n = epoll_wait(load.epoll_fd, events, count, 100);
        for (int i = 0; i < n; i++) {
            uint32_t slot = events[i].data.u32;
            if (advance(&connections[slot], slot) == 0)
                continue;
            load.failures++;
            finish(&connections[slot]);
            start(&connections[slot], slot);
        }
    }
    printf("%llu %.6f\n", (unsigned long long)load.count,
           (double)(bench_now_ns() - begin) / 1e9);
    if (load.failures > 0)
        fprintf(stderr, "tls_load: %llu connections failed\n",
                (unsigned long long)load.failures);
    return load.failures > 0;
}
