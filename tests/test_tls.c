/*
 * green/tls.h between libgreen clients and servers in one process (each
 * end in its own green thread over loopback TCP), and against a plain
 * OpenSSL peer in an OS thread for KeyUpdate: verification and its
 * refusals, ALPN, SNI, resumption, truncation, cuts by timeouts and kills
 * during handshakes and large writes, and a SHA-256-checked transfer.
 * GREEN_TEST_BACKENDS
 */
#include "tls_util.h"
#include "test_hub_util.h"

#include "../src/io/io_internal.h"

#include <green/io.h>
#include <green/net.h>
#include <green/thread.h>
#include <green/timeout.h>
#include <green/tls.h>

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

static green_tls_ctx_t *server_ctx(const char *cert)
{
    green_tls_ctx_t *ctx;

    assert_int_equal(green_tls_ctx_new(&ctx, GREEN_TLS_SERVER), 0);
    assert_int_equal(green_tls_ctx_use_certificate(ctx, cert, pki.key), 0);
    return ctx;
}

static green_tls_ctx_t *client_ctx(void)
{
    green_tls_ctx_t *ctx;

    assert_int_equal(green_tls_ctx_new(&ctx, GREEN_TLS_CLIENT), 0);
    assert_int_equal(green_tls_ctx_load_ca(ctx, pki.ca, NULL), 0);
    return ctx;
}

/* ---- A connected pair --------------------------------------------------- */

struct link {
    int client_fd, server_fd;
    green_tls_t *client, *server;
    int client_err, server_err;
};

/* Two ends of a loopback TCP connection, with TLS objects on them. */
static void link_open(struct link *l, green_tls_ctx_t *server,
                      green_tls_ctx_t *client)
{
    int listener, port;

    memset(l, 0, sizeof(*l));
    assert_int_equal(green_listen(&listener, "127.0.0.1:0", 0, 0), 0);
    assert_int_equal(green_local_port(listener, &port), 0);
    assert_int_equal(
        green_connect_tcp(&l->client_fd, "127.0.0.1", port, GREEN_FOREVER), 0);
    assert_int_equal(green_accept(&l->server_fd, listener, NULL, NULL), 0);
    assert_int_equal(green_close(listener), 0);
    assert_int_equal(green_tls_new(&l->server, server, l->server_fd), 0);
    assert_int_equal(green_tls_new(&l->client, client, l->client_fd), 0);
}

static void *accept_main(void *arg)
{
    struct link *l = arg;

    l->server_err = green_tls_accept(l->server);
    return NULL;
}

/* Handshake: the server in a green thread, the client here, as `host`. */
static void link_handshake(struct link *l, const char *host)
{
    green_thread_t *server;

    assert_int_equal(green_spawn(&server, accept_main, l), 0);
    l->client_err = green_tls_connect(l->client, host);
    /* A refused client closes, so the server's handshake ends too. */
    if (l->client_err != 0)
        green_close(l->client_fd), l->client_fd = -1;
    assert_int_equal(green_thread_wait(server, NULL), 0);
    green_thread_release(server);
}

static void link_close(struct link *l)
{
    green_tls_destroy(l->client);
    green_tls_destroy(l->server);
    if (l->client_fd >= 0)
        green_close(l->client_fd);
    if (l->server_fd >= 0)
        green_close(l->server_fd);
}

/* The whole handshake with fresh contexts; returns the client's error. */
static int handshake_with(const char *server_cert, green_tls_ctx_t *client,
                          const char *host, long *verify, int *server_err)
{
    green_tls_ctx_t *server = server_ctx(server_cert);
    struct link l;
    int err;

    link_open(&l, server, client);
    link_handshake(&l, host);
    err = l.client_err;
    *verify = green_tls_verify_result(l.client);
    if (server_err != NULL)
        *server_err = l.server_err;
    if (err != 0) {
        size_t n;
        char byte;

        assert_true(green_tls_error_string(l.client)[0] != '\0');
        /* A refused connection never carries data. */
        assert_int_equal(green_tls_read(l.client, &byte, 1, &n), ESHUTDOWN);
        assert_int_equal(green_tls_write(l.client, "x", 1, &n), ESHUTDOWN);
    }
    link_close(&l);
    green_tls_ctx_destroy(server);
    return err;
}

/* ---- Tests --------------------------------------------------------------- */

static void test_echo_and_clean_close(void **state)
{
    green_tls_ctx_t *server = server_ctx(pki.localhost), *client = client_ctx();
    char buf[16];
    size_t n;
    struct link l;

    (void)state;
    link_open(&l, server, client);
    /* Contexts live on while their connections do. */
    assert_int_equal(green_tls_ctx_destroy(server), 0);
    assert_int_equal(green_tls_ctx_destroy(client), 0);
    assert_int_equal(green_tls_read(l.client, buf, 1, &n), ENOTCONN);
    link_handshake(&l, "localhost");
    assert_int_equal(l.client_err, 0);
    assert_int_equal(l.server_err, 0);
    assert_string_equal(green_tls_version(l.client), "TLSv1.3");
    assert_int_equal(green_tls_verify_result(l.client), X509_V_OK);
    assert_int_equal(green_tls_resumed(l.client), 0);
    assert_string_equal(green_tls_server_name(l.server), "localhost");
    assert_null(green_tls_alpn(l.client));
    assert_int_equal(green_tls_fd(l.client), l.client_fd);
    assert_int_equal(green_tls_connect(l.client, "localhost"), EISCONN);

    assert_int_equal(green_tls_write_all(l.client, "ping", 4, &n), 0);
    assert_int_equal(n, 4);
    assert_int_equal(green_tls_read(l.server, buf, sizeof(buf), &n), 0);
    assert_int_equal(n, 4);
    assert_memory_equal(buf, "ping", 4);

    /* close_notify: the reader sees a clean end (0 bytes, no error), and
     * the closer cannot write any more but still reads. */
    assert_int_equal(green_tls_shutdown(l.client), 0);
    assert_int_equal(green_tls_shutdown(l.client), 0);
    assert_int_equal(green_tls_write(l.client, "x", 1, &n), ESHUTDOWN);
    assert_int_equal(green_tls_read(l.server, buf, sizeof(buf), &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(green_tls_write_all(l.server, "pong", 4, NULL), 0);
    assert_int_equal(green_tls_shutdown(l.server), 0);
    assert_int_equal(green_tls_read(l.client, buf, sizeof(buf), &n), 0);
    assert_int_equal(n, 4);
    assert_int_equal(green_tls_read(l.client, buf, sizeof(buf), &n), 0);
    assert_int_equal(n, 0);
    link_close(&l);
}

static void test_refused(void **state)
{
    green_tls_ctx_t *client = client_ctx(), *system;
    long verify;
    int server_err;

    (void)state;
    /* The peer's side of a refusal is a protocol error (our alert). */
    assert_int_equal(handshake_with(pki.localhost, client, "wrong.test",
                                    &verify, &server_err),
                     EKEYREJECTED);
    assert_int_equal(verify, X509_V_ERR_HOSTNAME_MISMATCH);
    assert_int_equal(server_err, EPROTO);
    assert_int_equal(
        handshake_with(pki.localhost, client, "127.0.0.2", &verify, NULL),
        EKEYREJECTED);
    assert_int_equal(verify, X509_V_ERR_IP_ADDRESS_MISMATCH);
    assert_int_equal(
        handshake_with(pki.expired, client, "localhost", &verify, NULL),
        EKEYREJECTED);
    assert_int_equal(verify, X509_V_ERR_CERT_HAS_EXPIRED);
    assert_int_equal(
        handshake_with(pki.untrusted, client, "localhost", &verify, NULL),
        EKEYREJECTED);
    assert_int_equal(verify, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
    /* Accepted: the right name, an IP address in the certificate. */
    assert_int_equal(
        handshake_with(pki.localhost, client, "127.0.0.1", &verify, NULL), 0);
    assert_int_equal(
        handshake_with(pki.localhost, client, "localhost", &verify, NULL), 0);

    /* By default a client trusts the system's CAs only, not ours. */
    assert_int_equal(green_tls_ctx_new(&system, GREEN_TLS_CLIENT), 0);
    assert_int_equal(
        handshake_with(pki.localhost, system, "localhost", &verify, NULL),
        EKEYREJECTED);
    assert_int_equal(verify, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
    /* ... and verification off accepts anything. */
    assert_int_equal(green_tls_ctx_set_verify(system, 0), 0);
    assert_int_equal(handshake_with(pki.untrusted, system, NULL, &verify, NULL),
                     0);
    green_tls_ctx_destroy(system);
    green_tls_ctx_destroy(client);
}

static void test_client_certificate(void **state)
{
    green_tls_ctx_t *server = server_ctx(pki.localhost), *client = client_ctx();
    struct link l;

    (void)state;
    assert_int_equal(green_tls_ctx_set_verify(server, 1), 0);
    assert_int_equal(green_tls_ctx_load_ca(server, pki.ca, NULL), 0);
    /* No client certificate: the server refuses. */
    link_open(&l, server, client);
    link_handshake(&l, "localhost");
    assert_int_equal(l.server_err, EPROTO);
    link_close(&l);
    assert_int_equal(
        green_tls_ctx_use_certificate(client, pki.localhost, pki.key), 0);
    link_open(&l, server, client);
    link_handshake(&l, "localhost");
    assert_int_equal(l.client_err, 0);
    assert_int_equal(l.server_err, 0);
    link_close(&l);
    green_tls_ctx_destroy(server);
    green_tls_ctx_destroy(client);
}

/* ALPN agreed by a client offering `offer` to a server preferring
 * "h2,http/1.1"; the empty string for none. */
static void expect_alpn(const char *offer, const char *agreed)
{
    green_tls_ctx_t *server = server_ctx(pki.localhost), *client = client_ctx();
    struct link l;

    assert_int_equal(green_tls_ctx_set_alpn(server, "h2,http/1.1"), 0);
    assert_int_equal(green_tls_ctx_set_alpn(client, offer), 0);
    link_open(&l, server, client);
    link_handshake(&l, "localhost");
    assert_int_equal(l.client_err, 0);
    assert_int_equal(l.server_err, 0);
    if (agreed[0] == '\0') {
        assert_null(green_tls_alpn(l.client));
        assert_null(green_tls_alpn(l.server));
    } else {
        assert_string_equal(green_tls_alpn(l.client), agreed);
        assert_string_equal(green_tls_alpn(l.server), agreed);
    }
    link_close(&l);
    green_tls_ctx_destroy(server);
    green_tls_ctx_destroy(client);
}

static void test_alpn(void **state)
{
    green_tls_ctx_t *ctx;

    (void)state;
    expect_alpn("http/1.1,h2", "h2"); /* the server's preference wins */
    expect_alpn("spdy/1,http/1.1", "http/1.1");
    expect_alpn("spdy/1", "");
    expect_alpn(NULL, "");
    assert_int_equal(green_tls_ctx_new(&ctx, GREEN_TLS_CLIENT), 0);
    assert_int_equal(green_tls_ctx_set_alpn(ctx, "h2,,x"), EINVAL);
    assert_int_equal(green_tls_ctx_set_alpn(ctx, "h2,"), EINVAL);
    green_tls_ctx_destroy(ctx);
}

struct sni_table {
    green_tls_ctx_t *other;
    int calls;
};

static green_tls_ctx_t *pick_by_name(const char *name, void *arg)
{
    struct sni_table *table = arg;

    table->calls++;
    return strcmp(name, "other.test") == 0 ? table->other : NULL;
}

static void test_sni(void **state)
{
    green_tls_ctx_t *server = server_ctx(pki.localhost), *client = client_ctx();
    struct sni_table table = {server_ctx(pki.other), 0};
    long verify;
    struct link l;

    (void)state;
    /* Without the callback, other.test gets the default certificate. */
    link_open(&l, server, client);
    link_handshake(&l, "other.test");
    assert_int_equal(l.client_err, EKEYREJECTED);
    link_close(&l);

    assert_int_equal(green_tls_ctx_set_sni(server, pick_by_name, &table), 0);
    link_open(&l, server, client);
    link_handshake(&l, "other.test");
    assert_int_equal(l.client_err, 0);
    assert_int_equal(l.server_err, 0);
    assert_string_equal(green_tls_server_name(l.server), "other.test");
    link_close(&l);
    link_open(&l, server, client);
    link_handshake(&l, "localhost");
    assert_int_equal(l.client_err, 0);
    link_close(&l);
    assert_int_equal(table.calls, 2);
    /* The callback's context lives on without our reference. */
    green_tls_ctx_destroy(table.other);
    (void)verify;
    green_tls_ctx_destroy(server);
    green_tls_ctx_destroy(client);
}

static void test_session_resumption(void **state)
{
    green_tls_ctx_t *server = server_ctx(pki.localhost), *client = client_ctx();
    green_tls_session_t *session;
    struct link l;
    char buf[8];
    size_t n;

    (void)state;
    link_open(&l, server, client);
    link_handshake(&l, "localhost");
    assert_int_equal(l.client_err, 0);
    assert_int_equal(green_tls_session_get(l.server, &session), EINVAL);
    /* TLS 1.3 tickets come after the handshake, with the first read. */
    assert_int_equal(green_tls_write_all(l.server, "hi", 2, NULL), 0);
    assert_int_equal(green_tls_read(l.client, buf, sizeof(buf), &n), 0);
    assert_int_equal(green_tls_session_get(l.client, &session), 0);
    assert_int_equal(green_tls_resumed(l.client), 0);
    assert_int_equal(green_tls_shutdown(l.client), 0);
    link_close(&l);

    link_open(&l, server, client);
    assert_int_equal(green_tls_session_set(l.client, session), 0);
    assert_int_equal(green_tls_session_destroy(session), 0);
    link_handshake(&l, "localhost");
    assert_int_equal(l.client_err, 0);
    assert_int_equal(green_tls_resumed(l.client), 1);
    assert_int_equal(green_tls_resumed(l.server), 1);
    assert_int_equal(green_tls_session_set(l.client, session), EINVAL);
    link_close(&l);
    green_tls_ctx_destroy(server);
    green_tls_ctx_destroy(client);
}

struct dial_server {
    int listener;
    green_tls_ctx_t *ctx;
    int err;
};

/* Accept one connection, say hello and close cleanly. */
static void *dial_server_main(void *arg)
{
    struct dial_server *d = arg;
    green_tls_t *conn;
    int fd;

    d->err = green_accept(&fd, d->listener, NULL, NULL);
    if (d->err != 0)
        return NULL;
    d->err = green_tls_new(&conn, d->ctx, fd);
    if (d->err == 0) {
        if ((d->err = green_tls_accept(conn)) == 0 &&
            (d->err = green_tls_write_all(conn, "hello", 5, NULL)) == 0)
            d->err = green_tls_shutdown(conn);
        green_tls_destroy(conn);
    }
    green_close(fd);
    return NULL;
}

static void test_dial(void **state)
{
    green_tls_ctx_t *client = client_ctx();
    struct dial_server d = {-1, server_ctx(pki.localhost), 0};
    green_thread_t *server;
    green_tls_t *conn;
    char buf[8];
    size_t n;
    int port;

    (void)state;
    assert_int_equal(green_listen(&d.listener, "127.0.0.1:0", 0, 0), 0);
    assert_int_equal(green_local_port(d.listener, &port), 0);
    /* Nobody answers the handshake: the timeout covers it. */
    assert_int_equal(green_tls_dial(&conn, client, "localhost", port, 0.1),
                     ETIMEDOUT);
    /* A fresh listener, without that abandoned connection. */
    assert_int_equal(green_close(d.listener), 0);
    assert_int_equal(green_listen(&d.listener, "127.0.0.1:0", 0, 0), 0);
    assert_int_equal(green_local_port(d.listener, &port), 0);
    assert_int_equal(green_spawn(&server, dial_server_main, &d), 0);
    assert_int_equal(green_tls_dial(&conn, client, "localhost", port, 60.0), 0);
    assert_int_equal(green_tls_read(conn, buf, sizeof(buf), &n), 0);
    assert_int_equal(n, 5);
    assert_int_equal(green_tls_read(conn, buf, sizeof(buf), &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(green_tls_destroy(conn), 0); /* and closes the fd */
    assert_int_equal(green_thread_wait(server, NULL), 0);
    green_thread_release(server);
    assert_int_equal(d.err, 0);
    green_close(d.listener);
    green_tls_ctx_destroy(d.ctx);
    green_tls_ctx_destroy(client);
}

/* ---- Truncation and cuts ---------------------------------------------------
 */

static void open_pair(struct link *l)
{
    green_tls_ctx_t *server = server_ctx(pki.localhost), *client = client_ctx();

    link_open(l, server, client);
    green_tls_ctx_destroy(server);
    green_tls_ctx_destroy(client);
    link_handshake(l, "localhost");
    assert_int_equal(l->client_err, 0);
    assert_int_equal(l->server_err, 0);
}

/* Both ends' sockets send without Nagle's delay (a flight is several
 * sends); over a Unix socket (test_key_update) there is none to set. */
static void test_tcp_nodelay(void **state)
{
    struct link l;
    int nodelay;
    socklen_t length = sizeof(nodelay);

    (void)state;
    open_pair(&l);
    for (int i = 0; i < 2; i++) {
        nodelay = 0;
        assert_int_equal(getsockopt(i ? l.server_fd : l.client_fd, IPPROTO_TCP,
                                    TCP_NODELAY, &nodelay, &length),
                         0);
        assert_int_equal(nodelay, 1);
    }
    link_close(&l);
}

/* An error the application (or another green thread) left queued on the
 * OS thread is not taken for a step's own: SSL_get_error would see it
 * instead of the want that parks a step.  The reader queues one each time
 * it runs, while the writer is parked on a full socket. */
#define STALE_ERROR_BYTES (4 << 20)

static void *stale_error_reader(void *arg)
{
    struct link *l = arg;
    static char buf[65536];
    size_t n, total = 0;

    while (total < STALE_ERROR_BYTES) {
        ERR_raise(ERR_LIB_SSL, SSL_R_BAD_LENGTH);
        l->server_err = green_tls_read(l->server, buf, sizeof(buf), &n);
        if (l->server_err != 0 || n == 0)
            break;
        total += n;
    }
    return (void *)(uintptr_t)(total == STALE_ERROR_BYTES);
}

static void test_stale_error_queue(void **state)
{
    char *data = calloc(1, STALE_ERROR_BYTES);
    green_thread_t *reader;
    struct link l;
    void *whole;

    (void)state;
    open_pair(&l);
    assert_int_equal(green_spawn(&reader, stale_error_reader, &l), 0);
    ERR_raise(ERR_LIB_SSL, SSL_R_BAD_LENGTH);
    assert_int_equal(
        green_tls_write_all(l.client, data, STALE_ERROR_BYTES, NULL), 0);
    assert_int_equal(green_thread_wait(reader, &whole), 0);
    green_thread_release(reader);
    assert_int_equal(l.server_err, 0);
    assert_true(whole != NULL);
    link_close(&l);
    free(data);
}

static void test_truncation(void **state)
{
    struct link l;
    char buf[16];
    size_t n;

    (void)state;
    open_pair(&l);
    assert_int_equal(green_tls_write_all(l.server, "data", 4, NULL), 0);
    green_close(l.server_fd); /* no close_notify */
    l.server_fd = -1;
    assert_int_equal(green_tls_read(l.client, buf, sizeof(buf), &n), 0);
    assert_int_equal(n, 4);
    assert_int_equal(green_tls_read(l.client, buf, sizeof(buf), &n),
                     ECONNABORTED);
    assert_int_equal(n, 0);
    assert_int_equal(green_tls_read(l.client, buf, sizeof(buf), &n), ESHUTDOWN);
    link_close(&l);
}

/* A read cut by its timeout or a kill loses nothing: the next one goes on. */
static void *read_main(void *arg)
{
    struct link *l = arg;
    char buf[8];
    size_t n;

    l->client_err = green_tls_read(l->client, buf, sizeof(buf), &n);
    return NULL;
}

static void test_read_cut_keeps_connection(void **state)
{
    green_thread_t *reader;
    struct link l;
    char buf[8];
    size_t n;

    (void)state;
    open_pair(&l);
    assert_int_equal(green_set_timeouts(l.client_fd, 0.05, GREEN_FOREVER), 0);
    assert_int_equal(green_tls_read(l.client, buf, sizeof(buf), &n), ETIMEDOUT);
    assert_int_equal(
        green_set_timeouts(l.client_fd, GREEN_FOREVER, GREEN_FOREVER), 0);
    assert_int_equal(green_spawn(&reader, read_main, &l), 0);
    assert_int_equal(green_sleep(0.01), 0);
    /* A second reader while one waits. */
    assert_int_equal(green_tls_read(l.client, buf, sizeof(buf), &n), EBUSY);
    assert_int_equal(green_thread_kill(reader), 0);
    green_thread_release(reader);
    assert_int_equal(l.client_err, ECANCELED);
    assert_int_equal(green_tls_write_all(l.server, "later", 5, NULL), 0);
    assert_int_equal(green_tls_read(l.client, buf, sizeof(buf), &n), 0);
    assert_int_equal(n, 5);
    link_close(&l);
}

/* A read that waits first (the last one emptied the socket) blocks on
 * io_uring as one recv operation into the connection's stage, without a
 * readiness wait; elsewhere it waits for readiness. */
static void *write_later_main(void *arg)
{
    struct link *l = arg;

    assert_int_equal(green_sleep(0.01), 0);
    l->server_err = green_tls_write_all(l->server, "pong", 4, NULL);
    return NULL;
}

static void test_read_waits_as_operation(void **state)
{
    int uring = strcmp(green_hub_backend_name(), "io_uring") == 0;
    struct io_counts before;
    green_thread_t *writer;
    struct link l;
    char buf[64];
    size_t n;

    (void)state;
    open_pair(&l);
    assert_int_equal(green_tls_write_all(l.server, "ping", 4, NULL), 0);
    assert_int_equal(green_tls_read(l.client, buf, sizeof(buf), &n), 0);
    assert_int_equal(n, 4);
    before = io_counts;
    writer = spawn_or_fail(write_later_main, &l);
    assert_int_equal(green_tls_read(l.client, buf, sizeof(buf), &n), 0);
    assert_int_equal(green_thread_wait(writer, NULL), 0);
    green_thread_release(writer);
    assert_int_equal(l.server_err, 0);
    assert_int_equal(n, 4);
    assert_memory_equal(buf, "pong", 4);
    if (uring) {
        assert_int_equal(io_counts.readiness_waits, before.readiness_waits);
        assert_true(io_counts.ops > before.ops);
    } else {
        assert_true(io_counts.readiness_waits > before.readiness_waits);
        assert_int_equal(io_counts.ops, before.ops);
    }
    link_close(&l);
}

/* ---- Records: written with MSG_MORE, read together ---------------------- */

#define RECORDS_BYTES (4 * 16384)

/* Wait until fd has `bytes` to read (the peer's records all came). */
static void wait_queued(int fd, int bytes)
{
    int queued = 0;

    for (int i = 0; i < 10000 && queued < bytes; i++) {
        assert_int_equal(ioctl(fd, FIONREAD, &queued), 0);
        if (queued < bytes)
            assert_int_equal(green_sleep(0.001), 0);
    }
    assert_true(queued >= bytes);
}

/* Read `total` bytes at the server, with a deadline: a record held back
 * by MSG_MORE would make it fail rather than hang. */
static void *read_all_main(void *arg)
{
    struct link *l = arg;
    static char buf[RECORDS_BYTES];
    size_t n, total = 0;

    while (l->server_err == 0 && total < RECORDS_BYTES) {
        l->server_err = green_tls_read(l->server, buf, sizeof(buf), &n);
        total += n;
    }
    return (void *)(uintptr_t)total;
}

/* The sends with MSG_MORE of one write of len bytes (all: write-all),
 * which the server reads whole. */
static unsigned long corked_sends(struct link *l, int all, size_t len)
{
    static char data[RECORDS_BYTES];
    unsigned long before = io_counts.tls_corked_sends;
    green_thread_t *reader;
    size_t n = 0;
    void *total;

    assert_int_equal(green_set_timeouts(l->server_fd, 30.0, 30.0), 0);
    reader = spawn_or_fail(read_all_main, l);
    while (n < len) { /* green_tls_write: one record per call */
        size_t wrote;

        assert_int_equal(
            all ? green_tls_write_all(l->client, data, len, &wrote)
                : green_tls_write(l->client, data + n, len - n, &wrote),
            0);
        n += wrote;
    }
    before = io_counts.tls_corked_sends - before;
    if (len < RECORDS_BYTES) /* the rest, to end the reader */
        assert_int_equal(
            green_tls_write_all(l->client, data, RECORDS_BYTES - len, NULL), 0);
    assert_int_equal(green_thread_wait(reader, &total), 0);
    green_thread_release(reader);
    assert_int_equal(l->server_err, 0);
    assert_int_equal((uintptr_t)total, RECORDS_BYTES);
    return before;
}

/* A write-all sends its records but the last with MSG_MORE (the kernel
 * fills segments, and pushes the last); a single record, or a write that
 * may be the caller's last, without. */
static void test_write_all_more(void **state)
{
    struct link l;

    (void)state;
    open_pair(&l);
    assert_int_equal(corked_sends(&l, 1, RECORDS_BYTES), 3);
    assert_int_equal(corked_sends(&l, 1, 16384), 0);
    assert_int_equal(corked_sends(&l, 0, RECORDS_BYTES), 0);
    link_close(&l);
}

/* One read takes all the records that came, as far as they fit; a bad
 * record after them fails the next read, not this one. */
static void test_read_takes_records_at_hand(void **state)
{
    static char data[RECORDS_BYTES], buf[RECORDS_BYTES];
    /* An application data record that does not decrypt. */
    char bad[5 + 200] = {SSL3_RT_APPLICATION_DATA, 3, 3, 0, 200};
    struct link l;
    size_t n;

    (void)state;
    open_pair(&l);
    assert_int_equal(green_set_timeouts(l.server_fd, 30.0, 30.0), 0);
    assert_int_equal(green_tls_write_all(l.client, data, sizeof(data), NULL),
                     0);
    wait_queued(l.server_fd, RECORDS_BYTES + 4 * 22); /* TLS 1.3 records */
    assert_int_equal(green_tls_read(l.server, buf, sizeof(buf), &n), 0);
    assert_int_equal(n, RECORDS_BYTES);
    assert_int_equal(green_tls_write_all(l.client, "hello", 5, NULL), 0);
    assert_int_equal(green_send_all(l.client_fd, bad, sizeof(bad), NULL), 0);
    wait_queued(l.server_fd, 5 + 22 + (int)sizeof(bad));
    assert_int_equal(green_tls_read(l.server, buf, sizeof(buf), &n), 0);
    assert_int_equal(n, 5);
    assert_memory_equal(buf, "hello", 5);
    assert_int_equal(green_tls_read(l.server, buf, sizeof(buf), &n), EPROTO);
    assert_true(green_tls_error_string(l.server)[0] != '\0');
    assert_int_equal(green_tls_read(l.server, buf, sizeof(buf), &n), ESHUTDOWN);
    link_close(&l);
}

/* A reader killed just as its data arrives loses none of it: what it got
 * and what the next read gets are the bytes in order.  (On io_uring the
 * staged recv may complete before its cancel: its bytes stay staged.) */
struct kill_race {
    struct link *l;
    char got[16];
    size_t n;
    int err;
};

static void *race_reader_main(void *arg)
{
    struct kill_race *r = arg;

    r->err = green_tls_read(r->l->client, r->got, sizeof(r->got), &r->n);
    return NULL;
}

static void test_cut_read_loses_nothing(void **state)
{
    struct kill_race r = {.err = -1};
    green_timeout_t scope;
    green_thread_t *reader;
    char all[32], buf[16];
    size_t have, n;
    struct link l;

    (void)state;
    open_pair(&l);
    /* A timeout scope cuts a read; the next one gets what comes later. */
    assert_int_equal(green_timeout_start(&scope, 0.02), 0);
    assert_int_equal(green_tls_read(l.client, buf, sizeof(buf), &n), ETIMEDOUT);
    assert_true(green_timeout_fired(&scope));
    green_timeout_cancel(&scope);
    /* A kill right after the data went out, before the reader ran. */
    r.l = &l;
    reader = spawn_or_fail(race_reader_main, &r);
    assert_int_equal(green_sleep(0.01), 0); /* it blocks */
    assert_int_equal(green_tls_write_all(l.server, "first", 5, NULL), 0);
    assert_int_equal(green_thread_kill(reader), 0);
    green_thread_release(reader);
    assert_true(r.err == 0 || (r.err == ECANCELED && r.n == 0));
    memcpy(all, r.got, r.n);
    have = r.n;
    assert_int_equal(green_tls_write_all(l.server, "second", 6, NULL), 0);
    while (have < 11) {
        assert_int_equal(green_tls_read(l.client, all + have, 11 - have, &n),
                         0);
        assert_true(n > 0);
        have += n;
    }
    assert_memory_equal(all, "firstsecond", 11);
    link_close(&l);
}

/* After a cut write the peer sees an error, never a clean end. */
static void expect_peer_error(struct link *l)
{
    static char buf[65536];
    size_t n = 1;
    int err = 0;

    green_tls_destroy(l->client);
    l->client = NULL;
    green_close(l->client_fd);
    l->client_fd = -1;
    while (err == 0 && n > 0)
        err = green_tls_read(l->server, buf, sizeof(buf), &n);
    assert_int_not_equal(err, 0);
}

#define BIG_WRITE (32u << 20)

struct writer {
    struct link *link;
    const char *data;
    size_t written;
    int err;
};

static void *write_main(void *arg)
{
    struct writer *w = arg;

    w->err =
        green_tls_write_all(w->link->client, w->data, BIG_WRITE, &w->written);
    return NULL;
}

static void test_large_write_cut(void **state)
{
    char *data = calloc(1, BIG_WRITE);
    struct writer w = {NULL, data, 0, 0};
    green_thread_t *writer;
    struct link l;
    size_t n;

    (void)state;
    assert_non_null(data);
    /* The peer never reads: the send timeout ends the transfer. */
    open_pair(&l);
    w.link = &l;
    assert_int_equal(green_set_timeouts(l.client_fd, GREEN_FOREVER, 0.2), 0);
    write_main(&w);
    assert_int_equal(w.err, ETIMEDOUT);
    assert_true(w.written < BIG_WRITE);
    assert_int_equal(green_tls_write(l.client, "x", 1, &n), ESHUTDOWN);
    assert_int_equal(green_tls_read(l.client, data, 1, &n), ESHUTDOWN);
    expect_peer_error(&l);
    link_close(&l);

    /* A kill, and a timeout scope, do the same. */
    open_pair(&l);
    assert_int_equal(green_spawn(&writer, write_main, &w), 0);
    assert_int_equal(green_sleep(0.05), 0);
    assert_int_equal(green_thread_kill(writer), 0);
    green_thread_release(writer);
    assert_int_equal(w.err, ECANCELED);
    assert_int_equal(green_tls_write(l.client, "x", 1, &n), ESHUTDOWN);
    expect_peer_error(&l);
    link_close(&l);

    open_pair(&l);
    {
        green_timeout_t scope;

        assert_int_equal(green_timeout_start(&scope, 0.1), 0);
        write_main(&w);
        assert_true(green_timeout_fired(&scope));
        green_timeout_cancel(&scope);
    }
    assert_int_equal(w.err, ETIMEDOUT);
    assert_int_equal(green_tls_write(l.client, "x", 1, &n), ESHUTDOWN);
    expect_peer_error(&l);
    link_close(&l);
    free(data);
}

/* A handshake whose peer never answers. */
static void *connect_main(void *arg)
{
    struct link *l = arg;

    l->client_err = green_tls_connect(l->client, "localhost");
    return NULL;
}

static void test_handshake_cut(void **state)
{
    green_tls_ctx_t *server = server_ctx(pki.localhost), *client = client_ctx();
    green_thread_t *thread;
    green_timeout_t scope;
    struct link l;
    size_t n;

    (void)state;
    /* The fd's timeout, on each side. */
    link_open(&l, server, client);
    assert_int_equal(green_set_timeout(l.client_fd, 0.1), 0);
    assert_int_equal(green_tls_connect(l.client, "localhost"), ETIMEDOUT);
    assert_int_equal(green_tls_write(l.client, "x", 1, &n), ESHUTDOWN);
    assert_int_equal(green_tls_connect(l.client, "localhost"), ESHUTDOWN);
    link_close(&l);
    link_open(&l, server, client);
    assert_int_equal(green_set_timeout(l.server_fd, 0.1), 0);
    assert_int_equal(green_tls_accept(l.server), ETIMEDOUT);
    assert_int_equal(green_tls_read(l.server, &n, 1, &n), ESHUTDOWN);
    link_close(&l);

    /* A timeout scope. */
    link_open(&l, server, client);
    assert_int_equal(green_timeout_start(&scope, 0.1), 0);
    assert_int_equal(green_tls_connect(l.client, "localhost"), ETIMEDOUT);
    assert_true(green_timeout_fired(&scope));
    green_timeout_cancel(&scope);
    link_close(&l);

    /* A kill. */
    link_open(&l, server, client);
    assert_int_equal(green_spawn(&thread, connect_main, &l), 0);
    assert_int_equal(green_sleep(0.05), 0);
    assert_int_equal(green_thread_kill(thread), 0);
    green_thread_release(thread);
    assert_int_equal(l.client_err, ECANCELED);
    assert_int_equal(green_tls_read(l.client, &n, 1, &n), ESHUTDOWN);
    link_close(&l);
    green_tls_ctx_destroy(server);
    green_tls_ctx_destroy(client);
}

/* ---- 100 MB, checked with SHA-256 --------------------------------------- */

struct stream {
    green_tls_t *conn;
    size_t total;
    int err;
};

static void *send_pattern_main(void *arg)
{
    struct stream *s = arg;
    static unsigned char chunk[1 << 20];

    for (size_t at = 0; at < s->total && s->err == 0; at += sizeof(chunk)) {
        size_t n =
            s->total - at < sizeof(chunk) ? s->total - at : sizeof(chunk);

        tls_pattern(chunk, n, at);
        s->err = green_tls_write_all(s->conn, chunk, n, NULL);
    }
    if (s->err == 0)
        s->err = green_tls_shutdown(s->conn);
    return NULL;
}

/* Read to the peer's close_notify; the SHA-256 of it all. */
static int receive_sha256(green_tls_t *conn, size_t *total,
                          unsigned char digest[32])
{
    static unsigned char buf[1 << 16];
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    size_t n = 1;
    int err = 0;

    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    *total = 0;
    while (err == 0 && n > 0) {
        err = green_tls_read(conn, buf, sizeof(buf), &n);
        EVP_DigestUpdate(md, buf, err == 0 ? n : 0);
        *total += err == 0 ? n : 0;
    }
    EVP_DigestFinal_ex(md, digest, NULL);
    EVP_MD_CTX_free(md);
    return err;
}

/* total bytes from server to client, checked whole; multishot: the
 * client's socket is received multishot (green_recv_multishot), so every
 * TLS read takes its queue. */
static void check_integrity(size_t total, int multishot)
{
    size_t received = 0;
    unsigned char expected[32], digest[32];
    struct stream s;
    green_thread_t *sender;
    struct link l;

    open_pair(&l);
    if (multishot)
        assert_int_equal(
            green_recv_multishot(l.client_fd),
            strcmp(green_hub_backend_name(), "io_uring") == 0 ? 0 : ENOTSUP);
    s = (struct stream){l.server, total, 0};
    assert_int_equal(green_spawn(&sender, send_pattern_main, &s), 0);
    assert_int_equal(receive_sha256(l.client, &received, digest), 0);
    assert_int_equal(green_thread_wait(sender, NULL), 0);
    green_thread_release(sender);
    assert_int_equal(s.err, 0);
    assert_int_equal(received, total);
    tls_pattern_sha256(total, expected);
    assert_memory_equal(digest, expected, 32);
    link_close(&l);
}

static void test_integrity_100mb(void **state)
{
    (void)state;
    /* Scaled down only under valgrind, qemu and TSan (test_scaled), where
     * OpenSSL's AES-GCM runs 10-50 times slower. */
    check_integrity(test_scaled((size_t)100 << 20), 0);
}

static void test_integrity_multishot(void **state)
{
    (void)state;
    check_integrity(test_scaled((size_t)8 << 20), 1);
}

/* ---- KeyUpdate from a plain OpenSSL peer -----------------------------------
 */

#define KEY_UPDATE_ROUNDS 3

struct plain_peer {
    int fd;
    int rounds_ok;
    int seen_type;    /* a handshake message type (SSL3_MT_...) */
    int seen;         /* messages of that type the peer received */
    int speaks_first; /* a client: it sends a byte after its handshake */
};

static void count_received(int write_p, int version, int content_type,
                           const void *buf, size_t len, SSL *ssl, void *arg)
{
    struct plain_peer *peer = arg;

    (void)version, (void)ssl;
    if (!write_p && content_type == SSL3_RT_HANDSHAKE && len > 0 &&
        ((const unsigned char *)buf)[0] == peer->seen_type)
        peer->seen++;
}

/* A blocking OpenSSL connection on peer's fd that counts what it receives
 * of peer->seen_type. */
static SSL *plain_peer_ssl(SSL_CTX *ctx, struct plain_peer *peer)
{
    SSL *ssl = SSL_new(ctx);

    SSL_set_fd(ssl, peer->fd);
    SSL_set_msg_callback(ssl, count_received);
    SSL_set_msg_callback_arg(ssl, peer);
    return ssl;
}

/* Blocking OpenSSL in its own OS thread: for each round, a KeyUpdate that
 * asks for one back, then a message to echo. */
static void *plain_server_main(void *arg)
{
    struct plain_peer *peer = arg;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    SSL *ssl;
    char buf[32];
    size_t n;

    SSL_CTX_use_certificate_chain_file(ctx, pki.localhost);
    SSL_CTX_use_PrivateKey_file(ctx, pki.key, SSL_FILETYPE_PEM);
    ssl = plain_peer_ssl(ctx, peer);
    if (SSL_accept(ssl) == 1)
        for (int round = 0; round < KEY_UPDATE_ROUNDS; round++) {
            int length = snprintf(buf, sizeof(buf), "round %d", round);

            if (SSL_key_update(ssl, SSL_KEY_UPDATE_REQUESTED) != 1 ||
                SSL_write_ex(ssl, buf, (size_t)length, &n) != 1 ||
                SSL_read_ex(ssl, buf, sizeof(buf), &n) != 1 ||
                n != (size_t)length)
                break;
            peer->rounds_ok++;
        }
    SSL_shutdown(ssl);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    return NULL;
}

static void test_key_update(void **state)
{
    green_tls_ctx_t *client = client_ctx();
    struct plain_peer peer = {-1, 0, SSL3_MT_KEY_UPDATE, 0, 0};
    pthread_t thread;
    green_tls_t *conn;
    int fds[2];
    char buf[32];
    size_t n;

    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    peer.fd = fds[1];
    assert_int_equal(pthread_create(&thread, NULL, plain_server_main, &peer),
                     0);
    assert_int_equal(green_tls_new(&conn, client, fds[0]), 0);
    assert_int_equal(green_tls_connect(conn, "localhost"), 0);
    /* Each read meets the KeyUpdate and must answer it with one of ours
     * before the echo. */
    for (int round = 0; round < KEY_UPDATE_ROUNDS; round++) {
        assert_int_equal(green_tls_read(conn, buf, sizeof(buf), &n), 0);
        assert_int_equal(green_tls_write_all(conn, buf, n, NULL), 0);
    }
    assert_int_equal(green_tls_read(conn, buf, sizeof(buf), &n), 0);
    assert_int_equal(n, 0); /* the peer's close_notify */
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(peer.rounds_ok, KEY_UPDATE_ROUNDS);
    assert_int_equal(peer.seen, KEY_UPDATE_ROUNDS);
    green_tls_destroy(conn);
    green_close(fds[0]);
    close(fds[1]);
    green_tls_ctx_destroy(client);
}

/* ---- Session tickets from a server --------------------------------------
 */

/* A blocking OpenSSL client in its own OS thread: it reads until the
 * server's close_notify, counting the tickets that came. */
static void *plain_client_main(void *arg)
{
    struct plain_peer *peer = arg;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl = plain_peer_ssl(ctx, peer);
    char buf[32];
    size_t n;

    if (SSL_connect(ssl) == 1 &&
        (!peer->speaks_first || SSL_write_ex(ssl, "x", 1, &n) == 1)) {
        while (SSL_read_ex(ssl, buf, sizeof(buf), &n) == 1)
            ;
        peer->rounds_ok = SSL_get_error(ssl, 0) == SSL_ERROR_ZERO_RETURN;
    }
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    return NULL;
}

/* The tickets a server context (with `count` set, unless negative) sends
 * a TLS 1.3 client after a full handshake, and the sends of the server's
 * connection (*sends): it writes "hi" and closes, or, if `reads`, reads a
 * byte and closes. */
static int tickets_sent(int count, int reads, unsigned long *sends)
{
    green_tls_ctx_t *server = server_ctx(pki.localhost);
    struct plain_peer peer = {-1, 0, SSL3_MT_NEWSESSION_TICKET, 0, reads};
    unsigned long sends_before, dry_before;
    pthread_t thread;
    green_tls_t *conn;
    int fds[2];
    char byte;
    size_t n;

    if (count >= 0)
        assert_int_equal(green_tls_ctx_set_tickets(server, count), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    peer.fd = fds[1];
    assert_int_equal(pthread_create(&thread, NULL, plain_client_main, &peer),
                     0);
    assert_int_equal(green_tls_new(&conn, server, fds[0]), 0);
    /* With the ClientHello there, no recv of the handshake comes back
     * empty: none is tried before the client has our flight. */
    assert_int_equal(green_wait_fd(fds[0], GREEN_READ, GREEN_FOREVER), 0);
    dry_before = io_counts.tls_dry_recvs;
    sends_before = io_counts.tls_sends; /* ours only: the client's thread */
    assert_int_equal(green_tls_accept(conn), 0);
    assert_int_equal(io_counts.tls_dry_recvs, dry_before);
    assert_string_equal(green_tls_version(conn), "TLSv1.3");
    if (reads) {
        assert_int_equal(green_tls_read(conn, &byte, 1, &n), 0);
        assert_int_equal(n, 1);
    } else {
        assert_int_equal(green_tls_write_all(conn, "hi", 2, NULL), 0);
    }
    assert_int_equal(green_tls_shutdown(conn), 0);
    *sends = io_counts.tls_sends - sends_before;
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(peer.rounds_ok, 1); /* it read to the close_notify */
    green_tls_destroy(conn);
    green_close(fds[0]);
    close(fds[1]);
    green_tls_ctx_destroy(server);
    return peer.seen;
}

static void test_session_tickets(void **state)
{
    green_tls_ctx_t *client = client_ctx();
    unsigned long sends;

    (void)state;
    assert_int_equal(tickets_sent(-1, 0, &sends), 1); /* the default */
    /* The flight, the tickets with "hi", the close_notify. */
    assert_int_equal(sends, 3);
    assert_int_equal(tickets_sent(0, 0, &sends), 0);
    assert_int_equal(sends, 3);
    assert_int_equal(tickets_sent(3, 0, &sends), 3);
    assert_int_equal(sends, 3);
    /* A server that never writes sends them with its close_notify. */
    assert_int_equal(tickets_sent(2, 1, &sends), 2);
    assert_int_equal(sends, 2);
    assert_int_equal(green_tls_ctx_set_tickets(client, 1), EINVAL);
    assert_int_equal(green_tls_ctx_set_tickets(NULL, 1), EINVAL);
    green_tls_ctx_destroy(client);
}

/* ---- Misuse
 * ------------------------------------------------------------------ */

static void test_misuse(void **state)
{
    green_tls_ctx_t *server, *client;
    green_tls_session_t *session;
    green_tls_t *conn;
    int fds[2];
    size_t n;

    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    assert_int_equal(green_tls_ctx_new(NULL, GREEN_TLS_CLIENT), EINVAL);
    assert_int_equal(green_tls_ctx_new(&client, (green_tls_role_t)7), EINVAL);
    assert_int_equal(green_tls_ctx_destroy(NULL), EINVAL);
    assert_int_equal(green_tls_ctx_new(&server, GREEN_TLS_SERVER), 0);
    assert_int_equal(green_tls_ctx_new(&client, GREEN_TLS_CLIENT), 0);
    assert_int_equal(
        green_tls_ctx_use_certificate(server, "/nonexistent.pem", pki.key),
        ENOENT);
    assert_true(green_tls_ctx_error_string(server)[0] != '\0');
    assert_int_equal(green_tls_ctx_use_certificate(server, pki.key, pki.key),
                     EINVAL); /* a key is no certificate */
    assert_int_equal(green_tls_ctx_use_certificate(server, NULL, pki.key),
                     EINVAL);
    assert_int_equal(green_tls_ctx_load_ca(client, NULL, NULL), EINVAL);
    assert_int_equal(green_tls_ctx_load_ca(client, "/nonexistent.pem", NULL),
                     ENOENT);
    assert_int_equal(green_tls_ctx_set_verify(client, 2), EINVAL);
    assert_int_equal(green_tls_ctx_set_tickets(server, -1), EINVAL);
    assert_int_equal(green_tls_ctx_set_sni(client, pick_by_name, NULL), EINVAL);
    assert_int_equal(green_tls_new(&conn, client, -1), EINVAL);
    assert_int_equal(green_tls_new(&conn, NULL, 0), EINVAL);

    assert_int_equal(green_tls_new(&conn, client, fds[0]), 0);
    assert_int_equal(green_tls_accept(conn), EINVAL);        /* a client */
    assert_int_equal(green_tls_connect(conn, NULL), EINVAL); /* verifying */
    assert_int_equal(green_tls_session_get(conn, &session), ENOENT);
    assert_int_equal(green_tls_write(conn, "x", 1, &n), ENOTCONN);
    assert_int_equal(green_tls_write(conn, NULL, 1, &n), EINVAL);
    assert_int_equal(green_tls_shutdown(conn), ENOTCONN);
    assert_int_equal(green_tls_destroy(conn), 0);
    assert_int_equal(green_tls_new(&conn, server, fds[0]), 0);
    assert_int_equal(green_tls_connect(conn, "localhost"), EINVAL);
    assert_int_equal(green_tls_destroy(conn), 0);

    assert_int_equal(green_tls_read(NULL, &n, 1, &n), EINVAL);
    assert_int_equal(green_tls_write_all(NULL, "x", 1, &n), EINVAL);
    assert_int_equal(green_tls_shutdown(NULL), EINVAL);
    assert_int_equal(green_tls_destroy(NULL), EINVAL);
    assert_int_equal(green_tls_session_destroy(NULL), EINVAL);
    assert_int_equal(green_tls_dial(NULL, client, "localhost", 1, 1), EINVAL);
    assert_int_equal(green_tls_fd(NULL), -1);
    green_close(fds[0]);
    close(fds[1]);
    green_tls_ctx_destroy(server);
    green_tls_ctx_destroy(client);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo_and_clean_close),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_client_certificate),
        cmocka_unit_test(test_alpn),
        cmocka_unit_test(test_sni),
        cmocka_unit_test(test_session_resumption),
        cmocka_unit_test(test_dial),
        cmocka_unit_test(test_tcp_nodelay),
        cmocka_unit_test(test_stale_error_queue),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_read_cut_keeps_connection),
        cmocka_unit_test(test_read_waits_as_operation),
        cmocka_unit_test(test_write_all_more),
        cmocka_unit_test(test_read_takes_records_at_hand),
        cmocka_unit_test(test_cut_read_loses_nothing),
        cmocka_unit_test(test_large_write_cut),
        cmocka_unit_test(test_handshake_cut),
        cmocka_unit_test(test_integrity_100mb),
        cmocka_unit_test(test_integrity_multishot),
        cmocka_unit_test(test_key_update),
        cmocka_unit_test(test_session_tickets),
        cmocka_unit_test(test_misuse),
    };

    test_filter_from_env();
    return cmocka_run_group_tests(tests, tls_pki_setup, tls_pki_teardown);
}
