/*
 * http_load: the HTTP load generator of bench/http.sh, single-threaded on
 * io_uring, so that one client core needs less CPU per request than the
 * servers it drives and the server, not the client, sets the rate.  wrk
 * (one thread) needs more CPU per request than every one-core server here,
 * so its rate is wrk's own; this client saves system calls the way an
 * io_uring server does: one multishot receive per connection into a ring
 * of provided buffers, sends that post nothing when they succeed, and one
 * io_uring_enter per batch of completions.
 *
 *   http_load [--tls] PORT SECONDS N
 *       N keep-alive connections to 127.0.0.1:PORT, each with one GET in
 *       flight; counts whole responses (header, then Content-Length bytes
 *       of body).  With --tls (built only with OpenSSL) each connection
 *       first makes a full handshake (bench/tls_client.h's), blocking,
 *       before the clock starts; then OpenSSL decrypts each provided
 *       buffer in place of the socket and encrypts each request into the
 *       connection's own send buffer, so HTTPS costs the same system
 *       calls as HTTP.
 *
 * Prints "COUNT ELAPSED_SECONDS P99_MS" (P99 of the request latencies, at
 * the resolution of one clock reading per batch).  Exits 1 if a connection
 * failed, closed or got a malformed response.  Without arguments (as
 * bench/run.sh runs every program) it prints nothing and exits:
 * bench/http.sh runs it.  Built only with liburing.
 */
#define _GNU_SOURCE
#include "bench_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#ifdef HTTP_LOAD_TLS
#include "tls_client.h"
#include <openssl/err.h>
#endif

#define MAX_CONNECTIONS 4096
#define BUFFER_COUNT 1024 /* a power of two */
#define BUFFER_SIZE 2048
#define HEAD_MAX 1024  /* a response header longer than this fails */
#define OCTAVE_STEPS 8 /* latency buckets per doubling (3 bits) */
#define LATENCY_SLOTS (64 * OCTAVE_STEPS)
#define SEND_TAG (1ull << 32)
#define SEND_TLS_MAX 256 /* a request's record: 5 + 35 + 1 + 16 bytes */

static const char request[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

struct connection {
    int fd;
    size_t head_len;     /* bytes of the header gathered so far */
    long body_left;      /* -1: still in the header */
    uint64_t sent_ns;    /* when the request in flight went out */
    char head[HEAD_MAX]; /* the header so far */
#ifdef HTTP_LOAD_TLS
    SSL *ssl;               /* with --tls */
    const char *in;         /* received bytes OpenSSL has yet to take */
    size_t in_len;          /* how many */
    size_t out_len;         /* bytes of the request's records in out */
    char out[SEND_TLS_MAX]; /* the request, encrypted; in flight until the
                               response comes, since the server answers
                               only whole requests */
#endif
};

static struct {
    struct io_uring ring;
    struct io_uring_buf_ring *buffers;
    char *buffer_memory;
    struct connection *connections;
    uint64_t count, now_ns;
    uint64_t latency[LATENCY_SLOTS];
    int tls; /* --tls */
#ifdef HTTP_LOAD_TLS
    SSL_CTX *ctx;
    BIO_METHOD *transport;
#endif
} load;

static int fail(const char *what, int error)
{
    fprintf(stderr, "http_load: %s: %s\n", what, strerror(error));
    return 1;
}

#ifdef HTTP_LOAD_TLS
static int take(uint32_t slot, const char *bytes, size_t len);

/* OpenSSL's transport once the handshake is done: reads take the bytes of
 * the provided buffer being handled, writes gather the records of a
 * request in the connection's send buffer. */
static int tls_transport_read(BIO *bio, char *data, int size)
{
    struct connection *c = BIO_get_data(bio);
    size_t n = c->in_len < (size_t)size ? c->in_len : (size_t)size;

    BIO_clear_retry_flags(bio);
    if (n == 0) {
        BIO_set_retry_read(bio);
        return -1;
    }
    memcpy(data, c->in, n);
    c->in += n;
    c->in_len -= n;
    return (int)n;
}

static int tls_transport_write(BIO *bio, const char *data, int size)
{
    struct connection *c = BIO_get_data(bio);

    if ((size_t)size > sizeof c->out - c->out_len)
        return -1; /* more than one request's record: a failure */
    memcpy(c->out + c->out_len, data, (size_t)size);
    c->out_len += (size_t)size;
    return size;
}

static int tls_fail(const char *what)
{
    ERR_print_errors_fp(stderr);
    return fail(what, EPROTO);
}

static int tls_setup(void)
{
    load.ctx = tls_client_ctx_new(); /* read-ahead: a buffer in one read */
    load.transport = tls_client_transport_new(
        "http_load transport", tls_transport_read, tls_transport_write);
    if (load.ctx == NULL || load.transport == NULL)
        return tls_fail("TLS setup");
    return 0;
}

/* A full handshake on c's blocking socket, then the transport above. */
static int tls_connect(struct connection *c)
{
    BIO *bio = BIO_new(load.transport);

    c->ssl = SSL_new(load.ctx);
    if (bio == NULL || c->ssl == NULL || !SSL_set_fd(c->ssl, c->fd) ||
        SSL_connect(c->ssl) != 1)
        return tls_fail("handshake");
    BIO_set_data(bio, c);
    BIO_set_init(bio, 1);
    SSL_set_bio(c->ssl, bio, bio); /* frees the socket's BIO */
    return 0;
}

/* The request, encrypted into c's send buffer. */
static void tls_encrypt(struct connection *c, const char **bytes, size_t *len)
{
    c->out_len = 0;
    if (SSL_write(c->ssl, *bytes, (int)*len) != (int)*len)
        exit(tls_fail("request"));
    *bytes = c->out;
    *len = c->out_len;
}

/* Decrypt the bytes of one receive and take what they hold. */
static int tls_take(uint32_t slot, const char *bytes, size_t len)
{
    struct connection *c = &load.connections[slot];
    char plain[BUFFER_SIZE];
    int n;

    c->in = bytes;
    c->in_len = len;
    while ((n = SSL_read(c->ssl, plain, sizeof plain)) > 0)
        if (take(slot, plain, (size_t)n))
            return 1;
    return SSL_get_error(c->ssl, n) != SSL_ERROR_WANT_READ || c->in_len > 0;
}
#endif

static struct io_uring_sqe *sqe_get(void)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&load.ring);

    if (sqe == NULL) { /* the queue is full: hand it to the kernel */
        io_uring_submit(&load.ring);
        sqe = io_uring_get_sqe(&load.ring);
    }
    return sqe;
}

/* The request goes out; only a failed send posts a completion. */
static void send_request(uint32_t slot)
{
    struct connection *c = &load.connections[slot];
    struct io_uring_sqe *sqe = sqe_get();
    const char *bytes = request;
    size_t len = sizeof request - 1;

#ifdef HTTP_LOAD_TLS
    if (load.tls)
        tls_encrypt(c, &bytes, &len);
#endif
    io_uring_prep_send(sqe, c->fd, bytes, len, MSG_WAITALL);
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    sqe->user_data = SEND_TAG | slot;
    c->sent_ns = load.now_ns;
    c->head_len = 0;
    c->body_left = -1;
}

static void receive(uint32_t slot)
{
    struct io_uring_sqe *sqe = sqe_get();

    io_uring_prep_recv_multishot(sqe, load.connections[slot].fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = 0;
    sqe->user_data = slot;
}

/* Latencies in buckets of 1/8 of a doubling: the highest set bit of the
 * nanoseconds and the three bits below it. */
static void note_latency(uint64_t ns)
{
    int top = 63 - __builtin_clzll(ns | 8);

    load.latency[top * OCTAVE_STEPS + (int)((ns >> (top - 3)) & 7)]++;
}

/* The upper bound of the bucket holding the 99th percentile, in ms. */
static double p99_ms(void)
{
    uint64_t total = 0, seen = 0;

    for (int i = 0; i < LATENCY_SLOTS; i++)
        total += load.latency[i];
    for (int i = 0; i < LATENCY_SLOTS; i++) {
        int top = i / OCTAVE_STEPS, step = i % OCTAVE_STEPS;

        seen += load.latency[i];
        if (total > 0 && seen * 100 >= total * 99)
            return (double)((uint64_t)(OCTAVE_STEPS + step + 1) << (top - 3)) /
                   1e6;
    }
    return 0;
}

/* The body length of a whole header, or -1 if it has no Content-Length. */
static long content_length(const char *head, size_t len)
{
    static const char name[] = "\r\ncontent-length:";
    size_t n = sizeof name - 1;

    for (size_t i = 0; i + n <= len; i++)
        if (strncasecmp(head + i, name, n) == 0)
            return strtol(head + i + n, NULL, 10);
    return -1;
}

/* Take bytes that arrived on a connection: 0, or 1 on a bad response. */
static int take(uint32_t slot, const char *bytes, size_t len)
{
    struct connection *c = &load.connections[slot];

    if (c->body_left < 0) {
        size_t before = c->head_len, room = HEAD_MAX - before;
        size_t n = len < room ? len : room;
        char *end;

        memcpy(c->head + before, bytes, n);
        c->head_len += n;
        end = memmem(c->head, c->head_len, "\r\n\r\n", 4);
        if (end == NULL)
            return c->head_len == HEAD_MAX;
        c->body_left = content_length(c->head, (size_t)(end + 2 - c->head));
        if (c->body_left < 0)
            return 1;
        /* The header ends in these bytes; the rest of them is body. */
        len -= (size_t)(end + 4 - c->head) - before;
    }
    if ((long)len > c->body_left)
        return 1; /* bytes nobody asked for */
    c->body_left -= (long)len;
    if (c->body_left == 0) {
        load.count++;
        note_latency(load.now_ns - c->sent_ns);
        send_request(slot);
    }
    return 0;
}

/* Take the bytes of one receive, decrypted first with --tls. */
static int deliver(uint32_t slot, const char *bytes, size_t len)
{
#ifdef HTTP_LOAD_TLS
    if (load.tls)
        return tls_take(slot, bytes, len);
#endif
    return take(slot, bytes, len);
}

static void give_buffer(unsigned id, int offset)
{
    io_uring_buf_ring_add(load.buffers,
                          load.buffer_memory + (size_t)id * BUFFER_SIZE,
                          BUFFER_SIZE, (unsigned short)id,
                          io_uring_buf_ring_mask(BUFFER_COUNT), offset);
}

/* One completion: 0, or 1 if its connection failed. */
static int complete(const struct io_uring_cqe *cqe)
{
    uint32_t slot = (uint32_t)cqe->user_data;

    if (cqe->user_data & SEND_TAG)
        return fail("send", cqe->res < 0 ? -cqe->res : EPIPE);
    if (cqe->flags & IORING_CQE_F_BUFFER) {
        unsigned id = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
        int bad = deliver(slot, load.buffer_memory + (size_t)id * BUFFER_SIZE,
                          (size_t)cqe->res);
        give_buffer(id, 0);
        io_uring_buf_ring_advance(load.buffers, 1);
        if (bad)
            return fail("response", EPROTO);
    }
    if (cqe->res == 0)
        return fail("receive", ECONNRESET);
    if (cqe->res < 0 && cqe->res != -ENOBUFS)
        return fail("receive", -cqe->res);
    if (!(cqe->flags & IORING_CQE_F_MORE))
        receive(slot); /* out of buffers for a moment: ask again */
    return 0;
}

static int setup(int connections)
{
    struct io_uring_params params = {.flags = IORING_SETUP_SINGLE_ISSUER |
                                              IORING_SETUP_DEFER_TASKRUN |
                                              IORING_SETUP_CQSIZE,
                                     .cq_entries = 4 * MAX_CONNECTIONS};
    struct io_uring_buf_reg reg = {.ring_entries = BUFFER_COUNT};
    size_t ring_len = BUFFER_COUNT * sizeof(struct io_uring_buf);
    int err = io_uring_queue_init_params(1024, &load.ring, &params);

    if (err == -EINVAL) { /* a kernel older than DEFER_TASKRUN (6.1) */
        params.flags = IORING_SETUP_CQSIZE;
        err = io_uring_queue_init_params(1024, &load.ring, &params);
    }
    if (err < 0)
        return fail("io_uring", -err);
    load.buffers =
        mmap(NULL, ring_len + (size_t)BUFFER_COUNT * BUFFER_SIZE,
             PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (load.buffers == MAP_FAILED)
        return fail("mmap", errno);
    load.buffer_memory = (char *)load.buffers + ring_len;
    reg.ring_addr = (uintptr_t)load.buffers;
    err = io_uring_register_buf_ring(&load.ring, &reg, 0);
    if (err < 0)
        return fail("buffer ring", -err);
    io_uring_buf_ring_init(load.buffers);
    for (unsigned id = 0; id < BUFFER_COUNT; id++)
        give_buffer(id, (int)id);
    io_uring_buf_ring_advance(load.buffers, BUFFER_COUNT);
    load.connections = calloc((size_t)connections, sizeof *load.connections);
    if (load.connections == NULL)
        return fail("calloc", ENOMEM);
#ifdef HTTP_LOAD_TLS
    if (load.tls)
        return tls_setup();
#endif
    return 0;
}

/* Connect every connection (blocking), Nagle off, a receive armed. */
static int connect_all(int connections, int port)
{
    struct sockaddr_in server = {.sin_family = AF_INET,
                                 .sin_port = htons((uint16_t)port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1;

    for (int i = 0; i < connections; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);

        if (fd < 0 || connect(fd, (struct sockaddr *)&server, sizeof server))
            return fail("connect", errno);
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        load.connections[i].fd = fd;
#ifdef HTTP_LOAD_TLS
        if (load.tls && tls_connect(&load.connections[i]))
            return 1;
#endif
        receive((uint32_t)i);
    }
    return 0;
}

/* Run the connections until the deadline: 0, or 1 if one failed. */
static int run(int connections, uint64_t end_ns)
{
    load.now_ns = bench_now_ns();
    for (int i = 0; i < connections; i++)
        send_request((uint32_t)i);
    while (load.now_ns < end_ns) {
        struct __kernel_timespec wait = {.tv_nsec = 100 * 1000 * 1000};
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        int err =
            io_uring_submit_and_wait_timeout(&load.ring, &cqe, 1, &wait, NULL);

        if (err < 0 && err != -ETIME && err != -EINTR)
            return fail("io_uring_enter", -err);
        load.now_ns = bench_now_ns();
        io_uring_for_each_cqe(&load.ring, head, cqe)
        {
            seen++;
            if (complete(cqe))
                return 1;
        }
        io_uring_cq_advance(&load.ring, seen);
    }
    return 0;
}

int main(int argc, char **argv)
{
    int port, connections;
    double seconds;
    uint64_t start;

    if (argc == 1)
        return 0;
    load.tls = strcmp(argv[1], "--tls") == 0;
    argv += load.tls;
#ifndef HTTP_LOAD_TLS
    if (load.tls) /* built without OpenSSL; exit status 1, not 2 */
        return fail("--tls", ENOTSUP);
#endif
    if (argc - load.tls != 4) {
        fprintf(stderr, "usage: http_load [--tls] PORT SECONDS CONNECTIONS\n");
        return 2;
    }
    port = atoi(argv[1]);
    seconds = atof(argv[2]);
    connections = atoi(argv[3]);
    if (connections < 1 || connections > MAX_CONNECTIONS || seconds <= 0) {
        fprintf(stderr, "http_load: bad arguments\n");
        return 2;
    }
    if (setup(connections) || connect_all(connections, port))
        return 1;
    start = bench_now_ns();
    if (run(connections, start + (uint64_t)(seconds * 1e9)))
        return 1;
    printf("%llu %.3f %.3f\n", (unsigned long long)load.count,
           (double)(bench_now_ns() - start) / 1e9, p99_ms());
    return 0;
}
