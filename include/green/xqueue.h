/*
 * libgreen — a queue that green threads of different hubs (OS threads)
 * share.
 *
 * Returns 0 or a positive errno code, like the rest of libgreen.  Blocking
 * calls park only the calling green thread: the hub keeps running the
 * others, timeout scopes apply, and a killed caller gets ECANCELED.
 */
#ifndef GREEN_XQUEUE_H
#define GREEN_XQUEUE_H

#include <green/export.h>
#include <green/hub.h>

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A FIFO of void * items that green threads of different hubs (OS
 * threads) share, with green_queue's vocabulary (green/sync.h): unbounded,
 * bounded, or a channel.  green_xqueue_get parks the calling green thread
 * while the queue is empty; a put from any thread hands the item straight
 * to the oldest waiting getter and wakes it on its own hub.  A bounded
 * queue parks a putter while it is full, and the get that makes room moves
 * the oldest parked putter's item in and wakes it; a channel's get takes
 * the item straight from the oldest putter.  Plain OS threads without
 * green threads may use it too (their main greenlet parks).
 *
 * No item is lost or doubled.  An item handed to a getter that can no
 * longer take it (its timeout or kill won the race, or its hub was
 * destroyed: its thread exited) goes back to the queue in its place,
 * ahead of every item put after it; the queue may then briefly hold more
 * than maxsize items.  Ownership passes with the item, as for green_queue.
 */
typedef struct green_xqueue green_xqueue_t;

/* No bound on the number of stored items. */
#define GREEN_XQUEUE_UNBOUNDED ((size_t)-1)

/* maxsize: GREEN_XQUEUE_UNBOUNDED; n > 0 = put waits while n items are
 * stored; 0 = a channel: put returns only once a getter has the item (a
 * put meeting a parked getter hands it over and returns 0; see above if
 * that getter then cannot take it).  EINVAL for NULL out, ENOMEM. */
GREEN_EXTERN int green_xqueue_new(green_xqueue_t **out, size_t maxsize);
/* EBUSY while getters or putters wait.  Otherwise free_item (may be NULL)
 * is called on each stored item, then the queue is freed.  A destroyed
 * handle is refused (EINVAL and a message on stderr) while its memory was
 * not reused. */
GREEN_EXTERN int green_xqueue_destroy(green_xqueue_t *queue,
                                      void (*free_item)(void *item));

/* Put item, waiting up to timeout seconds while the queue is full (for a
 * channel: until a getter takes it; GREEN_FOREVER: no limit).  EPIPE if
 * the queue is or gets closed, ENOMEM, or the wait's error (ETIMEDOUT,
 * also for a timeout of 0; ECANCELED...).  On an error the item was not
 * put and still belongs to the caller. */
GREEN_EXTERN int green_xqueue_put(green_xqueue_t *queue, void *item,
                                  double timeout);
/* Put without waiting: EAGAIN if full (for a channel: no getter waiting).
 * Never parks, so any thread and hub callbacks may call it. */
GREEN_EXTERN int green_xqueue_try_put(green_xqueue_t *queue, void *item);
/* Take the oldest item, waiting up to timeout seconds for one.  EPIPE once
 * the queue is closed and empty. */
GREEN_EXTERN int green_xqueue_get(green_xqueue_t *queue, void **item,
                                  double timeout);
/* Take without waiting: EAGAIN if no item (for a channel: no putter
 * waiting).  Never parks. */
GREEN_EXTERN int green_xqueue_try_get(green_xqueue_t *queue, void **item);

/* Close, with green_queue_close's meaning (green/sync.h): puts fail with
 * EPIPE (parked putters too, their items not put); getters drain what is
 * left, then get EPIPE (waiting getters are woken).  EALREADY if already
 * closed, EINVAL for a bad handle. */
GREEN_EXTERN int green_xqueue_close(green_xqueue_t *queue);
/* 1 once closed, else 0. */
GREEN_EXTERN int green_xqueue_closed(green_xqueue_t *queue);

/* Stored items; maxsize as made; callers parked in get; in put. */
GREEN_EXTERN size_t green_xqueue_size(green_xqueue_t *queue);
GREEN_EXTERN size_t green_xqueue_maxsize(green_xqueue_t *queue);
GREEN_EXTERN size_t green_xqueue_getters(green_xqueue_t *queue);
GREEN_EXTERN size_t green_xqueue_putters(green_xqueue_t *queue);

#ifdef __cplusplus
}
#endif

#endif /* GREEN_XQUEUE_H */
