/*
 * libgreen — the hub's door for interposition layers.
 *
 * For code that drives the hub from underneath other code, as
 * libgreen_patch (green/patch.h) does when it makes blocking libc calls
 * cooperative.  Ordinary programs need none of this.  With the public API,
 * these calls are all that libgreen_patch uses of the hub:
 *
 *  - a before-poll hook (Redis ae's aeSetBeforeSleepProc): the hub calls
 *    it just before each wait in the kernel, so that work the hub cannot
 *    see — a signal handler that ran, say — wakes green threads first;
 *  - an fd wait on the caller's own waiter, so that exactly that one wait
 *    can be ended from outside, with an error of the caller's choice,
 *    while every other waiter on the fd stays parked;
 *  - a per-fd record in the hub's process-wide fd table, for the layer's
 *    own per-descriptor state.
 */
#ifndef GREEN_HUB_HOOKS_H
#define GREEN_HUB_HOOKS_H

#include <green/hub.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Called by every hub, in its own OS thread and from the hub greenlet,
 * before each poll of its backend (the wait for fds, timers and
 * cross-thread calls); a backend wait cut short by a signal handler is
 * followed by another pass, so the hook also runs soon after a signal.
 * It may make parked waiters ready (green_unpark); the hub then polls
 * without waiting.  It must not block, and must be cheap: it runs on
 * every loop pass.  One hook for the whole process (libgreen_patch sets
 * it when loaded); NULL removes it.  Returns the previous hook. */
typedef void (*green_before_poll_fn)(void);
GREEN_EXTERN green_before_poll_fn
green_hub_set_before_poll(green_before_poll_fn hook);

/* green_wait_fd (green/hub.h) parked on the caller's waiter w, which the
 * call initialises and which must stay valid until it returns.  While the
 * call is parked, green_unpark(w, err, NULL) from the same OS thread (the
 * before-poll hook, a timer, another green thread) ends it with err as
 * its result, 0 meaning "ready, retry the operation"; the fd's other
 * waiters are not disturbed.  EINVAL for a NULL w; otherwise exactly
 * green_wait_fd's results. */
GREEN_EXTERN int green_wait_fd_waiter(green_waiter_t *w, int fd, int events,
                                      double timeout);

/* Bytes of per-fd state the hub keeps for an interposition layer. */
#define GREEN_FD_HOOK_BYTES 48

/* fd's record of GREEN_FD_HOOK_BYTES bytes in the hub's process-wide fd
 * table: zeroed when made, aligned for any type, never moved or freed, so
 * it may hold atomics that any thread reads.  With create 0 nothing is
 * made: lock-free and async-signal-safe.  With create the table may grow
 * (calloc).  NULL for a negative or too large fd (4M and up), with create
 * 0 for an fd whose record does not exist yet, or without memory.
 * libgreen never reads or clears it: the layer forgets fd itself when it
 * is closed.  One layer per process may use it. */
GREEN_EXTERN void *green_fd_hook_record(int fd, int create);

#ifdef __cplusplus
}
#endif

#endif /* GREEN_HUB_HOOKS_H */
