/*
 * Cross-thread wake-ups (see xwake.h).
 */
#include "xwake.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

struct xwake {
    atomic_int refs;
    green_hub_t *hub;
    pthread_t hub_thread;
    xwake_undelivered_fn undelivered;
    void *context;
    void *value; /* written by the signaller before delivery */
    uint64_t tag;
    /* The fields below belong to the waiter's hub thread. */
    green_waiter_t *waiter; /* set while parked */
    int signalled;          /* the delivery ran */
    int abandoned;          /* the waiter returned without the value */
};

/* ---- Wake-ups ------------------------------------------------------ */

static void xwake_free(xwake_t *w)
{
    green_hub_release(w->hub);
    free(w);
}

static void xwake_unref(xwake_t *w)
{
    if (atomic_fetch_sub_explicit(&w->refs, 1, memory_order_acq_rel) == 1)
        xwake_free(w);
}

static void xwake_discard(xwake_t *w)
{
    if (w->undelivered != NULL)
        w->undelivered(w->context, w->value, w->tag);
}

int xwake_new(xwake_t **out, xwake_undelivered_fn undelivered, void *context)
{
    green_hub_t *hub = green_hub_current();
    xwake_t *w;

    if (hub == NULL)
        return ENOMEM;
    w = calloc(1, sizeof(*w));
    if (w == NULL)
        return ENOMEM;
    atomic_init(&w->refs, 2);
    /* Signallers in other threads address the hub: it must stay itself. */
    green_hub_retain(hub);
    w->hub = hub;
    w->hub_thread = pthread_self();
    w->undelivered = undelivered;
    w->context = context;
    *out = w;
    return 0;
}

/* Runs on the waiter's hub. */
static void xwake_deliver(void *arg)
{
    xwake_t *w = arg;

    if (w->abandoned) {
        xwake_discard(w);
    } else {
        w->signalled = 1;
        if (w->waiter != NULL)
            green_unpark(w->waiter, 0, NULL);
    }
    xwake_unref(w);
}

int xwake_wait(xwake_t *w, double timeout, void **value)
{
    green_waiter_t waiter;
    int err = 0;

    if (!w->signalled) {
        green_waiter_init(&waiter);
        w->waiter = &waiter;
        /* Only another OS thread can wake us, which the hub cannot see:
         * without the reference it would report EDEADLK (or end
         * green_hub_run) when nothing else is left to do. */
        err = green_hub_ref(w->hub);
        if (err == 0) {
            err = green_park(&waiter, timeout, NULL);
            green_hub_unref(w->hub);
        }
        w->waiter = NULL;
    }
    if (err == 0) {
        *value = w->value;
    } else if (w->signalled) {
        /* The delivery came, but the timeout or kill won the race. */
        xwake_discard(w);
    } else {
        w->abandoned = 1;
    }
    xwake_unref(w);
    return err;
}

void xwake_signal(xwake_t *w, void *value, uint64_t tag)
{
    w->value = value;
    w->tag = tag;
    /* On the waiter's own thread, deliver now: cheaper than a round trip
     * through the hub's call queue.  (A later thread that got the same id
     * finds the waiter abandoned by the exit: it only discards.) */
    if (pthread_equal(w->hub_thread, pthread_self())) {
        xwake_deliver(w);
        return;
    }
    /* Accepted, the delivery runs exactly once, at the latest while the
     * hub is torn down (with the waiter gone: the value is discarded). */
    if (green_hub_call_threadsafe(w->hub, xwake_deliver, w) != 0) {
        /* The hub is gone (its thread exited), or no memory for the call:
         * nobody can receive the value. */
        xwake_discard(w);
        xwake_unref(w);
    }
}

void xwake_drop_signal(xwake_t *w)
{
    xwake_unref(w);
}

void xwake_free_unused(xwake_t *w)
{
    xwake_free(w);
}
