/*
 * libgreen — conveniences over green sockets (green/io.h): listeners by
 * address, TCP clients by name, and an accept loop that serves each
 * connection in a green thread of its own, optionally bounded by a pool.
 *
 * Returns 0 or a positive errno code, like the rest of libgreen.
 */
#ifndef GREEN_NET_H
#define GREEN_NET_H

#include <green/export.h>
#include <green/io.h>
#include <green/pool.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GREEN_LISTEN_REUSEADDR 0x1 /* SO_REUSEADDR */
#define GREEN_LISTEN_REUSEPORT 0x2 /* SO_REUSEPORT: one listener per hub */

/* Bind and listen.  address is numeric, never resolved:
 *   "127.0.0.1:8080", ":8080" (0.0.0.0), "[::1]:0", "[::]:8080" (IPv6
 *   only), or "unix:/path/to/socket" (an existing socket file is replaced)
 * Port 0 picks a free port: ask green_local_port().  backlog <= 0 means
 * SOMAXCONN.  EINVAL for a malformed address. */
GREEN_EXTERN int green_listen(int *out_fd, const char *address, int backlog,
                              int flags);

/* The local port of a bound TCP/UDP socket. */
GREEN_EXTERN int green_local_port(int fd, int *out_port);

/* Resolve host (green_getaddrinfo) and connect over TCP to the first
 * address that accepts, IPv4 or IPv6.  timeout covers the whole call
 * (resolution and every attempt); GREEN_FOREVER for none. */
GREEN_EXTERN int green_connect_tcp(int *out_fd, const char *host, int port,
                                   double timeout);

/* eventlet's serve(): accept connections forever and run
 * handler(client_fd, arg) for each in its own green thread, spawned into
 * pool (green/pool.h: at most its size run at once, and accepting pauses
 * while it is full) or, with a NULL pool, with green_spawn_n and no limit.
 * The server closes client_fd when the handler returns, so the handler must
 * not close it, and must return rather than end its green thread with
 * green_thread_exit.  Transient failures to accept or spawn (EMFILE,
 * ENFILE, ENOBUFS, ENOMEM, EAGAIN, ECONNABORTED, EPERM) are retried after
 * a short pause (EINTR, like every green call, is retried at once), so a
 * server out of file descriptors keeps serving as handlers close theirs. */
typedef void (*green_serve_fn)(int client_fd, void *arg);
typedef struct green_server green_server_t;

/* Called by a handler (in its own green thread): the peer's address as
 * accept(2) gave it, copied into addr (at most *addrlen bytes, like
 * getpeername(2)); *addrlen gets its full length (0 for an unnamed Unix
 * socket).  Unlike getpeername, it still works after the peer has reset
 * the connection.  EPERM outside a handler's green thread (a green thread
 * it spawned included); EINVAL for NULL. */
GREEN_EXTERN int green_server_peer(struct sockaddr *addr, socklen_t *addrlen);

GREEN_EXTERN int green_server_new(green_server_t **out, int listen_fd,
                                  green_serve_fn handler, void *arg,
                                  green_pool_t *pool);
/* Run the accept loop in the calling green thread (or main greenlet) until
 * green_server_stop(); then wait for the running handlers to end and
 * return 0.  Also returns the accept error that ended the loop, or the
 * caller's ETIMEDOUT/ECANCELED: handlers are then left running (they keep
 * the server alive until they end). */
GREEN_EXTERN int green_server_serve(green_server_t *server);
/* Ask serve to stop accepting and return (at once if it has not started:
 * a stopped server stays stopped); callable from any green thread of the
 * server's hub, handlers included.  The listener stays open. */
GREEN_EXTERN void green_server_stop(green_server_t *server);
/* Connections being handled: running handlers, plus one whose spawn
 * waits for a slot in a full pool. */
GREEN_EXTERN size_t green_server_active(const green_server_t *server);
/* Release the server once serve has returned (or was never called); its
 * memory goes when the last running handler ends. */
GREEN_EXTERN void green_server_destroy(green_server_t *server);

/* Shorthand: new + serve + free, for a server that runs until its green
 * thread is killed or an accept error ends it. */
GREEN_EXTERN int green_serve(int listen_fd, green_serve_fn handler, void *arg,
                             green_pool_t *pool);

#ifdef __cplusplus
}
#endif

#endif /* GREEN_NET_H */
