/*
 * libgreen — green threads: eventlet's greenthread in C.
 *
 * A green thread is a greenlet scheduled by the calling OS thread's hub.
 * green_spawn() does not run the function inline: it runs on the next hub
 * pass, i.e. once the spawner blocks or yields (green_sleep(0)).
 *
 * Handle lifetime: green_spawn() and green_spawn_after() return a handle
 * holding one reference.  The hub holds its own reference while the thread
 * lives, so a handle may be released at any time — before, during or after
 * the thread runs — with green_thread_release().  Every handle must be
 * released exactly once; green_thread_wait() does not release it.  A
 * handle whose thread struct is freed or waits for reuse is refused by
 * every function here (EINVAL, or nothing done, with a message on stderr);
 * once a new spawn reuses the struct, a stale handle cannot be told from
 * the new one, and builds that recycle nothing leave that to the
 * sanitizers (docs/building.md).
 *
 * Results: a green thread's function returns a void * result, or ends with
 * an error by calling green_thread_exit(err, NULL).  A thread that was
 * killed reports ECANCELED from green_thread_wait().
 *
 * Greenlets: a spawn allocates no greenlet.  The hub starts a thread on a
 * worker greenlet (a child of the hub greenlet) that runs thread after
 * thread, so a spawn costs no stack mapping and no system call.  Hence
 * green_thread_greenlet() is NULL before the start and after the end, and a
 * greenlet's identity or userdata must not be used as a thread's identity.
 * A thread with its own stack_size gets a greenlet of its own.
 *
 * Kills are sticky: once killed, every blocking call of the thread
 * (green_sleep, green_wait_fd, green_park and all the sync objects, ...)
 * returns ECANCELED at once, so the thread can only clean up and return.
 *
 * All functions act on the calling OS thread's hub: handles are not to be
 * used from other OS threads (EPERM where detectable).
 */
#ifndef GREEN_THREAD_H
#define GREEN_THREAD_H

#include <green/export.h>
#include <green/hub.h>

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct green_thread green_thread_t;
typedef void *(*green_thread_fn)(void *arg);

/* Spawn fn(arg) on the calling thread's hub; it starts on the next hub
 * pass.  EINVAL for NULL out or fn; ENOMEM.  If no worker greenlet can be
 * made when the thread starts (stacks exhausted), the thread ends with
 * EAGAIN or ENOMEM, reported by green_thread_wait() (or the error hook for
 * green_spawn_n). */
GREEN_EXTERN int green_spawn(green_thread_t **out, green_thread_fn fn,
                             void *arg);

/* The same, with a name (copied) and a stack size (0 = default). */
typedef struct green_thread_attr {
    const char *name;
    size_t stack_size;
} green_thread_attr_t;
GREEN_EXTERN int green_spawn_attr(green_thread_t **out,
                                  const green_thread_attr_t *attr,
                                  green_thread_fn fn, void *arg);

/* Spawn without a handle: cheaper.  An error it ends with (other than
 * ECANCELED) goes to the hub's error hook, named "green-<id>". */
GREEN_EXTERN int green_spawn_n(green_thread_fn fn, void *arg);

/* Spawn fn(arg) after `seconds` (a timer: no greenlet until then).  The
 * handle can cancel it before start.  EINVAL for a negative or NaN time. */
GREEN_EXTERN int green_spawn_after(green_thread_t **out, double seconds,
                                   green_thread_fn fn, void *arg);

/* Yield to the hub for `seconds`.  green_sleep(0) lets every other ready
 * green thread run once (and the hub poll for I/O).  Returns 0, ECANCELED
 * if killed, ETIMEDOUT if an enclosing timeout scope fires first, EDEADLK
 * never (a sleep always ends), EINVAL for a negative or NaN time, EPERM
 * from the hub greenlet.  Works in the main greenlet too. */
GREEN_EXTERN int green_sleep(double seconds);

/* Block until t ends.  *result (may be NULL) gets its return value.
 * Returns 0, the error t ended with, ECANCELED if t was killed, EDEADLK if
 * t is the caller itself (or, from the main greenlet, if nothing could ever
 * end t), or the caller's own ETIMEDOUT/ECANCELED.  Any number of green
 * threads may wait on one thread. */
GREEN_EXTERN int green_thread_wait(green_thread_t *t, void **result);

/* Kill t: not started -> it never runs (links still fire, in the caller,
 * and wait reports ECANCELED); running -> GREENLET_EXIT is thrown at its
 * blocking call, whose green call returns ECANCELED (if its wait had
 * already been satisfied, that call keeps its result and the next blocking
 * call fails instead); dead -> no-op.  The caller yields while the kill is
 * delivered, and t is dead when this returns 0.  Killing oneself ends the
 * caller at once (as green_thread_exit).  From a hub callback, where
 * waiting is impossible, the kill is delivered and EINPROGRESS returned.
 * Otherwise the caller's own ETIMEDOUT/ECANCELED/EDEADLK while waiting. */
GREEN_EXTERN int green_thread_kill(green_thread_t *t);
/* Kill only if t has not started: 0 if cancelled, EALREADY otherwise. */
GREEN_EXTERN int green_thread_cancel(green_thread_t *t);

/* End the calling green thread now with err (0: normal, with value): its
 * links run and waiters wake as if its function had returned.  Does not
 * return, except EPERM outside a green thread. */
GREEN_EXTERN int green_thread_exit(int err, void *value);

/* Links: fn(t, arg) runs in FIFO order when t ends, in t's own greenlet
 * just after its function (in the killer's, for a kill before the start).
 * A link added after the end runs at once, in the caller; so a link added
 * by a link runs exactly once.  Links should not block.  Unlink removes
 * the first link matching (fn, arg): ENOENT if none.  EINVAL for NULL;
 * ENOMEM. */
typedef void (*green_link_fn)(green_thread_t *t, void *arg);
GREEN_EXTERN int green_thread_link(green_thread_t *t, green_link_fn fn,
                                   void *arg);
GREEN_EXTERN int green_thread_unlink(green_thread_t *t, green_link_fn fn,
                                     void *arg);

/* Release a handle from green_spawn*(). */
GREEN_EXTERN void green_thread_release(green_thread_t *t);
/* Take another reference (released with green_thread_release).  NULL
 * for a refused handle. */
GREEN_EXTERN green_thread_t *green_thread_retain(green_thread_t *t);

/* The running green thread, or NULL in the main greenlet or the hub. */
GREEN_EXTERN green_thread_t *green_thread_self(void);
GREEN_EXTERN int green_thread_dead(const green_thread_t *t);
GREEN_EXTERN int green_thread_started(const green_thread_t *t);
/* The result or error of a dead thread (EAGAIN while it lives). */
GREEN_EXTERN int green_thread_result(const green_thread_t *t, void **result);
/* The name given at spawn or by set_name ("" if none: dumps and the error
 * hook then show "green-<id>").  set_name copies; NULL clears. */
GREEN_EXTERN const char *green_thread_name(const green_thread_t *t);
GREEN_EXTERN int green_thread_set_name(green_thread_t *t, const char *name);
/* The worker greenlet running t, or NULL before its start and after its
 * end (see "Greenlets" above). */
GREEN_EXTERN greenlet_t *green_thread_greenlet(green_thread_t *t);

/* List every live green thread of the calling thread's hub, one per line:
 * id, name, state (new, ready, running, parked), and where it is blocked
 * ("sleep", "park", "join", "yield", "fd 7 read") with the time left to its
 * deadline.  Does not make a hub; prints nothing if there is none. */
GREEN_EXTERN void green_threads_dump(FILE *out);

#ifdef __cplusplus
}
#endif

#endif /* GREEN_THREAD_H */
