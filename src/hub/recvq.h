/*
 * Internal: multishot receive on an io_uring hub (green_recv_multishot in
 * green/io.h).  One IORING_OP_RECV with IORING_RECV_MULTISHOT per socket
 * takes each arrival into a buffer of the hub's provided-buffer ring
 * (uring.h); the bytes then wait in the fd's queue, in this hub, until a
 * green read takes them.  Green I/O asks recvq_recv first; fd.c asks
 * recvq_ready for green_wait_fd and calls recvq_close from
 * green_notify_close.
 *
 * Without liburing nothing here exists but stubs: no fd is ever queued.
 */
#ifndef GREEN_HUB_RECVQ_H
#define GREEN_HUB_RECVQ_H

#include <stddef.h>

/* recvq_recv: fd is not received multishot; use the ordinary paths. */
#define RECVQ_NONE (-4)

/* Seconds the caller may block (GREEN_FOREVER: no limit); asked only when
 * the queue is empty. */
typedef double (*recvq_timeout_fn)(void *ctx);

#ifdef GREEN_HAVE_URING

struct green_hub;
struct recvq;

/* green_recv_multishot(fd), fd a stream socket, for the calling thread's
 * hub. */
int recvq_enable(int fd);

/* 1 if some hub receives fd multishot: its bytes may be queued. */
int recvq_owned(int fd);

/* One green read of up to len bytes from fd, served from its queue:
 *  - queued bytes first (a partial take keeps the rest), then a queued
 *    end of file (0 bytes) or error, which stay;
 *  - an empty queue arms the request if it ended and parks the caller
 *    until bytes arrive, then copies them to buf; the kernel never gets
 *    buf, so a cut (timeout, scope, kill, close) loses nothing;
 *  - flags: 0 or MSG_DONTWAIT (which green calls ignore); others, or with_addr,
 *    EOPNOTSUPP.
 * RECVQ_NONE if fd is not received multishot by this hub, or once after
 * the ring ran out of buffers (and always, if the kernel refused
 * multishot receive): the caller then does one ordinary receive.  EBUSY
 * if another hub receives fd multishot, or another task reads it. */
int recvq_recv(int fd, void *buf, size_t len, int flags, int with_addr,
               recvq_timeout_fn timeout, void *ctx, size_t *out_len);

/* fd.c: 1 if a read of the fd would not wait (bytes, end or error). */
int recvq_ready(const struct recvq *rq);
/* fd.c: fd is being closed: cancel its request (now, in the kernel) and
 * drop its queue. */
void recvq_close(struct green_hub *hub, int fd);
/* hub.c: free what the hub's slots still hold (after its ring is gone). */
void recvq_hub_destroy(struct green_hub *hub);

/* For tests, per thread: multishot requests armed, CQEs with bytes, and
 * ordinary receives made for want of buffers. */
struct recvq_counts {
    unsigned long arms;
    unsigned long arrivals;
    unsigned long fallbacks;
};
extern __thread struct recvq_counts recvq_counts;

#else

struct green_hub;
struct recvq;

static inline int recvq_owned(int fd)
{
    (void)fd;
    return 0;
}

static inline int recvq_ready(const struct recvq *rq)
{
    (void)rq;
    return 0;
}

static inline void recvq_close(struct green_hub *hub, int fd)
{
    (void)hub;
    (void)fd;
}

static inline void recvq_hub_destroy(struct green_hub *hub)
{
    (void)hub;
}

#endif /* GREEN_HAVE_URING */

#endif /* GREEN_HUB_RECVQ_H */
