/*
 * Cross-thread wake-ups: park a greenlet on its hub until another OS thread
 * hands it a value.  The one mechanism behind the thread pool (a worker
 * finishing a job), green_xqueue (a put from another hub) and hub-thread
 * joins.
 *
 * An xwake is heap-allocated with two references: the waiter's, dropped by
 * xwake_wait(), and the signaller's, dropped by xwake_signal() or
 * xwake_drop_signal().  The signaller delivers through
 * green_hub_call_threadsafe(); the delivery runs on the waiter's hub and
 * unparks it.  If the waiter gave up first (timeout, kill), the value is
 * passed to the `undelivered` function instead, so nothing is lost or
 * leaked and nobody touches the waiter's stack after it returned.
 *
 * fork: wakes are inherited.  A waiter on the forking thread's hub can be
 * signalled from any thread of the child; a signal for another thread's
 * hub (gone in the child) takes the undelivered path.
 */
#ifndef GREEN_XWAKE_H
#define GREEN_XWAKE_H

#include <green/hub.h>

#include <stdint.h>

/* Receives a signalled value that no waiter took.  Runs in the waiter's
 * hub thread (during the hub's teardown if the waiter was killed by it),
 * or in the signaller's thread if the hub is gone. */
typedef void (*xwake_undelivered_fn)(void *context, void *value, uint64_t tag);

typedef struct xwake xwake_t;

/* A wake-up for the calling greenlet on the calling thread's hub (which it
 * retains until freed).  undelivered may be NULL when values need no
 * cleanup. */
int xwake_new(xwake_t **out, xwake_undelivered_fn undelivered, void *context);

/* Park until signalled (0, *value set; value may be NULL) or until
 * green_park fails (ETIMEDOUT, ECANCELED...).  While parked, the hub is
 * kept alive: a wake from another thread is pending.  Drops the waiter's
 * reference; call once, from the thread that made w. */
int xwake_wait(xwake_t *w, double timeout, void **value);

/* Deliver value to the waiter, from any thread (on the waiter's own thread
 * at once, so not from inside code that must not see the waiter woken or
 * `undelivered` run).  tag only goes to `undelivered`, with the value.
 * Drops the signaller's reference. */
void xwake_signal(xwake_t *w, void *value, uint64_t tag);

/* Drop the signaller's reference without signalling (the waiter gave up
 * before anyone could signal it).  Any thread. */
void xwake_drop_signal(xwake_t *w);

/* Free a wake that was never handed to a signaller nor waited on. */
void xwake_free_unused(xwake_t *w);

#endif /* GREEN_XWAKE_H */
