/*
 * libgreen — TLS over green sockets, built on OpenSSL 3.  OpenSSL is
 * optional when libgreen is built (CMake option GREEN_TLS, docs/tls.md):
 * without it this header is still installed but its functions are absent.
 *
 * A context (green_tls_ctx_t) holds the configuration shared by many
 * connections: role, certificate and key, trusted CAs, verification, ALPN,
 * SNI.  A connection (green_tls_t) runs TLS over one connected green
 * socket.  Every step (handshake, read, write, shutdown) parks only the
 * calling green thread while the socket is not ready, in whichever
 * direction OpenSSL needs (a read that must write a KeyUpdate answer,
 * a write that must first read, are handled).
 *
 * Safe by default: a client context verifies the server's certificate
 * chain against the system's CA store and checks the host name given to
 * green_tls_connect; TLS 1.2 is the minimum version.
 *
 * Timeouts: the socket's timeouts (green_set_timeouts) bound each step
 * like the green_recv/green_send calls: the receive timeout a read, the
 * send timeout a write (green_tls_write_all: one deadline for the whole
 * transfer), the earlier of both a handshake or a shutdown.  Enclosing
 * green_timeout scopes apply too, and a kill ends the step with ECANCELED.
 *
 * Errors: every function returns 0 or a positive errno code.  Besides those
 * of green/io.h (ETIMEDOUT, ECANCELED, EBADF, ECONNRESET, EPIPE...):
 *   EKEYREJECTED  the peer's certificate failed verification (untrusted
 *                 CA, expired, wrong host name...): green_tls_verify_result
 *                 gives OpenSSL's X509_V_ERR_* code
 *   EPROTO        any other TLS failure (alert from the peer, malformed
 *                 record, no common protocol version or cipher...)
 *   ECONNABORTED  the peer's transport ended without a close_notify: the
 *                 data may have been truncated (never reported as EOF)
 *   ENOTCONN      read or write before the handshake
 *   ESHUTDOWN     the connection was already ended: by an earlier error
 *                 (any but a read's ETIMEDOUT or ECANCELED: after a cut
 *                 handshake, write or shutdown the stream's state is
 *                 unknown, so it never continues), or, for writes, by
 *                 green_tls_shutdown
 *   EBUSY         a second green thread reads (or writes) while one does
 * green_tls_error_string tells OpenSSL's reason for the last failure.
 * A read cut by ETIMEDOUT or ECANCELED leaves the connection usable: no
 * data is lost, the next read continues.
 *
 * Threads: a context may be shared by connections on any hub; a connection
 * is used from one hub, by at most one reading and one writing green
 * thread at a time.
 */
#ifndef GREEN_TLS_H
#define GREEN_TLS_H

#include <green/export.h>

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct green_tls_ctx green_tls_ctx_t;
typedef struct green_tls green_tls_t;
/* A client's saved session, to resume with a later connection. */
typedef struct green_tls_session green_tls_session_t;

/* ---- Contexts -------------------------------------------------------- */

typedef enum { GREEN_TLS_CLIENT, GREEN_TLS_SERVER } green_tls_role_t;

/* A new context.  A client verifies the server (system CA store, host
 * name); a server asks no client certificate until green_tls_ctx_set_verify.
 * Configure a context before making connections from it.
 * ENOMEM, or EPROTO when OpenSSL fails to set up. */
GREEN_EXTERN int green_tls_ctx_new(green_tls_ctx_t **out,
                                   green_tls_role_t role);
/* Drop the caller's reference: the context lives on while connections made
 * from it (or chosen by an SNI callback) exist.  EINVAL for NULL. */
GREEN_EXTERN int green_tls_ctx_destroy(green_tls_ctx_t *ctx);

/* The certificate chain (PEM: the leaf first, then intermediates) and its
 * private key (PEM), required for a server.  ENOENT or EACCES for a file
 * that cannot be read; EINVAL when a file does not parse or the key does
 * not match the certificate (green_tls_ctx_error_string tells which). */
GREEN_EXTERN int green_tls_ctx_use_certificate(green_tls_ctx_t *ctx,
                                               const char *chain_file,
                                               const char *key_file);

/* Trust exactly the CAs of ca_file (PEM, may hold several) and/or ca_dir
 * (OpenSSL hashed directory), instead of the system store; either may be
 * NULL, not both.  Errors as green_tls_ctx_use_certificate. */
GREEN_EXTERN int green_tls_ctx_load_ca(green_tls_ctx_t *ctx,
                                       const char *ca_file, const char *ca_dir);

/* Whether to verify the peer.  Client: 1 (the default) verifies the
 * server's chain and host name, 0 accepts any server (tests only).
 * Server: 1 requires a client certificate signed by a trusted CA, 0 (the
 * default) asks for none.  EINVAL for another value. */
GREEN_EXTERN int green_tls_ctx_set_verify(green_tls_ctx_t *ctx, int verify);

/* ALPN: protocols is a comma-separated list such as "h2,http/1.1".  A
 * client offers them in that order; a server picks the first of its own
 * list that the client offers, and with none in common goes on without
 * ALPN (green_tls_alpn then gives NULL).  NULL or "" turns ALPN off.
 * EINVAL for an empty name or one longer than 255 bytes. */
GREEN_EXTERN int green_tls_ctx_set_alpn(green_tls_ctx_t *ctx,
                                        const char *protocols);

/* TLS 1.3 session tickets a server sends after each full handshake: 1 by
 * default (a client resumes one connection with it; OpenSSL's own default
 * is 2), 0 for none (then no TLS 1.3 client resumes).  Each ticket costs
 * the server nearly a tenth of a full handshake's CPU.  They go out with
 * the connection's first write or close_notify, in the same send.  EINVAL
 * for a client context or a negative count. */
GREEN_EXTERN int green_tls_ctx_set_tickets(green_tls_ctx_t *ctx, int count);

/* SNI on a server: for each handshake whose client names a server, call
 * fn(server_name, arg); it returns the context whose certificate to use
 * for that connection, or NULL to keep this one.  The returned context must be
 * a server context; the connection holds a reference to it.  fn runs inside the
 * handshake: it must not park. NULL fn removes the callback. */
typedef green_tls_ctx_t *(*green_tls_sni_fn)(const char *server_name,
                                             void *arg);
GREEN_EXTERN int green_tls_ctx_set_sni(green_tls_ctx_t *ctx,
                                       green_tls_sni_fn fn, void *arg);

/* OpenSSL's reason for the context's last failure, or "" (valid until the
 * next call on ctx). */
GREEN_EXTERN const char *green_tls_ctx_error_string(const green_tls_ctx_t *ctx);

/* ---- Connections ----------------------------------------------------- */

/* A connection over fd, a connected stream socket, which stays the caller's
 * (close it with green_close after green_tls_destroy).  fd is switched to
 * O_NONBLOCK and, if TCP, to TCP_NODELAY (a TLS flight is several sends
 * that Nagle's algorithm would delay).  Nothing is sent until
 * green_tls_connect or green_tls_accept.
 * EINVAL for a NULL ctx or a negative fd; ENOMEM. */
GREEN_EXTERN int green_tls_new(green_tls_t **out, green_tls_ctx_t *ctx, int fd);

/* Client handshake.  hostname is sent as SNI (unless it is an IP address)
 * and, when the context verifies, is what the certificate must name (DNS
 * name or IP address).  EINVAL for a NULL hostname when verifying, or for
 * a server context. */
GREEN_EXTERN int green_tls_connect(green_tls_t *conn, const char *hostname);

/* Server handshake.  EINVAL for a client context; EISCONN after a
 * handshake. */
GREEN_EXTERN int green_tls_accept(green_tls_t *conn);

/* Shorthand for a client: green_connect_tcp(host, port), green_tls_new and
 * green_tls_connect(host), with timeout (seconds, GREEN_FOREVER: none)
 * bounding all of it.  The connection owns its socket: green_tls_destroy
 * closes it.  On failure nothing is left to ask for OpenSSL's reason: make
 * those three calls yourself for that. */
GREEN_EXTERN int green_tls_dial(green_tls_t **out, green_tls_ctx_t *ctx,
                                const char *host, int port, double timeout);

/* Read at most len bytes of application data: every record at hand (held
 * by OpenSSL or in the socket) that fits, waiting only while there is
 * none.  *out_len == 0 (with 0 returned) means the peer's close_notify: a
 * clean end of the stream.  A failure after some records (a bad record,
 * truncation) is the next call's.  out_len may be NULL. */
GREEN_EXTERN int green_tls_read(green_tls_t *conn, void *buf, size_t len,
                                size_t *out_len);
/* Write up to len bytes (at least one record's worth unless it fails);
 * *out_len gets how many.  out_len may be NULL. */
GREEN_EXTERN int green_tls_write(green_tls_t *conn, const void *buf, size_t len,
                                 size_t *out_len);
/* Write all len bytes.  The socket's send timeout is one deadline for the
 * whole transfer, like green_send_all; on error *out_len (may be NULL)
 * tells how many bytes were accepted.  Records but the last go out with
 * MSG_MORE: TCP sends full segments; the last record pushes them. */
GREEN_EXTERN int green_tls_write_all(green_tls_t *conn, const void *buf,
                                     size_t len, size_t *out_len);

/* Send close_notify: the end of our stream.  Reading may go on until the
 * peer's close_notify (green_tls_read giving 0 bytes); later writes fail
 * with ESHUTDOWN.  A second call does nothing. */
GREEN_EXTERN int green_tls_shutdown(green_tls_t *conn);

/* Free the connection (without sending anything: call green_tls_shutdown
 * first for a clean end; a server's session tickets not sent yet are
 * dropped) and close its socket if green_tls_dial made it.  EINVAL for
 * NULL. */
GREEN_EXTERN int green_tls_destroy(green_tls_t *conn);

/* ---- Connection details ------------------------------------------------ */

/* The connection's socket. */
GREEN_EXTERN int green_tls_fd(const green_tls_t *conn);
/* The ALPN protocol agreed on, NUL-terminated, or NULL for none. */
GREEN_EXTERN const char *green_tls_alpn(const green_tls_t *conn);
/* On a server: the name the client asked for with SNI, or NULL. */
GREEN_EXTERN const char *green_tls_server_name(const green_tls_t *conn);
/* The negotiated version, such as "TLSv1.3". */
GREEN_EXTERN const char *green_tls_version(const green_tls_t *conn);
/* 1 when the handshake resumed a session, else 0. */
GREEN_EXTERN int green_tls_resumed(const green_tls_t *conn);
/* OpenSSL's X509_V_ERR_* result of verifying the peer (0: X509_V_OK). */
GREEN_EXTERN long green_tls_verify_result(const green_tls_t *conn);
/* OpenSSL's reason for the connection's last failure (for EKEYREJECTED:
 * the certificate problem), or "" (valid until the next call on conn). */
GREEN_EXTERN const char *green_tls_error_string(const green_tls_t *conn);

/* ---- Session resumption (client side) --------------------------------- */

/* The latest session the server granted this client connection (TLS 1.3
 * servers send it just after the handshake, so it arrives with the first
 * green_tls_read).  ENOENT when there is none yet, EINVAL on a server.
 * Release it with green_tls_session_destroy. */
GREEN_EXTERN int green_tls_session_get(green_tls_t *conn,
                                       green_tls_session_t **out);
/* Offer session on the next green_tls_connect of conn (same server and
 * context); if the server accepts, green_tls_resumed gives 1 and the
 * handshake skips the certificate exchange.  conn takes its own
 * reference.  Only a session whose connection was ended with
 * green_tls_shutdown resumes: OpenSSL marks the sessions of connections
 * freed otherwise (cut, failed) as not resumable. */
GREEN_EXTERN int green_tls_session_set(green_tls_t *conn,
                                       green_tls_session_t *session);
GREEN_EXTERN int green_tls_session_destroy(green_tls_session_t *session);

#ifdef __cplusplus
}
#endif

#endif /* GREEN_TLS_H */
