/*
 * libgreen — hub threads: one OS thread and one hub per core.
 *
 * Returns 0 or a positive errno code, like the rest of libgreen.
 *
 * fork: a group's threads do not exist in a child, so the group is the
 * parent's alone; destroying it in the child would wait forever.
 */
#ifndef GREEN_HUB_THREADS_H
#define GREEN_HUB_THREADS_H

#include <green/export.h>
#include <green/hub.h>

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct green_hub_threads green_hub_threads_t;

/* Body of a hub thread: runs in the thread's main greenlet with its own
 * hub (same backend as the spawner's).  When it returns, the thread runs
 * its hub until no green thread is left, then exits. */
typedef void (*green_hub_thread_fn)(size_t index, void *arg);

/* Start n OS threads, calling fn(i, arg) in thread i (0 <= i < n). */
GREEN_EXTERN int green_hub_threads_new(green_hub_threads_t **out, size_t n,
                                       green_hub_thread_fn fn, void *arg);
/* Number of threads in the group. */
GREEN_EXTERN size_t green_hub_threads_count(const green_hub_threads_t *threads);
/* Hub of thread i, once it runs (waits for it to start; NULL if i is out
 * of range or the hub could not be made), e.g. for
 * green_hub_call_threadsafe.  The group holds a reference to it until
 * green_hub_threads_destroy (green_hub_retain it to keep it longer); once
 * the thread has ended, calls to it fail with EPIPE. */
GREEN_EXTERN green_hub_t *green_hub_threads_hub(green_hub_threads_t *threads,
                                                size_t i);
/* Wait (green: only the caller parks) until every thread of the group has
 * finished, then join and free the group.  ECANCELED/ETIMEDOUT leave the
 * group intact for another join. */
GREEN_EXTERN int green_hub_threads_destroy(green_hub_threads_t *threads);

#ifdef __cplusplus
}
#endif

#endif /* GREEN_HUB_THREADS_H */
