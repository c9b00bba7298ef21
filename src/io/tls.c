/*
 * TLS over green sockets (green/tls.h), on OpenSSL 3.
 *
 * OpenSSL talks to the socket through a BIO of our own rather than
 * SSL_set_fd's socket BIO: that one calls read()/write(), which
 * libgreen_patch interposes when it is loaded, so libgreen would be driving
 * itself through its own hooks.  Our BIO makes one nonblocking
 * recvfrom/sendto through sys_libc() (MSG_NOSIGNAL: EPIPE, never SIGPIPE)
 * and reports EAGAIN as "retry"; the loop in tls_run then parks the green
 * thread on the fd in the direction OpenSSL asks for (SSL_ERROR_WANT_READ
 * or WANT_WRITE), whatever the call was, and repeats the call.
 *
 * On an io_uring hub a wait to read is one recv operation instead, into
 * the connection's stage, which the BIO serves before the socket: one
 * system call (and one completion) per read where a wait and a recvfrom
 * were two.
 *
 * Small writes are held and sent together when the step parks or ends
 * (tls_bio_write): a flight is one send, and a TLS 1.3 server's session
 * tickets wait for its first write or close_notify, to share its send.
 * A write-all's records but its last go out with MSG_MORE, so that TCP
 * sends (and the peer takes in) full segments rather than one per record.
 * A read takes every record at hand that fits (tls_read_more).
 */
#include <green/io.h>
#include <green/net.h>
#include <green/thread.h>
#include <green/timeout.h>
#include <green/tls.h>

#include "greenlet/sys.h"
#include "hub/recvq.h"
#include "hub/uring.h"
#include "io_internal.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TLS_ERROR_SIZE 256
/* A staged recv takes up to one whole TLS 1.3 record, with its header. */
#define TLS_STAGE_SIZE (SSL3_RT_HEADER_LENGTH + SSL3_RT_MAX_PLAIN_LENGTH + 256)
/* Held writes: a handshake flight with a certificate or two fits. */
#define TLS_HELD_SIZE 2048

struct green_tls_ctx {
    SSL_CTX *ssl_ctx; /* owns this struct: freed with it (tls_ctx_free) */
    green_tls_role_t role;
    int verify;
    unsigned char *alpn; /* wire format: length-prefixed names */
    size_t alpn_length;
    green_tls_sni_fn sni_fn;
    void *sni_arg;
    char error[TLS_ERROR_SIZE];
};

enum tls_state { TLS_NEW, TLS_OPEN, TLS_ENDED };

struct green_tls {
    SSL *ssl;
    int fd;
    int owns_fd;
    enum tls_state state;
    int shut_down;    /* our close_notify went out */
    int busy;         /* TLS_READ | TLS_WRITE: a green thread is in a call */
    int sys_error;    /* errno of the BIO's last failed syscall */
    int eof;          /* the BIO read end of file */
    int drained;      /* the BIO's last read left the socket empty */
    int reading_more; /* in tls_read_more: no recv once drained */
    unsigned char *stage; /* a staged recv's bytes (io_uring), made lazily */
    size_t stage_at, stage_end; /* what of them the BIO has not read */
    int stage_drained;          /* the staged recv emptied the socket */
    int staging;                /* a staged recv is in flight */
    int wrote;                  /* the BIO took bytes in this step */
    int tickets_held;           /* all that is held: session tickets */
    int more;                   /* the step writes records after this one */
    int corked;                 /* our last send had MSG_MORE */
    int deferred;               /* a read's error, for the next read */
    size_t held_at, held_end;   /* what of `held` is not sent yet */
    SSL_SESSION *session;
    char alpn[256];
    char error[TLS_ERROR_SIZE];
    unsigned char held[TLS_HELD_SIZE];
};

/* ---- One-time setup ---------------------------------------------------- */

static BIO_METHOD *tls_bio_method;
static int tls_ctx_index = -1;
static int tls_ssl_index = -1;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

static void tls_ctx_free(void *parent, void *ptr, CRYPTO_EX_DATA *data,
                         int index, long argl, void *argp)
{
    green_tls_ctx_t *ctx = ptr;

    (void)parent, (void)data, (void)index, (void)argl, (void)argp;
    if (ctx != NULL)
        free(ctx->alpn);
    free(ctx);
}

/* A BIO read served from the stage, whose bytes came first. */
static int tls_unstage(green_tls_t *conn, char *buf, size_t len, size_t *done)
{
    size_t n = conn->stage_end - conn->stage_at;

    if (n > len)
        n = len;
    memcpy(buf, conn->stage + conn->stage_at, n);
    conn->stage_at += n;
    conn->drained = conn->stage_at == conn->stage_end && conn->stage_drained;
    *done = n;
    return 1;
}

static int tls_bio_read(BIO *bio, char *buf, size_t len, size_t *done)
{
    green_tls_t *conn = BIO_get_data(bio);
    ssize_t n;

    BIO_clear_retry_flags(bio);
    if (conn->stage_at < conn->stage_end)
        return tls_unstage(conn, buf, len, done);
    /* What the staged recv takes comes first; and in a handshake, the
     * peer answers only the flight we hold: no recv before it is sent. */
    if (conn->staging || (conn->drained && (conn->reading_more ||
                                            (conn->held_at < conn->held_end &&
                                             SSL_in_init(conn->ssl))))) {
        BIO_set_retry_read(bio);
        return 0;
    }
    /* A socket received multishot: its bytes come through tls_wait's
     * staged recv, which reads its queue. */
    if (recvq_owned(conn->fd)) {
        errno = EAGAIN;
        n = -1;
    } else {
        n = sys_libc()->recvfrom(conn->fd, buf, len, MSG_DONTWAIT, NULL, NULL);
    }
    /* A stream socket's recv falls short only when it empties it. */
    conn->drained = n > 0 ? (size_t)n < len : n < 0 && errno == EAGAIN;
    if (n > 0) {
        *done = (size_t)n;
        return 1;
    }
    if (n == 0)
        conn->eof = 1;
    else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        BIO_set_retry_read(bio);
        io_counts.tls_dry_recvs++;
    } else
        conn->sys_error = errno;
    return 0;
}

/* One nonblocking send: its length, or -errno (-EAGAIN: try later).
 * With MSG_MORE while the step's write has more records: the kernel holds
 * a segment's unfilled tail for them, and pushes it when a send falls
 * short (the socket is full). */
static ssize_t tls_send(green_tls_t *conn, const void *buf, size_t len)
{
    int more = conn->more ? MSG_MORE : 0;
    ssize_t n = sys_libc()->sendto(conn->fd, buf, len,
                                   MSG_DONTWAIT | MSG_NOSIGNAL | more, NULL, 0);

    io_counts.tls_sends++;
    io_counts.tls_corked_sends += more != 0;
    if (n >= 0) {
        conn->corked = more && (size_t)n == len;
        return n;
    }
    return errno == EWOULDBLOCK || errno == EINTR ? -EAGAIN : -errno;
}

/* Send the held bytes: 0 once all went out, EAGAIN while the socket is
 * full, else the send's errno. */
static int tls_send_held(green_tls_t *conn)
{
    while (conn->held_at < conn->held_end) {
        ssize_t n = tls_send(conn, conn->held + conn->held_at,
                             conn->held_end - conn->held_at);

        if (n < 0)
            return (int)-n;
        conn->held_at += (size_t)n;
    }
    conn->held_at = conn->held_end = 0;
    return 0;
}

/* A write that fits is held, to go out with what follows it (tls_run
 * sends before it parks and when a step ends); a larger one is sent after
 * the held bytes. */
static int tls_bio_write(BIO *bio, const char *buf, size_t len, size_t *done)
{
    green_tls_t *conn = BIO_get_data(bio);
    ssize_t n;
    int err;

    BIO_clear_retry_flags(bio);
    conn->wrote = 1;
    conn->tickets_held = 0;
    if (len <= TLS_HELD_SIZE - conn->held_end) {
        memcpy(conn->held + conn->held_end, buf, len);
        conn->held_end += len;
        *done = len;
        return 1;
    }
    err = tls_send_held(conn);
    n = err == 0 ? tls_send(conn, buf, len) : -err;
    if (n >= 0) {
        *done = (size_t)n;
        return 1;
    }
    if (n == -EAGAIN)
        BIO_set_retry_write(bio);
    else
        conn->sys_error = (int)-n;
    return 0;
}

/* OpenSSL asks BIO_CTRL_EOF to tell a peer's end of file (reported as an
 * unexpected EOF: truncation) from a failed read. */
static long tls_bio_ctrl(BIO *bio, int cmd, long larg, void *parg)
{
    green_tls_t *conn = BIO_get_data(bio);

    (void)larg, (void)parg;
    if (cmd == BIO_CTRL_FLUSH)
        return 1;
    return cmd == BIO_CTRL_EOF ? conn->eof : 0;
}

static void tls_setup(void)
{
    BIO_METHOD *method =
        BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "green");

    if (method != NULL && (!BIO_meth_set_read_ex(method, tls_bio_read) ||
                           !BIO_meth_set_write_ex(method, tls_bio_write) ||
                           !BIO_meth_set_ctrl(method, tls_bio_ctrl))) {
        BIO_meth_free(method);
        method = NULL;
    }
    tls_bio_method = method;
    tls_ctx_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, tls_ctx_free);
    tls_ssl_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

static int tls_ready(void)
{
    pthread_once(&tls_once, tls_setup);
    return tls_bio_method != NULL && tls_ctx_index >= 0 && tls_ssl_index >= 0
               ? 0
               : ENOMEM;
}

/* Keep OpenSSL's reason for a failure (the oldest queued error). */
static void tls_note_error(char *text, int err)
{
    unsigned long code = ERR_peek_error();

    if (code != 0)
        ERR_error_string_n(code, text, TLS_ERROR_SIZE);
    else
        snprintf(text, TLS_ERROR_SIZE, "%s", strerror(err));
    ERR_clear_error();
}

/* ---- Contexts ------------------------------------------------------------ */

/* The latest session a server granted a client connection. */
static int tls_new_session(SSL *ssl, SSL_SESSION *session)
{
    green_tls_t *conn = SSL_get_ex_data(ssl, tls_ssl_index);

    SSL_SESSION_free(conn->session);
    conn->session = session;
    return 1; /* the reference is ours */
}

static int tls_ctx_configure(green_tls_ctx_t *ctx)
{
    SSL_CTX *ssl_ctx = ctx->ssl_ctx;

    if (!SSL_CTX_set_min_proto_version(ssl_ctx, TLS1_2_VERSION))
        return EPROTO;
    /* Writes may end at a record boundary and be repeated with a moved
     * buffer (green_tls_write_all); read_ahead saves a syscall per record;
     * renegotiation (TLS 1.2) is refused, a denial-of-service vector. */
    SSL_CTX_set_mode(ssl_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                                  SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_read_ahead(ssl_ctx, 1);
    SSL_CTX_set_options(ssl_ctx, SSL_OP_NO_RENEGOTIATION);
    if (ctx->role == GREEN_TLS_SERVER)
        return SSL_CTX_set_session_id_context(
                   ssl_ctx, (const unsigned char *)"libgreen", 8) &&
                       SSL_CTX_set_num_tickets(ssl_ctx, 1)
                   ? 0
                   : EPROTO;
    SSL_CTX_set_session_cache_mode(
        ssl_ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ssl_ctx, tls_new_session);
    if (!SSL_CTX_set_default_verify_paths(ssl_ctx))
        return EPROTO;
    return green_tls_ctx_set_verify(ctx, 1);
}

int green_tls_ctx_new(green_tls_ctx_t **out, green_tls_role_t role)
{
    green_tls_ctx_t *ctx;
    int err = tls_ready();

    if (out == NULL || (role != GREEN_TLS_CLIENT && role != GREEN_TLS_SERVER))
        return EINVAL;
    if (err != 0)
        return err;
    ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL)
        return ENOMEM;
    ctx->role = role;
    ctx->ssl_ctx = SSL_CTX_new(role == GREEN_TLS_SERVER ? TLS_server_method()
                                                        : TLS_client_method());
    if (ctx->ssl_ctx == NULL ||
        !SSL_CTX_set_ex_data(ctx->ssl_ctx, tls_ctx_index, ctx)) {
        SSL_CTX_free(ctx->ssl_ctx);
        free(ctx);
        ERR_clear_error();
        return ENOMEM;
    }
    err = tls_ctx_configure(ctx);
    if (err != 0) {
        SSL_CTX_free(ctx->ssl_ctx); /* frees ctx too */
        ERR_clear_error();
        return err;
    }
    *out = ctx;
    return 0;
}

int green_tls_ctx_destroy(green_tls_ctx_t *ctx)
{
    if (ctx == NULL)
        return EINVAL;
    SSL_CTX_free(ctx->ssl_ctx);
    return 0;
}

/* A load that failed: the file's own errno when it cannot be read, else
 * EINVAL (it does not parse, or the key does not fit). */
static int tls_ctx_load_error(green_tls_ctx_t *ctx, const char *files[2])
{
    int err = EINVAL;

    for (int i = 0; i < 2; i++)
        if (files[i] != NULL && access(files[i], R_OK) != 0)
            err = errno;
    tls_note_error(ctx->error, err);
    return err;
}

int green_tls_ctx_use_certificate(green_tls_ctx_t *ctx, const char *chain_file,
                                  const char *key_file)
{
    const char *files[2] = {chain_file, key_file};

    if (ctx == NULL || chain_file == NULL || key_file == NULL)
        return EINVAL;
    ERR_clear_error();
    if (SSL_CTX_use_certificate_chain_file(ctx->ssl_ctx, chain_file) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx->ssl_ctx, key_file, SSL_FILETYPE_PEM) !=
            1 ||
        SSL_CTX_check_private_key(ctx->ssl_ctx) != 1)
        return tls_ctx_load_error(ctx, files);
    return 0;
}

int green_tls_ctx_load_ca(green_tls_ctx_t *ctx, const char *ca_file,
                          const char *ca_dir)
{
    const char *files[2] = {ca_file, ca_dir};
    X509_STORE *store;

    if (ctx == NULL || (ca_file == NULL && ca_dir == NULL))
        return EINVAL;
    ERR_clear_error();
    store = X509_STORE_new();
    if (store == NULL)
        return ENOMEM;
    if (X509_STORE_load_locations(store, ca_file, ca_dir) != 1) {
        X509_STORE_free(store);
        return tls_ctx_load_error(ctx, files);
    }
    SSL_CTX_set_cert_store(ctx->ssl_ctx, store); /* frees the old one */
    return 0;
}

int green_tls_ctx_set_verify(green_tls_ctx_t *ctx, int verify)
{
    int mode = SSL_VERIFY_NONE;

    if (ctx == NULL || (verify != 0 && verify != 1))
        return EINVAL;
    if (verify)
        mode = ctx->role == GREEN_TLS_CLIENT
                   ? SSL_VERIFY_PEER
                   : SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(ctx->ssl_ctx, mode, NULL);
    ctx->verify = verify;
    return 0;
}

/* The server's pick: its first protocol that the client offers. */
static int tls_alpn_select(SSL *ssl, const unsigned char **out,
                           unsigned char *out_length, const unsigned char *in,
                           unsigned int in_length, void *arg)
{
    green_tls_ctx_t *ctx = arg;

    (void)ssl;
    for (size_t i = 0; i < ctx->alpn_length; i += 1 + ctx->alpn[i])
        for (unsigned j = 0; j < in_length; j += 1u + in[j])
            if (in[j] == ctx->alpn[i] && j + 1u + in[j] <= in_length &&
                memcmp(in + j + 1, ctx->alpn + i + 1, in[j]) == 0) {
                *out = in + j + 1;
                *out_length = in[j];
                return SSL_TLSEXT_ERR_OK;
            }
    return SSL_TLSEXT_ERR_NOACK;
}

/* "h2,http/1.1" to wire format; EINVAL for an empty or too long name. */
static int tls_alpn_encode(const char *protocols, unsigned char **out,
                           size_t *out_length)
{
    size_t length = strlen(protocols) + 1, at = 0;
    unsigned char *wire = malloc(length);

    if (wire == NULL)
        return ENOMEM;
    while (at < length) {
        size_t name = strcspn(protocols + at, ",");

        if (name == 0 || name > 255) {
            free(wire);
            return EINVAL;
        }
        wire[at] = (unsigned char)name;
        memcpy(wire + at + 1, protocols + at, name);
        at += name + 1;
    }
    *out = wire;
    *out_length = length;
    return 0;
}

int green_tls_ctx_set_alpn(green_tls_ctx_t *ctx, const char *protocols)
{
    unsigned char *wire = NULL;
    size_t length = 0;
    int err;

    if (ctx == NULL)
        return EINVAL;
    if (protocols != NULL && protocols[0] != '\0') {
        err = tls_alpn_encode(protocols, &wire, &length);
        if (err != 0)
            return err;
    }
    if (ctx->role == GREEN_TLS_CLIENT &&
        SSL_CTX_set_alpn_protos(ctx->ssl_ctx, wire, (unsigned)length) != 0) {
        free(wire);
        return ENOMEM;
    }
    if (ctx->role == GREEN_TLS_SERVER)
        SSL_CTX_set_alpn_select_cb(ctx->ssl_ctx,
                                   wire != NULL ? tls_alpn_select : NULL, ctx);
    free(ctx->alpn);
    ctx->alpn = wire;
    ctx->alpn_length = length;
    return 0;
}

/* OpenSSL's default is two (for a client that resumes two connections at
 * once); Go's, one. */
int green_tls_ctx_set_tickets(green_tls_ctx_t *ctx, int count)
{
    if (ctx == NULL || ctx->role != GREEN_TLS_SERVER || count < 0)
        return EINVAL;
    return SSL_CTX_set_num_tickets(ctx->ssl_ctx, (size_t)count) ? 0 : EPROTO;
}

static int tls_servername(SSL *ssl, int *alert, void *arg)
{
    green_tls_ctx_t *ctx = arg, *chosen;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

    (void)alert;
    if (name == NULL || ctx->sni_fn == NULL)
        return SSL_TLSEXT_ERR_OK;
    chosen = ctx->sni_fn(name, ctx->sni_arg);
    if (chosen == NULL || chosen == ctx)
        return SSL_TLSEXT_ERR_OK;
    if (chosen->role != GREEN_TLS_SERVER ||
        SSL_set_SSL_CTX(ssl, chosen->ssl_ctx) == NULL)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    return SSL_TLSEXT_ERR_OK;
}

int green_tls_ctx_set_sni(green_tls_ctx_t *ctx, green_tls_sni_fn fn, void *arg)
{
    if (ctx == NULL || ctx->role != GREEN_TLS_SERVER)
        return EINVAL;
    ctx->sni_fn = fn;
    ctx->sni_arg = arg;
    SSL_CTX_set_tlsext_servername_arg(ctx->ssl_ctx, ctx);
    SSL_CTX_set_tlsext_servername_callback(ctx->ssl_ctx, tls_servername);
    return 0;
}

const char *green_tls_ctx_error_string(const green_tls_ctx_t *ctx)
{
    return ctx != NULL ? ctx->error : "";
}

/* ---- Connections ------------------------------------------------------- */

static green_tls_ctx_t *tls_ctx_of(const green_tls_t *conn)
{
    return SSL_CTX_get_ex_data(SSL_get_SSL_CTX(conn->ssl), tls_ctx_index);
}

/* A handshake flight is several records, each its own send: Nagle's
 * algorithm would hold all but the first until the peer's (delayed) ACK,
 * 40 ms on Linux, and so would it a large write's last record.  Not TCP
 * (a Unix socket): nothing to do. */
static void tls_no_delay(int fd)
{
    int one = 1;

    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int green_tls_new(green_tls_t **out, green_tls_ctx_t *ctx, int fd)
{
    green_tls_t *conn;
    BIO *bio;
    int err;

    if (out == NULL || ctx == NULL || fd < 0)
        return EINVAL;
    err = io_ensure_nonblocking(fd);
    if (err != 0)
        return err;
    tls_no_delay(fd);
    conn = calloc(1, sizeof(*conn));
    if (conn == NULL)
        return ENOMEM;
    conn->fd = fd;
    conn->ssl = SSL_new(ctx->ssl_ctx);
    bio = BIO_new(tls_bio_method);
    if (conn->ssl == NULL || bio == NULL ||
        !SSL_set_ex_data(conn->ssl, tls_ssl_index, conn)) {
        BIO_free(bio);
        SSL_free(conn->ssl);
        free(conn);
        ERR_clear_error();
        return ENOMEM;
    }
    BIO_set_data(bio, conn);
    BIO_set_init(bio, 1);
    SSL_set_bio(conn->ssl, bio, bio);
    *out = conn;
    return 0;
}

int green_tls_destroy(green_tls_t *conn)
{
    if (conn == NULL)
        return EINVAL;
    SSL_free(conn->ssl);
    SSL_SESSION_free(conn->session);
    free(conn->stage);
    if (conn->owns_fd)
        green_close(conn->fd);
    free(conn);
    return 0;
}

/* ---- The step loop ----------------------------------------------------- */

enum tls_op_kind { TLS_HANDSHAKE, TLS_READ_OP, TLS_WRITE_OP, TLS_SHUTDOWN };

#define TLS_READ 0x1
#define TLS_WRITE 0x2

struct tls_op {
    enum tls_op_kind kind;
    void *buf;
    size_t len;
    size_t done;
    double deadline; /* absolute; negative: not worked out yet */
};

/* One SSL call: 1 when it is done, else its result for SSL_get_error. */
static int tls_attempt(green_tls_t *conn, struct tls_op *op)
{
    int ret;

    switch (op->kind) {
    case TLS_HANDSHAKE:
        return SSL_do_handshake(conn->ssl);
    case TLS_READ_OP:
        return SSL_read_ex(conn->ssl, op->buf, op->len, &op->done);
    case TLS_WRITE_OP:
        return SSL_write_ex(conn->ssl, op->buf, op->len, &op->done);
    default:
        ret = SSL_shutdown(conn->ssl); /* 0: sent, the peer's not seen yet */
        return ret >= 0 ? 1 : ret;
    }
}

/* The step's time limit, from the fd's timeouts: GREEN_FOREVER for none. */
static double tls_op_timeout(const green_tls_t *conn, enum tls_op_kind kind)
{
    double recv_s, send_s;

    green_get_timeouts(conn->fd, &recv_s, &send_s);
    if (kind == TLS_READ_OP)
        return recv_s;
    if (kind == TLS_WRITE_OP || recv_s < 0)
        return send_s;
    return send_s < 0 || recv_s < send_s ? recv_s : send_s;
}

/* On an io_uring hub, a wait to read: one recv into the (empty) stage.
 * A cut recv that completed anyway keeps its bytes there.  EBUSY while
 * another green thread's staged recv is in flight. */
static int tls_stage_recv(green_tls_t *conn, double wait)
{
    size_t n = 0;
    int err;

    if (conn->staging)
        return EBUSY;
    conn->staging = 1;
    err = io_recv(conn->fd, conn->stage, TLS_STAGE_SIZE, wait, &n);
    conn->staging = 0;
    conn->stage_at = 0;
    conn->stage_end = n;
    conn->stage_drained = n < TLS_STAGE_SIZE;
    return err;
}

static int tls_can_stage(green_tls_t *conn)
{
    if (!hub_uring_active())
        return 0;
    if (conn->stage == NULL)
        conn->stage = malloc(TLS_STAGE_SIZE);
    return conn->stage != NULL;
}

/* Send what MSG_MORE left held in the kernel, before a wait (the peer
 * may need it) or when a step ends.  Setting TCP_NODELAY pushes it. */
static void tls_push(green_tls_t *conn)
{
    if (conn->corked) {
        conn->corked = 0;
        tls_no_delay(conn->fd);
    }
}

/* Park until fd is ready for `events` (on io_uring, until a staged recv
 * took data) or the step's deadline passes. */
static int tls_wait(green_tls_t *conn, struct tls_op *op, int events)
{
    double wait = GREEN_FOREVER;
    int err;

    tls_push(conn);
    if (op->deadline == -1.0) {
        double timeout = tls_op_timeout(conn, op->kind);

        op->deadline = timeout >= 0 ? green_now() + timeout : -2.0;
    }
    if (op->deadline >= 0) {
        wait = op->deadline - green_now();
        if (wait <= 0)
            return ETIMEDOUT;
    }
    if (events == GREEN_READ && tls_can_stage(conn)) {
        err = tls_stage_recv(conn, wait);
    } else {
        io_counts.readiness_waits++;
        err = green_wait_fd(conn->fd, events, wait);
    }
    /* Our other green thread (a writer, while this read must write a
     * KeyUpdate answer) waits for the same event: rare, so poll for it. */
    return err == EBUSY ? green_sleep(0.005) : err;
}

/* The errno for a failed SSL call, with OpenSSL's reason kept. */
static int tls_failure(green_tls_t *conn, int ssl_error)
{
    long verify = SSL_get_verify_result(conn->ssl);
    unsigned long code = ERR_peek_error();
    int err = EPROTO;

    if (ssl_error == SSL_ERROR_SYSCALL || conn->eof ||
        ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
        err = conn->sys_error != 0 ? conn->sys_error : ECONNABORTED;
    else if (verify != X509_V_OK) {
        snprintf(conn->error, sizeof(conn->error), "%s",
                 X509_verify_cert_error_string(verify));
        ERR_clear_error();
        return EKEYREJECTED;
    }
    tls_note_error(conn->error, err);
    return err;
}

/* SSL_get_error takes any error queued on this thread for the call's own,
 * so one left by the application or another green thread would turn a mere
 * want into a failure: drop it.  Peeking costs a fraction of
 * ERR_clear_error, which visits all of the queue's slots, on every call. */
static void tls_drop_stale_errors(void)
{
    if (ERR_peek_error() != 0)
        ERR_clear_error();
}

/* Park for `events`, sending the held bytes first (the peer may wait for
 * them, unless they are session tickets): for writing instead while they
 * do not fit in the socket. */
static int tls_park(green_tls_t *conn, struct tls_op *op, int events)
{
    int err = conn->tickets_held ? 0 : tls_send_held(conn);

    if (err != 0 && err != EAGAIN)
        return err;
    return tls_wait(conn, op, err == EAGAIN ? GREEN_WRITE : events);
}

/* Whether the held bytes may wait for a later step after op's, so that
 * the first write takes them along: what a TLS 1.3 server sends after its
 * handshake (session tickets, which no client waits for; a TLS 1.2 client
 * waits for the server's Finished), and what a read did not write.  Notes
 * held tickets in conn->tickets_held. */
static int tls_may_hold(green_tls_t *conn, const struct tls_op *op)
{
    if (op->kind == TLS_HANDSHAKE) {
        conn->tickets_held = SSL_is_server(conn->ssl) &&
                             SSL_version(conn->ssl) == TLS1_3_VERSION &&
                             conn->held_at < conn->held_end;
        return conn->tickets_held;
    }
    return op->kind == TLS_READ_OP && !conn->wrote;
}

/* Send all that is held, parking while the socket is full. */
static int tls_drain(green_tls_t *conn, struct tls_op *op)
{
    int err;

    while ((err = tls_send_held(conn)) == EAGAIN)
        if ((err = tls_wait(conn, op, GREEN_WRITE)) != 0)
            break;
    return err;
}

/* A failure outside OpenSSL: its reason is errno's. */
static int tls_sys_failure(green_tls_t *conn, int err)
{
    snprintf(conn->error, sizeof(conn->error), "%s", strerror(err));
    return err;
}

/* After a read, the records at hand too, while buf has room: those
 * read-ahead holds, and while the last recv was not short (tls_bio_read),
 * the socket's, so that a message sent as several records comes in one
 * read.  Never a wait.  A failure here (a bad record, a truncation) is the
 * next read's: this one returns what came before. */
static void tls_read_more(green_tls_t *conn, struct tls_op *op)
{
    int ret = 1;

    conn->reading_more = 1;
    while (ret > 0 && op->done < op->len &&
           (SSL_has_pending(conn->ssl) || !conn->drained)) {
        size_t n = 0;

        ret = SSL_read_ex(conn->ssl, (char *)op->buf + op->done,
                          op->len - op->done, &n);
        op->done += n;
    }
    conn->reading_more = 0;
    if (ret <= 0) {
        int ssl_error = SSL_get_error(conn->ssl, ret);

        if (ssl_error == SSL_ERROR_SSL || ssl_error == SSL_ERROR_SYSCALL)
            conn->deferred = tls_failure(conn, ssl_error);
        ERR_clear_error();
    }
}

/* The peer's close_notify came (tls_read_more may have taken it). */
static int tls_peer_closed(const green_tls_t *conn)
{
    return (SSL_get_shutdown(conn->ssl) & SSL_RECEIVED_SHUTDOWN) != 0;
}

/* Run op's SSL call until it neither wants to read nor to write. */
static int tls_run(green_tls_t *conn, struct tls_op *op)
{
    /* A read when OpenSSL holds nothing and the socket was left empty
     * (after an answer, the peer rarely has sent more yet): wait for it
     * first rather than pay for a recv failing with EAGAIN.  Data that
     * came since is a readiness edge already (or the staged recv's), so
     * the wait ends at once. */
    int events = op->kind == TLS_READ_OP && conn->drained &&
                         !SSL_has_pending(conn->ssl) && !tls_peer_closed(conn)
                     ? GREEN_READ
                     : 0;
    int ssl_error;

    conn->wrote = 0;
    if (op->kind == TLS_READ_OP && conn->deferred != 0)
        return conn->deferred;
    for (;;) {
        int ret, err;

        if (events != 0 && (err = tls_park(conn, op, events)) != 0)
            return tls_sys_failure(conn, err);
        tls_drop_stale_errors();
        conn->sys_error = 0;
        ret = tls_attempt(conn, op);
        if (ret > 0) {
            if (op->kind == TLS_READ_OP)
                tls_read_more(conn, op);
            err = tls_may_hold(conn, op) ? 0 : tls_drain(conn, op);
            return err != 0 ? tls_sys_failure(conn, err) : 0;
        }
        ssl_error = SSL_get_error(conn->ssl, ret);
        if (ssl_error == SSL_ERROR_ZERO_RETURN && op->kind == TLS_READ_OP)
            return 0; /* close_notify: op->done is 0 */
        if (ssl_error == SSL_ERROR_WANT_READ)
            events = GREEN_READ;
        else if (ssl_error == SSL_ERROR_WANT_WRITE)
            events = GREEN_WRITE;
        else
            break;
    }
    /* Our alert, if the socket takes it, tells the peer why. */
    tls_send_held(conn);
    return tls_failure(conn, ssl_error);
}

/* Enter a call as a reader and/or writer of conn; EBUSY if taken. */
static int tls_enter(green_tls_t *conn, int sides)
{
    if (conn->busy & sides)
        return EBUSY;
    conn->busy |= sides;
    return 0;
}

/* Run one step (with `all`, until every byte is written, under one
 * deadline).  A failure ends the connection, except a read cut by a timeout
 * or a kill, which leaves OpenSSL's state whole. */
static int tls_step(green_tls_t *conn, struct tls_op *op, int sides, int all,
                    size_t *out_len)
{
    char *start = op->buf;
    size_t len = op->len, total = 0;
    int err = tls_enter(conn, sides);

    if (err != 0)
        return err;
    do {
        op->buf = start + total;
        op->len = len - total;
        /* A record carries at most SSL3_RT_MAX_PLAIN_LENGTH bytes (one
         * per SSL_write_ex: SSL_MODE_ENABLE_PARTIAL_WRITE). */
        conn->more = all && op->len > SSL3_RT_MAX_PLAIN_LENGTH;
        err = tls_run(conn, op);
        total += err == 0 ? op->done : 0;
    } while (all && err == 0 && total < len);
    conn->more = 0;
    tls_push(conn);
    conn->busy &= ~sides;
    if (err != 0 &&
        !(op->kind == TLS_READ_OP && (err == ETIMEDOUT || err == ECANCELED)))
        conn->state = TLS_ENDED;
    if (out_len != NULL)
        *out_len = total;
    return err;
}

static int tls_handshake(green_tls_t *conn)
{
    const unsigned char *alpn = NULL;
    unsigned int length = 0;
    struct tls_op op = {TLS_HANDSHAKE, NULL, 0, 0, -1.0};
    int err;

    err = tls_step(conn, &op, TLS_READ | TLS_WRITE, 0, NULL);
    if (err != 0)
        return err;
    conn->state = TLS_OPEN;
    SSL_get0_alpn_selected(conn->ssl, &alpn, &length);
    if (length > 0) /* < 256 */
        memcpy(conn->alpn, alpn, length);
    conn->alpn[length] = '\0';
    return 0;
}

static int tls_is_ip(const char *host)
{
    unsigned char address[16];

    return inet_pton(AF_INET, host, address) == 1 ||
           inet_pton(AF_INET6, host, address) == 1;
}

/* SNI and the name the server's certificate must carry. */
static int tls_set_peer_name(green_tls_t *conn, const char *hostname)
{
    int ip = tls_is_ip(hostname), ok = 1;

    if (!ip)
        ok = SSL_set_tlsext_host_name(conn->ssl, hostname);
    if (ok && tls_ctx_of(conn)->verify)
        ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(conn->ssl),
                                                hostname)
                : SSL_set1_host(conn->ssl, hostname);
    ERR_clear_error();
    return ok ? 0 : EINVAL;
}

int green_tls_connect(green_tls_t *conn, const char *hostname)
{
    green_tls_ctx_t *ctx = conn != NULL ? tls_ctx_of(conn) : NULL;
    int err;

    if (ctx == NULL || ctx->role != GREEN_TLS_CLIENT ||
        (hostname == NULL && ctx->verify))
        return EINVAL;
    if (conn->state != TLS_NEW)
        return conn->state == TLS_ENDED ? ESHUTDOWN : EISCONN;
    if (hostname != NULL && (err = tls_set_peer_name(conn, hostname)) != 0)
        return err;
    SSL_set_connect_state(conn->ssl);
    return tls_handshake(conn);
}

int green_tls_accept(green_tls_t *conn)
{
    if (conn == NULL || tls_ctx_of(conn)->role != GREEN_TLS_SERVER)
        return EINVAL;
    if (conn->state != TLS_NEW)
        return conn->state == TLS_ENDED ? ESHUTDOWN : EISCONN;
    SSL_set_accept_state(conn->ssl);
    return tls_handshake(conn);
}

int green_tls_dial(green_tls_t **out, green_tls_ctx_t *ctx, const char *host,
                   int port, double timeout)
{
    green_timeout_t scope;
    green_tls_t *conn = NULL;
    int fd = -1, err;

    if (out == NULL || ctx == NULL || host == NULL)
        return EINVAL;
    if (timeout >= 0 && (err = green_timeout_start(&scope, timeout)) != 0)
        return err;
    err = green_connect_tcp(&fd, host, port, GREEN_FOREVER);
    if (err == 0 && (err = green_tls_new(&conn, ctx, fd)) != 0)
        green_close(fd);
    if (err == 0) {
        conn->owns_fd = 1;
        err = green_tls_connect(conn, host);
    }
    if (timeout >= 0)
        green_timeout_cancel(&scope);
    if (err != 0 && conn != NULL)
        green_tls_destroy(conn);
    if (err == 0)
        *out = conn;
    return err;
}

/* ESHUTDOWN, ENOTCONN or 0: may conn read (or write) now? */
static int tls_check_open(const green_tls_t *conn, const void *buf, size_t len,
                          int writing)
{
    if (buf == NULL && len > 0)
        return EINVAL;
    if (conn->state == TLS_ENDED || (writing && conn->shut_down))
        return ESHUTDOWN;
    return conn->state == TLS_NEW ? ENOTCONN : 0;
}

/* Read, write or write all: check, then one step. */
static int tls_transfer(green_tls_t *conn, enum tls_op_kind kind, void *buf,
                        size_t len, int all, size_t *out_len)
{
    struct tls_op op = {kind, buf, len, 0, -1.0};
    int writing = kind == TLS_WRITE_OP;
    int err = conn != NULL ? tls_check_open(conn, buf, len, writing) : EINVAL;

    if (out_len != NULL)
        *out_len = 0;
    if (err != 0 || len == 0)
        return err;
    return tls_step(conn, &op, writing ? TLS_WRITE : TLS_READ, all, out_len);
}

int green_tls_read(green_tls_t *conn, void *buf, size_t len, size_t *out_len)
{
    return tls_transfer(conn, TLS_READ_OP, buf, len, 0, out_len);
}

int green_tls_write(green_tls_t *conn, const void *buf, size_t len,
                    size_t *out_len)
{
    return tls_transfer(conn, TLS_WRITE_OP, (void *)buf, len, 0, out_len);
}

int green_tls_write_all(green_tls_t *conn, const void *buf, size_t len,
                        size_t *out_len)
{
    return tls_transfer(conn, TLS_WRITE_OP, (void *)buf, len, 1, out_len);
}

int green_tls_shutdown(green_tls_t *conn)
{
    struct tls_op op = {TLS_SHUTDOWN, NULL, 0, 0, -1.0};
    int err;

    if (conn == NULL)
        return EINVAL;
    if (conn->shut_down)
        return 0;
    err = tls_check_open(conn, NULL, 0, 1);
    if (err == 0)
        err = tls_step(conn, &op, TLS_WRITE, 0, NULL);
    if (err == 0)
        conn->shut_down = 1;
    return err;
}

/* ---- Details ------------------------------------------------------------ */

int green_tls_fd(const green_tls_t *conn)
{
    return conn != NULL ? conn->fd : -1;
}

const char *green_tls_alpn(const green_tls_t *conn)
{
    return conn != NULL && conn->alpn[0] != '\0' ? conn->alpn : NULL;
}

const char *green_tls_server_name(const green_tls_t *conn)
{
    return conn != NULL
               ? SSL_get_servername(conn->ssl, TLSEXT_NAMETYPE_host_name)
               : NULL;
}

const char *green_tls_version(const green_tls_t *conn)
{
    return conn != NULL ? SSL_get_version(conn->ssl) : "";
}

int green_tls_resumed(const green_tls_t *conn)
{
    return conn != NULL && SSL_session_reused(conn->ssl) == 1;
}

long green_tls_verify_result(const green_tls_t *conn)
{
    return conn != NULL ? SSL_get_verify_result(conn->ssl) : X509_V_OK;
}

const char *green_tls_error_string(const green_tls_t *conn)
{
    return conn != NULL ? conn->error : "";
}

/* ---- Sessions ------------------------------------------------------------ */

/* A green_tls_session_t is OpenSSL's SSL_SESSION, by another name. */
int green_tls_session_get(green_tls_t *conn, green_tls_session_t **out)
{
    if (conn == NULL || out == NULL ||
        tls_ctx_of(conn)->role != GREEN_TLS_CLIENT)
        return EINVAL;
    if (conn->session == NULL)
        return ENOENT;
    SSL_SESSION_up_ref(conn->session);
    *out = (green_tls_session_t *)conn->session;
    return 0;
}

int green_tls_session_set(green_tls_t *conn, green_tls_session_t *session)
{
    if (conn == NULL || session == NULL || conn->state != TLS_NEW ||
        tls_ctx_of(conn)->role != GREEN_TLS_CLIENT)
        return EINVAL;
    return SSL_set_session(conn->ssl, (SSL_SESSION *)session) == 1 ? 0 : EINVAL;
}

int green_tls_session_destroy(green_tls_session_t *session)
{
    if (session == NULL)
        return EINVAL;
    SSL_SESSION_free((SSL_SESSION *)session);
    return 0;
}
