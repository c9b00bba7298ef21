/*
 * Internal: what the sync layer's task groups (src/sync/group.c) need of
 * the calling task and of other green threads, beyond the public API.
 */
#ifndef GREEN_HUB_TASK_SCOPE_H
#define GREEN_HUB_TASK_SCOPE_H

#include <green/thread.h>

/* The earliest deadline (green_now() based) of the caller's open timeout
 * scopes in *deadline: 0, or ENOENT if none is open (or no hub). */
int timeout_caller_deadline(double *deadline);

/* The arg of the calling green thread if it runs fn, else NULL. */
void *thread_self_arg(green_thread_fn fn);

/* Kill t without waiting for it: 0 if it is dead now (it had ended or had
 * not started), EINPROGRESS if the kill is delivered (t may be the caller:
 * its next blocking call fails), or thread_enter's EINVAL/EPERM. */
int thread_kill_async(green_thread_t *t);

#endif /* GREEN_HUB_TASK_SCOPE_H */
