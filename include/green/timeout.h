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
 * deadline passes.  Scopes nest: the earliest deadline wins, and
 * green_timeout_fired() tells which scope fired.  Cancelling is idempotent
 * and must happen before the green_timeout_t goes out of scope; scopes are
 * cancelled innermost first.  A timeout of 0 fires at the next blocking call.
 */
#ifndef GREEN_TIMEOUT_H
#define GREEN_TIMEOUT_H

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

/* Open a scope of `seconds` for the calling greenlet.  EINVAL for NULL or a
 * negative/NaN time. */
int green_timeout_start(green_timeout_t *t, double seconds);
/* Close the scope (idempotent).  Returns 1 if it had fired, else 0. */
int green_timeout_cancel(green_timeout_t *t);
/* 1 if this scope's deadline is the one that expired. */
int green_timeout_fired(const green_timeout_t *t);

#ifdef __cplusplus
}
#endif

#endif /* GREEN_TIMEOUT_H */
