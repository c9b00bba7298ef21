/*
 * The client side of every TLS benchmark connection (bench/tls_load.c and
 * bench/http_load.c --tls): TLS 1.3, X25519, TLS_AES_128_GCM_SHA256 only,
 * no certificate verification and no session reuse, so that every server
 * does the same work (a full handshake and the same cipher) and the
 * client saves its CPU.
 *
 * One cipher suite because servers choose differently: Go's crypto/tls
 * picks its own first choice, AES-128-GCM, while an OpenSSL server
 * follows the client's order, whose OpenSSL default puts AES-256-GCM
 * first, 14 AES rounds per block against 10.  AES-128-GCM is the suite
 * every TLS 1.3 peer must support.
 */
#ifndef GREEN_BENCH_TLS_CLIENT_H
#define GREEN_BENCH_TLS_CLIENT_H

#include <openssl/ssl.h>

/* A client context as above, with read-ahead on; NULL on failure (with
 * OpenSSL's error queue set). */
static inline SSL_CTX *tls_client_ctx_new(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (ctx == NULL || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
        !SSL_CTX_set1_groups_list(ctx, "X25519") ||
        !SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256")) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_read_ahead(ctx, 1);
    return ctx;
}

/* OpenSSL asks a transport only for flushes that matter: none holds bytes
 * back. */
static inline long tls_client_transport_ctrl(BIO *bio, int command, long number,
                                             void *pointer)
{
    (void)bio, (void)number, (void)pointer;
    return command == BIO_CTRL_FLUSH;
}

/* A client's own transport under OpenSSL, from its read and write; NULL on
 * failure. */
static inline BIO_METHOD *
tls_client_transport_new(const char *name, int (*read)(BIO *, char *, int),
                         int (*write)(BIO *, const char *, int))
{
    BIO_METHOD *method =
        BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, name);

    if (method != NULL && BIO_meth_set_read(method, read) &&
        BIO_meth_set_write(method, write) &&
        BIO_meth_set_ctrl(method, tls_client_transport_ctrl))
        return method;
    BIO_meth_free(method);
    return NULL;
}

#endif
