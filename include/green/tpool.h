/*
 * libgreen — OS threads: the thread pool for blocking calls, hub threads
 * for using every core, and a queue that crosses between them.
 *
 * Error convention: every function returns 0 or a positive errno code, like
 * the rest of libgreen.  Blocking calls park only the calling green thread
 * (green_park): the hub keeps running the others, timeout scopes apply,
 * and a killed caller gets ECANCELED.
 */
#ifndef GREEN_TPOOL_H
#define GREEN_TPOOL_H

#include <green/hub.h>

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Thread pool: eventlet's tpool ----------------------------------- */

#define GREEN_TPOOL_DEFAULT_SIZE 20

typedef void *(*green_tpool_fn)(void *arg);

/* Run fn(arg) in a pool worker (an OS thread) and park the calling green
 * thread until it returns; *result (may be NULL) gets its return value.
 * The pool is made on first use.  Returns 0, ENOMEM/EAGAIN if the pool
 * cannot be made, or the caller's ETIMEDOUT/ECANCELED: then the call
 * returns at once while fn goes on in its worker, and its late result is
 * dropped — so fn and arg must not point into the caller's stack (see
 * green_tpool_execute_ex to free them).  With a pool size of 0, fn runs
 * inline in the calling OS thread. */
int green_tpool_execute(green_tpool_fn fn, void *arg, void **result);

/* The same with a timeout (seconds, GREEN_FOREVER for none) and a function
 * that takes over arg when the call fails: on every error, abandoned (if
 * not NULL) is called exactly once with arg and fn's result — at once
 * (result NULL) if fn never ran, or when fn returns if the caller stopped
 * waiting — so arg and the result can be freed in one place.  It runs in a
 * worker or hub thread: it must not block or call green functions.  Calls
 * made from a pool worker run inline, so nested calls cannot exhaust the
 * pool. */
typedef void (*green_tpool_abandon_fn)(void *arg, void *result);
int green_tpool_execute_ex(green_tpool_fn fn, void *arg,
                           green_tpool_abandon_fn abandoned, double timeout,
                           void **result);

/* Set the number of worker threads (default GREEN_TPOOL_DEFAULT_SIZE, or
 * the environment variable GREEN_TPOOL_SIZE).  Growing starts workers
 * lazily; shrinking lets the extra ones exit after their current job.  0
 * makes green_tpool_execute run functions inline.  EINVAL above 1024. */
int green_tpool_set_size(size_t workers);
size_t green_tpool_size(void);

/* Let queued jobs finish, then join every worker.  The pool is made again
 * by the next green_tpool_execute.  Also runs at process exit.  Must not be
 * called from a pool worker (EDEADLK). */
int green_tpool_shutdown(void);

/* ---- Hub threads: one OS thread and one hub per core ----------------- */

typedef struct green_hub_threads green_hub_threads_t;

/* Body of a hub thread: runs in the thread's main greenlet with its own
 * hub (same backend as the spawner's).  When it returns, the thread runs
 * its hub until no green thread is left, then exits. */
typedef void (*green_hub_thread_fn)(size_t index, void *arg);

/* Start n OS threads, calling fn(i, arg) in thread i (0 <= i < n). */
int green_hub_threads_new(green_hub_threads_t **out, size_t n,
                            green_hub_thread_fn fn, void *arg);
/* Number of threads in the group. */
size_t green_hub_threads_count(const green_hub_threads_t *threads);
/* Hub of thread i, once it runs (waits for it to start; NULL if i is out
 * of range), e.g. for green_hub_call_threadsafe. */
green_hub_t *green_hub_threads_hub(green_hub_threads_t *threads, size_t i);
/* Wait (green: only the caller parks) until every thread of the group has
 * finished, then join and free the group.  ECANCELED/ETIMEDOUT leave the
 * group intact for another join. */
int green_hub_threads_destroy(green_hub_threads_t *threads);

/* ---- Cross-thread green queue ---------------------------------------- */

/* A FIFO of void * items that green threads of different hubs (OS
 * threads) share.  green_xqueue_get parks the calling green thread while
 * the queue is empty; a put from any thread hands the item straight to the
 * oldest waiting getter and wakes it on its own hub.  A bounded queue parks
 * a putter while it is full, and the get that makes room moves the oldest
 * parked putter's item in and wakes it.  Plain OS threads without green
 * threads may use it too (their main greenlet parks).  No item is ever
 * lost: a getter whose timeout races a hand-off gives the item back to the
 * front of the queue (which may then briefly hold more than maxsize). */
typedef struct green_xqueue green_xqueue_t;

/* No bound on the number of stored items. */
#define GREEN_XQUEUE_UNBOUNDED ((size_t)-1)

/* maxsize: GREEN_XQUEUE_UNBOUNDED, or n > 0 (put waits while n items are
 * stored).  EINVAL for NULL or 0, ENOMEM. */
int green_xqueue_new(green_xqueue_t **out, size_t maxsize);
/* Free the queue; EBUSY while getters or putters wait.  Items still queued
 * are dropped (the queue does not own them). */
int green_xqueue_destroy(green_xqueue_t *queue);
/* Append item, waiting up to timeout seconds while the queue is full
 * (GREEN_FOREVER: no limit; 0: EAGAIN at once if full).  ENOMEM, EPIPE if
 * the queue is or gets closed, or the wait's error (ETIMEDOUT,
 * ECANCELED...).  On an error the item was not put. */
int green_xqueue_put(green_xqueue_t *queue, void *item, double timeout);
/* Take the oldest item, waiting up to timeout seconds (GREEN_FOREVER: no
 * limit; 0: EAGAIN at once if empty).  EPIPE once the queue is closed and
 * empty. */
int green_xqueue_get(green_xqueue_t *queue, void **item, double timeout);
/* Close: puts fail with EPIPE (parked putters too, their items not put);
 * getters drain what is left, then get EPIPE (waiting getters are woken). */
void green_xqueue_close(green_xqueue_t *queue);
size_t green_xqueue_size(green_xqueue_t *queue);

#ifdef __cplusplus
}
#endif

#endif /* GREEN_TPOOL_H */
