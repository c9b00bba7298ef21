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
 * released exactly once; green_thread_wait() does not release it.
 *
 * Results: a green thread's function returns a void * result, or ends with
 * an error by calling green_thread_exit(err, NULL).  A thread that was
 * killed reports ECANCELED from green_thread_wait().
 */
#ifndef GREEN_THREAD_H
#define GREEN_THREAD_H

#include <green/hub.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct green_thread green_thread_t;
typedef void *(*green_thread_fn)(void *arg);

/* Spawn fn(arg) on the calling thread's hub; it starts on the next hub
 * pass.  ENOMEM/EAGAIN when memory or stacks run out. */
int green_spawn(green_thread_t **out, green_thread_fn fn, void *arg);

/* The same, with a name (copied) and a stack size (0 = default). */
typedef struct green_thread_attr {
    const char *name;
    size_t stack_size;
} green_thread_attr_t;
int green_spawn_attr(green_thread_t **out, const green_thread_attr_t *attr,
                     green_thread_fn fn, void *arg);

/* Spawn without a handle: cheaper.  An error it ends with goes to the hub's
 * error hook. */
int green_spawn_n(green_thread_fn fn, void *arg);

/* Spawn fn(arg) after `seconds`.  The handle can cancel it before start. */
int green_spawn_after(green_thread_t **out, double seconds, green_thread_fn fn,
                      void *arg);

/* Yield to the hub for `seconds`.  green_sleep(0) lets every other ready
 * green thread run once.  Returns 0, ECANCELED if killed, ETIMEDOUT if an
 * enclosing timeout scope fires first, EDEADLK never (a sleep always ends). */
int green_sleep(double seconds);

/* Block until t ends.  *result (may be NULL) gets its return value.
 * Returns 0, the error t ended with, ECANCELED if t was killed, EDEADLK if
 * t is the caller itself, or the caller's own ETIMEDOUT/ECANCELED. */
int green_thread_wait(green_thread_t *t, void **result);

/* Kill t: not started -> it never runs (links still fire, wait reports
 * ECANCELED); running -> GREENLET_EXIT is thrown at its blocking call, whose
 * green call returns ECANCELED; dead -> no-op.  The caller yields while the
 * kill is delivered, and t is dead when this returns 0. */
int green_thread_kill(green_thread_t *t);
/* Kill only if t has not started: 0 if cancelled, EALREADY otherwise. */
int green_thread_cancel(green_thread_t *t);

/* End the calling green thread now with err (0: normal, with value). */
int green_thread_exit(int err, void *value);

/* Links: fn(t, arg) runs in FIFO order when t ends.  A link added after the
 * end runs at once.  Unlink removes the first link matching (fn, arg):
 * ENOENT if none. */
typedef void (*green_link_fn)(green_thread_t *t, void *arg);
int green_thread_link(green_thread_t *t, green_link_fn fn, void *arg);
int green_thread_unlink(green_thread_t *t, green_link_fn fn, void *arg);

/* Release a handle from green_spawn*(). */
void green_thread_release(green_thread_t *t);
/* Take another reference (released with green_thread_release). */
green_thread_t *green_thread_retain(green_thread_t *t);

/* The running green thread, or NULL in the main greenlet or the hub. */
green_thread_t *green_thread_self(void);
int green_thread_dead(const green_thread_t *t);
int green_thread_started(const green_thread_t *t);
/* The result or error of a dead thread (EAGAIN while it lives). */
int green_thread_result(const green_thread_t *t, void **result);
const char *green_thread_name(const green_thread_t *t);
int green_thread_set_name(green_thread_t *t, const char *name);
greenlet_t *green_thread_greenlet(green_thread_t *t);

#ifdef __cplusplus
}
#endif

#endif /* GREEN_THREAD_H */
