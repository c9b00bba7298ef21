/*
 * green_xqueue: an unbounded FIFO shared by green threads of different
 * hubs.  A mutex guards the items and the list of parked getters; a put
 * hands its item straight to the oldest getter and wakes it on its own hub
 * through an xwake (green_hub_call_threadsafe + green_unpark).
 */
#include <green/tpool.h>

#include "xwake.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#define XQUEUE_INITIAL_CAPACITY 16

/* A parked getter; lives on its stack and is only touched under the
 * queue's lock. */
struct xqueue_getter {
    struct xqueue_getter *prev, *next;
    xwake_t *wake;
    int linked;
};

struct green_xqueue {
    pthread_mutex_t lock;
    void **items; /* ring buffer */
    size_t capacity, first, count;
    struct xqueue_getter *getters_head, *getters_tail;
    size_t getters;
    int closed;
};

/* Handed to getters woken by green_xqueue_close instead of an item. */
static char closed_marker;

int green_xqueue_new(green_xqueue_t **out)
{
    green_xqueue_t *queue;

    if (out == NULL)
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
    pthread_mutex_init(&queue->lock, NULL);
    *out = queue;
    return 0;
}

int green_xqueue_free(green_xqueue_t *queue)
{
    if (queue == NULL)
        return EINVAL;
    pthread_mutex_lock(&queue->lock);
    if (queue->getters > 0) {
        pthread_mutex_unlock(&queue->lock);
        return EBUSY;
    }
    pthread_mutex_unlock(&queue->lock);
    pthread_mutex_destroy(&queue->lock);
    free(queue->items);
    free(queue);
    return 0;
}

/* ---- Under the lock ------------------------------------------------ */

static void getter_link(green_xqueue_t *queue, struct xqueue_getter *getter)
{
    getter->next = NULL;
    getter->prev = queue->getters_tail;
    if (queue->getters_tail != NULL)
        queue->getters_tail->next = getter;
    else
        queue->getters_head = getter;
    queue->getters_tail = getter;
    getter->linked = 1;
    queue->getters++;
}

static void getter_unlink(green_xqueue_t *queue, struct xqueue_getter *getter)
{
    if (getter->prev != NULL)
        getter->prev->next = getter->next;
    else
        queue->getters_head = getter->next;
    if (getter->next != NULL)
        getter->next->prev = getter->prev;
    else
        queue->getters_tail = getter->prev;
    getter->linked = 0;
    queue->getters--;
}

/* Pop the oldest getter's wake-up, or NULL. */
static xwake_t *take_getter(green_xqueue_t *queue)
{
    struct xqueue_getter *getter = queue->getters_head;

    if (getter == NULL)
        return NULL;
    getter_unlink(queue, getter);
    return getter->wake;
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

/* Give item to a waiting getter, else store it (at the back, or at the
 * front for an item coming back from a getter that gave up).  Returns the
 * getter to wake after unlocking through *wake. */
static int offer(green_xqueue_t *queue, void *item, int at_front,
                 xwake_t **wake)
{
    int err;

    *wake = take_getter(queue);
    if (*wake != NULL)
        return 0;
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

/* ---- Operations ---------------------------------------------------- */

int green_xqueue_put(green_xqueue_t *queue, void *item)
{
    xwake_t *wake;
    int err;

    if (queue == NULL)
        return EINVAL;
    pthread_mutex_lock(&queue->lock);
    err = queue->closed ? EPIPE : offer(queue, item, 0, &wake);
    pthread_mutex_unlock(&queue->lock);
    if (err == 0 && wake != NULL)
        xwake_signal(wake, item);
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
    struct xqueue_getter getter;
    void *value;
    int err;

    if (queue == NULL || item == NULL)
        return EINVAL;
    pthread_mutex_lock(&queue->lock);
    if (queue->count > 0) {
        *item = queue->items[queue->first];
        queue->first = (queue->first + 1) % queue->capacity;
        queue->count--;
        pthread_mutex_unlock(&queue->lock);
        return 0;
    }
    err = queue->closed ? EPIPE : timeout == 0 ? EAGAIN : 0;
    if (err == 0)
        err = xwake_new(&getter.wake, item_returned, queue);
    if (err != 0) {
        pthread_mutex_unlock(&queue->lock);
        return err;
    }
    getter_link(queue, &getter);
    pthread_mutex_unlock(&queue->lock);

    err = xwake_wait(getter.wake, timeout, &value);
    if (err != 0) {
        pthread_mutex_lock(&queue->lock);
        if (getter.linked) {
            /* Nobody picked this getter: no signal will ever come. */
            getter_unlink(queue, &getter);
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
    xwake_t *wake;

    if (queue == NULL)
        return;
    pthread_mutex_lock(&queue->lock);
    queue->closed = 1;
    /* Getters only wait while the queue is empty, so all of them get the
     * marker. */
    while ((wake = take_getter(queue)) != NULL)
        xwake_signal(wake, &closed_marker);
    pthread_mutex_unlock(&queue->lock);
}

size_t green_xqueue_length(green_xqueue_t *queue)
{
    size_t count;

    if (queue == NULL)
        return 0;
    pthread_mutex_lock(&queue->lock);
    count = queue->count;
    pthread_mutex_unlock(&queue->lock);
    return count;
}
