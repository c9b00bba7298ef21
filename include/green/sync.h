/*
 * libgreen — synchronisation between green threads of one OS thread:
 * event, semaphore, lock, condition variable and queue (eventlet's event,
 * semaphore and queue modules in C).
 *
 * Common rules:
 *  - Objects are opaque, made with *_new() and freed with *_destroy().
 *    Destroying an object that still has parked waiters is refused (EBUSY).
 *  - Every function returns 0 or a positive errno code; NULL or invalid
 *    arguments give EINVAL.  A destroyed (not yet reused), garbage or
 *    other-type handle also gives EINVAL, with a one-line message on
 *    stderr, rather than corrupting memory.
 *  - Blocking calls take a timeout in seconds (GREEN_FOREVER: none) and
 *    also obey enclosing green_timeout scopes.  They return ETIMEDOUT when
 *    the time is up, ECANCELED when the calling green thread is killed,
 *    EDEADLK when the main greenlet waits with nothing left to wake it, and
 *    EPERM when called from the hub (a hub callback cannot block).
 *  - Waiters are served in FIFO order with hand-off: a released permit, a
 *    freed lock or a put item goes straight to the first waiter, so a
 *    newcomer never barges ahead, and a waiter that times out or is killed
 *    never swallows what was meant for another.
 *  - The try_* forms never block and return EAGAIN where the blocking form
 *    would wait; they may be called from hub callbacks (timers,
 *    green_hub_call_threadsafe functions).
 *  - Waking never switches: the woken green threads run on a later hub
 *    pass, once the waker blocks or yields.
 *  - An object belongs to the OS thread that made it: the green threads
 *    (and the main greenlet) of that thread's hub, whichever hub it runs,
 *    also after green_hub_destroy().  Any call from another OS thread
 *    returns EPERM and does nothing; the counts and flags (size, waiting,
 *    ready, ...) read 0 there.  Use green_xqueue for work across threads.
 */
#ifndef GREEN_SYNC_H
#define GREEN_SYNC_H

#include <green/export.h>
#include <green/hub.h>

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Event: a one-shot result for any number of waiters ------------- */

typedef struct green_event green_event_t;

GREEN_EXTERN int green_event_new(green_event_t **out);
/* EBUSY while green threads wait on it. */
GREEN_EXTERN int green_event_destroy(green_event_t *event);

/* Set the event with value and wake every waiter (without switching).
 * EALREADY if it is already set. */
GREEN_EXTERN int green_event_send(green_event_t *event, void *value);
/* Set the event with an error (non-zero) that every wait will return. */
GREEN_EXTERN int green_event_send_error(green_event_t *event, int err);
/* Wait until the event is set; returns at once if it already is.  Returns
 * 0 with *value (may be NULL) set to the sent value, the error given to
 * green_event_send_error, or the caller's own ETIMEDOUT/ECANCELED/... */
GREEN_EXTERN int green_event_wait(green_event_t *event, void **value,
                                  double timeout);
/* 1 if the event is set (a wait would return at once), else 0. */
GREEN_EXTERN int green_event_ready(const green_event_t *event);
/* Make a set event unset again so that it can be sent once more.
 * EALREADY if it is not set (never sent, or reset already): as in eventlet,
 * resetting a fresh event is a mistake. */
GREEN_EXTERN int green_event_reset(green_event_t *event);
/* How many green threads are waiting. */
GREEN_EXTERN size_t green_event_waiting(const green_event_t *event);

/* ---- Semaphore --------------------------------------------------------- */

typedef struct green_semaphore green_semaphore_t;

/* A counting semaphore with `value` initial permits. */
GREEN_EXTERN int green_semaphore_new(green_semaphore_t **out, unsigned value);
/* Bounded: a release that would lift the count above the initial value is
 * refused with EOVERFLOW. */
GREEN_EXTERN int green_semaphore_new_bounded(green_semaphore_t **out,
                                             unsigned value);
/* Capped: the count never exceeds `limit` (>= value, else EINVAL); a
 * release at the limit blocks until an acquire makes room.  Limit 0 is a
 * rendezvous: every release waits for an acquire to take its permit. */
GREEN_EXTERN int green_semaphore_new_capped(green_semaphore_t **out,
                                            unsigned value, unsigned limit);
GREEN_EXTERN int green_semaphore_destroy(green_semaphore_t *sem);

/* Take a permit, waiting up to `timeout` seconds for one. */
GREEN_EXTERN int green_semaphore_acquire(green_semaphore_t *sem,
                                         double timeout);
/* Take a permit if one is free, else EAGAIN. */
GREEN_EXTERN int green_semaphore_try_acquire(green_semaphore_t *sem);
/* Give a permit back: straight to the first waiter if there is one.
 * Bounded: EOVERFLOW above the initial value.  Capped: blocks at the limit
 * (timeouts come from enclosing green_timeout scopes). */
GREEN_EXTERN int green_semaphore_release(green_semaphore_t *sem);
/* Free permits (0 while green threads wait). */
GREEN_EXTERN unsigned green_semaphore_value(const green_semaphore_t *sem);
/* Green threads waiting to acquire. */
GREEN_EXTERN size_t green_semaphore_waiting(const green_semaphore_t *sem);

/* ---- Lock: a green mutex ---------------------------------------------- */

/* Owned by the green thread (or main greenlet) that acquired it; not
 * recursive. */
typedef struct green_lock green_lock_t;

GREEN_EXTERN int green_lock_new(green_lock_t **out);
/* EBUSY while held or waited on. */
GREEN_EXTERN int green_lock_destroy(green_lock_t *lock);
/* EDEADLK if the caller already holds it. */
GREEN_EXTERN int green_lock_acquire(green_lock_t *lock, double timeout);
GREEN_EXTERN int green_lock_try_acquire(green_lock_t *lock);
/* Hand the lock to the first waiter, or free it.  EPERM if the caller is
 * not the owner. */
GREEN_EXTERN int green_lock_release(green_lock_t *lock);
/* 1 if the lock is held by anyone. */
GREEN_EXTERN int green_lock_locked(const green_lock_t *lock);
/* 1 if the caller holds the lock. */
GREEN_EXTERN int green_lock_owned(const green_lock_t *lock);

/* ---- Condition variable ------------------------------------------------ */

typedef struct green_cond green_cond_t;

GREEN_EXTERN int green_cond_new(green_cond_t **out);
GREEN_EXTERN int green_cond_destroy(green_cond_t *cond);
/* Release `lock` (which the caller must hold: EPERM otherwise), wait for a
 * notify, and take the lock back before returning, also on ETIMEDOUT and
 * ECANCELED.  Only if taking the lock back is itself interrupted does it
 * return without the lock; green_lock_owned() tells.  As with pthreads,
 * re-check the predicate after every return. */
GREEN_EXTERN int green_cond_wait(green_cond_t *cond, green_lock_t *lock,
                                 double timeout);
/* Wake the first waiter / every waiter. */
GREEN_EXTERN int green_cond_notify(green_cond_t *cond);
GREEN_EXTERN int green_cond_notify_all(green_cond_t *cond);

/* ---- Queue ----------------------------------------------------------- */

/* Items are void * and are never dereferenced.  Ownership passes with the
 * item: put hands it to the queue, get hands it to the getter; items still
 * stored at destroy are given to the free function passed there. */
typedef struct green_queue green_queue_t;

/* No bound on the number of stored items. */
#define GREEN_QUEUE_UNBOUNDED ((size_t)-1)

typedef enum green_queue_order {
    GREEN_QUEUE_FIFO = 0,
    GREEN_QUEUE_LIFO,
    GREEN_QUEUE_PRIORITY /* lowest first by cmp; equal items in FIFO order */
} green_queue_order_t;

/* Negative, zero or positive as a sorts before, with or after b. */
typedef int (*green_queue_cmp_fn)(const void *a, const void *b);

/* maxsize: GREEN_QUEUE_UNBOUNDED; n > 0 = put blocks while n items are
 * stored; 0 = a channel: put returns only once a getter has taken the item.
 * cmp is required for GREEN_QUEUE_PRIORITY and must be NULL otherwise. */
GREEN_EXTERN int green_queue_new(green_queue_t **out, size_t maxsize,
                                 green_queue_order_t order,
                                 green_queue_cmp_fn cmp);
/* EBUSY while green threads wait on it (get, put or join).  Otherwise
 * free_item (may be NULL) is called on each stored item, then the queue is
 * freed. */
GREEN_EXTERN int green_queue_destroy(green_queue_t *queue,
                                     void (*free_item)(void *item));

/* Put item, waiting up to timeout while the queue is full (for a channel:
 * until a getter takes it).  On an error the item was not put and still
 * belongs to the caller. */
GREEN_EXTERN int green_queue_put(green_queue_t *queue, void *item,
                                 double timeout);
/* Put without waiting: EAGAIN if full (for a channel: no getter waiting).
 * Both puts return EPIPE once the queue is closed. */
GREEN_EXTERN int green_queue_try_put(green_queue_t *queue, void *item);
/* Take the next item into *item, waiting up to timeout for one. */
GREEN_EXTERN int green_queue_get(green_queue_t *queue, void **item,
                                 double timeout);
/* Take without waiting: EAGAIN if no item (or no putter, for a channel).
 * Both gets return EPIPE once the queue is closed and empty. */
GREEN_EXTERN int green_queue_try_get(green_queue_t *queue, void **item);

/* Close, like Go's close(ch): puts fail with EPIPE from now on, and
 * parked putters wake with EPIPE, their items not put (on a channel too:
 * an item still offered is never delivered).  Gets take the items still
 * stored, then fail with EPIPE, and parked getters wake with EPIPE.
 * EALREADY if already closed.  Destroy is still needed to free it. */
GREEN_EXTERN int green_queue_close(green_queue_t *queue);
/* 1 once closed, else 0. */
GREEN_EXTERN int green_queue_closed(const green_queue_t *queue);

/* Change maxsize (same meanings as at creation).  Growing moves waiting
 * putters' items in at once.  Shrinking keeps the stored items. */
GREEN_EXTERN int green_queue_resize(green_queue_t *queue, size_t maxsize);

/* Every put counts one unfinished task; task_done marks one finished
 * (EINVAL if none is unfinished); join waits until none is unfinished. */
GREEN_EXTERN int green_queue_task_done(green_queue_t *queue);
GREEN_EXTERN int green_queue_join(green_queue_t *queue, double timeout);

GREEN_EXTERN size_t
green_queue_size(const green_queue_t *queue); /* stored items */
GREEN_EXTERN size_t
green_queue_maxsize(const green_queue_t *queue); /* as set */
GREEN_EXTERN size_t
green_queue_getters(const green_queue_t *queue); /* parked in get */
GREEN_EXTERN size_t
green_queue_putters(const green_queue_t *queue); /* parked in put */
GREEN_EXTERN size_t green_queue_unfinished(const green_queue_t *queue);

#ifdef __cplusplus
}
#endif

#endif /* GREEN_SYNC_H */
