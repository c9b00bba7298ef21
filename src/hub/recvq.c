/*
 * Multishot receive (recvq.h): per fd in a hub, one long-lived
 * IORING_OP_RECV (IORING_RECV_MULTISHOT, IOSQE_BUFFER_SELECT) and the
 * bytes it brought that no green read has taken yet.
 *
 * Each CQE's bytes leave the provided buffer at once -- into the parked
 * reader's buffer, the rest to the fd's queue -- and the buffer goes back
 * to the ring: an fd nobody reads cannot starve the others, and a fork or
 * a thread exit leaves no buffer owned; the price is one memcpy of what
 * arrived.  A queue past RECVQ_HIGH bytes cancels the request; the read
 * that empties the queue arms it again, so a peer sending faster than
 * the fd is read fills the socket, as without multishot.
 */
#ifdef GREEN_HAVE_URING
#define _GNU_SOURCE
#include "recvq.h"
#include "bytes.h"
#include "fd_record.h"
#include "fd_table.h"
#include "hub_internal.h"
#include "uring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define RECVQ_HIGH (256u * 1024u)
#define RECVQ_MIN_CAP 4096u
/* recvq_read: woken without bytes; look again. */
#define RECVQ_AGAIN (-5)

/* A green read parked on an empty queue. */
typedef struct recvq_reader {
    green_waiter_t w;
    char *buf;
    size_t len, got;
    unsigned char filled; /* got bytes went to buf */
} recvq_reader_t;

typedef struct recvq {
    hub_uring_op_t op; /* the multishot request, while in flight */
    green_hub_t *hub;
    uint64_t token; /* == the fd record's while the fd is not closed */
    int fd;
    int err;                 /* sticky, after the queued bytes; 0: none */
    unsigned char eof;       /* sticky, after the queued bytes */
    unsigned char starved;   /* the request ended for want of buffers */
    unsigned char single;    /* the kernel refused multishot receive */
    unsigned char cancelled; /* the queue is full: the request is cut */
    unsigned char closed;    /* the fd is closed: free at the final CQE */
    bytes_t queue;           /* bytes no read has taken yet */
    recvq_reader_t *reader;
} recvq_t;

__thread struct recvq_counts recvq_counts;
static _Atomic uint64_t recvq_tokens;

/* ---- The queue -------------------------------------------------------- */

int recvq_ready(const struct recvq *rq)
{
    return rq != NULL &&
           (bytes_count(&rq->queue) > 0 || rq->eof || rq->err != 0);
}

/* Stop the request (the queue is full, or bytes were lost): the read that
 * finds the queue empty arms it again. */
static void recvq_stop(recvq_t *rq)
{
    if (!rq->cancelled && hub_uring_cancel(&rq->op) == 0)
        rq->cancelled = 1;
}

static void recvq_append(recvq_t *rq, const char *bytes, size_t len)
{
    if (bytes_append(&rq->queue, bytes, len, RECVQ_MIN_CAP) != 0) {
        /* Reads must not go on past missing bytes: they end in ENOMEM. */
        if (rq->err == 0)
            rq->err = ENOMEM;
        recvq_stop(rq);
        return;
    }
    if (bytes_count(&rq->queue) >= RECVQ_HIGH)
        recvq_stop(rq);
}

/* Up to len queued bytes into buf; an emptied large queue is freed. */
static size_t recvq_take(recvq_t *rq, char *buf, size_t len)
{
    bytes_t *queue = &rq->queue;
    size_t n = bytes_count(queue) < len ? bytes_count(queue) : len;

    if (n > 0)
        memcpy(buf, queue->data + queue->start, n);
    bytes_consume(queue, n);
    if (bytes_count(queue) == 0 && queue->capacity > RECVQ_MIN_CAP) {
        free(queue->data);
        *queue = (bytes_t){0};
    }
    return n;
}

/* ---- Completions (hub greenlet) -------------------------------------- */

/* Bytes that arrived: straight to a parked reader, the rest queued. */
static void recvq_arrived(recvq_t *rq, const char *bytes, size_t len)
{
    recvq_reader_t *reader = rq->reader;

    recvq_counts.arrivals++;
    if (reader != NULL && reader->w.pending && bytes_count(&rq->queue) == 0) {
        size_t n = len < reader->len ? len : reader->len;

        memcpy(reader->buf, bytes, n);
        reader->got = n;
        reader->filled = 1;
        rq->reader = NULL;
        green_unpark(&reader->w, 0, NULL);
        bytes += n;
        len -= n;
    }
    if (len > 0)
        recvq_append(rq, bytes, len);
}

/* The request's final CQE, res as the kernel gave it (not a byte count):
 * note what lasts.  A cut or an orphaned (forked) request just ended. */
static void recvq_ended(recvq_t *rq, int res)
{
    rq->cancelled = 0;
    if (res == 0)
        rq->eof = 1;
    else if (res == -ENOBUFS)
        rq->starved = 1;
    else if (res == -EINVAL)
        rq->single = 1;
    else if (res < 0 && res != -ECANCELED && res != -EINTR &&
             res != -EOWNERDEAD && rq->err == 0)
        rq->err = -res;
}

/* Wake the parked reader to look again (something to report, or the
 * request ended), and a green_wait_fd reader if a read would not wait. */
static void recvq_wake(recvq_t *rq)
{
    green_waiter_t *waiter = rq->hub->fds[rq->fd].reader;

    if (rq->reader != NULL && rq->reader->w.pending &&
        (recvq_ready(rq) || !rq->op.in_flight)) {
        green_unpark(&rq->reader->w, 0, NULL);
        rq->reader = NULL;
    }
    if (waiter != NULL && recvq_ready(rq))
        green_unpark(waiter, 0, NULL);
}

static void recvq_complete(hub_uring_op_t *op, int res, unsigned flags)
{
    recvq_t *rq = container_of(op, recvq_t, op);
    int more = (flags & IORING_CQE_F_MORE) != 0;

    if (flags & IORING_CQE_F_BUFFER) {
        unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;

        if (res > 0 && !rq->closed)
            recvq_arrived(rq, hub_uring_buf(bid, (size_t)res), (size_t)res);
        hub_uring_buf_recycle(bid);
    }
    if (rq->closed) {
        if (!more)
            free(rq);
        return;
    }
    if (!more)
        recvq_ended(rq, (flags & IORING_CQE_F_BUFFER) ? 1 : res);
    recvq_wake(rq);
}

/* ---- Reads ------------------------------------------------------------ */

static void recvq_prep(struct io_uring_sqe *sqe, void *arg)
{
    recvq_t *rq = arg;

    io_uring_prep_recv_multishot(sqe, rq->fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = HUB_URING_BGID;
}

/* The request in flight: 0, or an error (then one ordinary receive). */
static int recvq_arm(recvq_t *rq)
{
    int err;

    if (rq->op.in_flight)
        return 0;
    err = hub_uring_bufs();
    if (err == 0)
        err = hub_uring_start(&rq->op, recvq_prep, rq);
    if (err == 0)
        recvq_counts.arms++;
    return err;
}

/* Park the caller until bytes come (0, *out_len), the request ends or
 * more is queued (RECVQ_AGAIN), or a cut or a close (its error). */
static int recvq_park(recvq_t *rq, task_t *task, recvq_reader_t *r,
                      double timeout, size_t *out_len)
{
    green_hub_t *hub = rq->hub;
    int fd = rq->fd;
    int err = fd_claim_op(hub, fd, GREEN_READ, &r->w);

    if (err != 0)
        return err;
    rq->reader = r;
    hub->fd_waiters++; /* the request itself is background */
    task->block_fd = fd;
    task->block_events = GREEN_READ;
    err = hub_park(hub, task, &r->w, timeout < 0 ? -1.0 : green_now() + timeout,
                   BLOCK_FD);
    hub->fd_waiters--;
    /* A close may have freed rq: it is alive while it is fd's. */
    if (hub->fds[fd].recvq == rq && rq->reader == r)
        rq->reader = NULL;
    fd_release_op(hub, fd, &r->w);
    if (err != 0)
        return err == PARK_OWN_TIMEOUT ? ETIMEDOUT : err;
    *out_len = r->got;
    return r->filled ? 0 : RECVQ_AGAIN;
}

/* One look at the queue, parking if it is empty. */
static int recvq_read(recvq_t *rq, char *buf, size_t len,
                      recvq_timeout_fn timeout, void *ctx, size_t *out_len)
{
    recvq_reader_t r = {.buf = buf, .len = len};
    task_t *task = hub_current_task(rq->hub);
    double wait;

    if (bytes_count(&rq->queue) > 0 || len == 0) {
        *out_len = recvq_take(rq, buf, len);
        return 0;
    }
    if (rq->err != 0)
        return rq->err;
    if (rq->eof) {
        *out_len = 0;
        return 0;
    }
    if (task == NULL)
        return EPERM;
    if (rq->single || rq->starved || recvq_arm(rq) != 0) {
        recvq_counts.fallbacks++;
        rq->starved = 0;
        return RECVQ_NONE;
    }
    if (task->killed)
        return ECANCELED;
    wait = timeout(ctx);
    if (wait == 0)
        return ETIMEDOUT;
    green_waiter_init(&r.w);
    return recvq_park(rq, task, &r, wait, out_len);
}

static uint64_t recvq_token_of(int fd)
{
    struct hub_fd_record *record = hub_fd_record(fd, 0);

    return record != NULL ? atomic_load(&record->recvq) : 0;
}

/* fd's queue in hub, or NULL; one left by a close in another thread is
 * dropped. */
static recvq_t *recvq_of(green_hub_t *hub, int fd)
{
    recvq_t *rq;

    if (hub == NULL || fd < 0 || (size_t)fd >= hub->fd_capacity)
        return NULL;
    rq = hub->fds[fd].recvq;
    if (rq != NULL && rq->token != recvq_token_of(fd)) {
        recvq_close(hub, fd);
        rq = NULL;
    }
    return rq;
}

int recvq_owned(int fd)
{
    return fd >= 0 && recvq_token_of(fd) != 0;
}

int recvq_recv(int fd, void *buf, size_t len, int flags, int with_addr,
               recvq_timeout_fn timeout, void *ctx, size_t *out_len)
{
    recvq_t *rq = recvq_of(hub_existing(), fd);
    int err;

    if (rq == NULL)
        return recvq_owned(fd) ? EBUSY : RECVQ_NONE;
    if (with_addr || (flags & ~MSG_DONTWAIT) != 0)
        return EOPNOTSUPP;
    do
        err = recvq_read(rq, buf, len, timeout, ctx, out_len);
    while (err == RECVQ_AGAIN);
    return err;
}

/* ---- Life --------------------------------------------------------------- */

/* A new queue for fd in hub, claimed in fd's record. */
static int recvq_make(green_hub_t *hub, int fd, struct hub_fd_record *record)
{
    fd_slot_t *slot = fd_slot(hub, fd);
    recvq_t *rq = slot != NULL ? calloc(1, sizeof(*rq)) : NULL;
    uint64_t none = 0;

    if (rq == NULL)
        return ENOMEM;
    rq->op.complete = recvq_complete;
    rq->op.background = 1;
    rq->hub = hub;
    rq->fd = fd;
    rq->token = atomic_fetch_add(&recvq_tokens, 1) + 1;
    if (!atomic_compare_exchange_strong(&record->recvq, &none, rq->token)) {
        free(rq);
        return EBUSY; /* another hub's */
    }
    slot->recvq = rq;
    return 0;
}

int recvq_enable(int fd)
{
    green_hub_t *hub;
    struct hub_fd_record *record;
    int err;

    if (!hub_uring_active())
        return ENOTSUP;
    hub = hub_existing();
    if (recvq_of(hub, fd) != NULL)
        return 0;
    record = hub_fd_record(fd, 1);
    if (record == NULL)
        return (size_t)fd >= FD_TABLE_MAX_FDS ? EBADF : ENOMEM;
    err = hub_uring_bufs();
    return err != 0 ? err : recvq_make(hub, fd, record);
}

void recvq_close(green_hub_t *hub, int fd)
{
    fd_slot_t *slot = &hub->fds[fd];
    recvq_t *rq = slot->recvq;

    if (rq == NULL)
        return;
    slot->recvq = NULL;
    rq->reader = NULL; /* woken by the close, as the fd's op reader */
    free(rq->queue.data);
    rq->queue = (bytes_t){0};
    if (rq->op.in_flight) {
        rq->closed = 1;
        hub_uring_cancel(&rq->op);
    } else {
        free(rq);
    }
}

/* The hub's ring is gone, so no request is in flight.  Bytes still
 * queued for an open fd go with the hub that received them. */
void recvq_hub_destroy(green_hub_t *hub)
{
    for (size_t fd = 0; fd < hub->fd_capacity; fd++) {
        recvq_t *rq = hub->fds[fd].recvq;
        struct hub_fd_record *record;
        uint64_t token;

        if (rq == NULL)
            continue;
        record = hub_fd_record((int)fd, 0);
        token = rq->token;
        if (record != NULL)
            atomic_compare_exchange_strong(&record->recvq, &token, 0);
        hub->fds[fd].recvq = NULL;
        free(rq->queue.data);
        free(rq);
    }
}

#endif /* GREEN_HAVE_URING */
