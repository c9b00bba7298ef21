/*
 * libgreen — hub layer: one event loop per OS thread.
 *
 * The hub is a greenlet that runs the event loop of its OS thread: ready
 * green threads, timers and file-descriptor readiness.  It is made lazily
 * on the first call that needs it.  Green threads are children of the hub,
 * so when one ends, control returns to the hub.
 *
 * Blocking calls may be made from the thread's main greenlet (plain
 * main()): the caller switches to the hub, which runs everything else until
 * the caller can resume.  A plain C program therefore needs no explicit
 * "run" call.  If the main greenlet waits and nothing could ever wake it,
 * the call returns EDEADLK instead of hanging.
 *
 * Every blocking call returns 0 on success or a positive errno code:
 *   ETIMEDOUT   its timeout, or an enclosing green_timeout scope, expired
 *   ECANCELED   the calling green thread was killed: clean up and return
 *   EDEADLK     the main greenlet waited with nothing left that could wake it
 *   EPERM       called from the hub itself, where blocking is impossible
 *
 * Timeouts are given in seconds as a double; a negative timeout
 * (GREEN_FOREVER) means no timeout.
 *
 * fork: the child keeps the forking thread's hub, green threads and fds
 * (with a new epoll instance, poll set or io_uring ring, and wake-up fd) and
 * its watchdog (a new monitor thread); other threads' hubs do not exist there,
 * so calls to them fail with EPIPE.  The thread pool and fd tables:
 * docs/hub.md.
 */
#ifndef GREEN_HUB_H
#define GREEN_HUB_H

#include <green/export.h>
#include <green/greenlet.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GREEN_FOREVER (-1.0)

typedef struct green_hub green_hub_t;

/* Event-loop backends.  GREEN_BACKEND_DEFAULT picks the environment
 * variable GREEN_HUB_BACKEND ("epoll", "poll" or "io_uring") if set, else
 * io_uring where libgreen was built with liburing (it costs less CPU per
 * request than epoll: docs/benchmarks.md), else epoll on Linux and poll(2) elsewhere.  An unknown
 * GREEN_HUB_BACKEND value means epoll.  GREEN_BACKEND_IO_URING exists
 * where libgreen was built with liburing (else ENOTSUP); where the kernel
 * refuses io_uring (kernel.io_uring_disabled, seccomp, a kernel lacking an
 * operation libgreen uses) the hub runs epoll instead and says why, once
 * per process, on stderr. */
typedef enum green_backend {
    GREEN_BACKEND_DEFAULT = 0,
    GREEN_BACKEND_EPOLL,
    GREEN_BACKEND_POLL,
    GREEN_BACKEND_IO_URING
} green_backend_t;

/* Choose the backend for hubs made later by the calling thread (the
 * thread's hub must not exist yet: EBUSY otherwise).  ENOTSUP if the
 * backend is not built on this platform. */
GREEN_EXTERN int green_hub_set_backend(green_backend_t backend);
/* The name of the calling thread's hub backend ("epoll", "poll",
 * "io_uring": the one it runs, after any fallback); makes the
 * hub if needed.  NULL if it cannot be made. */
GREEN_EXTERN const char *green_hub_backend_name(void);

/* The calling thread's hub, made if needed (NULL only on ENOMEM or when the
 * kernel refuses an epoll/eventfd). */
GREEN_EXTERN green_hub_t *green_hub_current(void);
/* The hub's greenlet. */
GREEN_EXTERN greenlet_t *green_hub_greenlet(green_hub_t *hub);

/* Run the calling thread's hub until nothing is left to do: no ready green
 * thread, no timer and no fd waiter.  Must be called from outside the hub
 * (typically the main greenlet).  Returns 0, or EPERM from the hub. */
GREEN_EXTERN int green_hub_run(void);

/* Run fn(arg) in the hub's OS thread, from any OS thread; wakes the hub.
 * A call accepted (0) runs exactly once, in the order accepted:
 *  - on the hub's next loop pass, in the hub greenlet: fn must not block
 *    (green_unpark() is the way to hand a result to a green thread);
 *  - or, if the hub is destroyed first (green_hub_destroy(), or its thread
 *    exits), during that teardown: in the same OS thread (inside
 *    green_hub_destroy, or the thread-exit destructor), once every green
 *    thread of the hub has ended.  fn must then not block, nor start green
 *    threads or timers (they would never run); no green thread is left
 *    for it to unpark.
 * EPIPE once teardown has reached that point: the call was not accepted
 * (so also for calls that such a teardown fn makes to its own hub).
 * ENOMEM on allocation failure; EINVAL for a NULL hub or fn.  From another
 * OS thread, hub must be retained (green_hub_retain). */
GREEN_EXTERN int green_hub_call_threadsafe(green_hub_t *hub, void (*fn)(void *),
                                           void *arg);

/* References for other OS threads.  A hub pointer is valid in its own
 * thread until the hub is destroyed; any other thread may use it only
 * while it holds a reference.  green_hub_retain takes one (from a thread
 * where the pointer is valid); green_hub_release drops it, from any
 * thread.  A reference keeps the handle, not the hub: once the hub is
 * destroyed, calls to it fail with EPIPE, and no new hub gets its address
 * while it is retained, so a call never reaches a successor.  EINVAL for
 * NULL, and for a release without a retain left to match it. */
GREEN_EXTERN int green_hub_retain(green_hub_t *hub);
GREEN_EXTERN int green_hub_release(green_hub_t *hub);

/* Keepalive.  While the count is above zero the hub assumes an outside
 * wake-up (typically a green_hub_call_threadsafe from a worker thread) is
 * still coming: it sleeps in the kernel instead of reporting EDEADLK or
 * ending green_hub_run().  A thread pool refs before handing work to an OS
 * thread and unrefs in the completion callback.  Both must be called from
 * the hub's own OS thread (EPERM otherwise); unref below zero is EINVAL. */
GREEN_EXTERN int green_hub_ref(green_hub_t *hub);
GREEN_EXTERN int green_hub_unref(green_hub_t *hub);

/* Destroy the calling thread's hub: every live green thread is killed (its
 * blocking call returns ECANCELED, it runs its cleanup, links fire), the
 * cross-thread calls it accepted run (see green_hub_call_threadsafe), and
 * all memory is freed (the hub handle itself once no green_hub_retain
 * reference remains).  Handles still held stay valid for
 * green_thread_release() and the read-only getters.  A later green call
 * makes a fresh hub.  EPERM unless called from the main greenlet; EBUSY if
 * a green thread would not die.  A hub is also destroyed when its OS
 * thread exits. */
GREEN_EXTERN int green_hub_destroy(void);

/* Errors in spawn_n bodies and in hub callbacks never stop the hub; they
 * go to a per-hub error hook.  The default prints one line to stderr with
 * the green thread's name.  A hub callback (timer, cross-thread call) that
 * ends the hub greenlet with greenlet_exit(err) is reported as "hub", and
 * the hub restarts.  NULL restores the default.  Returns the previous
 * hook.  Applies to the calling thread's hub. */
typedef void (*green_error_hook_fn)(const char *thread_name, int err);
GREEN_EXTERN green_error_hook_fn
green_hub_set_error_hook(green_error_hook_fn hook);

/* ---- Timers -------------------------------------------------------- */

/* A one-shot timer calling fn(arg) from the hub after `seconds` (read
 * from the monotonic clock now).  Timers fire in order of deadline, then
 * of scheduling; a timer scheduled while timers fire runs on the next loop
 * pass.  The callback runs in the hub greenlet and must not block.  The
 * hub frees the timer just before calling fn: the handle is then invalid.
 * EINVAL for NULL out/fn or a negative/NaN time; ENOMEM. */
typedef struct green_timer green_timer_t;
GREEN_EXTERN int green_timer_start(green_timer_t **out, double seconds,
                                   void (*fn)(void *), void *arg);
/* Cancel and free a timer whose callback has not started (O(log n)).
 * Calling it once the callback started is invalid (the handle is freed):
 * that, or a second cancel, is refused with EINVAL and a message on stderr
 * while the memory was not reused (see handle tags in docs/building.md).
 * EINVAL for NULL, EPERM from another OS thread. */
GREEN_EXTERN int green_timer_cancel(green_timer_t *timer);

/* ---- File descriptors ---------------------------------------------- */

#define GREEN_READ 0x1
#define GREEN_WRITE 0x2

/* Park the calling green thread until fd is readable (GREEN_READ) or
 * writable (GREEN_WRITE), the timeout passes (ETIMEDOUT), the green thread
 * is killed (ECANCELED), or the fd is closed by green_close_fd (EBADF).
 * Returns 0 when ready (both bits: when either is ready; an error or
 * hang-up on the fd also counts as ready, so that the next read or write
 * reports it).  Two green threads waiting for the same event on one fd:
 * EBUSY.  EINVAL for a negative fd or no event bit; EBADF if the kernel
 * refuses the fd.  Regular files are always ready.  This is eventlet's
 * trampoline.  On a managed fd (green_fd_manage below) it waits for the
 * fd to become ready rather than looking at whether it is: see there. */
GREEN_EXTERN int green_wait_fd(int fd, int events, double timeout);

/* Wake every green thread waiting on fd with EBADF, forget the fd (and
 * end its managed mode, see below), and close it.  Returns close(2)'s
 * result as 0 or an errno code. */
GREEN_EXTERN int green_close_fd(int fd);
/* The same notification without closing (for fds closed elsewhere).  Ends
 * managed mode too, from any thread: call green_fd_manage again to use a
 * still-open fd managed. */
GREEN_EXTERN void green_notify_close(int fd);

/* Managed mode, for fds whose whole life is under the caller's control:
 * the green I/O layer (green/io.h) manages every fd it makes, and any
 * other code may opt in.  The first green_wait_fd on a managed fd in a hub
 * registers it with the backend once, for reading and writing,
 * edge-triggered (epoll's EPOLLET); later waits make no system call at
 * all, where an unmanaged fd costs one epoll_ctl per wait.  A backend
 * without edge-triggered registrations (poll) treats managed fds as
 * unmanaged, and so does every hub for an fd no longer managed.
 *
 * The price is two rules, which the green I/O layer keeps:
 *  - Wait only once the fd is drained for that direction: after the
 *    operation returned EAGAIN.  The kernel then reports an edge when the
 *    fd next becomes ready, and the hub keeps an edge that comes while
 *    nobody waits, so the next wait returns at once.  But a wait while
 *    the fd is still ready from before (unread data, write room never
 *    used up) is not answered by the state of the fd the way an unmanaged
 *    wait is: it may park until the next edge, which may never come.
 *  - Close it only through green_close (green/io.h), green_close_fd, or
 *    close(2) after green_notify_close, in any thread.  The registration
 *    is never renewed, so if the number were closed behind the hub's back
 *    and reused, waits on the new fd would park with nothing registered.
 * A wait may return 0 with the fd not ready (an edge already used up by
 * the last operation): retry the operation, as after any wait.  EBUSY,
 * EBADF on close, ETIMEDOUT and ECANCELED work as for any fd.  An fd may
 * move between hubs: a hub that waits on it takes it over, and the
 * others drop their registration at its next edge.
 *
 * Needs no hub and makes no system call.  0; EBADF for a negative or
 * out-of-range fd; ENOMEM.  A bad or unpollable fd is reported by the
 * first wait, as for any fd (EBADF; a regular file is always ready). */
GREEN_EXTERN int green_fd_manage(int fd);

/* ---- Parking: the primitive that sync objects are built on --------- */

/* A waiter parks the calling green thread (or main greenlet) until some
 * other code unparks it.  Lives on the parker's stack. */
typedef struct green_waiter {
    struct green_waiter *prev, *next; /* free for the owner's wait lists */
    greenlet_t *greenlet;             /* set by green_park */
    void *value;                      /* set by green_unpark */
    int result;                       /* set by green_unpark */
    int pending;                      /* 1 while parked and not unparked */
    void *hub_private;                /* the hub's own bookkeeping */
} green_waiter_t;

/* Initialise a waiter before parking on it. */
GREEN_EXTERN void green_waiter_init(green_waiter_t *w);

/* Park until green_unpark(w, ...) is called, the timeout passes, or the
 * caller is killed.  Returns the result given to green_unpark (normally 0),
 * ETIMEDOUT, ECANCELED, EDEADLK (main greenlet only), ENOMEM (no room for
 * the timer), or EPERM in the hub or in a greenlet that is neither the main
 * one nor a green thread.  *value (may be NULL) receives the value given to
 * green_unpark.  On ETIMEDOUT/ECANCELED/EDEADLK the waiter was not
 * unparked by anyone (and green_unpark on it now returns EALREADY): remove
 * it from your wait list before returning.  If green_unpark came first, its
 * result wins even if a kill or timeout follows before the caller resumes;
 * the kill then shows at the next blocking call.  Enclosing green_timeout
 * scopes apply.  A killed green thread gets ECANCELED at once. */
GREEN_EXTERN int green_park(green_waiter_t *w, double timeout, void **value);

/* Make a parked waiter runnable with result and value; it resumes on a
 * later hub pass (the caller does not switch).  Idempotent: returns 0 if
 * it unparked w, EALREADY if w was already unparked or is not parked.  Safe
 * from green threads and hub callbacks of the same OS thread (EPERM from
 * another OS thread: use green_hub_call_threadsafe). */
GREEN_EXTERN int green_unpark(green_waiter_t *w, int result, void *value);

/* ---- Introspection ------------------------------------------------- */

/* Monotonic clock in seconds, read fresh. */
GREEN_EXTERN double green_now(void);

/* ---- Blocking detection -------------------------------------------- */

/* Start a monitor OS thread that reports, to stderr, any green thread that
 * runs longer than max_ms milliseconds without yielding to the hub: its
 * name and a backtrace.  0 stops it.  Also enabled by the environment
 * variable GREEN_WATCHDOG_MS.  Applies to the calling thread's hub. */
/* EPERM from the hub greenlet, ENOMEM/EAGAIN if the monitor thread cannot
 * be made. */
GREEN_EXTERN int green_watchdog_enable(unsigned max_ms);

#ifdef __cplusplus
}
#endif

#endif /* GREEN_HUB_H */
