/*
 * Internal: io_uring operations on the calling thread's hub, for the
 * layers above the hub (green I/O, regular files).  The hub's io_uring
 * backend (poll_uring.c) owns one ring per hub; readiness waits
 * (green_wait_fd) and these operations complete in the same loop.
 *
 * Built only when CMake found liburing (GREEN_HAVE_URING); without it
 * hub_uring_active() is 0 and nothing else here exists, so callers keep
 * their io_uring code under #ifdef GREEN_HAVE_URING.
 *
 * Everything here is for the hub's own OS thread: call it from a green
 * thread or the main greenlet of the thread whose hub runs io_uring.
 */
#ifndef GREEN_HUB_URING_H
#define GREEN_HUB_URING_H

#ifdef GREEN_HAVE_URING

#include <liburing.h>

/* 1 if the calling thread's hub (made if needed) runs io_uring: the
 * backend was chosen and the kernel allowed it (else the hub fell back to
 * epoll and said why on stderr). */
int hub_uring_active(void);

/* Fills the one SQE of an operation (io_uring_prep_*).  It must not set
 * user_data or IOSQE_IO_LINK/HARDLINK: the hub owns user_data. */
typedef void (*hub_uring_prep_fn)(struct io_uring_sqe *sqe, void *arg);

/* Submit one operation and park the calling task until its CQE.
 *
 * Returns 0 with *res = cqe->res (a byte count, an fd, or -errno from the
 * kernel) once the operation completed.  The SQE goes to the kernel with
 * the hub's next io_uring_enter, together with its wait.
 *
 * A cut -- timeout (seconds; GREEN_FOREVER: none) expires, an enclosing
 * timeout scope fires, or the task is killed -- makes the hub submit an
 * IORING_OP_ASYNC_CANCEL for the operation and park the task again,
 * ignoring further kills and scopes, until the operation's own CQE has
 * arrived: when this returns, the kernel no longer touches the memory the
 * operation was given.  Then:
 *  - the operation ended cut (res -ECANCELED, or -EINTR from an io-wq
 *    worker): returns ETIMEDOUT (timeout or scope) or ECANCELED (kill),
 *    *res = that res;
 *  - it completed anyway (data moved, or another error): returns 0 with
 *    *res, so nothing it did is lost.  A kill or a fired scope is sticky
 *    and fails the caller's next blocking call instead.
 * fd >= 0: the operation works on fd, as its reader (events GREEN_READ)
 * or writer (GREEN_WRITE) in this hub, as green_wait_fd's waiters do:
 * EBUSY without submitting if that place is taken, and a close of fd
 * (green_notify_close) cuts the operation, which then returns EBADF.
 * fd < 0: none of that (regular files, where several may be in flight).
 * Also: ECANCELED without submitting if the task is killed already;
 * EPERM from the hub greenlet; ENOTSUP if the hub does not run io_uring;
 * ENOMEM.  res may not be NULL (EINVAL). */
int hub_uring_submit(int fd, int events, hub_uring_prep_fn prep, void *arg,
                     double timeout, int *res);

/* 1 if the calling thread's ring defers completions to the hub's own
 * io_uring_enter (IORING_SETUP_DEFER_TASKRUN, Linux 6.1; not under
 * valgrind), 0 if it runs them as task work at any kernel entry (older
 * kernels) or the hub does not run io_uring.  Either way a completion is
 * seen at the hub's next wait or submit. */
int hub_uring_defers_taskrun(void);

/* For tests: 0 makes the rings made from now on, in every thread, do
 * without DEFER_TASKRUN, as where the kernel refuses it; 1 (the default)
 * lets them use it. */
void hub_uring_set_defer_taskrun(int allow);

/* ---- Long-lived requests (multishot accept/recv, buffer rings) ---------
 *
 * hub_uring_submit is built on these.  A hub_uring_op_t is the request's
 * user_data: it must stay at its address until the request's final CQE,
 * the first without IORING_CQE_F_MORE. */
typedef struct hub_uring_op hub_uring_op_t;

struct hub_uring_op {
    /* Set by the caller.  Called by the hub for each CQE of the request,
     * from the hub greenlet: it must not block (green_unpark is how it
     * hands a result to a parked task).  On the final CQE (no
     * IORING_CQE_F_MORE in flags) the hub is done with op before calling
     * complete, which may then free it. */
    void (*complete)(hub_uring_op_t *op, int res, unsigned flags);
    /* Set by the caller: 1 if the request should not keep the hub from
     * idling (a multishot accept nobody waits on must not turn main's
     * EDEADLK into a hang), 0 if it counts like an fd waiter. */
    unsigned char background;

    /* The hub's, zeroed by hub_uring_start. */
    unsigned char in_flight;
    void *shield; /* the waiter of hub_uring_cancel_wait */
    hub_uring_op_t *prev, *next;
    /* Under valgrind only: where the kernel writes the result (the SQE's
     * opcode, addr, addr2, and the address buffer's size). */
    struct {
        unsigned char opcode;
        unsigned len;
        void *addr, *addr2;
    } out;
};

/* Queue the request that prep fills, with op as its user_data; the SQE is
 * submitted at the hub's next wait (or now, if the submission queue is
 * full).  0, ENOTSUP (no io_uring hub) or EBUSY (op is in flight). */
int hub_uring_start(hub_uring_op_t *op, hub_uring_prep_fn prep, void *arg);

/* Cut op's request: submit IORING_OP_ASYNC_CANCEL for it and park the
 * calling task, ignoring kills and timeout scopes (a kill stays sticky),
 * until its final CQE has been handed to op->complete.  0 at once if op
 * is not in flight.  From hub teardown (a killed thread's cleanup) the hub
 * waits for the CQE in the kernel instead of parking. */
int hub_uring_cancel_wait(hub_uring_op_t *op);

/* Cut op's request without waiting: the cancel goes to the kernel now, so
 * the request drops its reference to its file before this returns (a
 * close that follows really closes); op->complete still gets the final
 * CQE later.  0 at once if op is not in flight. */
int hub_uring_cancel(hub_uring_op_t *op);

/* The calling thread's ring, for registering resources (buffer rings,
 * files); NULL if its hub does not run io_uring.  A forked child's hub
 * gets a new ring: key what was registered by hub_uring_ring_id(), which
 * is unique per ring within the process (0: no ring). */
struct io_uring *hub_uring_ring(void);
unsigned long hub_uring_ring_id(void);

/* ---- The hub's provided buffers (IOSQE_BUFFER_SELECT) ------------------
 *
 * One buffer ring per hub, buffer group HUB_URING_BGID, made at the first
 * hub_uring_bufs (a forked child's hub makes its own).  A CQE with
 * IORING_CQE_F_BUFFER names the buffer (flags >> IORING_CQE_BUFFER_SHIFT)
 * that its res bytes went to; it is the owner's until given back with
 * hub_uring_buf_recycle, and the ring may run empty (-ENOBUFS). */
#define HUB_URING_BGID 0

/* 0 once the calling thread's hub has its buffer ring; ENOTSUP if the hub
 * does not run io_uring or the kernel refused the ring (before 5.19),
 * ENOMEM. */
int hub_uring_bufs(void);

/* Buffer bid of the hub's ring, holding len bytes the kernel wrote. */
const void *hub_uring_buf(unsigned bid, size_t len);
void hub_uring_buf_recycle(unsigned bid);

/* For tests: the number of buffers (a power of two, 1 to 32768) of the
 * rings made from now on, in every thread.  EINVAL otherwise. */
int hub_uring_set_buf_count(unsigned count);

#else /* !GREEN_HAVE_URING */

static inline int hub_uring_active(void)
{
    return 0;
}

#endif /* GREEN_HAVE_URING */

#endif /* GREEN_HUB_URING_H */
