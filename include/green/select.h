/*
 * libgreen — wait for the first of several things: Go's select, libdill's
 * choose.
 *
 * green_select() tries every case; if some are ready it commits one of
 * them, chosen at random among the ready ones (so no case starves).  If
 * none is ready it commits the default case if there is one, or else
 * parks until a case becomes ready and commits that one.  Exactly one case
 * ever commits: a case that did not fire took nothing (no item left a
 * queue or channel for it, no permit or lock was taken for it), and what a
 * waker hands to a select that has already fired goes to the next waiter.
 *
 * Like every blocking call it obeys enclosing green_timeout scopes and
 * kills: it then returns ETIMEDOUT or ECANCELED and no case committed.  A
 * case that was handed its item, permit or lock just before the kill or
 * timeout still wins: it is reported, and the kill shows at the next
 * blocking call (as for green_park).
 *
 * Objects are the single-hub ones of green/sync.h and green/thread.h.  A
 * cross-hub queue (green_xqueue) cannot be a case: its hand-offs run under
 * its mutex from other OS threads, which cannot claim a select parked on
 * this hub.  Move its items into a green_queue with a green thread, and
 * select on that.

 */
#ifndef GREEN_SELECT_H
#define GREEN_SELECT_H

#include <green/export.h>
#include <green/sync.h>
#include <green/thread.h>

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum green_select_op {
    /* object: a green_queue_t *.  Result 0 with the item in value, or
     * EPIPE once the queue is closed and empty. */
    GREEN_SELECT_GET = 1,
    /* object: a green_queue_t *, value: the item.  Result 0 once it was
     * put (on a channel: taken by a getter), or EPIPE if the queue is
     * closed (the item was not put). */
    GREEN_SELECT_PUT,
    /* object: a green_event_t *.  Result 0 with the sent value in value,
     * or the error given to green_event_send_error. */
    GREEN_SELECT_EVENT,
    /* object: a green_semaphore_t *.  Result 0: a permit was taken. */
    GREEN_SELECT_SEMAPHORE,
    /* object: a green_lock_t *.  Result 0: the caller holds the lock. */
    GREEN_SELECT_LOCK,
    /* object: a green_thread_t *.  Fires when the thread has ended, with
     * green_thread_wait's result: 0 and its return value in value, its
     * error, or ECANCELED if it was killed. */
    GREEN_SELECT_THREAD,
    /* fd, events: fires when fd is readable (GREEN_READ) or writable
     * (GREEN_WRITE), as poll(2) sees it then (an error or hang-up counts as
     * ready), with result 0; EBADF if the fd is closed by green_close_fd
     * or refused by the kernel.  Unlike green_wait_fd it never fires
     * spuriously, and a managed fd (green_fd_manage) may be selected while
     * it is still ready.  Another green thread already waiting on the fd in
     * the same direction: green_select returns EBUSY. */
    GREEN_SELECT_FD,
    /* seconds: fires that long after the call (unless another case fires
     * first).  Unlike an enclosing timeout scope it is a case like the
     * others: green_select returns 0 with it as the fired case. */
    GREEN_SELECT_TIMEOUT,
    /* Fires at once if no other case is ready: the select never parks.
     * At most one per call. */
    GREEN_SELECT_DEFAULT
} green_select_op_t;

typedef struct green_select_case {
    green_select_op_t op;
    void *object;   /* the queue, event, semaphore, lock or thread */
    void *value;    /* PUT: the item; GET, EVENT, THREAD: set on firing */
    double seconds; /* TIMEOUT only */
    int fd, events; /* FD only */
    int result;     /* set on firing: the case's result, see above */
} green_select_case_t;

/* Most cases per call. */
#define GREEN_SELECT_MAX 64

/* Wait for the first of count cases and commit it: *fired gets its index,
 * and that case alone gets its result (and value).  Returns 0 when a case
 * fired (whatever its own result, e.g. EPIPE for a closed queue);
 * ETIMEDOUT or ECANCELED from an enclosing timeout scope or a kill;
 * EINVAL for NULL, no cases, more than GREEN_SELECT_MAX, an unknown op, a
 * missing object, a negative or NaN timeout, a negative fd or bad events,
 * or two default cases; the error of an object that refuses the operation
 * (EINVAL for a bad handle, EPERM for another OS thread's object, EDEADLK
 * for a lock the caller holds, EBUSY for an fd that another green thread
 * waits on); ENOMEM; EPERM in the hub; EDEADLK when the main greenlet
 * would wait with nothing left to wake it. */
GREEN_EXTERN int green_select(green_select_case_t *cases, size_t count,
                              size_t *fired);

#ifdef __cplusplus
}
#endif

#endif /* GREEN_SELECT_H */
