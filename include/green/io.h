/*
 * libgreen — green I/O: sockets, pipes and other pollable file descriptors
 * that block only the calling green thread.
 *
 * Every call is the ordinary nonblocking syscall; when it would block
 * (EAGAIN) the green thread parks on the fd with green_wait_fd() and the
 * call is retried, so the caller sees blocking semantics while the hub runs
 * other green threads.  From plain C code (the main greenlet, before any
 * green thread exists) the calls behave like the blocking syscalls.
 *
 * Error convention for this whole header: every function returns 0 on
 * success or a positive errno code.  Byte counts and new descriptors are
 * returned through out parameters: size_t *out_len may be NULL when the
 * caller does not need the count; int *out_fd may not (EINVAL).  Besides
 * the syscall's own errors:
 *   ETIMEDOUT   the fd's timeout (green_set_timeout) or an enclosing
 *               green_timeout scope expired
 *   ECANCELED   the calling green thread was killed
 *   EBADF       the fd was closed by green_close() while waiting
 *   EBUSY       another green thread already waits for the same event on
 *               the same fd (two readers, or two writers)
 *   EINVAL      a NULL buffer with a non-zero length, or a bad argument
 * On an error after partial progress (the *_all calls), the out count still
 * tells how many bytes were transferred.
 *
 * Descriptors: green_socket() and green_accept() make nonblocking,
 * close-on-exec descriptors.  Other fds given to green_accept, green_connect,
 * green_read and green_write are switched to O_NONBLOCK on first use (this
 * is remembered per fd until green_close()); green_recv/send and friends
 * use MSG_DONTWAIT and work on any socket.  Close fds used here with
 * green_close(), which also forgets the fd's timeout and nonblocking state.
 * Fds made by green_socket() and green_accept() are also managed by the hub
 * (green_fd_manage(): registered once, edge-triggered), so for them a plain
 * close() is a bug, not just a lost timeout: if the number is reused, the
 * new fd's waits can hang.  libgreen_patch's close() hook is safe.
 * Socket writes (green_send*) to a peer that closed return EPIPE, never
 * SIGPIPE; green_write follows write(2) (SIGPIPE on a pipe unless ignored).
 */
#ifndef GREEN_IO_H
#define GREEN_IO_H

#include <green/hub.h>
#include <green/pool.h>

#include <netdb.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

/* <netdb.h> declares struct addrinfo only with POSIX feature macros; a
 * strict -std=c11 program must still be able to include this header. */
struct addrinfo;

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Descriptors and timeouts ---------------------------------------- */

/* socket(2) with SOCK_NONBLOCK | SOCK_CLOEXEC; *out_fd gets the fd. */
int green_socket(int *out_fd, int domain, int type, int protocol);

/* Close fd, waking every green thread blocked on it with EBADF, and forget
 * its timeout.  Safe while another green thread is reading or writing.
 * Only waiters of the calling thread's hub are woken: an fd is used by one
 * hub at a time. */
int green_close(int fd);

/* Per-fd timeout in seconds for every blocking call on fd (like Python's
 * socket.settimeout): each call fails with ETIMEDOUT after this long;
 * green_send_all/green_recv_all count it once for the whole transfer.
 * GREEN_FOREVER (any negative value) removes it; 0 makes a call that would
 * block fail with ETIMEDOUT at once.  Enclosing green_timeout scopes apply
 * as well: the earliest deadline wins.  EBADF for a negative fd. */
int green_set_timeout(int fd, double seconds);
/* The fd's timeout, GREEN_FOREVER if none. */
double green_get_timeout(int fd);

/* ---- Sockets ------------------------------------------------------- */

/* accept4(2); the new fd is nonblocking and close-on-exec.  addr and
 * addrlen may be NULL. */
int green_accept(int *out_fd, int listen_fd, struct sockaddr *addr,
                 socklen_t *addrlen);

/* connect(2).  Waits for the connection (the fd's timeout and timeout
 * scopes apply), then reports its outcome from SO_ERROR (ECONNREFUSED...).
 * After ETIMEDOUT the socket is unusable: close it. */
int green_connect(int fd, const struct sockaddr *addr, socklen_t addrlen);

/* recv(2)/send(2) of at most len bytes.  *out_len == 0 from green_recv
 * means the peer closed (or len was 0). */
int green_recv(int fd, void *buf, size_t len, int flags, size_t *out_len);
int green_send(int fd, const void *buf, size_t len, int flags, size_t *out_len);

/* Receive exactly len bytes, or fewer only if the peer closes first
 * (then 0 is returned with *out_len < len). */
int green_recv_all(int fd, void *buf, size_t len, size_t *out_len);
/* Send all len bytes, resuming after short writes.  The fd's timeout is a
 * deadline for the whole transfer, not for each wait. */
int green_send_all(int fd, const void *buf, size_t len, size_t *out_len);

/* recvfrom(2)/sendto(2), for UDP and datagram Unix sockets.  addr and
 * addrlen may be NULL for green_recvfrom. */
int green_recvfrom(int fd, void *buf, size_t len, int flags,
                   struct sockaddr *addr, socklen_t *addrlen, size_t *out_len);
int green_sendto(int fd, const void *buf, size_t len, int flags,
                 const struct sockaddr *addr, socklen_t addrlen,
                 size_t *out_len);

/* ---- Other syscalls ----------------------------------------------------- */

/* The retry loop every call above uses, for syscalls this header lacks
 * (readv, sendmsg, ...): call attempt(fd, op), which makes one nonblocking
 * try and returns its result or -1 with errno; on EAGAIN park until fd is
 * ready for `events` (GREEN_READ or GREEN_WRITE) and try again.  timeout
 * (seconds, GREEN_FOREVER: none) is a deadline for the whole call; timeout
 * scopes apply.  *out (may be NULL) gets attempt's non-negative result.  The
 * fd must be nonblocking, or attempt must pass MSG_DONTWAIT. */
typedef ssize_t (*green_io_attempt_fn)(int fd, void *op);
int green_io_retry(int fd, int events, double timeout,
                   green_io_attempt_fn attempt, void *op, size_t *out);

/* ---- Pipes and other pollable fds ------------------------------------ */

/* read(2)/write(2) on a pipe, socket, eventfd, tty...  Regular files never
 * report EAGAIN, so reading them blocks the OS thread for the disk: use
 * the thread pool (green/tpool.h) for file I/O. */
int green_read(int fd, void *buf, size_t len, size_t *out_len);
int green_write(int fd, const void *buf, size_t len, size_t *out_len);

/* ---- DNS (runs in the thread pool, see green/tpool.h) ---------------- */

/* getaddrinfo(3) in a thread-pool worker, so /etc/hosts, nsswitch and the
 * system resolver apply while the hub keeps running.  timeout in seconds
 * (GREEN_FOREVER: none; timeout scopes apply too).  Returns 0, ETIMEDOUT,
 * ECANCELED, ENOMEM, or the resolver's failure as an errno code: ENOENT
 * (EAI_NONAME, EAI_NODATA), EAGAIN (EAI_AGAIN), EAFNOSUPPORT (EAI_FAMILY),
 * ESRCH (EAI_SERVICE), EINVAL (EAI_BADFLAGS, EAI_SOCKTYPE), EIO (any other),
 * or errno for EAI_SYSTEM.  gai_error (may be NULL) receives the raw EAI_*
 * code (0 when the resolver did not fail).  Free *res with freeaddrinfo. */
int green_getaddrinfo(const char *node, const char *service,
                      const struct addrinfo *hints, struct addrinfo **res,
                      double timeout, int *gai_error);

/* ---- Convenience: listeners, clients, servers ------------------------ */

#define GREEN_LISTEN_REUSEADDR 0x1 /* SO_REUSEADDR */
#define GREEN_LISTEN_REUSEPORT 0x2 /* SO_REUSEPORT: one listener per hub */

/* Bind and listen.  address is numeric, never resolved:
 *   "127.0.0.1:8080", ":8080" (0.0.0.0), "[::1]:0", "[::]:8080" (IPv6
 *   only), or "unix:/path/to/socket" (an existing socket file is replaced)
 * Port 0 picks a free port: ask green_local_port().  backlog <= 0 means
 * SOMAXCONN.  EINVAL for a malformed address. */
int green_listen(int *out_fd, const char *address, int backlog, int flags);

/* The local port of a bound TCP/UDP socket. */
int green_local_port(int fd, int *out_port);

/* Resolve host (green_getaddrinfo) and connect over TCP to the first
 * address that accepts, IPv4 or IPv6.  timeout covers the whole call
 * (resolution and every attempt); GREEN_FOREVER for none. */
int green_connect_tcp(int *out_fd, const char *host, int port, double timeout);

/* eventlet's serve(): accept connections forever and run
 * handler(client_fd, arg) for each in its own green thread, spawned into
 * pool (green/pool.h: at most its size run at once, and accepting pauses
 * while it is full) or, with a NULL pool, with green_spawn_n and no limit.
 * The server closes client_fd when the handler returns, so the handler must
 * not close it, and must return rather than end its green thread with
 * green_thread_exit.  Transient failures to accept or spawn (EMFILE,
 * ENFILE, ENOBUFS, ENOMEM, EAGAIN, ECONNABORTED, EPERM) are retried after
 * a short pause. */
typedef void (*green_serve_fn)(int client_fd, void *arg);
typedef struct green_server green_server_t;

int green_server_new(green_server_t **out, int listen_fd,
                     green_serve_fn handler, void *arg, green_pool_t *pool);
/* Run the accept loop in the calling green thread (or main greenlet) until
 * green_server_stop(); then wait for the running handlers to end and
 * return 0.  Also returns the accept error that ended the loop, or the
 * caller's ETIMEDOUT/ECANCELED: handlers are then left running (they keep
 * the server alive until they end). */
int green_server_serve(green_server_t *server);
/* Ask serve to stop accepting and return (at once if it has not started:
 * a stopped server stays stopped); callable from any green thread of the
 * server's hub, handlers included.  The listener stays open. */
void green_server_stop(green_server_t *server);
/* Connections being handled: running handlers, plus one whose spawn
 * waits for a slot in a full pool. */
size_t green_server_active(const green_server_t *server);
/* Release the server once serve has returned (or was never called); its
 * memory goes when the last running handler ends. */
void green_server_destroy(green_server_t *server);

/* Shorthand: new + serve + free, for a server that runs until its green
 * thread is killed or an accept error ends it. */
int green_serve(int listen_fd, green_serve_fn handler, void *arg,
                green_pool_t *pool);

#ifdef __cplusplus
}
#endif

#endif /* GREEN_IO_H */
