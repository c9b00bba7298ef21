/*
 * libgreen — the thread pool: eventlet's tpool, for calls that block an
 * OS thread (green/hub_threads.h runs hubs on several OS threads, and
 * green/xqueue.h passes items between them).
 *
 * Error convention: every function returns 0 or a positive errno code, like
 * the rest of libgreen.  Blocking calls park only the calling green thread
 * (green_park): the hub keeps running the others, timeout scopes apply,
 * and a killed caller gets ECANCELED.
 *
 * Exit: exit() joins only the idle workers, so a job blocked in user code
 * (a read() that never returns) cannot keep the process alive.  Queued
 * jobs do not start, and running ones are cut off with the process (fn
 * does not return, abandoned is not called); calls made after that (from
 * atexit handlers) run inline.
 *
 * fork: the child has no worker (but the forking thread, if a job forked);
 * workers start again on demand, with the size inherited.  Every job
 * queued or running at fork stays the parent's: in the child, its call
 * fails with EOWNERDEAD and abandoned gets the child's copy of arg (result
 * NULL), during fork().  A job whose fn had returned delivers in both.
 */
#ifndef GREEN_TPOOL_H
#define GREEN_TPOOL_H

#include <green/export.h>
#include <green/hub.h>

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GREEN_TPOOL_DEFAULT_SIZE 20

typedef void *(*green_tpool_fn)(void *arg);

/* Run fn(arg) in a pool worker (an OS thread) and park the calling green
 * thread until it returns; *result (may be NULL) gets its return value.
 * The pool is made on first use.  Returns 0, ENOMEM/EAGAIN if the pool
 * cannot be made, EOWNERDEAD in a child forked during the call (see
 * above), or the caller's ETIMEDOUT/ECANCELED: then the call returns at
 * once while fn goes on in its worker, and its late result is dropped —
 * so fn and arg must not point into the caller's stack (see
 * green_tpool_execute_ex to free them).  With a pool size of 0, fn runs
 * inline in the calling OS thread. */
GREEN_EXTERN int green_tpool_execute(green_tpool_fn fn, void *arg,
                                     void **result);

/* The same with a timeout (seconds, GREEN_FOREVER for none) and a function
 * that takes over arg when the call fails: on every error, abandoned (if
 * not NULL) is called exactly once with arg and fn's result — at once
 * (result NULL) if fn never ran, or when fn returns if the caller stopped
 * waiting — so arg and the result can be freed in one place.  It runs in a
 * worker or hub thread: it must not block or call green functions.  Calls
 * made from a pool worker run inline, so nested calls cannot exhaust the
 * pool. */
typedef void (*green_tpool_abandon_fn)(void *arg, void *result);
GREEN_EXTERN int green_tpool_execute_ex(green_tpool_fn fn, void *arg,
                                        green_tpool_abandon_fn abandoned,
                                        double timeout, void **result);

/* Set the number of worker threads (default GREEN_TPOOL_DEFAULT_SIZE, or
 * the environment variable GREEN_TPOOL_SIZE).  Growing starts workers
 * lazily; shrinking lets the extra ones exit after their current job.  0
 * makes green_tpool_execute run functions inline.  EINVAL above 1024. */
GREEN_EXTERN int green_tpool_set_size(size_t workers);
GREEN_EXTERN size_t green_tpool_size(void);

/* Let queued jobs finish, then join every worker.  The pool is made again
 * by the next green_tpool_execute.  Must not be called from a pool worker
 * (EDEADLK). */
GREEN_EXTERN int green_tpool_shutdown(void);

#ifdef __cplusplus
}
#endif

#endif /* GREEN_TPOOL_H */
