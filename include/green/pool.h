/*
 * libgreen — pools and piles: eventlet's GreenPool and GreenPile in C.
 *
 * A pool bounds how many green threads run at once.  Spawning into a full
 * pool blocks the caller cooperatively until a slot frees, so
 *
 *     green_pool_new(&pool, 8);
 *     for (;;) green_pool_spawn_n(pool, process_update, next_update());
 *
 * keeps exactly 8 running and never spins.  Spawners blocked on a full pool
 * get the freed slots in FIFO order.
 *
 * Functions are green_thread_fn: a member returns its result, or ends with
 * an error through green_thread_exit(err, NULL).  A member's slot frees
 * whenever it ends: normally, with an error, or killed.
 *
 * Every function returns 0 or a positive errno code (EINVAL for NULL or
 * invalid arguments).  Blocking calls obey green_timeout scopes and return
 * ETIMEDOUT, ECANCELED (caller killed), EDEADLK or EPERM like hub.h says.
 * As in sync.h: pools, piles and maps belong to the OS thread that made
 * them (EPERM from any other, counts read 0 there), and a destroyed or
 * garbage handle gives EINVAL with a message on stderr.
 */
#ifndef GREEN_POOL_H
#define GREEN_POOL_H

#include <green/export.h>
#include <green/thread.h>

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Pool ------------------------------------------------------------- */

typedef struct green_pool green_pool_t;

/* A pool running at most `size` members at once.  Size 0 is allowed:
 * spawns then wait until the pool is resized. */
GREEN_EXTERN int green_pool_new(green_pool_t **out, size_t size);

/* Free the pool.  With live members (running, or spawned and not yet
 * started) it is refused with EBUSY, unless kill_members is non-zero: then
 * they are killed first (the caller yields meanwhile; EDEADLK if the caller
 * is a member itself).  Always EBUSY while green threads are blocked in
 * green_pool_spawn*() or green_pool_waitall() on it. */
GREEN_EXTERN int green_pool_destroy(green_pool_t *pool, int kill_members);

/* Run fn(arg) as a member, waiting for a free slot if the pool is full.
 * *out receives a handle to release with green_thread_release() (wait on it
 * with green_thread_wait() for the result).
 *
 * If the caller is itself a member of this pool and the pool is full, it
 * would wait for itself: fn(arg) then runs inline, in the caller, as in
 * eventlet, and *out is a finished handle holding its result.  Such an
 * inline fn must not call green_thread_exit() (that ends the caller). */
GREEN_EXTERN int green_pool_spawn(green_pool_t *pool, green_thread_t **out,
                                  green_thread_fn fn, void *arg);
/* The same without a handle: cheaper.  Errors go to the hub's error hook. */
GREEN_EXTERN int green_pool_spawn_n(green_pool_t *pool, green_thread_fn fn,
                                    void *arg);

/* Wait until no member runs.  EDEADLK if the caller is a member. */
GREEN_EXTERN int green_pool_waitall(green_pool_t *pool, double timeout);

/* Change the size at runtime.  Growing gives the new slots to blocked
 * spawners at once; shrinking lets the surplus members finish. */
GREEN_EXTERN int green_pool_resize(green_pool_t *pool, size_t size);

GREEN_EXTERN size_t green_pool_size(const green_pool_t *pool);
GREEN_EXTERN size_t
green_pool_running(const green_pool_t *pool); /* live members */
/* Free slots: size - running, or 0 (after a shrink below running). */
GREEN_EXTERN size_t green_pool_available(const green_pool_t *pool);
GREEN_EXTERN size_t
green_pool_waiting(const green_pool_t *pool); /* blocked spawners */

/* ---- Pile: results in spawn order ------------------------------------- */

typedef struct green_pile green_pile_t;

/* A pile spawning into `pool`, shared with others; or, if pool is NULL,
 * into a pool of its own of `size` slots. */
GREEN_EXTERN int green_pile_new(green_pile_t **out, green_pool_t *pool,
                                size_t size);
/* Free the pile.  Members whose results were not taken are killed first
 * (the caller yields meanwhile); its own pool is destroyed.  EBUSY while a
 * spawn into it waits for a slot or a green thread waits in next(). */
GREEN_EXTERN int green_pile_destroy(green_pile_t *pile);

/* Spawn fn(arg) into the pile's pool (waiting for a slot if it is full).
 * The spawn takes its place in the pile's order when it is requested, as
 * in eventlet: next() waits for it even while it still waits for a slot.
 * If it fails, its place goes. */
GREEN_EXTERN int green_pile_spawn(green_pile_t *pile, green_thread_fn fn,
                                  void *arg);
/* Take the result of the oldest spawn whose result has not been taken,
 * waiting for it to end.  Returns 0 and sets *result and *job_err (the
 * error it ended with, or 0; ECANCELED if it was killed); ENODATA when
 * every result has been taken (the pile is exhausted); or the caller's own
 * ETIMEDOUT/ECANCELED/..., after which the same result is still next. */
GREEN_EXTERN int green_pile_next(green_pile_t *pile, void **result,
                                 int *job_err, double timeout);
/* Spawns requested (also those waiting for a slot) and not yet taken. */
GREEN_EXTERN size_t green_pile_pending(const green_pile_t *pile);

/* ---- imap: an ordered map with bounded memory ---------------------------
 *
 * Runs fn over an input sequence with at most `size` of them (the pool's
 * size when the map is made, at least 1) spawned and not yet taken, and
 * hands the results back in input order.  Inputs are pulled lazily from
 * next_input, so memory stays bounded however long the sequence is.  An
 * element that fails reports its error at its position; iteration goes on.
 */

/* Produce the next input in *arg and return 0, or return ENODATA at the
 * end of the sequence (any other code stops the map with that error). */
typedef int (*green_input_fn)(void *context, void **arg);

typedef struct green_pool_imap green_pool_imap_t;

GREEN_EXTERN int green_pool_imap(green_pool_imap_t **out, green_pool_t *pool,
                                 green_thread_fn fn, green_input_fn next_input,
                                 void *input_context);
/* Like green_pile_next: 0 with the next result in input order and its own
 * error in *job_err; ENODATA when the sequence is done; the input
 * function's error if it failed; or the caller's own error. */
GREEN_EXTERN int green_pool_imap_next(green_pool_imap_t *map, void **result,
                                      int *job_err, double timeout);
/* Free the map, killing members whose results were not taken. */
GREEN_EXTERN int green_pool_imap_destroy(green_pool_imap_t *map);

#ifdef __cplusplus
}
#endif

#endif /* GREEN_POOL_H */
