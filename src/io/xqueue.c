/*
 * green_xqueue: a FIFO shared by green threads of different hubs.  A mutex
 * guards the items and the lists of parked getters and putters.  A put
 * hands its item straight to the oldest getter and wakes it on its own hub
 * through an xwake (green_hub_call_threadsafe + green_unpark); a get from
 * a full bounded queue moves the oldest parked putter's item in, a get
 * from a channel takes it straight from that putter, and either wakes the
 * putter the same way.
 *
 * Every item gets a sequence number when it enters the queue (or a
 * getter's hands).  An item that a getter could not take comes back with
 * its number and is stored in its place, ahead of every later item, so
 * the order holds whichever hand-offs fail and in whatever order they
 * come back.
 */
#include <green/xqueue.h>

#include "greenlet/tag.h"
#include "xwake.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#define XQUEUE_INITIAL_CAPACITY 16

/* A parked getter or putter; lives on its stack and is only touched under
 * the queue's lock. */
struct xqueue_waiter {
    struct xqueue_waiter *prev, *next;
    xwake_t *wake;
    int linked;
    void *item;  /* a putter's */
    int outcome; /* a putter's, once unlinked: 0 taken, EPIPE closed */
};

struct xqueue_waiters {
    struct xqueue_waiter *head, *tail;
    size_t count;
};

struct xqueue_entry {
    void *item;
    uint64_t seq;
};

struct green_xqueue {
    uint32_t tag; /* TAG_XQUEUE until destroyed */
    pthread_mutex_t lock;
    struct xqueue_entry *entries; /* ring buffer, in sequence order */
    size_t capacity, first, count, maxsize;
    uint64_t next_seq;
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

    if (out == NULL)
        return EINVAL;
    queue = calloc(1, sizeof(*queue));
    if (queue == NULL)
        return ENOMEM;
    queue->entries = malloc(XQUEUE_INITIAL_CAPACITY * sizeof(*queue->entries));
    if (queue->entries == NULL) {
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

int green_xqueue_destroy(green_xqueue_t *queue, void (*free_item)(void *item))
{
    if (!xqueue_valid(queue, __func__))
        return EINVAL;
    pthread_mutex_lock(&queue->lock);
    if (queue->getters.count > 0 || queue->putters.count > 0) {
        pthread_mutex_unlock(&queue->lock);
        return EBUSY;
    }
    pthread_mutex_unlock(&queue->lock);
    for (size_t i = 0; free_item != NULL && i < queue->count; i++)
        free_item(queue->entries[(queue->first + i) % queue->capacity].item);
    pthread_mutex_destroy(&queue->lock);
    free(queue->entries);
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

/* Pop the oldest waiter of list, or NULL. */
static struct xqueue_waiter *waiter_pop(struct xqueue_waiters *list)
{
    struct xqueue_waiter *waiter = list->head;

    if (waiter != NULL)
        waiter_unlink(list, waiter);
    return waiter;
}

static int full(const green_xqueue_t *queue)
{
    return queue->count >= queue->maxsize; /* never when unbounded */
}

static struct xqueue_entry *entry_at(green_xqueue_t *queue, size_t i)
{
    return &queue->entries[(queue->first + i) % queue->capacity];
}

static int grow(green_xqueue_t *queue)
{
    size_t capacity = queue->capacity * 2;
    struct xqueue_entry *entries = malloc(capacity * sizeof(*entries));

    if (entries == NULL)
        return ENOMEM;
    for (size_t i = 0; i < queue->count; i++)
        entries[i] = *entry_at(queue, i);
    free(queue->entries);
    queue->entries = entries;
    queue->capacity = capacity;
    queue->first = 0;
    return 0;
}

/* Store item in sequence order: at the back when new, after the items
 * that came back before it when it comes back from a getter.  ENOMEM if
 * the ring cannot grow. */
static int store(green_xqueue_t *queue, void *item, uint64_t seq)
{
    size_t at = queue->count;
    int err;

    if (queue->count == queue->capacity && (err = grow(queue)) != 0)
        return err;
    if (at > 0 && entry_at(queue, at - 1)->seq > seq) {
        /* A comeback: it belongs near the front, so the front moves. */
        for (at = 0; entry_at(queue, at)->seq < seq; at++)
            ;
        queue->first = (queue->first + queue->capacity - 1) % queue->capacity;
        for (size_t i = 0; i < at; i++)
            *entry_at(queue, i) = *entry_at(queue, i + 1);
    }
    *entry_at(queue, at) = (struct xqueue_entry){item, seq};
    queue->count++;
    return 0;
}

static void *take_first(green_xqueue_t *queue)
{
    void *item = entry_at(queue, 0)->item;

    queue->first = (queue->first + 1) % queue->capacity;
    queue->count--;
    return item;
}

/* Wake-ups to send once the lock is released. */
struct xqueue_wakes {
    xwake_t *getter; /* gets item, tagged seq */
    void *item;
    uint64_t seq;
    xwake_t *putter; /* its item was taken */
};

static void send_wakes(const struct xqueue_wakes *wakes)
{
    if (wakes->getter != NULL)
        xwake_signal(wakes->getter, wakes->item, wakes->seq);
    if (wakes->putter != NULL)
        xwake_signal(wakes->putter, NULL, 0);
}

/* Give item to the oldest waiting getter, else store it. */
static int offer(green_xqueue_t *queue, void *item, uint64_t seq,
                 struct xqueue_wakes *wakes)
{
    struct xqueue_waiter *getter = waiter_pop(&queue->getters);

    if (getter == NULL)
        return store(queue, item, seq);
    wakes->getter = getter->wake;
    wakes->item = item;
    wakes->seq = seq;
    return 0;
}

/* Put without waiting: 0, EPIPE, ENOMEM, or EAGAIN if the put must wait. */
static int put_now(green_xqueue_t *queue, void *item,
                   struct xqueue_wakes *wakes)
{
    if (queue->closed)
        return EPIPE;
    /* Getters only wait while nothing is stored, so one is next. */
    if (queue->getters.count == 0 && full(queue))
        return EAGAIN;
    return offer(queue, item, queue->next_seq++, wakes);
}

/* The oldest parked putter, whose item is being taken (stored or got). */
static struct xqueue_waiter *pop_putter(green_xqueue_t *queue)
{
    struct xqueue_waiter *putter = waiter_pop(&queue->putters);

    if (putter != NULL)
        putter->outcome = 0;
    return putter;
}

/* Get without waiting: 0, EPIPE, or EAGAIN if the get must wait. */
static int get_now(green_xqueue_t *queue, void **item,
                   struct xqueue_wakes *wakes)
{
    struct xqueue_waiter *putter;

    if (queue->count > 0) {
        *item = take_first(queue);
        /* Room made: the oldest parked putter's item moves in (with no
         * memory to grow, it stays parked). */
        putter = queue->putters.head;
        if (putter != NULL && !full(queue) &&
            store(queue, putter->item, queue->next_seq++) == 0)
            wakes->putter = pop_putter(queue)->wake;
        return 0;
    }
    /* A channel (or a bounded queue that could not store): straight from
     * the oldest putter. */
    putter = pop_putter(queue);
    if (putter != NULL) {
        *item = putter->item;
        wakes->putter = putter->wake;
        return 0;
    }
    return queue->closed ? EPIPE : EAGAIN;
}

/* Park as waiter on list (unlocking); once woken, take it off the list if
 * nobody did.  Returns the wait's result and, in *linked, whether it was
 * still linked (then no signal came nor will come). */
static int park(green_xqueue_t *queue, struct xqueue_waiters *list,
                struct xqueue_waiter *waiter, double timeout, void **value,
                int *linked)
{
    int err;

    waiter_link(list, waiter);
    pthread_mutex_unlock(&queue->lock);
    err = xwake_wait(waiter->wake, timeout, value);
    pthread_mutex_lock(&queue->lock);
    *linked = waiter->linked;
    if (waiter->linked) {
        waiter_unlink(list, waiter);
        xwake_drop_signal(waiter->wake);
    }
    pthread_mutex_unlock(&queue->lock);
    return err;
}

/* ---- Operations ---------------------------------------------------- */

int green_xqueue_try_put(green_xqueue_t *queue, void *item)
{
    struct xqueue_wakes wakes = {0};
    int err;

    if (!xqueue_valid(queue, __func__))
        return EINVAL;
    pthread_mutex_lock(&queue->lock);
    err = put_now(queue, item, &wakes);
    pthread_mutex_unlock(&queue->lock);
    send_wakes(&wakes);
    return err;
}

int green_xqueue_put(green_xqueue_t *queue, void *item, double timeout)
{
    struct xqueue_waiter putter = {.item = item};
    struct xqueue_wakes wakes = {0};
    void *unused;
    int err, linked;

    if (!xqueue_valid(queue, __func__))
        return EINVAL;
    pthread_mutex_lock(&queue->lock);
    err = put_now(queue, item, &wakes);
    if (err == EAGAIN && (err = xwake_new(&putter.wake, NULL, NULL)) == 0) {
        /* Parked: a get takes the item, or close refuses it.  Which one
         * happened is decided under the lock, whatever the wait returned:
         * a putter still linked was neither, and its item was not put. */
        err = park(queue, &queue->putters, &putter, timeout, &unused, &linked);
        return linked ? err : putter.outcome;
    }
    pthread_mutex_unlock(&queue->lock);
    send_wakes(&wakes);
    return err;
}

/* xwake undelivered function: a getter timed out, was killed or lost its
 * hub just as an item was handed to it; the item goes back in its
 * place. */
static void item_returned(void *context, void *item, uint64_t seq)
{
    green_xqueue_t *queue = context;
    struct xqueue_wakes wakes = {0};

    if (item == &closed_marker)
        return;
    pthread_mutex_lock(&queue->lock);
    offer(queue, item, seq, &wakes); /* ENOMEM: nowhere left to keep it */
    pthread_mutex_unlock(&queue->lock);
    send_wakes(&wakes);
}

int green_xqueue_try_get(green_xqueue_t *queue, void **item)
{
    struct xqueue_wakes wakes = {0};
    int err;

    if (!xqueue_valid(queue, __func__) || item == NULL)
        return EINVAL;
    pthread_mutex_lock(&queue->lock);
    err = get_now(queue, item, &wakes);
    pthread_mutex_unlock(&queue->lock);
    send_wakes(&wakes);
    return err;
}

int green_xqueue_get(green_xqueue_t *queue, void **item, double timeout)
{
    struct xqueue_waiter getter = {0};
    struct xqueue_wakes wakes = {0};
    void *value;
    int err, linked;

    if (!xqueue_valid(queue, __func__) || item == NULL)
        return EINVAL;
    pthread_mutex_lock(&queue->lock);
    err = get_now(queue, item, &wakes);
    if (err == EAGAIN &&
        (err = xwake_new(&getter.wake, item_returned, queue)) == 0) {
        /* An error with the getter unlinked: the item handed to it went
         * to item_returned. */
        err = park(queue, &queue->getters, &getter, timeout, &value, &linked);
        if (err != 0)
            return err;
        if (value == &closed_marker)
            return EPIPE;
        *item = value;
        return 0;
    }
    pthread_mutex_unlock(&queue->lock);
    send_wakes(&wakes);
    return err;
}

int green_xqueue_close(green_xqueue_t *queue)
{
    struct xqueue_waiter *waiter;

    if (!xqueue_valid(queue, __func__))
        return EINVAL;
    pthread_mutex_lock(&queue->lock);
    if (queue->closed) {
        pthread_mutex_unlock(&queue->lock);
        return EALREADY;
    }
    queue->closed = 1;
    /* Getters only wait while nothing is stored: all get the marker. */
    while ((waiter = waiter_pop(&queue->getters)) != NULL)
        xwake_signal(waiter->wake, &closed_marker, 0);
    while ((waiter = waiter_pop(&queue->putters)) != NULL) {
        waiter->outcome = EPIPE;
        xwake_signal(waiter->wake, NULL, 0);
    }
    pthread_mutex_unlock(&queue->lock);
    return 0;
}

int green_xqueue_closed(green_xqueue_t *queue)
{
    int closed;

    if (!xqueue_valid(queue, __func__))
        return 0;
    pthread_mutex_lock(&queue->lock);
    closed = queue->closed;
    pthread_mutex_unlock(&queue->lock);
    return closed;
}

/* One field read under the lock. */
static size_t read_locked(green_xqueue_t *queue, const size_t *field)
{
    size_t value;

    pthread_mutex_lock(&queue->lock);
    value = *field;
    pthread_mutex_unlock(&queue->lock);
    return value;
}

size_t green_xqueue_size(green_xqueue_t *queue)
{
    return xqueue_valid(queue, __func__) ? read_locked(queue, &queue->count)
                                         : 0;
}

size_t green_xqueue_maxsize(green_xqueue_t *queue)
{
    return xqueue_valid(queue, __func__) ? queue->maxsize : 0;
}

size_t green_xqueue_getters(green_xqueue_t *queue)
{
    return xqueue_valid(queue, __func__)
               ? read_locked(queue, &queue->getters.count)
               : 0;
}

size_t green_xqueue_putters(green_xqueue_t *queue)
{
    return xqueue_valid(queue, __func__)
               ? read_locked(queue, &queue->putters.count)
               : 0;
}
