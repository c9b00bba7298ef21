/*
 * libgreen — green I/O: sockets, pipes and other pollable file descriptors
 * that block only the calling green thread.
 *
 * Every call is the ordinary nonblocking syscall; when it would block
 * (EAGAIN) the green thread parks on the fd with green_wait_fd() and the
 * call is retried, so the caller sees blocking semantics while the hub runs
 * other green threads.  On a hub running io_uring, the socket calls and
 * green_read/green_write on sockets and pipes instead submit the operation
 * itself and park until it completes; a call cut by a timeout, a timeout
 * scope, a kill or green_close returns only after its operation was
 * cancelled, so the kernel never writes into a buffer the caller gave up.
 * From plain C code (the main greenlet, before any green thread exists)
 * the calls behave like the blocking syscalls.
 *
 * Error convention for this whole header: every function returns 0 on
 * success or a positive errno code.  Byte counts and new descriptors are
 * returned through out parameters: size_t *out_len may be NULL when the
 * caller does not need the count; int *out_fd may not (EINVAL).  Besides
 * the syscall's own errors:
 *   ETIMEDOUT   the fd's timeout (green_set_timeouts) or an enclosing
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

#include <green/export.h>
#include <green/hub.h>

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Descriptors and timeouts ---------------------------------------- */

/* socket(2) with SOCK_NONBLOCK | SOCK_CLOEXEC; *out_fd gets the fd. */
GREEN_EXTERN int green_socket(int *out_fd, int domain, int type, int protocol);

/* Close fd, waking every green thread blocked on it with EBADF, and forget
 * its timeout.  Safe while another green thread is reading or writing.
 * A regular file is closed as green/file.h's operations are (off the hub,
 * and released even when the call is cut).
 * Only waiters of the calling thread's hub are woken: an fd is used by one
 * hub at a time. */
GREEN_EXTERN int green_close(int fd);

/* Per-fd timeouts in seconds (like Python's socket.settimeout), one per
 * direction: recv_seconds bounds the calls that wait to read (recv, read,
 * accept, ...), send_seconds those that wait to write (send, write,
 * connect, ...), so a reader's idle timeout need not bound the writer's
 * green_send_all.  Each call fails with ETIMEDOUT after this long;
 * green_send_all/green_recv_all count it once for the whole transfer.
 * GREEN_FOREVER (any negative value) means none; 0 makes a call that would
 * block fail with ETIMEDOUT at once.  Enclosing green_timeout scopes apply
 * as well: the earliest deadline wins.  EBADF for a negative fd; EINVAL
 * for NaN. */
GREEN_EXTERN int green_set_timeouts(int fd, double recv_seconds,
                                    double send_seconds);
/* Both directions at once: green_set_timeouts(fd, seconds, seconds). */
GREEN_EXTERN int green_set_timeout(int fd, double seconds);
/* The fd's timeouts (GREEN_FOREVER for none); either pointer may be NULL.
 * EBADF for a negative fd. */
GREEN_EXTERN int green_get_timeouts(int fd, double *recv_seconds,
                                    double *send_seconds);
/* The fd's receive-side timeout, GREEN_FOREVER if none (after
 * green_set_timeout, the one both sides share). */
GREEN_EXTERN double green_get_timeout(int fd);

/* ---- Sockets ------------------------------------------------------- */

/* accept4(2); the new fd is nonblocking and close-on-exec.  addr and
 * addrlen may be NULL. */
GREEN_EXTERN int green_accept(int *out_fd, int listen_fd, struct sockaddr *addr,
                              socklen_t *addrlen);

/* connect(2).  Waits for the connection (the fd's timeout and timeout
 * scopes apply), then reports its outcome from SO_ERROR (ECONNREFUSED...).
 * After ETIMEDOUT the socket is unusable: close it. */
GREEN_EXTERN int green_connect(int fd, const struct sockaddr *addr,
                               socklen_t addrlen);

/* recv(2)/send(2) of at most len bytes.  *out_len == 0 from green_recv
 * means the peer closed (or len was 0). */
GREEN_EXTERN int green_recv(int fd, void *buf, size_t len, int flags,
                            size_t *out_len);
GREEN_EXTERN int green_send(int fd, const void *buf, size_t len, int flags,
                            size_t *out_len);

/* Receive exactly len bytes, or fewer only if the peer closes first
 * (then 0 is returned with *out_len < len). */
GREEN_EXTERN int green_recv_all(int fd, void *buf, size_t len, size_t *out_len);
/* Send all len bytes, resuming after short writes.  The fd's timeout is a
 * deadline for the whole transfer, not for each wait. */
GREEN_EXTERN int green_send_all(int fd, const void *buf, size_t len,
                                size_t *out_len);

/* recvfrom(2)/sendto(2), for UDP and datagram Unix sockets.  addr and
 * addrlen may be NULL for green_recvfrom. */
GREEN_EXTERN int green_recvfrom(int fd, void *buf, size_t len, int flags,
                                struct sockaddr *addr, socklen_t *addrlen,
                                size_t *out_len);
GREEN_EXTERN int green_sendto(int fd, const void *buf, size_t len, int flags,
                              const struct sockaddr *addr, socklen_t addrlen,
                              size_t *out_len);

/* ---- Multishot receive (io_uring) ---------------------------------------- */

/* Receive stream socket fd ahead of its reads, on a hub that runs
 * io_uring: one multishot receive request takes what arrives into the
 * hub's provided buffers, instead of one receive operation per call, and
 * the bytes wait in order in the fd's queue, in this thread's hub, until
 * green_recv, green_recv_all, green_read or a green_bufio reader of fd
 * takes them (TLS over fd reads the same way).  Worth it on connections
 * that make many small reads, such as HTTP keep-alive.
 *
 * Opt-in, because every read of fd must then be one of those calls, from
 * this thread: a read(2) or recv(2) of its own, or through the patch
 * layer, would miss the queued bytes.  Close fd with green_close or
 * green_close_fd (or tell green_notify_close), which cancels the request
 * and drops the queue; a hub that is destroyed drops its queues too.
 *
 * A read that is cut (timeout, timeout scope, kill) loses nothing: the
 * kernel never writes into the caller's buffer, and bytes wait for the
 * next read; a read takes part of the queue and leaves the rest.  The
 * peer's close and errors come after the queued bytes, and stay.
 * green_wait_fd(fd, GREEN_READ) returns at once while bytes are queued.
 * A hub out of buffers falls back to one ordinary receive, as does a
 * kernel without multishot receive (before 6.0): slower, nothing lost.
 *
 * 0 (also if fd is received so already); ENOTSUP if the hub does not run
 * io_uring or the kernel has no buffer rings (before 5.19): nothing
 * changes; EINVAL if fd is not a SOCK_STREAM socket; ENOTSOCK, EBADF;
 * EBUSY if another thread's hub receives fd so; ENOMEM.  Afterwards, on
 * fd: flags other than MSG_DONTWAIT, or an address (green_recvfrom), get
 * EOPNOTSUPP; green_io_retry for GREEN_READ, and reads from another
 * thread, get EBUSY. */
GREEN_EXTERN int green_recv_multishot(int fd);

/* ---- Other syscalls ----------------------------------------------------- */

/* The retry loop every call above uses, for syscalls this header lacks
 * (readv, sendmsg, ...): call attempt(fd, op), which makes one nonblocking
 * try and returns its result or -1 with errno; on EAGAIN park until fd is
 * ready for `events` (GREEN_READ or GREEN_WRITE) and try again.  timeout
 * (seconds, GREEN_FOREVER: none) is a deadline for the whole call; timeout
 * scopes apply.  *out (may be NULL) gets attempt's non-negative result.  The
 * fd must be nonblocking, or attempt must pass MSG_DONTWAIT. */
typedef ssize_t (*green_io_attempt_fn)(int fd, void *op);
GREEN_EXTERN int green_io_retry(int fd, int events, double timeout,
                                green_io_attempt_fn attempt, void *op,
                                size_t *out);

/* ---- Pipes and other pollable fds ------------------------------------ */

/* read(2)/write(2) on a pipe, socket, eventfd, tty...  A regular file
 * never reports EAGAIN: these calls hand it to green_file_read and
 * green_file_write (green/file.h), which park only the green thread (the
 * fd's kind is learnt once, with fstat, and remembered until green_close;
 * per-fd timeouts do not apply to files). */
GREEN_EXTERN int green_read(int fd, void *buf, size_t len, size_t *out_len);
GREEN_EXTERN int green_write(int fd, const void *buf, size_t len,
                             size_t *out_len);

#ifdef __cplusplus
}
#endif

#endif /* GREEN_IO_H */
