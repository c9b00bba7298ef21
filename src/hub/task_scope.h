/*
 * Internal: what the sync layer's task groups (src/sync/group.c) need of
 * the calling task and of other green threads, beyond the public API.
 */
#ifndef GREEN_HUB_TASK_SCOPE_H
#define GREEN_HUB_TASK_SCOPE_H

#include <green/thread.h>
#include <green/timeout.h>

/* The earliest deadline (green_now() based) of the caller's open timeout
 * scopes in *deadline: 0, or ENOENT if none is open (or no hub). */
int timeout_caller_deadline(double *deadline);

/* Open a timeout scope for the caller (a green thread) that ends at
 * `deadline`, as green_timeout_start() would for the time left.  The
 * same errors. */
int timeout_start_at(green_timeout_t *t, double deadline);

/* The arg of the calling green thread if it runs fn, else NULL. */
void *thread_self_arg(green_thread_fn fn);

/* A link of a green thread (green_thread_link).  A borrowed one belongs
 * to the caller, which keeps it alive until it has run or t is freed. */
typedef struct thread_link thread_link_t;
struct thread_link {
    thread_link_t *next;
    green_link_fn fn;
    void *arg;
    unsigned char borrowed;
};

/* green_thread_link() without an allocation: link->fn and link->arg are
 * set by the caller.  EINVAL/EPERM like thread_enter. */
int thread_link_borrowed(green_thread_t *t, thread_link_t *link);

/* Kill t without waiting for it: 0 if it is dead now (it had ended or had
 * not started), EINPROGRESS if the kill is delivered (t may be the caller:
 * its next blocking call fails), or thread_enter's EINVAL/EPERM. */
int thread_kill_async(green_thread_t *t);

#endif /* GREEN_HUB_TASK_SCOPE_H */
