/*
 * tls_load: the TLS load generator of bench/tls.sh, single-threaded
 * OpenSSL + epoll, so that one client core can drive one server core.
 * Its connections are bench/tls_client.h's.
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
 *   tls_load https PORT SECONDS N       N keep-alive connections, each
 *                                       sending "GET / HTTP/1.1" and
 *                                       reading its whole response (by its
 *                                       Content-Length), one request in
 *                                       flight; counts responses
 *
 * Talks to 127.0.0.1:PORT for SECONDS and prints "COUNT ELAPSED_SECONDS".
 * Exits 1 if any connection failed.  Without arguments (as bench/run.sh
 * runs every program) it prints nothing and exits: bench/tls.sh runs it.
 */
#define _GNU_SOURCE
#include "bench_util.h"
#include "tls_client.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MESSAGE_SIZE (64 * 1024)
#define MAX_CONNECTIONS 1024
#define RESPONSE_MAX 1024 /* a whole response, head and body */

static const char request[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

enum mode { HANDSHAKE_MODE, ECHO_MODE, HTTPS_MODE, MODES };
static const char *const mode_names[MODES] = {"handshake", "echo", "https"};
enum step { HANDSHAKE, SEND, RECEIVE };

struct connection {
    int fd;
    SSL *ssl;
    enum step step;
    size_t done; /* bytes of this step's message sent or received */
    char response[RESPONSE_MAX]; /* https: the response read so far */
};

static struct {
    SSL_CTX *ctx;
    BIO_METHOD *transport;
    struct sockaddr_in server;
    int epoll_fd;
    enum mode mode;
    size_t message_size;
    char *message, *echo;
    uint64_t count, failures;
} load;

/* The transport under OpenSSL: send(2) and recv(2) on the socket, cheaper
 * than the read(2) and write(2) of OpenSSL's socket BIO, which pass
 * through the file layer. */
static int transport_io(BIO *bio, char *data, int size, int sending)
{
    int fd = (int)(intptr_t)BIO_get_data(bio);
    ssize_t n;

    do /* a retry would wait for an edge that an EINTR never brings */
        n = sending ? send(fd, data, (size_t)size, 0)
                    : recv(fd, data, (size_t)size, 0);
    while (n < 0 && errno == EINTR);
    BIO_clear_retry_flags(bio);
    if (n < 0 && errno == EAGAIN)
        BIO_set_flags(bio, BIO_FLAGS_SHOULD_RETRY |
                               (sending ? BIO_FLAGS_WRITE : BIO_FLAGS_READ));
    return (int)n;
}

static int transport_write(BIO *bio, const char *data, int size)
{
    return transport_io(bio, (char *)data, size, 1);
}

static int transport_read(BIO *bio, char *data, int size)
{
    return transport_io(bio, data, size, 0);
}

/* The first failure tells; later ones are only counted. */
static int fail(const char *what, const char *detail)
{
    if (load.failures == 0)
        fprintf(stderr, "tls_load: %s failed: %s\n", what, detail);
    return -1;
}

static void start(struct connection *c, uint32_t slot)
{
    /* Edge-triggered, both directions, once: OpenSSL's WANT_READ and
     * WANT_WRITE mean a recv(2) or send(2) met EAGAIN, so the next edge
     * is what it waits for, and no epoll_ctl follows per operation. */
    struct epoll_event event = {.events = EPOLLIN | EPOLLOUT | EPOLLET,
                                .data.u32 = slot};
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
    BIO *bio = BIO_new(load.transport);
    if (c->ssl == NULL || bio == NULL) {
        ERR_print_errors_fp(stderr);
        exit(1);
    }
    BIO_set_data(bio, (void *)(intptr_t)c->fd);
    BIO_set_init(bio, 1);
    SSL_set_bio(c->ssl, bio, bio);
    SSL_set_connect_state(c->ssl);
    c->step = HANDSHAKE;
    c->done = 0;
    epoll_ctl(load.epoll_fd, EPOLL_CTL_ADD, c->fd, &event);
}

static void finish(struct connection *c)
{
    if (load.mode == HANDSHAKE_MODE)
        SSL_shutdown(c->ssl); /* sends close_notify, does not wait */
    SSL_free(c->ssl);
    close(c->fd); /* also removes it from the epoll set */
}

/* Wait for the edge OpenSSL asked for; 0 on success, -1 for a failure. */
static int want(struct connection *c, int result)
{
    char detail[64];
    int error = SSL_get_error(c->ssl, result);

    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE)
        return 0;
    snprintf(detail, sizeof(detail), "SSL error %d, %s", error,
             error != SSL_ERROR_SYSCALL ? ""
             : errno != 0               ? strerror(errno)
                                        : "connection closed");
    if (load.failures == 0)
        ERR_print_errors_fp(stderr);
    ERR_clear_error();
    return fail(c->step == HANDSHAKE ? "handshake" : mode_names[load.mode],
                detail);
}

/* The Content-Length of the response head [head, end), or -1. */
static long content_length(const char *head, const char *end)
{
    static const char field[] = "\r\ncontent-length:";
    const size_t size = sizeof(field) - 1;

    for (const char *p = head; p + size <= end; p++) {
        if (*p != '\r' || strncasecmp(p, field, size) != 0)
            continue;
        char *digits_end;
        long length = strtol(p + size, &digits_end, 10);
        return digits_end == p + size || length < 0 ? -1 : length;
    }
    return -1;
}

/* Whether c's received bytes are its whole reply: 1 yes, 0 not yet, -1 a
 * bad one (in https mode, no 200 response or bytes beyond it). */
static int received(struct connection *c)
{
    if (load.mode != HTTPS_MODE)
        return c->done >= load.message_size;
    const char *end = memmem(c->response, c->done, "\r\n\r\n", 4);
    if (end == NULL)
        return c->done < RESPONSE_MAX
                   ? 0
                   : fail(mode_names[load.mode], "huge head");
    if (strncmp(c->response, "HTTP/1.1 200 ", 13) != 0)
        return fail(mode_names[load.mode], "not a 200 response");
    long length = content_length(c->response, end + 2);
    size_t whole = (size_t)(end + 4 - c->response) + (size_t)length;
    if (length < 0 || whole > RESPONSE_MAX || c->done > whole)
        return fail(mode_names[load.mode], "bad length or extra bytes");
    return c->done == whole;
}

/* Advance c as far as it goes without waiting. */
static int advance(struct connection *c, uint32_t slot)
{
    for (;;) {
        int n, whole;
        switch (c->step) {
        case HANDSHAKE:
            if ((n = SSL_do_handshake(c->ssl)) <= 0)
                return want(c, n);
            c->step = SEND;
            break;
        case SEND:
            n = SSL_write(c->ssl, load.message + c->done,
                          (int)(load.message_size - c->done));
            if (n <= 0)
                return want(c, n);
            if ((c->done += (size_t)n) < load.message_size)
                break;
            c->step = RECEIVE;
            c->done = 0;
            /* The reply's last bytes answer the ones just written, so
             * they arrive after the edge being handled and bring one of
             * their own: no recv(2) that would only meet EAGAIN now,
             * unless OpenSSL holds bytes read earlier. */
            if (!SSL_has_pending(c->ssl))
                return 0;
            break;
        case RECEIVE:
            if (load.mode == HTTPS_MODE)
                n = SSL_read(c->ssl, c->response + c->done,
                             (int)(RESPONSE_MAX - c->done));
            else
                n = SSL_read(c->ssl, load.echo, MESSAGE_SIZE);
            if (n <= 0)
                return want(c, n);
            c->done += (size_t)n;
            if ((whole = received(c)) <= 0) {
                if (whole < 0)
                    return -1;
                break;
            }
            load.count++;
            c->step = SEND;
            c->done = 0;
            if (load.mode == HANDSHAKE_MODE) {
                finish(c);
                start(c, slot);
            }
            break;
        }
    }
}

static void setup(const char *mode, const char *port)
{
    for (load.mode = 0; strcmp(mode, mode_names[load.mode]) != 0;)
        if (++load.mode == MODES)
            exit(2);
    load.message_size = load.mode == ECHO_MODE    ? MESSAGE_SIZE
                        : load.mode == HTTPS_MODE ? sizeof(request) - 1
                                                  : 1;
    load.message = calloc(1, MESSAGE_SIZE);
    load.echo = malloc(MESSAGE_SIZE);
    load.server.sin_family = AF_INET;
    load.server.sin_port = htons((uint16_t)atoi(port));
    load.server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    load.ctx = tls_client_ctx_new();
    load.transport = tls_client_transport_new("tls_load transport",
                                              transport_read, transport_write);
    if (load.ctx == NULL || load.transport == NULL || load.message == NULL ||
        load.echo == NULL) {
        ERR_print_errors_fp(stderr);
        exit(1);
    }
    memcpy(load.message, request, sizeof(request) - 1); /* https's */
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
