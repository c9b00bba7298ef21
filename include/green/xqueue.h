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
GREEN_EXTERN int green_xqueue_new(green_xqueue_t **out, size_t maxsize);
/* Free the queue; EBUSY while getters or putters wait.  Items still queued
 * are dropped (the queue does not own them).  A destroyed handle is refused
 * (EINVAL and a message on stderr) while its memory was not reused. */
GREEN_EXTERN int green_xqueue_destroy(green_xqueue_t *queue);
/* Append item, waiting up to timeout seconds while the queue is full
 * (GREEN_FOREVER: no limit; 0: EAGAIN at once if full).  ENOMEM, EPIPE if
 * the queue is or gets closed, or the wait's error (ETIMEDOUT,
 * ECANCELED...).  On an error the item was not put. */
GREEN_EXTERN int green_xqueue_put(green_xqueue_t *queue, void *item,
                                  double timeout);
/* Take the oldest item, waiting up to timeout seconds (GREEN_FOREVER: no
 * limit; 0: EAGAIN at once if empty).  EPIPE once the queue is closed and
 * empty. */
GREEN_EXTERN int green_xqueue_get(green_xqueue_t *queue, void **item,
                                  double timeout);
/* Close: puts fail with EPIPE (parked putters too, their items not put);
 * getters drain what is left, then get EPIPE (waiting getters are woken). */
GREEN_EXTERN void green_xqueue_close(green_xqueue_t *queue);
GREEN_EXTERN size_t green_xqueue_size(green_xqueue_t *queue);

#ifdef __cplusplus
}
#endif

#endif /* GREEN_XQUEUE_H */
