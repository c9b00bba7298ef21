/*
 * libgreen — timeout scopes.
 *
 * A scoped deadline for the calling green thread:
 *
 *     green_timeout_t t;
 *     green_timeout_start(&t, 2.5);
 *     err = green_recv(...);           // ETIMEDOUT once 2.5 s have passed
 *     if (green_timeout_fired(&t)) ... // this scope, not an outer one
 *     green_timeout_cancel(&t);
 *
 * Any blocking green call made inside the scope returns ETIMEDOUT once the
 * deadline passes.  Scopes nest: the earliest deadline wins (on a tie, the
 * outer scope), and green_timeout_fired() tells which scope fired.
 * Cancelling is idempotent and must happen, by the same green thread,
 * before the green_timeout_t goes out of scope; scopes are normally
 * cancelled innermost first (any order is tolerated).  A timeout of 0 fires
 * at the next blocking call, on the next hub pass.  Deadlines are read from
 * the monotonic clock when the scope starts, so CPU-heavy code in between
 * makes the next blocking call fail at once.  The scopes of a green thread
 * that ends are dropped with it.  Works in the main greenlet too (then a
 * scope also turns an EDEADLK into ETIMEDOUT: the deadline can wake main).
 *
 * The check lives in the hub's one park function, so every blocking call
 * honours scopes: green_sleep, green_wait_fd, green_park, green_thread_wait
 * and every sync or io call built on them.  Calls that do not block (a
 * free semaphore, a readable socket) do not fail.
 */
#ifndef GREEN_TIMEOUT_H
#define GREEN_TIMEOUT_H

#include <green/export.h>
#include <green/hub.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct green_timeout {
    struct green_timeout *outer; /* enclosing scope of the same greenlet */
    greenlet_t *owner;
    double deadline; /* green_now() based */
    int active;
    int fired;
} green_timeout_t;

/* Open a scope of `seconds` for the calling green thread (or main
 * greenlet).  EINVAL for NULL or a negative/NaN time; EPERM from the hub
 * greenlet. */
GREEN_EXTERN int green_timeout_start(green_timeout_t *t, double seconds);
/* Close the scope (idempotent): 0, or EINVAL for NULL.  Whether it fired
 * stays readable with green_timeout_fired(). */
GREEN_EXTERN int green_timeout_cancel(green_timeout_t *t);
/* 1 if this scope's deadline is the one that expired. */
GREEN_EXTERN int green_timeout_fired(const green_timeout_t *t);

#ifdef __cplusplus
}
#endif

#endif /* GREEN_TIMEOUT_H */
