/*
 * green_xqueue: a FIFO shared by green threads of different hubs.  A mutex
 * guards the items and the lists of parked getters and putters.  A put
 * hands its item straight to the oldest getter and wakes it on its own hub
 * through an xwake (green_hub_call_threadsafe + green_unpark); a get from
 * a full bounded queue moves the oldest parked putter's item in and wakes
 * that putter the same way.
 */
#include <green/xqueue.h>

#include "greenlet/tag.h"
#include "xwake.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#define XQUEUE_INITIAL_CAPACITY 16

/* A parked getter or putter; lives on its stack and is only touched under
 * the queue's lock. */
struct xqueue_waiter {
    struct xqueue_waiter *prev, *next;
    xwake_t *wake;
    int linked;
    void *item;  /* a putter's */
    int outcome; /* a putter's, once unlinked: 0 put, EPIPE closed */
};

struct xqueue_waiters {
    struct xqueue_waiter *head, *tail;
    size_t count;
};

struct green_xqueue {
    uint32_t tag; /* TAG_XQUEUE until destroyed */
    pthread_mutex_t lock;
    void **items; /* ring buffer */
    size_t capacity, first, count, maxsize;
    struct xqueue_waiters getters, putters;
    int closed;
};

/* Handed to getters woken by green_xqueue_close instead of an item. */
static char closed_marker;

/* 1 if queue is a live xqueue handle (a bad one is reported). */
static int xqueue_valid(const green_xqueue_t *queue, const char *fn)
{
    return queue != NULL && tag_check(queue, queue->tag, TAG_XQUEUE, fn) == 0;
}

int green_xqueue_new(green_xqueue_t **out, size_t maxsize)
{
    green_xqueue_t *queue;

    if (out == NULL || maxsize == 0)
        return EINVAL;
    queue = calloc(1, sizeof(*queue));
    if (queue == NULL)
        return ENOMEM;
    queue->items = malloc(XQUEUE_INITIAL_CAPACITY * sizeof(void *));
    if (queue->items == NULL) {
        free(queue);
        return ENOMEM;
    }
    queue->capacity = XQUEUE_INITIAL_CAPACITY;
    queue->tag = TAG_XQUEUE;
    queue->maxsize = maxsize;
    pthread_mutex_init(&queue->lock, NULL);
    *out = queue;
    return 0;
}

int green_xqueue_destroy(green_xqueue_t *queue)
{
    if (!xqueue_valid(queue, __func__))
        return EINVAL;
    pthread_mutex_lock(&queue->lock);
    if (queue->getters.count > 0 || queue->putters.count > 0) {
        pthread_mutex_unlock(&queue->lock);
        return EBUSY;
    }
    pthread_mutex_unlock(&queue->lock);
    pthread_mutex_destroy(&queue->lock);
    free(queue->items);
    tag_clear(&queue->tag);
    free(queue);
    return 0;
}

/* ---- Under the lock ------------------------------------------------ */

static void waiter_link(struct xqueue_waiters *list,
                        struct xqueue_waiter *waiter)
{
    waiter->next = NULL;
    waiter->prev = list->tail;
    if (list->tail != NULL)
        list->tail->next = waiter;
    else
        list->head = waiter;
    list->tail = waiter;
    waiter->linked = 1;
    list->count++;
}

static void waiter_unlink(struct xqueue_waiters *list,
                          struct xqueue_waiter *waiter)
{
    if (waiter->prev != NULL)
        waiter->prev->next = waiter->next;
    else
        list->head = waiter->next;
    if (waiter->next != NULL)
        waiter->next->prev = waiter->prev;
    else
        list->tail = waiter->prev;
    waiter->linked = 0;
    list->count--;
}

/* Pop the oldest getter's wake-up, or NULL. */
static xwake_t *take_getter(green_xqueue_t *queue)
{
    struct xqueue_waiter *getter = queue->getters.head;

    if (getter == NULL)
        return NULL;
    waiter_unlink(&queue->getters, getter);
    return getter->wake;
}

static int full(const green_xqueue_t *queue)
{
    return queue->count >= queue->maxsize;
}

static int grow(green_xqueue_t *queue)
{
    size_t capacity = queue->capacity * 2;
    void **items = malloc(capacity * sizeof(void *));

    if (items == NULL)
        return ENOMEM;
    for (size_t i = 0; i < queue->count; i++)
        items[i] = queue->items[(queue->first + i) % queue->capacity];
    free(queue->items);
    queue->items = items;
    queue->capacity = capacity;
    queue->first = 0;
    return 0;
}

/* Store item at the back, or at the front for an item coming back from a
 * getter that gave up; ENOMEM if the ring cannot grow. */
static int store(green_xqueue_t *queue, void *item, int at_front)
{
    int err;

    if (queue->count == queue->capacity && (err = grow(queue)) != 0)
        return err;
    if (at_front) {
        queue->first = (queue->first + queue->capacity - 1) % queue->capacity;
        queue->items[queue->first] = item;
    } else {
        queue->items[(queue->first + queue->count) % queue->capacity] = item;
    }
    queue->count++;
    return 0;
}

/* Give item to a waiting getter, else store it.  Returns the getter to
 * wake after unlocking through *wake. */
static int offer(green_xqueue_t *queue, void *item, int at_front,
                 xwake_t **wake)
{
    *wake = take_getter(queue);
    return *wake != NULL ? 0 : store(queue, item, at_front);
}

/* After a get made room: move the oldest parked putter's item in.
 * Returns that putter's wake-up, to signal after unlocking, or NULL. */
static xwake_t *admit_putter(green_xqueue_t *queue)
{
    struct xqueue_waiter *putter = queue->putters.head;

    /* Getters never wait while items are stored, so the item is stored. */
    if (putter == NULL || full(queue) || store(queue, putter->item, 0) != 0)
        return NULL; /* with no memory to grow, it stays parked */
    waiter_unlink(&queue->putters, putter);
    putter->outcome = 0;
    return putter->wake;
}

/* ---- Operations ---------------------------------------------------- */

int green_xqueue_put(green_xqueue_t *queue, void *item, double timeout)
{
    struct xqueue_waiter putter = {.item = item};
    xwake_t *wake = NULL;
    void *unused;
    int parked = 0;
    int err;

    if (!xqueue_valid(queue, __func__))
        return EINVAL;
    pthread_mutex_lock(&queue->lock);
    if (queue->closed)
        err = EPIPE;
    else if (queue->getters.count > 0 || !full(queue))
        err = offer(queue, item, 0, &wake);
    else if (timeout == 0)
        err = EAGAIN;
    else if ((err = xwake_new(&putter.wake, NULL, NULL)) == 0) {
        waiter_link(&queue->putters, &putter);
        parked = 1;
    }
    pthread_mutex_unlock(&queue->lock);
    if (!parked) {
        if (wake != NULL)
            xwake_signal(wake, item);
        return err;
    }

    /* Parked: a get moves the item in, or close refuses it.  Which one
     * happened is decided under the lock, whatever the wait returned: a
     * putter still linked was neither, and its item was not put. */
    err = xwake_wait(putter.wake, timeout, &unused);
    pthread_mutex_lock(&queue->lock);
    if (putter.linked) {
        waiter_unlink(&queue->putters, &putter);
        xwake_drop_signal(putter.wake);
    } else {
        err = putter.outcome;
    }
    pthread_mutex_unlock(&queue->lock);
    return err;
}

/* xwake undelivered function: a getter timed out or was killed just as an
 * item was handed to it; the item goes back to the front. */
static void item_returned(void *context, void *item)
{
    green_xqueue_t *queue = context;
    xwake_t *wake;
    int err;

    if (item == &closed_marker)
        return;
    pthread_mutex_lock(&queue->lock);
    err = offer(queue, item, 1, &wake);
    pthread_mutex_unlock(&queue->lock);
    if (err == 0 && wake != NULL)
        xwake_signal(wake, item);
}

int green_xqueue_get(green_xqueue_t *queue, void **item, double timeout)
{
    struct xqueue_waiter getter;
    void *value;
    int err;

    if (!xqueue_valid(queue, __func__) || item == NULL)
        return EINVAL;
    pthread_mutex_lock(&queue->lock);
    if (queue->count > 0) {
        xwake_t *admitted;
        *item = queue->items[queue->first];
        queue->first = (queue->first + 1) % queue->capacity;
        queue->count--;
        admitted = admit_putter(queue);
        pthread_mutex_unlock(&queue->lock);
        if (admitted != NULL)
            xwake_signal(admitted, NULL);
        return 0;
    }
    err = queue->closed ? EPIPE : timeout == 0 ? EAGAIN : 0;
    if (err == 0)
        err = xwake_new(&getter.wake, item_returned, queue);
    if (err != 0) {
        pthread_mutex_unlock(&queue->lock);
        return err;
    }
    waiter_link(&queue->getters, &getter);
    pthread_mutex_unlock(&queue->lock);

    err = xwake_wait(getter.wake, timeout, &value);
    if (err != 0) {
        pthread_mutex_lock(&queue->lock);
        if (getter.linked) {
            /* Nobody picked this getter: no signal will ever come. */
            waiter_unlink(&queue->getters, &getter);
            xwake_drop_signal(getter.wake);
        }
        pthread_mutex_unlock(&queue->lock);
        return err;
    }
    if (value == &closed_marker)
        return EPIPE;
    *item = value;
    return 0;
}

void green_xqueue_close(green_xqueue_t *queue)
{
    struct xqueue_waiter *putter;
    xwake_t *wake;

    if (!xqueue_valid(queue, __func__))
        return;
    pthread_mutex_lock(&queue->lock);
    queue->closed = 1;
    /* Getters only wait while the queue is empty, so all of them get the
     * marker. */
    while ((wake = take_getter(queue)) != NULL)
        xwake_signal(wake, &closed_marker);
    while ((putter = queue->putters.head) != NULL) {
        waiter_unlink(&queue->putters, putter);
        putter->outcome = EPIPE;
        xwake_signal(putter->wake, NULL);
    }
    pthread_mutex_unlock(&queue->lock);
}

size_t green_xqueue_size(green_xqueue_t *queue)
{
    size_t count;

    if (!xqueue_valid(queue, __func__))
        return 0;
    pthread_mutex_lock(&queue->lock);
    count = queue->count;
    pthread_mutex_unlock(&queue->lock);
    return count;
}
